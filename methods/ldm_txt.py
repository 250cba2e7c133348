"""ldm-txt and ldm-txt-img: the LDM baselines of FG Table 1 and augcond Table 2, same pipeline.

`ldm-txt` conditions on the class alone: the prompt "{class_name}" on Stable unCLIP with the image
embedding dropped entirely (Dropout p = 1, unCLIP's zero image embedding), the class label on the
embedded `ddpm` (trained without image conditioning, as ddpm-fill). `ldm-txt-img` adds the
embedding of one random real training image of the class ("LDM (txt+img)", FG Sec 3.2 without
Dropout and feedback). Both fill every class up to the head count and train with Balanced Softmax
on 50/50 real:synthetic batches (FG Sec 4.1); sampling as FG (DDIM 30 steps, gamma 3).
"""

from __future__ import annotations

from dataclasses import dataclass

from bench.errors import ConfigError
from bench.generators import capabilities
from bench.hparams import hp
from bench.methods.augcond import ConditionedHparams, ImageConditioned
from bench.methods.fg import FG_IMAGENET_LT, FG_NICOPP_ERM, FG_PLACES_LT, ON_EMBEDDED

FG_OURS = "ours: FG's Places-LT value (App F.4); the baselines' settings are not stated"


@dataclass(frozen=True)
class TxtImgHparams(ConditionedHparams):
    cond_dropout: float = hp(
        0.0,
        low=0.0,
        high=1.0,
        part="synthesis",
        source="FG Table 1 'LDM (txt+img)': the real image's embedding as it is (no Dropout)",
    )
    guidance_scale: float = hp(
        3.0, low=0.0, high=100.0, part="synthesis", source=FG_OURS + ": gamma = 3"
    )
    sampling_steps: int = hp(
        30, low=1, high=10_000, part="synthesis", source="FG App F: 30 DDIM steps"
    )
    scheduler: str = hp(
        "ddim", choices=("ddim", "pndm", "ddpm"), part="synthesis", source="FG App F: DDIM"
    )


@dataclass(frozen=True)
class TxtHparams(TxtImgHparams):
    image_conditioning: bool = hp(
        False,
        part="generator",
        source="FG Table 1 'LDM (txt)': class conditioning only (ddpm: as ddpm-fill)",
    )
    cond_dropout: float = hp(
        1.0,
        low=0.0,
        high=1.0,
        part="synthesis",
        source="FG Table 1 'LDM (txt)': no image information (unclip: the zero image embedding)",
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        caps = capabilities(self.generator)
        if not (caps.prompts or caps.labels):
            raise ConfigError(
                f"generator={self.generator} takes only an image embedding (no text encoder "
                "and no class label), and LDM (txt) conditions on the class alone; use unclip "
                "or ddpm."
            )


# The baselines of FG Tables 1-3 share FG's classifier protocol on each dataset (FG Sec 4.1:
# Balanced Softmax and 50/50 batches "when training all LDM methods").
LDM_PROTOCOLS = {
    **ON_EMBEDDED,
    "imagenet-lt": FG_IMAGENET_LT,
    "places-lt": FG_PLACES_LT,
    "nicopp": {
        "prompt": ("{class_name} in {context}", "FG Sec 4.3: 'class-label in context'"),
        "plan": ("cells:811", "FG Sec 4.3: each group balanced to 811 (the largest)"),
        **FG_NICOPP_ERM,
    },
}


class LDMTxtImg(ImageConditioned):
    """LDM (txt+img): class prompt plus the embedding of one random real image (FG Table 1)."""

    Hparams = TxtImgHparams
    DATASET_DEFAULTS = LDM_PROTOCOLS
    PAPER_DATASETS = ("imagenet-lt", "places-lt", "nicopp")
    TINY = {**ImageConditioned.TINY, "sampling_steps": 2}  # DDIM: 2 steps exercise every path
    paper = "FG Table 1 / augcond Table 2 'LDM (txt+img)'"


class LDMTxt(ImageConditioned):
    """LDM (txt): the class prompt (ddpm: the label) only (FG Table 1, augcond Table 2)."""

    Hparams = TxtHparams
    TINY = LDMTxtImg.TINY
    DATASET_DEFAULTS = LDM_PROTOCOLS
    PAPER_DATASETS = LDMTxtImg.PAPER_DATASETS
    paper = "FG Table 1 / augcond Table 2 'LDM (txt)'"

    def conditioning(self) -> int:
        # unCLIP needs an image embedding (zeroed by Dropout p = 1); the ddpm takes none.
        return 1 if capabilities(self.generator).needs_images else 0
