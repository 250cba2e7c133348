"""Generator backends behind one interface (bench.generators.base.Generator).

Add one: a file here (a `Generator` subclass with its `Settings` dataclass) plus one line below.
"""

from bench.registry import Registry

GENERATORS = Registry(
    "generator",
    {
        "ddpm": "bench.generators.ddpm:DDPMGenerator",
        "ddpm-ti": "bench.generators.ddpm_inversion:DDPMInversionGenerator",
        "sd": "bench.generators.sd:StableDiffusionGenerator",
        "sd-ti": "bench.generators.inversion:TextualInversionGenerator",
        "unclip": "bench.generators.unclip:StableUnCLIPGenerator",
        "sd-imgvar": "bench.generators.imgvar:StableDiffusionImageVariationGenerator",
        # The test double: draws noise images fast, so pipeline tests run in seconds.
        "noise": "bench.generators.noise:NoiseGenerator",
    },
)
