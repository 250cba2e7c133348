"""ddpm-fill: fill every class up with a class-conditional diffusion model trained on the LT data.

The embedded analogue of the papers' "LDM (txt)" baseline (FG Table 1, augcond Table 2): a
generator conditioned on the class alone fills each class up to the largest class count, and the
classifier trains on real + synthetic data with Balanced Softmax and 50/50 real:synthetic
mini-batches (FG Sec 4.1). Where the papers use pretrained Stable Diffusion, this trains the
harness's `ddpm` backend (bench/generators/ddpm.py) on the long-tailed training split itself, at
the dataset's image size up to 64 px (file-backed datasets are resized), so it runs offline; CBDM
and FG on small data build on the same generator.
"""

from __future__ import annotations

from dataclasses import dataclass

from bench.errors import ConfigError
from bench.generators.ddpm_settings import CIFAR_DDPM, PROTO, DDPMSettings
from bench.hparams import hp
from bench.method import Method, SynthesisHparams
from bench.methods.cbdm import DDIM_100

CBDM_TABLE4 = "CBDM Table 4: the LT real data + 50k DDPM generations, labels uniform"
# CBDM's DDPM baseline samples as cbdm does (so the two generators compare).
CBDM_SAMPLING = {"sampling_steps": (100, "as cbdm (CBDM Table 6): " + DDIM_100)}


@dataclass(frozen=True)
class Hparams(SynthesisHparams, DDPMSettings):
    guidance_scale: float = hp(
        1.0,
        low=0.0,
        high=100.0,
        part="synthesis",
        source="low guidance 1.0 (Fill-Up Sec 4.4); on digits w > 1.5 makes samples "
        "unrecognisable (" + PROTO + ")",
        help="eps_u + w (eps_c - eps_u): 0 unconditional, 1 conditional, > 1 CFG",
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.sampling_steps > self.num_train_timesteps:
            raise ConfigError(
                f"sampling_steps={self.sampling_steps} exceeds num_train_timesteps="
                f"{self.num_train_timesteps}: DDIM samples a subset of the training timesteps. "
                "Lower sampling_steps or raise num_train_timesteps."
            )


class DDPMFill(Method):
    """Class-conditional DDPM trained on the LT split fills every class up to the head count."""

    Hparams = Hparams
    paper = "'LDM (txt)' baseline of FG Table 1 / augcond Table 2, on a harness-trained DDPM"
    generator = "ddpm"
    VERSION = 2  # v2: the generator interface and the streamed store (per-request seeds)
    RECIPE = {
        "loss": ("balanced-softmax", "FG Sec 4.1: Balanced Softmax for all the LDM models"),
        "prior": ("real", "Fill-Up Sec 3.2: only real samples are counted in n_i"),
        "real_fraction": (0.5, "FG Sec 4.1 footnote 3: 50% real, 50% synthetic per mini-batch"),
    }
    # On CIFAR-LT: CBDM's baseline DDPM (its Table 1 "DDPM" rows) and Table 4's budget.
    DATASET_DEFAULTS = {
        "cifar10-lt": {**CIFAR_DDPM, **CBDM_SAMPLING, "plan": ("add:5000", CBDM_TABLE4)},
        "cifar100-lt": {**CIFAR_DDPM, **CBDM_SAMPLING, "plan": ("add:500", CBDM_TABLE4)},
    }
    PAPER_DATASETS = ("cifar10-lt", "cifar100-lt")  # CBDM Table 1's DDPM rows
    TINY = {
        "unet_channels": (8, 16),
        "train_steps": 3,
        "batch_size": 8,
        "sampling_steps": 2,
        "num_train_timesteps": 10,
        "pretrain_per_class": 1,  # a 10-image printed corpus
        "encoder_steps": 2,
    }
