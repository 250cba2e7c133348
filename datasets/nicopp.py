"""nicopp: NICO++ in the sub-population-shift setup (SubpopBench; FG Sec 4.3), 60 x 6 groups.

Root layout: track 1 of the NICO++ challenge (`track_1.zip` unpacked, giving
`public_dg_0416/train/<context>/<class>/*.jpg`) plus `dg_label_id_mapping.json` ({class: id}).
The split is SubpopBench's `generate_metadata_nicopp` (scripts/download.py) with one change: files
are taken in sorted order instead of `Path.glob` order, which depends on the file system, so the
same seed gives the same split on every machine (the reproducibility issue of conduit PR #302).
Per group (class, context), in order of first appearance: `random.seed(666)` once, shuffle the
group's files, k = min(size, 75), val = the first k // 3, test = the next k - k // 3, train = the
rest, so groups of 75 images or fewer have no training images. `bench data prepare --dataset
nicopp --root DIR` writes that split to DIR/metadata.csv (filename relative to DIR, y, a,
split); loading reads it, or a copy shipped at bench/datasets/metadata/nicopp.csv. Groups are
6 * class + context, as in SubpopBench; the context is the attribute.
"""

from __future__ import annotations

import csv
import io
import random
from pathlib import Path
from typing import Any

import numpy as np

from bench.data import GROUPS, DatasetAdapter, ImageSplit, LoadedDataset
from bench.data.files import (
    ImageOptions,
    Problems,
    csv_int,
    existing_files,
    read_csv,
    read_json,
    rgb_dataset,
    sorted_images,
)
from bench.errors import DataError
from bench.io import atomic_write_text

CONTEXTS = ["autumn", "dim", "grass", "outdoor", "rock", "water"]  # SubpopBench's order
IMAGES = Path("public_dg_0416") / "train"
PACKAGED_METADATA = Path(__file__).resolve().parent / "metadata" / "nicopp.csv"
SUBPOP = "SubpopBench NICO++ defaults (anchors §2.2, §3.5)"
FG = "FG App F.3 (NICO++)"
SPLITS = ("train", "val", "test")


