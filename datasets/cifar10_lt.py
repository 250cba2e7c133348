"""cifar10-lt: CIFAR-10-LT built from the original CIFAR python pickles exactly as LDAM-DRW does.

Root layout: `cifar-10-batches-py/` (data_batch_1..5, test_batch, batches.meta) from
cifar-10-python.tar.gz, at the root or as the root itself; `bench data download` fetches it with
torchvision. The long-tailed training split is LDAM-DRW's `imbalance_cifar.py` (kaidic/LDAM-DRW,
copied unchanged into CBDM's dataset.py): n_i = int(img_max * (1/IF) ** (i / (C - 1))) images of
class i (class 0 is the head, img_max = 5000), chosen by `np.random.seed(0)` once and then, per
class in `np.unique` order, `np.random.shuffle` of that class's indices and the first n_i. The
balanced 10,000-image test set is also the validation set, as in the LDAM-DRW protocol.

`train_full` is the whole balanced CIFAR training set (50,000 images): the real reference CBDM
measures generation against (its FID statistics `stats/cifar*.train.npz` are of the full train
set; CBDM Sec 4.1 'class-balanced reference'): `bench eval-gen --set split=train_full`. Nothing
trains on it.
"""

from __future__ import annotations

import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from bench.data import (
    FULL_TRAIN,
    LONG_TAIL,
    DatasetAdapter,
    DatasetOptions,
    ImageSplit,
    LoadedDataset,
)
from bench.data.files import Problems, locate_or_fail, rgb_dataset, torchvision_download
from bench.errors import ConfigError, DataError
from bench.hparams import hp

LDAM = "LDAM-DRW imbalance_cifar.py (Cao et al. 2019), as CBDM's dataset.py"
DEFAULT_IF = 100.0
FULL = FULL_TRAIN  # the balanced training set: generation metrics' reference (docstring)


@dataclass(frozen=True)
class Options(DatasetOptions):
    imbalance_factor: float = hp(
        DEFAULT_IF,
        gt=0.0,
        part="data",
        high=10**6,
        source="IF 100: the standard CIFAR-LT setting (LDAM-DRW; CBDM Sec 4.1 'imb = 0.01'; "
        "SYNAuG Sec 4 evaluates IF 100, 50, 10)",
        help="n_max / n_min; a value below 1 is read as LDAM's imb_factor (0.01 = IF 100)",
    )
    imb_factor: float | None = hp(
        None,
        gt=0.0,
        high=1.0,
        part="data",
        source="LDAM-DRW / CBDM spelling of the same setting: imb_factor = n_min / n_max",
        help="alternative to imbalance_factor: 0.01 means IF 100",
    )
    image_size: int = hp(32, low=8, part="data", high=4096, source="the CIFAR images are 32x32")

    def __post_init__(self) -> None:
        super().__post_init__()
        factor = self.imbalance_factor if self.imbalance_factor >= 1 else 1 / self.imbalance_factor
        if self.imb_factor is not None:
            from_ldam = 1 / self.imb_factor
            if self.imbalance_factor != DEFAULT_IF and not np.isclose(factor, from_ldam):
                raise ConfigError(
                    f"imb_factor={self.imb_factor:g} (IF {from_ldam:g}) contradicts "
                    f"imbalance_factor={self.imbalance_factor:g}; give one of them."
                )
            factor = from_ldam
        # One spelling per experiment, so both give the same run id.
        object.__setattr__(self, "imbalance_factor", round(factor, 6))
        object.__setattr__(self, "imb_factor", None)


