"""inat2018: iNaturalist 2018 (8,142 species), read from the official COCO-style json files.

Root layout (visipedia/inat_comp 2018): `train2018.json`, `val2018.json` and the image folder
`train_val2018/<supercategory>/<category_id>/<hash>.jpg`; optionally `categories.json` (from
categories.json.tar.gz) with the real species names, since the names in train2018.json were
obfuscated and prompt-based generators need the real ones. Each image has one annotation; the
label is its `category_id`, as in classifier-balancing's iNaturalist18 lists. Long-tail papers
use the official val set (3 images per class) as the test set and have no separate validation
split, so val is the test split here too (BagofTricks-LT #13, SADE #7).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from bench.data import LONG_TAIL, DatasetAdapter, ImageSplit, LoadedDataset
from bench.data.files import (
    ImageOptions,
    Problems,
    existing_files,
    load_json,
    locate_or_fail,
    read_json,
    rgb_dataset,
)

CB = "classifier-balancing iNaturalist18 config (Kang et al. 2020)"


class INat2018(DatasetAdapter):
    """iNaturalist 2018 (8,142 species, long-tailed), from train2018.json / val2018.json."""

    name = "inat2018"
    Options = ImageOptions
    VERSION = 1
    LEADERBOARD = LONG_TAIL
    needs_root = True
    download_hint = (
        "Get train_val2018.tar.gz, train2018.json.tar.gz, val2018.json.tar.gz and "
        "categories.json.tar.gz from https://github.com/visipedia/inat_comp/tree/master/2018 "
        "and unpack them into one folder."
    )
    RECIPE = {
        "backbone": ("resnet50", CB + " (ResNet-50); Fill-Up Sec 4.2"),
        "optimizer": ("sgd", CB),
        "lr": (0.2, CB),
        "momentum": (0.9, CB),
        "weight_decay": (1e-4, CB + " (weight decay 1e-4)"),
        "batch_size": (512, CB),
        "epochs": (90, CB + " (90 epochs; 200 in its longer schedule)"),
        "schedule": ("cosine", CB),
        # classifier-balancing uses no colour jitter and its own iNat mean/std; the recipe has
        # neither option, so these are the nearest available.
        "augment": ("standard", CB + ": RandomResizedCrop 224 + flip"),
        "normalize": ("imagenet", CB + " uses iNat mean/std; ImageNet's is the nearest option"),
    }
    # Official sizes (visipedia/inat_comp 2018 README; the numbers). The many/medium/few
    # split often cited (842 / 4,076 / 3,224) could not be recounted from train2018.json here,
    # so it is left out.
    EXPECTED = {"splits": {"train": 437_513, "val": 24_426, "test": 24_426}, "num_classes": 8_142}

    def load(self) -> LoadedDataset:
        root = self.require_root()
        base = locate_or_fail(
            root, ("",), ["train2018.json", "val2018.json"], self.name, self.download_hint
        )
        problems = Problems(self.name, self.download_hint)
        keys = ("images", "annotations", "categories")
        train_json = read_json(base / "train2018.json", problems, keys)
        val_json = read_json(base / "val2018.json", problems, keys)
        problems.raise_if_any()
        categories = category_table(train_json, base / "train2018.json", problems)
        num_classes = len(categories)
        train = self.read_split(
            "train", train_json, base, base / "train2018.json", problems, num_classes
        )
        test = self.read_split("test", val_json, base, base / "val2018.json", problems, num_classes)
        names, source = self.class_names(base, categories, problems)
        problems.raise_if_any()
        return rgb_dataset(
            self,
            names,
            {"train": train, "val": test, "test": test},
            info={"class_names_from": source},
        )

    def read_split(
        self,
        split: str,
        obj: dict[str, Any],
        base: Path,
        path: Path,
        problems: Problems,
        num_classes: int,
    ) -> ImageSplit:
        """Images and their one annotation each; the label is the category_id."""
        label_of: dict[Any, int] = {}
        for i, ann in enumerate(obj["annotations"]):
            cat = ann.get("category_id") if isinstance(ann, dict) else None
            if not isinstance(cat, int) or not 0 <= cat < num_classes:
                problems.add(
                    f"{path}: annotations[{i}] has category_id {cat!r}, expected an integer "
                    f"in 0..{num_classes - 1}"
                )
                continue
            if ann.get("image_id") in label_of:
                problems.add(f"{path}: image {ann.get('image_id')} has more than one annotation")
            label_of[ann.get("image_id")] = cat
        files, labels = [], []
        for i, image in enumerate(obj["images"]):
            if not isinstance(image, dict) or "file_name" not in image or "id" not in image:
                problems.add(f"{path}: images[{i}] needs 'id' and 'file_name'")
                continue
            if image["id"] not in label_of:
                problems.add(
                    f"{path}: image {image['id']} ({image['file_name']}) has no annotation"
                )
                continue
            files.append(base / image["file_name"])
            labels.append(label_of[image["id"]])
        where = [f"{path} ({split})"] * len(files)
        return ImageSplit(
            split, np.array(labels, np.int64), files=existing_files(files, problems, where)
        )

    def class_names(
        self, base: Path, categories: dict[int, dict[str, Any]], problems: Problems
    ) -> tuple[list[str], str]:
        """Real species names from categories.json when present, else the json's names."""
        table, source = categories, "train2018.json (obfuscated in the 2018 release)"
        real = base / "categories.json"
        if real.is_file():
            entries = load_json(real, problems)
            if isinstance(entries, list):
                table, source = category_table({"categories": entries}, real, problems), str(real)
            elif entries is not None:
                problems.add(f"{real}: expected a list of categories with 'id' and 'name'")
        return [str(table.get(c, {}).get("name", c)) for c in range(len(categories))], source


def category_table(obj: dict[str, Any], path: Path, problems: Problems) -> dict[int, dict]:
    """category id -> category; ids must run 0..C-1 (they are the labels)."""
    table = {}
    for i, cat in enumerate(obj["categories"]):
        if not isinstance(cat, dict) or not isinstance(cat.get("id"), int) or "name" not in cat:
            problems.add(f"{path}: categories[{i}] needs an integer 'id' and a 'name'")
            continue
        table[cat["id"]] = cat
    if table and sorted(table) != list(range(len(table))):
        problems.add(f"{path}: category ids must run 0..{len(table) - 1} (they are the labels)")
    return table