class NICOpp(DatasetAdapter):
    """NICO++ sub-population shift: 60 classes in 6 contexts, groups = (class, context)."""

    name = "nicopp"
    Options = ImageOptions
    VERSION = 1
    LEADERBOARD = GROUPS
    needs_root = True
    download_hint = (
        "Get track_1.zip and dg_label_id_mapping.json of the NICO++ challenge (links in "
        "SubpopBench's subpopbench/scripts/download.py, https://github.com/YyzHarry/SubpopBench), "
        "unpack them into one folder, then run: bench data prepare --dataset nicopp --root DIR"
    )
    RECIPE = {
        "backbone": ("resnet50", FG + ": ImageNet-pretrained ResNet50"),
        "pretrained": ("hf-cache", FG + ": ImageNet weights from the local cache"),
        "optimizer": ("sgd", FG + ": SGD, momentum 0.9"),
        "lr": (1e-3, SUBPOP + " (FG searched 10^U(-4,-2))"),
        "momentum": (0.9, FG),
        "weight_decay": (1e-4, SUBPOP),
        "batch_size": (108, SUBPOP + " (FG searched 2^U(6,7))"),
        "epochs": (50, FG + ": 50 epochs"),
        "schedule": ("constant", SUBPOP),
        "augment": ("none", FG + ": resize + center crop only"),
        "normalize": ("imagenet", FG + ": ImageNet normalization"),
        "selection_metric": (
            "val_acc",
            FG + " (App F.3): model selection and early stopping on average validation accuracy",
        ),
    }
    # FG Sec 4.3: 62,657 / 8,726 / 17,483 images, 60 classes, 6 contexts (360 groups). Split
    # sizes depend only on the group sizes, so sorting the files does not change them.
    EXPECTED = {
        "splits": {"train": 62_657, "val": 8_726, "test": 17_483},
        "num_classes": 60,
        "groups": 360,
    }

    def prepare(self) -> list[Path]:
        """Write the SubpopBench split of the images under the root to root/metadata.csv."""
        base = self.require_root()
        problems = Problems(self.name, self.download_hint)
        classes = self.class_ids(base, problems)
        problems.raise_if_any()
        rows = [
            (path.relative_to(base).as_posix(), y, a)
            for a, context in enumerate(CONTEXTS)
            for label, y in classes.items()
            for path in group_files(base / IMAGES / context / label)
        ]
        if not rows:
            raise DataError(f"nicopp: no images under {base / IMAGES}. {self.download_hint}")
        split = subpopbench_split(rows)
        text = io.StringIO()
        writer = csv.writer(text, lineterminator="\n")
        writer.writerow(["filename", "y", "a", "split"])
        writer.writerows((f, y, a, split[f]) for f, y, a in rows)
        atomic_write_text(base / "metadata.csv", text.getvalue())
        return [base / "metadata.csv"]

    def load(self) -> LoadedDataset:
        base = self.require_root()
        problems = Problems(self.name, self.download_hint)
        classes = self.class_ids(base, problems)
        path = self.metadata_path(base)
        rows = read_csv(path, ("filename", "y", "a", "split"), problems)
        problems.raise_if_any()
        items: dict[str, list[tuple[Path, int, int, str]]] = {s: [] for s in SPLITS}
        for line, row in enumerate(rows, start=2):
            y = csv_int(row, "y", path, line, problems, range(len(classes)))
            a = csv_int(row, "a", path, line, problems, range(len(CONTEXTS)))
            split = csv_int(row, "split", path, line, problems, range(3))
            if None not in (y, a, split):
                items[SPLITS[split]].append((base / row["filename"], y, a, f"{path}:{line}"))
        splits = {name: make_split(name, found, problems) for name, found in items.items()}
        names = [name.replace("_", " ") for name in sorted(classes, key=classes.get)]
        problems.raise_if_any()
        return rgb_dataset(
            self,
            names,
            splits,
            group_names=[f"{n}/{c}" for n in names for c in CONTEXTS],
            attribute_names=list(CONTEXTS),
            info={"metadata": str(path)},
        )

    def metadata_path(self, base: Path) -> Path:
        """root/metadata.csv (from `bench data prepare`), else the shipped copy."""
        local = base / "metadata.csv"
        return local if local.is_file() or not PACKAGED_METADATA.is_file() else PACKAGED_METADATA

    def class_ids(self, base: Path, problems: Problems) -> dict[str, int]:
        """{class folder: id} from dg_label_id_mapping.json (file order; ids 0..C-1)."""
        path = base / "dg_label_id_mapping.json"
        mapping: dict[str, Any] | None = read_json(path, problems)
        if mapping is None:
            return {}
        ids = sorted(v for v in mapping.values() if isinstance(v, int))
        if ids != list(range(len(mapping))):
            problems.add(f"{path}: class ids must be the integers 0..{len(mapping) - 1}")
            return {}
        return {str(k): v for k, v in mapping.items()}


def group_files(folder: Path) -> list[Path]:
    """A group's images in sorted order (SubpopBench: unsorted `Path.glob('*.jpg')`)."""
    return [p for p in sorted_images(folder) if p.suffix == ".jpg"] if folder.is_dir() else []


def subpopbench_split(rows: list[tuple[str, int, int]]) -> dict[str, int]:
    """filename -> 0 (train), 1 (val) or 2 (test), by SubpopBench's make_balanced_testset."""
    rng = random.Random(666)  # the same stream as its `random.seed(666)`
    groups: dict[int, list[str]] = {}
    for filename, y, a in rows:  # dicts keep first-appearance order, as pd.unique does
        groups.setdefault(a + len(CONTEXTS) * y, []).append(filename)
    split = dict.fromkeys((f for f, _, _ in rows), 0)
    for files in groups.values():
        rng.shuffle(files)
        k = min(len(files), 75)
        split.update(dict.fromkeys(files[: k // 3], 1))
        split.update(dict.fromkeys(files[k // 3 : k], 2))
    return split


def make_split(
    name: str, items: list[tuple[Path, int, int, str]], problems: Problems
) -> ImageSplit:
    y = np.array([i[1] for i in items], dtype=np.int64)
    a = np.array([i[2] for i in items], dtype=np.int64)
    files = existing_files([i[0] for i in items], problems, [i[3] for i in items])
    return ImageSplit(name, y, files=files, groups=len(CONTEXTS) * y + a, attributes=a)