class CIFAR10LT(DatasetAdapter):
    """CIFAR-10-LT: LDAM-DRW's long-tailed subset of the CIFAR-10 training set (IF 100 default)."""

    name = "cifar10-lt"
    Options = Options
    VERSION = 1
    LEADERBOARD = LONG_TAIL
    needs_root = True
    download_hint = (
        "Get cifar-10-python.tar.gz from https://www.cs.toronto.edu/~kriz/cifar.html and unpack "
        "it under the root, or run: bench data download --dataset cifar10-lt --root DIR"
    )
    RECIPE = {
        "backbone": (
            "resnet32",
            "LDAM-DRW (Cao et al. 2019) models/resnet_cifar.py resnet32, the backbone of CBDM "
            "Table 4 and SYNAuG Sec 4 (bench/train/backbones.py)",
        ),
        "optimizer": ("sgd", LDAM + ": cifar_train.py"),
        "lr": (0.1, LDAM + ": cifar_train.py --lr 0.1"),
        "momentum": (0.9, LDAM),
        "weight_decay": (2e-4, LDAM + ": --wd 2e-4"),
        "batch_size": (128, LDAM + ": --batch-size 128"),
        "epochs": (200, LDAM + ": 200 epochs"),
        "warmup_epochs": (5, LDAM + ": linear warm-up over 5 epochs"),
        "schedule": ("cosine", "LDAM-DRW steps the LR at epochs 160 and 180; cosine is ours"),
        "augment": ("standard", LDAM + ": pad-4 random crop + horizontal flip"),
        "normalize": ("imagenet", "LDAM uses CIFAR mean/std; ImageNet's is the closest option"),
    }
    NUM_CLASSES: ClassVar[int] = 10
    TORCHVISION: ClassVar[str] = "CIFAR10"
    FOLDER: ClassVar[str] = "cifar-10-batches-py"
    TRAIN_FILES: ClassVar[tuple[str, ...]] = tuple(f"data_batch_{i}" for i in range(1, 6))
    TEST_FILES: ClassVar[tuple[str, ...]] = ("test_batch",)
    META: ClassVar[tuple[str, str]] = ("batches.meta", "label_names")
    LABEL_KEY: ClassVar[str] = "labels"
    # Totals of the LDAM-DRW formula (anchors §3.4; the numbers), per imbalance factor.
    TRAIN_TOTALS: ClassVar[dict[float, int]] = {
        100.0: 12_406,
        50.0: 13_996,
        10.0: 20_431,
        200.0: 11_203,
    }

    @classmethod
    def expected(cls, options: Any) -> dict[str, Any]:
        counts = np.array(lt_counts(cls.img_max(), cls.NUM_CLASSES, options.imbalance_factor))
        n_test = 10_000
        buckets = {
            "many": int((counts > options.many_threshold).sum()),
            "medium": int(
                ((counts <= options.many_threshold) & (counts >= options.few_threshold)).sum()
            ),
            "few": int((counts < options.few_threshold).sum()),
        }
        total = cls.TRAIN_TOTALS.get(options.imbalance_factor, int(counts.sum()))
        return {
            "splits": {"train": total, "val": n_test, "test": n_test, FULL: 50_000},
            "num_classes": cls.NUM_CLASSES,
            "shots": buckets,
            "train_counts": {"max": int(counts.max()), "min": int(counts.min())},
        }

    def download(self) -> None:
        """torchvision's CIFAR download (md5-checked) writes the official folder into the root."""
        root = self.root or self.require_root()

        def fetch() -> None:
            # torchvision: heavy, imported where used (off the start-up path)
            import torchvision

            dataset = getattr(torchvision.datasets, self.TORCHVISION)
            for train in (True, False):
                dataset(str(root), train=train, download=True)

        torchvision_download(self.name, root, fetch, self.download_hint)

    @classmethod
    def img_max(cls) -> int:
        return 50_000 // cls.NUM_CLASSES  # LDAM: len(self.data) / cls_num

    def load(self) -> LoadedDataset:
        folder = locate_or_fail(
            self.require_root(),
            ("", self.FOLDER),
            [*self.TRAIN_FILES, *self.TEST_FILES, self.META[0]],
            self.name,
            self.download_hint,
        )
        problems = Problems(self.name, self.download_hint)
        train_x, train_y = self.read_batches(folder, self.TRAIN_FILES, problems)
        test_x, test_y = self.read_batches(folder, self.TEST_FILES, problems)
        names = self.read_names(folder, problems)
        problems.raise_if_any()
        keep = ldam_indices(train_y, self.options.imbalance_factor, self.NUM_CLASSES)
        test = ImageSplit("test", test_y, images=test_x)
        return rgb_dataset(
            self,
            names,
            {
                "train": ImageSplit("train", train_y[keep], images=train_x[keep]),
                "val": test,
                "test": test,
                FULL: ImageSplit(FULL, train_y, images=train_x),
            },
            info={"imbalance_factor": self.options.imbalance_factor, "pool": len(train_y)},
        )

    def read_batches(
        self, folder: Path, files: tuple[str, ...], problems: Problems
    ) -> tuple[np.ndarray, np.ndarray]:
        """Images (N x H x W x 3 uint8) and labels of the pickled batches, in file order."""
        images, labels = [], []
        for name in files:
            batch = unpickle(folder / name, ("data", self.LABEL_KEY), problems)
            if batch is None:
                continue
            x = np.asarray(batch["data"], dtype=np.uint8)
            y = np.asarray(batch[self.LABEL_KEY], dtype=np.int64)
            side = round((x.shape[-1] / 3) ** 0.5) if x.ndim == 2 else 0
            if x.ndim != 2 or 3 * side * side != x.shape[1] or len(x) != len(y):
                problems.add(
                    f"{folder / name}: 'data' must be N x 3072 (3 x 32 x 32) with one label per "
                    f"row; got {x.shape} and {len(y)} labels"
                )
                continue
            bad = np.flatnonzero((y < 0) | (y >= self.NUM_CLASSES))
            if len(bad):
                problems.add(
                    f"{folder / name}: label {int(y[bad[0]])} at row {int(bad[0])} is out of "
                    f"range 0..{self.NUM_CLASSES - 1} ({len(bad)} such rows)"
                )
                continue
            images.append(x.reshape(-1, 3, side, side).transpose(0, 2, 3, 1))
            labels.append(y)
        if not images:
            return np.zeros((0, 1, 1, 3), np.uint8), np.zeros(0, np.int64)
        return np.concatenate(images), np.concatenate(labels)

    def read_names(self, folder: Path, problems: Problems) -> list[str]:
        filename, key = self.META
        meta = unpickle(folder / filename, (key,), problems)
        names = [str(n) for n in meta[key]] if meta is not None else []
        if meta is not None and len(names) != self.NUM_CLASSES:
            problems.add(f"{folder / filename}: {len(names)} {key}, expected {self.NUM_CLASSES}")
        return names


