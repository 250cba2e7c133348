"""Generator backends behind one interface (bench.generators.base.Generator).

Add one: a file here (a `Generator` subclass with its `Settings` dataclass) plus one line below.
"""

from typing import Any

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

# Each backend's settings dataclass, importable without torch (`bench run --dry-run` shows the
# active backend's settings only); tests hold it equal to GENERATORS[n].Settings.
SETTINGS = Registry(
    "generator settings",
    {
        "ddpm": "bench.generators.ddpm_settings:DDPMSettings",
        "ddpm-ti": "bench.generators.ddpm_settings:DDPMInversionSettings",
        "sd": "bench.generators.sd:SDSettings",
        "sd-ti": "bench.generators.inversion:InversionSettings",
        "unclip": "bench.generators.unclip:UnCLIPSettings",
        "sd-imgvar": "bench.generators.imgvar:ImageVariationSettings",
        "noise": "bench.generators.noise:NoiseSettings",
    },
)


def capabilities(name: str) -> Any:
    """What generator `name` can be asked for (`bench.generators.base.Capabilities`), read from
    its settings class: torch-free."""
    return SETTINGS[name].capabilities
