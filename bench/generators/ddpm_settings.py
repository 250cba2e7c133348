"""Settings of the `ddpm` backend, torch-free (method modules and `bench list` import them)."""

from __future__ import annotations

from dataclasses import dataclass

from bench.errors import ConfigError
from bench.generators.balancing import BalancingSettings
from bench.hparams import hp

PROTO = "embedded-benchmark prototype on digits (shared/notes/environment.md)"
# The largest side the harness trains a DDPM at when the dataset's images are larger.
MAX_SIZE = 64
# What `pretrained_generator` names: "none" (fit on the run's data) or a corpus pretrained on.
PRETRAINED = ("none", "printed-digits")
# What the label the UNet is conditioned on names: the class, or the (class, attribute) cell.
CONDITIONS = ("class", "cell")


@dataclass(frozen=True)
class DDPMSettings(BalancingSettings):
    """The `ddpm` backend's settings (methods that train it derive their Hparams from this);
    the class-balancing ones (RS, CBDM) come from bench/generators/balancing.py."""

    unet_channels: tuple[int, ...] = hp(
        (32, 64, 64),
        low=4,
        high=1024,
        stage="generator",
        source=PROTO + ": UNet2DModel (32,64,64), no attention, 1.06 M parameters",
    )
    layers_per_block: int = hp(1, low=1, high=8, stage="generator", source=PROTO)
    train_steps: int = hp(
        1500,
        low=1,
        high=10_000_000,
        stage="generator",
        source=PROTO + ": at 3,000 steps samples memorise their training images and few-shot "
        "accuracy drops 2.4 points",
    )
    batch_size: int = hp(64, low=1, high=65_536, stage="generator", source=PROTO)
    lr: float = hp(1e-3, gt=0.0, high=1.0, stage="generator", source=PROTO + " (cosine schedule)")
    ema_decay: float = hp(0.995, low=0.0, high=1.0, stage="generator", source=PROTO)
    label_dropout: float = hp(
        0.1,
        low=0.0,
        high=1.0,
        stage="generator",
        source="classifier-free guidance training drops the label 'usually 10%' (CBDM Sec 3.1)",
    )
    num_train_timesteps: int = hp(
        1000,
        low=2,
        high=100_000,
        stage="generator",
        source="DDPM T = 1000, beta 1e-4..0.02 (CBDM Sec 4.1)",
    )
    image_size: int | None = hp(
        None,
        low=4,
        high=512,
        stage="generator",
        source=f"harness: the dataset's image size, at most {MAX_SIZE} px (a CPU-trainable DDPM)",
        help="side of the generated images; none = the dataset's, capped at 64",
    )
    condition: str = hp(
        "class",
        choices=CONDITIONS,
        stage="generator",
        source="class: a class-conditional DDPM (CBDM Sec 3.1); cell: ours, the embedded analogue "
        "of SYNAuG's attribute prompts ('Portrait face photo of {race} {gender}', L70): one label "
        "per (class, attribute) cell, class * K + attribute (SubpopBench's group index)",
        help="class | cell: what the label names; cell draws a cells: plan's requested attribute",
        keyless_default=True,
    )
    image_conditioning: bool = hp(
        False,
        stage="generator",
        source="harness: class-only conditioning, as the 'LDM (txt)' baseline (FG Table 1)",
        help="also condition on an image embedding from a jointly trained encoder (the unCLIP "
        "analogue)",
    )
    embed_dim: int = hp(
        16, low=1, high=4096, stage="generator", source="harness: a small semantic bottleneck"
    )
    embed_dropout: float = hp(
        0.1,
        low=0.0,
        high=1.0,
        stage="generator",
        source="harness: as label_dropout, so the embedding branch also has an unconditional mode",
    )
    pretrained_generator: str = hp(
        "none",
        choices=PRETRAINED,
        stage="generator",
        source="none: trained on the run's own training split (CBDM's setting); printed-digits: "
        "pretrained on the printed-digits corpus only, the embedded analogue of the papers' "
        "web-pretrained generators (issue 14; bench/generators/pretrain.py)",
        help="none | printed-digits: the generator the method starts from (digits datasets)",
    )
    pretrained_dir: str | None = hp(
        None,
        stage="generator",
        source="harness: the cached pretraining stage (<results>/cache/pretrained/<key>)",
        help="a pretrained ddpm model directory (model_index.json, unet/, conditioner) to use "
        "instead of pretraining one",
    )
    pretrain_per_class: int = hp(
        500,
        low=1,
        high=100_000,
        stage="generator",
        source="issue 14's measurement: 5,000 printed digits (500 per class)",
        help="printed-digits images per class the pretrained generator learns from",
    )
    encoder_steps: int = hp(
        500,
        low=1,
        high=1_000_000,
        stage="generator",
        source="ours: the image encoder trained as a 10-way classifier on the printed corpus "
        "(Adam 1e-3, the generator's batch size; about 6 epochs of 5,000 images), then frozen",
        help="training steps of the pretrained generator's image encoder (image_conditioning)",
    )
    generator_seed: int | None = hp(
        0,
        low=0,
        high=2**31 - 1,
        stage="generator",
        source="one generator for all run seeds, as the papers' pretrained generators are; "
        "seeds vary synthesis and the classifier (none = refit per run seed)",
    )

    def __post_init__(self) -> None:
        if len(self.unet_channels) == 0:
            raise ConfigError("unet_channels is empty: give at least one width, e.g. 32,64,64.")
        if self.image_size is not None:
            check_size(self.image_size, len(self.unet_channels))
        if self.condition == "cell" and (
            self.pretrained_generator != "none" or self.pretrained_dir is not None
        ):
            given = f"pretrained_generator={self.pretrained_generator!r}"
            if self.pretrained_dir is not None:
                given += f", pretrained_dir={self.pretrained_dir!r}"
            raise ConfigError(
                f"condition='cell' with {given}: a pretrained generator is conditioned on the "
                "class only. Use pretrained_generator=none (fit on the run's data) or "
                "condition=class."
            )
        parent = getattr(super(), "__post_init__", None)
        if parent is not None:
            parent()


def check_size(size: int, levels: int) -> None:
    """A UNet with n levels halves the image n - 1 times: the side must divide by 2^(n-1)."""
    factor = 2 ** (levels - 1)
    if size % factor:
        raise ConfigError(
            f"the ddpm generator cannot produce {size} px images with {levels} UNet levels: the "
            f"side must be a multiple of {factor}. Set generator image_size to a multiple of "
            f"{factor} or use fewer unet_channels."
        )