def unpickle(path: Path, keys: tuple[str, ...], problems: Problems) -> dict[str, Any] | None:
    """An official CIFAR pickle (latin1 strings, as torchvision reads it), checked for `keys`."""
    if not path.is_file():
        problems.add(f"{path} does not exist")
        return None
    try:
        with open(path, "rb") as f:
            obj = pickle.load(f, encoding="latin1")
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError) as exc:
        problems.add(f"{path}: not a readable CIFAR pickle ({type(exc).__name__}: {exc})")
        return None
    missing = [k for k in keys if not isinstance(obj, dict) or k not in obj]
    if missing:
        problems.add(f"{path}: missing key{'s' * (len(missing) > 1)} {', '.join(missing)}")
        return None
    return obj


def lt_counts(img_max: int, num_classes: int, imbalance_factor: float) -> list[int]:
    """LDAM-DRW `get_img_num_per_cls(imb_type='exp')` with imb_factor = 1 / IF."""
    imb_factor = 1.0 / imbalance_factor
    return [int(img_max * (imb_factor ** (i / (num_classes - 1.0)))) for i in range(num_classes)]


def ldam_indices(targets: np.ndarray, imbalance_factor: float, num_classes: int) -> np.ndarray:
    """The training indices LDAM-DRW keeps: its exact RNG order, seed 0 (`rand_number=0`).

    A private RandomState(0) gives the same draws as `np.random.seed(0)` without touching the
    global NumPy state.
    """
    counts = lt_counts(len(targets) // num_classes, num_classes, imbalance_factor)
    rng = np.random.RandomState(0)
    keep = []
    for the_class, n in zip(np.unique(targets), counts, strict=False):
        idx = np.where(targets == the_class)[0]
        rng.shuffle(idx)
        if len(idx) < n:
            raise DataError(
                f"class {int(the_class)} has {len(idx)} training images, fewer than the {n} "
                "the long-tailed split needs: the CIFAR training batches are incomplete."
            )
        keep.append(idx[:n])
    return np.concatenate(keep)
