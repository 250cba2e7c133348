"""digits-lt: scikit-learn's bundled handwritten digits, made long-tailed. Real data, no download.

1,797 real 8x8 grayscale digits (10 classes, 174-183 per class) ship inside scikit-learn. A
balanced test split (50 per class) and val split (10 per class) are held out first; the training
split then keeps `int(n_max * IF ** (-c / (C - 1)))` images of class c, the CIFAR-LT formula of
LDAM-DRW (class 0 is the head). n_max is the smallest per-class remainder (114 with the default
hold-outs), so every class can supply its quota. With the default IF 100 the counts are
114, 68, 40, 24, 14, 8, 5, 3, 1, 1: one many-shot, three medium-shot and six few-shot classes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

from bench.data import LONG_TAIL, DatasetAdapter, DatasetOptions, ImageSplit, LoadedDataset
from bench.errors import ConfigError
from bench.hparams import hp
from bench.io import seed_hash

PROTOTYPE = "embedded-benchmark prototype measured on 2-core CPU machines (README, make run)"


@dataclass(frozen=True)
class Options(DatasetOptions):
    imbalance_factor: float = hp(
        100.0,
        low=1.0,
        part="data",
        high=10**6,
        source="IF 100 as CIFAR-LT's harder setting (LDAM-DRW); it separates methods better "
        "than IF 24 on digits (" + PROTOTYPE + ")",
        help="n_max / n_min of the long-tailed train split (1 = balanced)",
    )
    image_size: int = hp(
        16,
        choices=(8, 16, 32),
        part="data",
        source=PROTOTYPE,
        help="side of the square images; the 8x8 originals are resized bilinearly",
    )
    channels: int = hp(
        1,
        choices=(1, 3),
        part="data",
        source=PROTOTYPE,
        help="1 = grayscale; 3 repeats it, for backbones that expect RGB",
    )
    test_per_class: int = hp(50, low=1, part="data", high=10**6, source=PROTOTYPE)
    val_per_class: int = hp(10, low=1, part="data", high=10**6, source=PROTOTYPE)
    split_seed: int = hp(
        0,
        low=0,
        part="data",
        high=2**31 - 1,
        source="fixed seed, so the split is the same for every run and every machine",
    )


class DigitsLT(DatasetAdapter):
    """scikit-learn's handwritten digits with a long-tailed train split (embedded, real)."""

    Options = Options
    VERSION = 1
    LEADERBOARD = LONG_TAIL
    RECIPE = {
        "backbone": ("small-cnn", PROTOTYPE + ": CNN 32-64-128 + global pooling + linear"),
        "optimizer": ("adam", PROTOTYPE),
        "lr": (1e-3, PROTOTYPE),
        "weight_decay": (0.0, PROTOTYPE),
        "batch_size": (64, PROTOTYPE),
        "epochs": (12, PROTOTYPE + ": 600 iterations = 12 epochs x 50 steps"),
        "steps_per_epoch": (50, PROTOTYPE),
        "augment": ("shift", "digits are not flip-invariant; small random shifts only"),
        "normalize": ("half", "images scaled to [-1, 1], as the diffusion generator sees them"),
    }

    def load(self) -> LoadedDataset:
        images, labels = load_digits_uint8(self.options.image_size, self.options.channels)
        train, val, test = self.split(labels)
        splits = {
            "train": ImageSplit("train", labels[train], images=images[train]),
            "val": ImageSplit("val", labels[val], images=images[val]),
            "test": ImageSplit("test", labels[test], images=images[test]),
        }
        return LoadedDataset(
            name="digits-lt",
            class_names=[str(d) for d in range(10)],
            splits=splits,
            image_size=self.options.image_size,
            channels=self.options.channels,
            many_threshold=self.options.many_threshold,
            few_threshold=self.options.few_threshold,
            info={"n_max": int(self.n_max(labels))},
        )

    def split(self, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Indices of the long-tailed train split and the balanced val and test splits."""
        o = self.options
        held_out = o.test_per_class + o.val_per_class
        n_max = self.n_max(labels)
        quotas = long_tail_counts(n_max, 10, o.imbalance_factor)
        if quotas[-1] < 1:
            raise ConfigError(
                f"digits-lt: imbalance_factor={o.imbalance_factor:g} leaves class 9 with no "
                f"training image (n_max={n_max}); use at most {n_max}."
            )
        train, val, test = [], [], []
        for c in range(10):
            rng = np.random.default_rng(seed_hash("digits-lt", o.split_seed, c))
            idx = rng.permutation(np.flatnonzero(labels == c))
            test.append(idx[: o.test_per_class])
            val.append(idx[o.test_per_class : held_out])
            train.append(idx[held_out : held_out + quotas[c]])
        return np.concatenate(train), np.concatenate(val), np.concatenate(test)

    def n_max(self, labels: np.ndarray) -> int:
        """The head-class size: the smallest per-class remainder after the held-out splits."""
        held_out = self.options.test_per_class + self.options.val_per_class
        smallest = int(np.bincount(labels).min())
        if held_out >= smallest:
            raise ConfigError(
                f"digits-lt: test_per_class + val_per_class = {held_out} leaves no training image"
                f" in the smallest class ({smallest} images); keep the sum below {smallest}."
            )
        return smallest - held_out


def long_tail_counts(n_max: int, num_classes: int, imbalance_factor: float) -> list[int]:
    """Per-class counts `int(n_max * IF ** (-i / (C - 1)))` (LDAM-DRW's exponential profile)."""
    return [
        int(n_max * (1.0 / imbalance_factor) ** (i / (num_classes - 1))) for i in range(num_classes)
    ]


def load_digits_uint8(image_size: int, channels: int) -> tuple[np.ndarray, np.ndarray]:
    """All 1,797 digits as uint8 N x H x W x C images (0-255) and their labels."""
    # sklearn: heavy, imported where used (off the start-up path)
    from sklearn.datasets import load_digits

    bunch = load_digits()
    small = np.rint(bunch.images * (255.0 / 16.0)).astype(np.uint8)  # values are 0..16
    if image_size != 8:
        small = np.stack(
            [
                np.asarray(Image.fromarray(im).resize((image_size, image_size), Image.BILINEAR))
                for im in small
            ]
        )
    images = np.repeat(small[..., None], channels, axis=-1)
    return images, bunch.target.astype(np.int64)
