"""The classifier recipe the harness owns: one settings class shared by every method.

Methods differ only where their papers differ, and they say so by declaring recipe defaults
(`Method.RECIPE`, e.g. Balanced Softmax and 50/50 real:synthetic batches for FG); datasets set
the benchmark's own protocol (`DatasetAdapter.RECIPE`, e.g. a small CNN for 16x16 digits).
The values here are the fallbacks when neither says anything.
"""

from __future__ import annotations

from dataclasses import dataclass

from bench.errors import ConfigError
from bench.hparams import hp

CB = "classifier-balancing ImageNet-LT config (Kang et al. 2020), the codebase FG used"


@dataclass(frozen=True)
class Recipe:
    backbone: str = hp(
        "resnext50_32x4d",
        source=CB + "; FG Sec 4.1 (ResNeXt50)",
        help="'small-cnn' or any timm model name",
    )
    pretrained: str | None = hp(
        None,
        source="from scratch, as the ImageNet-LT protocol",
        help="path to a local state_dict, or 'hf-cache' for timm "
        "weights already in the Hugging Face cache (never downloaded)",
    )
    optimizer: str = hp("sgd", choices=("sgd", "adam"), source=CB)
    lr: float = hp(0.2, gt=0.0, high=10.0, source=CB + "; augcond Table 4 (LR 0.2)")
    momentum: float = hp(0.9, low=0.0, high=1.0, source=CB)
    weight_decay: float = hp(5e-4, low=0.0, high=1.0, source=CB)
    batch_size: int = hp(512, low=1, high=65_536, source=CB + "; FG Sec 4.1 (batch 512)")
    epochs: int = hp(90, low=1, high=10_000, source=CB)
    steps_per_epoch: int | None = hp(
        None,
        low=1,
        high=10_000_000,
        source="one pass over real + synthetic data",
        help="optimisation steps per epoch; none = one pass",
    )
    schedule: str = hp("cosine", choices=("cosine", "constant"), source=CB)
    warmup_epochs: int = hp(0, low=0, high=10_000, source=CB)
    loss: str = hp(
        "ce",
        choices=("ce", "balanced-softmax"),
        source="ERM",
        help="balanced-softmax = CE(logits + log(prior counts)), plain logits at test",
    )
    prior: str = hp(
        "real",
        choices=("real", "real+synthetic"),
        source="Fill-Up Sec 3.2: only real samples are counted in n_i",
        help="which per-class counts Balanced Softmax adds to the logits",
    )
    sampler: str = hp(
        "instance",
        choices=("instance", "class-balanced"),
        source="ERM",
        help="how samples are drawn within the real and the synthetic pools",
    )
    real_fraction: float | None = hp(
        None,
        gt=0.0,
        high=1.0,
        source="none: real and synthetic data pooled",
        help="share of real images in each mini-batch when "
        "synthetic data is present (FG and augcond use 0.5)",
    )
    augment: str = hp(
        "standard",
        choices=("none", "shift", "standard"),
        source=CB,
        help="standard = random-resized crop + flip + colour jitter (files) or "
        "pad-crop + flip (arrays); shift = small translations only",
    )
    normalize: str = hp(
        "imagenet",
        choices=("imagenet", "half"),
        source=CB,
        help="imagenet mean/std, or half = scale to [-1, 1]",
    )
    selection: str = hp(
        "best-val",
        choices=("best-val", "last"),
        source="TDE / KaihuaTang #15: test at the best-validation epoch",
        help="which checkpoint the headline test numbers come from (both are recorded)",
    )
    eval_batch_size: int = hp(256, low=1, high=65_536, source="harness")
    num_workers: int = hp(0, low=0, high=256, source="harness; in-memory data needs no workers")

    def __post_init__(self) -> None:
        if self.warmup_epochs >= self.epochs:
            raise ConfigError(
                f"warmup_epochs={self.warmup_epochs} must be smaller than epochs={self.epochs}."
            )
