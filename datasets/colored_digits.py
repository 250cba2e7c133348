"""colored-digits: scikit-learn's digits on a background colour spuriously tied to the class.

The offline benchmark for worst-group accuracy and the fairness metrics (embedded, no download).
The 1,797 real 8x8 digits are split as in digits-lt (per class 50 test and 10 val images held out
first), but the training split keeps every class at the same size (the smallest remainder, 114)
and is group-imbalanced instead: the digit is drawn in white on a coloured background, and in
training a fraction `correlation` of each class has its class's majority colour (colour c % K for
digit c), the rest the other colours in turn. In val and test each class is spread evenly over
the K colours, so the colour predicts nothing there. Groups are (class, colour), numbered
K * class + colour as SubpopBench does; the colour is also the sensitive/spurious attribute.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from bench.data import DatasetAdapter, DatasetOptions, ImageSplit, LoadedDataset
from bench.data.files import rgb_dataset
from bench.datasets.digits_lt import PROTOTYPE, DigitsLT, load_digits_uint8
from bench.errors import ConfigError
from bench.hparams import hp
from bench.io import seed_hash

COLOURS = {  # background colours, far apart in RGB so a small CNN picks them up at once
    "red": (220, 50, 50),
    "green": (40, 160, 70),
    "blue": (30, 110, 210),
    "yellow": (230, 200, 30),
    "purple": (140, 40, 170),
}
SMALLEST_CLASS = 174  # images of the rarest digit in scikit-learn's bundled set (174..183)
WATERBIRDS = "Waterbirds' 95% correlation of bird type and background (Sagawa et al. 2020)"


@dataclass(frozen=True)
class Options(DatasetOptions):
    correlation: float = hp(
        0.95,
        low=0.0,
        high=1.0,
        part="data",
        source=WATERBIRDS,
        help="share of each training class drawn on its majority colour",
    )
    num_colors: int = hp(
        2,
        low=2,
        high=len(COLOURS),
        part="data",
        source="two, as Waterbirds' two backgrounds: 20 groups of 25 test images each",
    )
    image_size: int = hp(16, choices=(8, 16, 32), part="data", source=PROTOTYPE)
    test_per_class: int = hp(50, low=1, part="data", high=10**6, source=PROTOTYPE)
    val_per_class: int = hp(10, low=1, part="data", high=10**6, source=PROTOTYPE)
    split_seed: int = hp(
        0, low=0, part="data", high=2**31 - 1, source="fixed, so every run sees the same split"
    )


class ColoredDigits(DatasetAdapter):
    """Digits on a background colour correlated with the class in training only (embedded)."""

    name = "colored-digits"
    Options = Options
    VERSION = 1
    RECIPE = {
        **DigitsLT.RECIPE,
        "selection_metric": (
            "val_worst_group",
            "worst-group validation accuracy, as for Waterbirds (SubpopBench; DFR)",
        ),
    }

    @classmethod
    def expected(cls, options: Any) -> dict[str, Any]:
        """Split sizes and group counts that follow from the construction (a self-check)."""
        n = SMALLEST_CLASS - options.test_per_class - options.val_per_class
        classes = np.repeat(np.arange(10), n)
        groups = options.num_colors * classes + train_colours_all(n, options)
        return {
            "splits": {
                "train": 10 * n,
                "val": 10 * options.val_per_class,
                "test": 10 * options.test_per_class,
            },
            "num_classes": 10,
            "groups": 10 * options.num_colors,
            "group_counts": {
                "train": np.bincount(groups, minlength=10 * options.num_colors).tolist()
            },
        }

    def load(self) -> LoadedDataset:
        o = self.options
        gray, labels = load_digits_uint8(o.image_size, 1)
        counts = np.bincount(labels)
        held_out = o.test_per_class + o.val_per_class
        if held_out >= counts.min():
            raise ConfigError(
                f"colored-digits: test_per_class + val_per_class = {held_out} leaves no training "
                f"image in the smallest class ({counts.min()} images)."
            )
        n_train = int(counts.min()) - held_out
        parts: dict[str, list[tuple[np.ndarray, np.ndarray]]] = {"train": [], "val": [], "test": []}
        for c in range(10):
            rng = np.random.default_rng(seed_hash(self.name, o.split_seed, c))
            idx = rng.permutation(np.flatnonzero(labels == c))
            test, val = idx[: o.test_per_class], idx[o.test_per_class : held_out]
            train = idx[held_out : held_out + n_train]
            parts["test"].append((test, balanced_colours(len(test), o.num_colors)))
            parts["val"].append((val, balanced_colours(len(val), o.num_colors)))
            parts["train"].append((train, train_colours(c, len(train), o)))
        splits = {
            name: self.make_split(name, chunks, gray, labels) for name, chunks in parts.items()
        }
        names = list(COLOURS)[: o.num_colors]
        return rgb_dataset(
            self,
            [str(d) for d in range(10)],
            splits,
            group_names=[f"{d}/{colour}" for d in range(10) for colour in names],
            attribute_names=names,
            info={
                "correlation": o.correlation,
                "majority_colour": "digit % num_colors",
                # the broad corpus of a pretrained generator (bench/generators/pretrain.py):
                # printed digits on the same background colours, balanced in every class
                "printed_corpus": {"num_colors": o.num_colors},
            },
        )

    def make_split(
        self, name: str, chunks: list[tuple[np.ndarray, np.ndarray]], gray: np.ndarray, labels
    ) -> ImageSplit:
        index = np.concatenate([i for i, _ in chunks])
        colour = np.concatenate([c for _, c in chunks])
        y = labels[index]
        images = paint(gray[index], colour, self.options.num_colors)
        groups = self.options.num_colors * y + colour
        return ImageSplit(name, y, images=images, groups=groups, attributes=colour)


def balanced_colours(n: int, num_colors: int) -> np.ndarray:
    """Colours 0, 1, ..., K-1, 0, 1, ...: an even spread over the (shuffled) samples."""
    return np.arange(n) % num_colors


def train_colours(digit: int, n: int, options: Options) -> np.ndarray:
    """The majority colour for round(correlation * n) samples, the other colours in turn after."""
    k = options.num_colors
    majority = digit % k
    n_major = round(options.correlation * n)
    others = [c for c in range(k) if c != majority]
    minority = [others[i % len(others)] for i in range(n - n_major)]
    return np.array([majority] * n_major + minority, dtype=np.int64)


def train_colours_all(n: int, options: Options) -> np.ndarray:
    return np.concatenate([train_colours(c, n, options) for c in range(10)])


def paint(gray: np.ndarray, colour: np.ndarray, num_colors: int) -> np.ndarray:
    """White strokes on a coloured background: N x H x W x 1 gray -> N x H x W x 3 uint8."""
    palette = np.array(list(COLOURS.values())[:num_colors], dtype=np.float32)
    alpha = gray.astype(np.float32) / 255.0
    background = palette[colour][:, None, None, :]
    return np.rint(alpha * 255.0 + (1.0 - alpha) * background).astype(np.uint8)
