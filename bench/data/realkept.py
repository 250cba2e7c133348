"""The dataset option `real_kept`: train on part of the real training split (SYNAuG's
replacement test, seed 004 Sec 4.2, Fig. 2).

SYNAuG replaces real CIFAR100 images with synthetic ones in two ways, without Mixup or
fine-tuning:

- `uniform:F`   every class keeps a share F of its real images (Fig. 2b; "1% real data":
                41.11%), the rest is filled with synthetic images;
- `classwise:F` a share F of the classes keeps all its real images, the other classes none
                (Fig. 2a; "50% real data": 43.96%).

`all` (the default) keeps everything. The runner reduces the loaded training split once, before
the synthesis plan, the generator fit and the classifier see it, so a `fill:N` plan fills the
emptied places with synthetic images; validation and test splits are untouched. Which images or
classes are kept is a seeded random draw (the run's seed), recorded in the run's info.

Ours, where SYNAuG is silent: the number kept is F x n rounded half up and at least 1
(uniform: per class that has images; classwise: classes), so `uniform:0.01` keeps one image of
a class with 30. F = 0 (no real image at all) is refused: the generator fit, the plan and the
classifier's real split need at least one.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from bench.errors import ConfigError
from bench.io import seed_hash

KINDS = ("uniform", "classwise")
FORMS = "all | uniform:F | classwise:F with 0 < F <= 1 (the share of real images / classes kept)"


def parse_real_kept(text: str) -> tuple[str, float | None]:
    """("all", None), ("uniform", F) or ("classwise", F); a ConfigError names the valid forms."""
    text = str(text).strip()
    if text == "all":
        return "all", None
    kind, colon, value = text.partition(":")
    if kind not in KINDS or not colon:
        raise ConfigError(f"real_kept={text!r}: unknown form; use {FORMS}.")
    try:
        fraction = float(value)
    except ValueError:
        raise ConfigError(f"real_kept={text!r}: {value!r} is not a number; use {FORMS}.") from None
    if not 0.0 <= fraction <= 1.0:
        raise ConfigError(f"real_kept={text!r}: F={fraction:g} lies outside (0, 1]; use {FORMS}.")
    if fraction == 0.0:
        raise ConfigError(
            f"real_kept={text!r} keeps no real training image; the generator, the plan and the "
            f"classifier need some (SYNAuG: 'a few real samples are crucial'). Use {FORMS}."
        )
    return kind, fraction


def canonical(text: str) -> str:
    """The one spelling of a form ("uniform:0.010" -> "uniform:0.01"): one run id per meaning."""
    kind, fraction = parse_real_kept(text)
    return kind if fraction is None else f"{kind}:{fraction!r}"


def share(fraction: float, n: int) -> int:
    """F x n rounded half up, at least 1 (0 < F <= 1; none of none)."""
    return 0 if n == 0 else max(1, min(n, int(np.floor(fraction * n + 0.5))))


def kept_indices(targets: np.ndarray, num_classes: int, text: str, seed: int) -> np.ndarray:
    """Sorted indices of the training samples `text` keeps, drawn with `seed`."""
    kind, fraction = parse_real_kept(text)
    targets = np.asarray(targets)
    if kind == "all":
        return np.arange(len(targets))
    rng = np.random.default_rng(seed)
    if kind == "uniform":
        parts = [
            rng.choice(members, share(fraction, len(members)), replace=False)
            for members in (np.flatnonzero(targets == c) for c in range(num_classes))
        ]
        keep = np.concatenate([np.asarray(p, dtype=np.int64) for p in parts])
    else:
        classes = rng.choice(num_classes, share(fraction, num_classes), replace=False)
        keep = np.flatnonzero(np.isin(targets, classes))
    return np.sort(keep)


def keep_real(data: Any, text: str, seed: int) -> Any:
    """`data` (a LoadedDataset) with only the kept part of its training split; `info` says what
    was kept. `all` returns `data` itself."""

    if parse_real_kept(text)[0] == "all":
        return data
    before = data.train_counts()
    keep = kept_indices(data.train.targets, data.num_classes, text, seed_hash(seed, "real_kept"))
    splits = {**data.splits, "train": data.train.subset(keep)}
    reduced = dataclasses.replace(data, splits=splits, info=dict(data.info))
    after = reduced.train_counts()
    reduced.info["real_kept"] = {
        "spec": text,
        "seed": seed,
        "kept": int(after.sum()),
        "of": int(before.sum()),
        "classes_without_real": [int(c) for c in np.flatnonzero(after == 0)],
    }
    return reduced
