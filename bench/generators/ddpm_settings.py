"""Settings of the `ddpm` backend, torch-free (method modules and `bench list` import them)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from bench.errors import ConfigError
from bench.generators.balancing import BalancingSettings
from bench.generators.base import Capabilities
from bench.hparams import hp, keyed

PROTO = "embedded-benchmark prototype on digits (measured on 2-core CPUs; docs/synthesis.md)"
# The largest side the harness trains a DDPM at when the dataset's images are larger.
MAX_SIZE = 64
# What `pretrained_generator` names: "none" (fit on the run's data) or a corpus pretrained on.
PRETRAINED = ("none", "printed-digits")
# What the label the UNet is conditioned on names: the class, or the (class, attribute) cell.
CONDITIONS = ("class", "cell")
# Augmentations of the training images (bench/generators/ddpm_augment.py; CBDM Table 1).
AUGMENTS = ("none", "ada", "diffaug")
ADA_PROB = 0.12
CBDM_CODE = "qym7/CBDM-pytorch"


@dataclass(frozen=True)
class DDPMSettings(BalancingSettings):
    """The `ddpm` backend's settings (methods that train it derive their Hparams from this);
    the class-balancing ones (RS, CBDM) come from bench/generators/balancing.py."""

    capabilities = Capabilities(labels=True, images=True)

    unet_channels: tuple[int, ...] = hp(
        (32, 64, 64),
        low=4,
        high=1024,
        part="generator",
        source=PROTO + ": UNet2DModel (32,64,64), no attention, 1.06 M parameters",
    )
    layers_per_block: int = hp(1, low=1, high=8, part="generator", source=PROTO)
    train_steps: int = hp(
        1500,
        low=1,
        high=10_000_000,
        part="generator",
        source=PROTO + ": at 3,000 steps samples memorise their training images and few-shot "
        "accuracy drops 2.4 points",
    )
    batch_size: int = hp(64, low=1, high=65_536, part="generator", source=PROTO)
    lr: float = hp(1e-3, gt=0.0, high=1.0, part="generator", source=PROTO + " (cosine schedule)")
    ema_decay: float = hp(0.995, low=0.0, high=1.0, part="generator", source=PROTO)
    label_dropout: float = hp(
        0.1,
        low=0.0,
        high=1.0,
        part="generator",
        source="classifier-free guidance training drops the label 'usually 10%' (CBDM Sec 3.1)",
    )
    num_train_timesteps: int = hp(
        1000,
        low=2,
        high=100_000,
        part="generator",
        source="DDPM T = 1000, beta 1e-4..0.02 (CBDM Sec 4.1)",
    )
    image_size: int | None = hp(
        None,
        low=4,
        high=512,
        part="generator",
        source=f"harness: the dataset's image size, at most {MAX_SIZE} px (a CPU-trainable DDPM)",
        help="side of the generated images; none = the dataset's, capped at 64",
    )
    condition: str = hp(
        "class",
        choices=CONDITIONS,
        part="generator",
        source="class: a class-conditional DDPM (CBDM Sec 3.1); cell: ours, the embedded analogue "
        "of SYNAuG's attribute prompts ('Portrait face photo of {race} {gender}', Sec 3): one "
        "label per (class, attribute) cell, class * K + attribute (SubpopBench's group index)",
        help="class | cell: what the label names; cell draws a cells: plan's requested attribute",
        keyless_default=True,
    )
    image_conditioning: bool = hp(
        False,
        part="generator",
        source="harness: class-only conditioning, as the 'LDM (txt)' baseline (FG Table 1)",
        help="also condition on an image embedding from a jointly trained encoder (the unCLIP "
        "analogue)",
    )
    embed_dim: int = hp(
        16, low=1, high=4096, part="generator", source="harness: a small semantic bottleneck"
    )
    embed_dropout: float = hp(
        0.1,
        low=0.0,
        high=1.0,
        part="generator",
        source="harness: as label_dropout, so the embedding branch also has an unconditional mode",
    )
    pretrained_generator: str = hp(
        "none",
        choices=PRETRAINED,
        part="generator",
        source="none: trained on the run's own training split (CBDM's setting); printed-digits: "
        "pretrained on the printed-digits corpus only, the embedded analogue of the papers' "
        "web-pretrained generators (issue 14; bench/generators/pretrain.py)",
        help="none | printed-digits: the generator the method starts from (digits datasets)",
    )
    pretrained_dir: str | None = hp(
        None,
        path=True,
        part="generator",
        source="harness: the cached pretraining stage (<results>/cache/pretrained/<key>)",
        help="a pretrained ddpm model directory (model_index.json, unet/, conditioner) to use "
        "instead of pretraining one",
    )
    pretrain_per_class: int = hp(
        500,
        low=1,
        high=100_000,
        part="generator",
        source="issue 14's measurement: 5,000 printed digits (500 per class)",
        help="printed-digits images per class the pretrained generator learns from",
    )
    encoder_steps: int = hp(
        500,
        low=1,
        high=1_000_000,
        part="generator",
        source="ours: the image encoder trained as a 10-way classifier on the printed corpus "
        "(Adam 1e-3, the generator's batch size; about 6 epochs of 5,000 images), then frozen",
        help="training steps of the pretrained generator's image encoder (image_conditioning)",
    )
    train_augment: str = hp(
        "none",
        choices=AUGMENTS,
        part="generator",
        source="none: the plain DDPM of CBDM Table 1; ada: its '+ADA' rows, the non-leaking "
        f"augmentation of Karras et al. 2022 as {CBDM_CODE} (utils/augmentation.py, taken from "
        "k-diffusion) applies it, its 9 parameters fed to the UNet through Linear(9 -> time "
        "embedding) (CBDM Sec 4.1 'encoded as a condition via an additional embedding layer'), "
        "zeros when sampling; diffaug: '+DiffAug', which that code lacks: Zhao et al. 2020's "
        "default policy 'color,translation,cutout' on each training batch (CBDM Sec 4.1 "
        "'directly applied to all training images following their default')",
        help="none | ada | diffaug: augmentation of the generator's training images",
        keyless_default=True,
    )
    ada_prob: float = hp(
        ADA_PROB,
        low=0.0,
        high=1.0,
        part="generator",
        source=f"{CBDM_CODE} main.py: KarrasAugmentationPipeline(0.12) (k-diffusion's a_prob)",
        help="train_augment=ada: probability of each transform (the x-flip is always 1/2)",
        keyless_default=True,
    )
    attention_levels: tuple[int, ...] = hp(
        (),
        low=0,
        high=16,
        part="generator",
        keyless_default=True,
        source="harness: no self-attention in the levels (cheap on CPU; the middle block has one)",
        help="UNet levels (0 = the finest) whose blocks have self-attention, e.g. 1 for CBDM's "
        "baseline DDPM (attention at 16 x 16 on CIFAR)",
    )
    dropout: float = hp(
        0.0,
        low=0.0,
        high=1.0,
        part="generator",
        keyless_default=True,
        source="harness: no dropout in the UNet's residual blocks",
    )
    optimizer: str = hp(
        "adamw",
        choices=("adamw", "adam"),
        part="generator",
        keyless_default=True,
        source=PROTO + ": AdamW without weight decay",
        help="adamw | adam (torch's Adam, no weight decay: Ho et al.'s DDPM and CBDM's code)",
    )
    lr_schedule: str = hp(
        "cosine",
        choices=("cosine", "warmup-constant"),
        part="generator",
        keyless_default=True,
        source=PROTO + ": linear warm-up over 2% of the steps, then cosine to zero",
        help="cosine | warmup-constant (linear warm-up over warmup_steps, then constant: DDPM's)",
    )
    warmup_steps: int | None = hp(
        None,
        low=1,
        high=10_000_000,
        part="generator",
        keyless_default=True,
        source="harness: none = 2% of train_steps",
    )
    hflip: bool = hp(
        False,
        part="generator",
        keyless_default=True,
        source="harness: digits are not mirror-symmetric, so no flips",
        help="random horizontal flips of the training images (DDPM's CIFAR-10 training)",
    )
    generator_seed: int | None = hp(
        0,
        low=0,
        high=2**31 - 1,
        part="generator",
        source="one generator for all run seeds, as the papers' pretrained generators are; "
        "seeds vary synthesis and the classifier (none = refit per run seed)",
    )

    def __post_init__(self) -> None:
        if len(self.unet_channels) == 0:
            raise ConfigError("unet_channels is empty: give at least one width, e.g. 32,64,64.")
        deep = [lvl for lvl in self.attention_levels if lvl >= len(self.unet_channels)]
        if deep:
            raise ConfigError(
                f"attention_levels={list(self.attention_levels)}: level {deep[0]} does not exist; "
                f"the UNet has {len(self.unet_channels)} levels (0..{len(self.unet_channels) - 1})."
            )
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
        if self.ada_prob != ADA_PROB and self.train_augment != "ada":
            raise ConfigError(
                f"ada_prob={self.ada_prob} is given but train_augment={self.train_augment!r}: "
                "the probability belongs to ADA. Set train_augment=ada or drop ada_prob."
            )
        pretrained = self.pretrained_generator != "none" or self.pretrained_dir is not None
        if self.train_augment != "none" and pretrained:
            raise ConfigError(
                f"train_augment={self.train_augment!r} with a pretrained generator "
                f"(pretrained_generator={self.pretrained_generator!r}, pretrained_dir="
                f"{self.pretrained_dir!r}): a pretrained generator is used as it is, "
                "nothing trains on the run's images. Use pretrained_generator=none or "
                "train_augment=none."
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


CBDM_BASELINE = (
    "CBDM Sec 4.1: 'strictly follow the training configurations of the baseline' DDPM (Ho et "
    f"al. 2020; {CBDM_CODE} config/cifar100.txt"
)
# CBDM's baseline DDPM on CIFAR (35.7 M parameters at 32 x 32), as per-dataset values of the
# methods that train it there (cbdm, ddpm-fill): {setting: (value, source)}.
CIFAR_DDPM = {
    "unet_channels": ((128, 256, 256, 256), CBDM_BASELINE + ": ch 128, ch_mult 1,2,2,2)"),
    "layers_per_block": (2, CBDM_BASELINE + ": num_res_blocks 2)"),
    "attention_levels": ((1,), CBDM_BASELINE + ": attn [1], self-attention at 16 x 16)"),
    "dropout": (0.1, CBDM_BASELINE + ": dropout 0.1)"),
    "optimizer": ("adam", CBDM_BASELINE + ", CBDM Sec 4.1: Adam)"),
    "lr": (2e-4, CBDM_BASELINE + ", CBDM Sec 4.1: learning rate 0.0002)"),
    "lr_schedule": ("warmup-constant", CBDM_BASELINE + ": linear warm-up, then constant)"),
    "warmup_steps": (5000, "CBDM Sec 4.1: 'after 5,000 epochs of warmup' (the code's 5,000 steps)"),
    "batch_size": (128, CBDM_BASELINE + ": batch size 128)"),
    "ema_decay": (0.9999, CBDM_BASELINE + ": EMA decay 0.9999)"),
    "hflip": (True, CBDM_BASELINE + ": random horizontal flips)"),
    "train_steps": (
        300_000,
        "ours: CBDM states 'appropriate epochs for each dataset'; its code's README trains CBDM on "
        "CIFAR100-LT for 300k steps (config default 800k)",
    ),
}

FILLUP_STEPS = "Fill-Up App B.3's min(max(100 n, 2000), 10000)"
CPU_SCALE = (
    "ours: " + FILLUP_STEPS + " divided by 20 (5 n, 100, 500), so digits-lt's 10 classes "
    "(278 images) invert in 1,760 steps on a CPU"
)
TOKEN_INITS = ("label-mean", "null")


@dataclass(frozen=True)
class DDPMInversionSettings(DDPMSettings):
    """The `ddpm-ti` backend (bench/generators/ddpm_inversion.py): the ddpm's settings plus the
    inversion of one class vector per class (Fill-Up's textual inversion, on the label table)."""

    capabilities = Capabilities(labels=True, images=True, inversion="class-vector")

    token_init: str = hp(
        "label-mean",
        choices=TOKEN_INITS,
        part="generator",
        source="ours: Fill-Up App C.3 starts every token from a generic word ('object'); here "
        "the mean of the class rows of the label table (a generic digit)",
        help="label-mean (mean of the class rows) | null (the unconditional row label dropout "
        "trains)",
    )
    token_lr: float = hp(
        1e-2,
        gt=0.0,
        high=10.0,
        part="generator",
        source="ours: Fill-Up's 5e-3 is for CLIP token rows; the label rows here have unit scale "
        "(nn.Embedding's N(0, 1) init), and Adam moves a coordinate by about the LR per step, so "
        "1e-2 crosses that scale within the 100-500 steps of token_min/max_steps",
    )
    token_weight_decay: float = hp(
        0.01,
        low=0.0,
        high=1.0,
        part="generator",
        source="as sd-ti's ti_weight_decay (torch AdamW's default, the TI code's optimiser)",
    )
    token_batch_size: int = hp(
        16,
        low=1,
        high=65_536,
        part="generator",
        source="ours: Fill-Up's batch 2 x 8 with 20x fewer steps than Fill-Up's rule: 40% of the "
        "noised images per class Fill-Up draws, sized for CPUs (digits-lt's ten classes in "
        "minutes; docs/fillup.md)",
    )
    token_steps_per_image: int = hp(5, low=1, high=100_000, part="generator", source=CPU_SCALE)
    token_min_steps: int = hp(100, low=1, high=10**7, part="generator", source=CPU_SCALE)
    token_max_steps: int = hp(500, low=1, high=10**7, part="generator", source=CPU_SCALE)
    token_checkpoint_every: int = hp(
        5,
        low=1,
        high=10**7,
        part="generator",
        source="ours: Fill-Up App B.3's every 100 steps divided by 20 as the steps (at least 20 "
        "checkpoints per class, all used evenly for generation)",
    )

    def __post_init__(self) -> None:
        if self.condition == "cell":
            raise ConfigError(
                "generator ddpm-ti learns one vector per class (Fill-Up's token per class), not "
                "one per (class, attribute) cell: condition='cell' is not supported; use "
                "condition=class."
            )
        if self.token_min_steps > self.token_max_steps:
            raise ConfigError(
                f"token_min_steps={self.token_min_steps} is more than token_max_steps="
                f"{self.token_max_steps}."
            )
        super().__post_init__()


def settings_key(settings: DDPMSettings) -> dict[str, Any]:
    """The settings as they name a fitted model (tuples as lists; defaults of later settings
    left out, bench.hparams.keyed)."""
    values = {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(settings).items()}
    return keyed(type(settings), values)
