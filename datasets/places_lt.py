"""places-lt: Places-LT (Liu et al. 2019, OLTR), from its split files, in either Places365 layout.

Split files `Places_LT_{train,val,test}.txt` (at the root or in `Places_LT/`), `<path> <label>` per
line, in either of the two conventions that exist for the same images:
- classifier-balancing / OLTR, for Places365-Standard small images with the *easy* directory
  structure: `train/apartment_building-outdoor/00000794.jpg`, `val/airfield/Places365_val_...jpg`;
- SADE-AgnosticLT `Places_LT_v2`, for the plain layout: `data_256/a/apartment_building/outdoor/
  00000794.jpg`, `val_256/Places365_val_00003597.jpg`.
Whichever the files use, images are looked up in the layout found on disk (`train/`+`val/`, also
inside `places365_standard/`, or `data_256/`+`val_256/`), so any list works with any download.
Val is drawn from the Places365 train set (20 per class), test from its val set (100 per class).
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath

import numpy as np

from bench.data import LONG_TAIL, DatasetAdapter, ImageSplit, LoadedDataset
from bench.data.files import (
    ImageOptions,
    Problems,
    Row,
    existing_files,
    locate_or_fail,
    read_split_files,
    rgb_dataset,
)

CB = "classifier-balancing Places_LT config (Kang et al. 2020); FG App F.4"
LAYOUTS = {"easy": ("train", "val"), "plain": ("data_256", "val_256")}


class PlacesLT(DatasetAdapter):
    """Places-LT (365 scene classes, 4980..5 train images per class) from the OLTR split files."""

    name = "places-lt"
    Options = ImageOptions
    VERSION = 1
    LEADERBOARD = LONG_TAIL
    needs_root = True
    download_hint = (
        "Get Places365-Standard small images (256x256), preferably 'with easy directory "
        "structure', from http://places2.csail.mit.edu/download.html and the Places_LT_*.txt "
        "split files from https://github.com/facebookresearch/classifier-balancing "
        "(data/Places_LT/) or Vanint/SADE-AgnosticLT (data_txt/Places_LT_v2/)."
    )
    RECIPE = {
        "backbone": ("resnet152", CB + ": ImageNet-pretrained ResNet-152 (FG Sec 4.2)"),
        "pretrained": ("hf-cache", CB + ": ImageNet-pretrained weights from the local cache"),
        "optimizer": ("sgd", "FG App F.4"),
        "lr": (0.0028, "FG App F.4 (LR 0.0028)"),
        "momentum": (0.9, "FG App F.4"),
        "weight_decay": (5e-4, "FG App F.4"),
        "batch_size": (512, "FG App F.4 (batch 512)"),
        "epochs": (30, "FG App F.4: stage 1, 30 epochs"),
        "schedule": ("cosine", CB),
        "augment": ("standard", CB + ": RandomResizedCrop 224 + flip + ColorJitter"),
        "normalize": ("imagenet", CB),
    }
    # Counted from the classifier-balancing split files (62,500 / 7,300 / 36,500; 365 classes,
    # max 4980, min 5; 131 / 163 / 71 classes with >100 / 20-100 / <20 train images).
    EXPECTED = {
        "splits": {"train": 62_500, "val": 7_300, "test": 36_500},
        "num_classes": 365,
        "shots": {"many": 131, "medium": 163, "few": 71},
        "train_counts": {"max": 4980, "min": 5},
    }
    SPLIT_FILES = {s: f"Places_LT_{s}.txt" for s in ("train", "val", "test")}

    def load(self) -> LoadedDataset:
        base, split_dir = self.locate()
        problems = Problems(self.name, self.download_hint)
        rows = read_split_files(split_dir, self.SPLIT_FILES, problems)
        problems.raise_if_any()
        num_classes = 1 + max(r.label for r in rows["train"])
        parsed = {
            s: [parse_places_path(r, problems) for r in split_rows]
            for s, split_rows in rows.items()
        }
        category = category_of_labels(rows, parsed, problems)
        image_base, layout = self.image_layout(base, problems)
        problems.raise_if_any()
        splits = {}
        for split, split_rows in rows.items():
            paths = [
                layout_path(image_base, layout, kind, category[row.label], filename)
                for row, (kind, _, filename) in zip(split_rows, parsed[split], strict=True)
            ]
            targets = np.array([r.label for r in split_rows], dtype=np.int64)
            files = existing_files(paths, problems, [r.where for r in split_rows])
            splits[split] = ImageSplit(split, targets, files=files)
        problems.raise_if_any()
        return rgb_dataset(
            self,
            [readable(category[c]) for c in range(num_classes)],
            splits,
            info={"layout": layout, "images": str(image_base)},
        )

    def locate(self) -> tuple[Path, Path]:
        """The dataset folder and the folder holding the split files."""
        root = self.require_root()
        first = self.SPLIT_FILES["train"]
        base = locate_or_fail(
            root,
            ("",),
            [first, f"Places_LT/{first}"],
            self.name,
            self.download_hint,
        )
        split_dir = base if (base / first).is_file() else base / "Places_LT"
        return base, split_dir

    def image_layout(self, base: Path, problems: Problems) -> tuple[Path, str]:
        """Where the images are and in which of the two Places365 layouts."""
        for folder in (base, base / "places365_standard"):
            for layout, (train_dir, val_dir) in LAYOUTS.items():
                if (folder / train_dir).is_dir() or (folder / val_dir).is_dir():
                    return folder, layout
        problems.add(
            f"no Places365 images under {base}: expected train/ and val/ (easy directory "
            "structure, also inside places365_standard/) or data_256/ and val_256/"
        )
        return base, "easy"


def parse_places_path(row: Row, problems: Problems) -> tuple[str, str | None, str]:
    """(train|val, category like 'apartment_building/outdoor' or None, file name) of a line."""
    parts = PurePosixPath(row.path).parts
    if len(parts) == 3 and parts[0] in ("train", "val"):
        return parts[0], parts[1].replace("-", "/"), parts[2]  # easy layout: '-' joins sub-names
    if len(parts) >= 4 and parts[0] == "data_256":
        return "train", "/".join(parts[2:-1]), parts[-1]
    if len(parts) == 2 and parts[0] == "val_256":
        return "val", None, parts[1]  # the plain val folder is flat: the label names the class
    problems.add(
        f"{row.where}: {row.path!r} is in neither Places365 layout (expected "
        "train|val/<category>/<file> or data_256/<letter>/<category>/<file> or val_256/<file>)"
    )
    return "train", None, parts[-1] if parts else ""


def category_of_labels(
    rows: dict[str, list[Row]], parsed: dict[str, list[tuple]], problems: Problems
) -> dict[int, str]:
    """label -> category, checking that no category carries two labels."""
    category: dict[int, str] = {}
    first_line: dict[str, Row] = {}
    for split, split_rows in rows.items():
        for row, (_, cat, _) in zip(split_rows, parsed[split], strict=True):
            if cat is None:
                continue
            seen = first_line.setdefault(cat, row)
            if seen.label != row.label:
                problems.add(
                    f"{row.where}: label {row.label} for category {cat!r}, but {seen.where} "
                    f"gave it label {seen.label}"
                )
            category.setdefault(row.label, cat)
    missing = sorted({r.label for s in rows.values() for r in s} - set(category))
    if missing:
        problems.add(f"labels {missing[:10]} never appear with a category folder in any split")
    return category


def layout_path(base: Path, layout: str, kind: str, category: str | None, filename: str) -> Path:
    """Where an image of split kind `kind` (train|val) lives in `layout`."""
    category = category or ""
    if layout == "easy":
        return base / kind / category.replace("/", "-") / filename
    if kind == "train":
        return base / "data_256" / category[:1] / category / filename
    return base / "val_256" / filename


def readable(category: str) -> str:
    """'apartment_building/outdoor' -> 'apartment building (outdoor)', for prompts."""
    head, _, sub = category.partition("/")
    text = head.replace("_", " ")
    return f"{text} ({sub.replace('_', ' ').replace('/', ', ')})" if sub else text
