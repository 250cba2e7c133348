"""What every dataset adapter produces, and the base class adapters derive from.

This module is torch-free: adapters describe their data (labels, groups, image files or arrays)
and `bench.data.torchdata` turns a split into a torch Dataset only when training starts.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from bench.data.realkept import canonical
from bench.errors import ConfigError, DataError
from bench.hparams import hp

SPLITS = ("train", "val", "test")
# The full (class-balanced) training pool an LT adapter may also expose: a real reference for
# generation metrics, never trained on (CBDM Sec 4.1 measures against the full CIFAR train set).
FULL_TRAIN = "train_full"


@dataclass
class ImageSplit:
    """One split: a label per sample, and the images in memory or as files on disk."""

    name: str
    targets: np.ndarray
    images: np.ndarray | None = None  # uint8, N x H x W x C, for data held in memory
    files: list[str] | None = None  # or absolute paths of image files, read on demand
    groups: np.ndarray | None = None  # group index per sample, where the dataset has groups
    attributes: np.ndarray | None = None  # sensitive / spurious attribute per sample
    # Other per-sample labels a dataset exposes (e.g. UTKFace's age, for SYNAuG's prompts).
    extra: dict[str, np.ndarray] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.targets = np.asarray(self.targets, dtype=np.int64)
        if (self.images is None) == (self.files is None):
            raise ValueError(f"split {self.name!r} needs exactly one of images= or files=")
        n = len(self.targets)
        for what in ("images", "files", "groups", "attributes"):
            value = getattr(self, what)
            if value is not None and len(value) != n:
                raise ValueError(f"split {self.name!r}: {len(value)} {what} for {n} labels")
        for what, value in self.extra.items():
            if len(value) != n:
                raise ValueError(f"split {self.name!r}: {len(value)} {what} for {n} labels")

    def __len__(self) -> int:
        return len(self.targets)

    def class_counts(self, num_classes: int) -> np.ndarray:
        return np.bincount(self.targets, minlength=num_classes)

    def subset(self, index: np.ndarray, name: str | None = None) -> ImageSplit:
        """The samples at `index`, in that order."""

        def pick(a: Any) -> Any:
            if a is None:
                return None
            return [a[i] for i in index] if isinstance(a, list) else a[index]

        return ImageSplit(
            name=name or self.name,
            targets=self.targets[index],
            images=pick(self.images),
            files=pick(self.files),
            groups=pick(self.groups),
            attributes=pick(self.attributes),
            extra={k: pick(v) for k, v in self.extra.items()},
        )


@dataclass
class LoadedDataset:
    """A benchmark ready to use: splits, class names, image geometry and group names."""

    name: str
    class_names: list[str]
    splits: dict[str, ImageSplit]
    image_size: int
    channels: int
    many_threshold: int = 100
    few_threshold: int = 20
    group_names: list[str] | None = None
    attribute_names: list[str] | None = None
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def train(self) -> ImageSplit:
        return self.splits["train"]

    def train_counts(self) -> np.ndarray:
        return self.train.class_counts(self.num_classes)

    def with_eval_limit(self, per_class: int) -> LoadedDataset:
        """A copy whose non-train splits keep at most `per_class` samples of each class, or
        of each group where the split has groups (so worst-group and fairness metrics still see
        every group); the first ones, so it is deterministic: the evaluation of a smoke run."""
        splits = {}
        for name, split in self.splits.items():
            if name == "train":
                splits[name] = split
                continue
            strata = split.targets if split.groups is None else split.groups
            keep = [i for c in np.unique(strata) for i in np.flatnonzero(strata == c)[:per_class]]
            splits[name] = split.subset(np.sort(np.asarray(keep, dtype=np.int64)))
        return dataclasses.replace(self, splits=splits)

    def shot_buckets(self) -> dict[str, list[int]]:
        """Classes per bucket: many > many_threshold, few < few_threshold, medium otherwise."""
        return shot_buckets(self.train_counts(), self.many_threshold, self.few_threshold)


def shot_buckets(counts: np.ndarray, many: int = 100, few: int = 20) -> dict[str, list[int]]:
    """The long-tail convention (classifier-balancing `shot_acc`; Fill-Up Table 2).

    many: more than `many` training images; few: fewer than `few`; medium: the rest, inclusive
    of both thresholds (20-100 by default).
    """
    counts = np.asarray(counts)
    return {
        "many": [int(c) for c in np.flatnonzero(counts > many)],
        "medium": [int(c) for c in np.flatnonzero((counts <= many) & (counts >= few))],
        "few": [int(c) for c in np.flatnonzero(counts < few)],
    }


@dataclass(frozen=True)
class DatasetOptions:
    """Options every dataset has. Adapters subclass this and add their own fields."""

    many_threshold: int = hp(
        100,
        low=0,
        part="data",
        high=10**9,
        source="long-tail convention: many-shot = more than 100 train "
        "images (classifier-balancing utils.shot_acc; Fill-Up Table 2)",
    )
    few_threshold: int = hp(
        20,
        low=1,
        part="data",
        high=10**9,
        source="long-tail convention: few-shot = fewer than 20 train "
        "images (classifier-balancing utils.shot_acc; Fill-Up Table 2)",
    )
    real_kept: str = hp(
        "all",
        part="data",
        keyless_default=True,
        source="all real training images; SYNAuG Sec 4.2 / Fig. 2's replacement test keeps "
        "uniform:0.01 (1% of every class) or classwise:0.5 (half the classes, all their images)",
        help="all | uniform:F | classwise:F: the share of the real training split kept, drawn "
        "with the run's seed (bench.data.realkept)",
    )

    def __post_init__(self) -> None:
        object.__setattr__(self, "real_kept", canonical(self.real_kept))  # checked, one spelling
        if self.few_threshold > self.many_threshold + 1:
            raise ConfigError(
                f"few_threshold={self.few_threshold} exceeds many_threshold={self.many_threshold}"
                " + 1: the shot buckets would overlap. Lower few_threshold or raise many_threshold."
            )


@dataclass(frozen=True)
class LeaderboardShape:
    """How the leaderboard lays out a dataset's table (bench.report.aggregate reads it): the
    papers' kind of table, its metric columns (keys of the report's columns, in order; empty:
    every accuracy, group and fairness column the runs have), the buckets its per-class plot
    bins classes into, and the option whose values become one column each (few-shot: k) with
    the options whose runs share one cell (k and the trial index)."""

    kind: str = "generic"
    columns: tuple[str, ...] = ()
    buckets: str = ""  # "shots": many / medium / few by training-set size (shot_buckets)
    per_option: str = ""
    aggregated: tuple[str, ...] = ()


LONG_TAIL = LeaderboardShape("long-tail", ("overall", "many", "medium", "few"), buckets="shots")
GROUPS = LeaderboardShape("groups", ("overall", "group_worst", "group_mean", "group_weighted"))
FAIRNESS = LeaderboardShape("fairness", ("overall", "dp", "eo", "ed", "deo_a", "deo_m"))
FEW_SHOT = LeaderboardShape(
    "few-shot", ("overall",), per_option="shots", aggregated=("shots", "trial")
)
GENERIC = LeaderboardShape()


class DatasetAdapter:
    """Base class of dataset adapters: one file in datasets/ plus one registry line.

    Subclasses set `Options` (a frozen dataclass deriving from DatasetOptions, fields made with
    `hp`), optionally `RECIPE` (classifier-recipe defaults for this benchmark, each a
    (value, source) pair) and `LEADERBOARD` (the shape of its leaderboard table), and implement
    `load()`.
    """

    Options: ClassVar[type[DatasetOptions]] = DatasetOptions
    RECIPE: ClassVar[dict[str, tuple[Any, str]]] = {}
    # The leaderboard's table for this dataset (its papers' shape); GENERIC shows every column.
    LEADERBOARD: ClassVar[LeaderboardShape] = GENERIC
    VERSION: ClassVar[int] = 1
    # Embedded datasets need no root; downloaded ones do (from --data-root or BENCH_DATA_ROOT).
    needs_root: ClassVar[bool] = False
    # Where a user gets the data, quoted in every "missing file" error.
    download_hint: ClassVar[str] = ""
    # Official statistics `bench data check` compares against: any of "splits" ({split: count}),
    # "num_classes", "shots" ({many, medium, few}: classes), "groups", "group_counts"
    # ({split: [count per group]}) and "info" ({key: value} of LoadedDataset.info).
    EXPECTED: ClassVar[dict[str, Any]] = {}

    def __init__(self, options: DatasetOptions, root: Path | None = None):
        self.options = options
        self.root = Path(root) if root is not None else None

    @classmethod
    def expected(cls, options: DatasetOptions) -> dict[str, Any]:
        """The official statistics for these options (CIFAR-LT's depend on the IF)."""
        return cls.EXPECTED

    def load(self) -> LoadedDataset:
        raise NotImplementedError(f"{type(self).__name__} must implement load()")

    def download(self) -> None:
        """Fetch the data into the root, where a library can; never called implicitly."""
        name = type(self).__name__
        if not self.needs_root:
            raise DataError(f"{name} ships with the harness: there is nothing to download.")
        raise DataError(f"{name} cannot be downloaded automatically. {self.download_hint}".strip())

    def prepare(self) -> list[Path]:
        """Write derived files (e.g. split metadata) next to the data; returns what it wrote."""
        raise DataError(f"{type(self).__name__} has nothing to prepare: `bench data check` it.")

    def require_root(self) -> Path:
        """The data root, or a DataError saying how to give one and where to get the data."""
        if self.root is None:
            raise DataError(
                f"{type(self).__name__} reads files from disk: pass --data-root DIR or set "
                f"BENCH_DATA_ROOT. {self.download_hint}".strip()
            )
        if not self.root.is_dir():
            raise DataError(f"data root {self.root} does not exist. {self.download_hint}".strip())
        return self.root


def data_root_from_env(cli_value: str | None, config_value: str | None = None) -> Path | None:
    """--data-root beats BENCH_DATA_ROOT beats the config file's data_root."""
    value = cli_value or os.environ.get("BENCH_DATA_ROOT") or config_value
    return Path(value).expanduser() if value else None
