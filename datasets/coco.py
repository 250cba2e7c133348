"""coco: COCO 2017 as an 80-class few-shot classification set (DA-Fusion's labelling).

Root layout: `annotations/instances_{train,val}2017.json` and the image folders `train2017/`,
`val2017/` (annotations_trainval2017.zip, train2017.zip, val2017.zip). Each image's label is the
category of its annotation with the largest `area` (the first such annotation on ties), and
images without annotations are left out, as in DA-Fusion datasets/coco.py; categories are
numbered in id order (80 of the ids 1..90). The train images (in json order) are the pool of the
k-shot draw, all labelled val images the evaluation split. Reading instances_train2017.json
takes a minute and a few GB of memory.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bench.data import FEW_SHOT, DatasetAdapter, LoadedDataset
from bench.data.fewshot import RECIPE, FewShotOptions, da_fusion_split, few_shot_dataset
from bench.data.files import Problems, existing_files, locate_or_fail, read_json


class COCO(DatasetAdapter):
    """COCO 2017 (80 classes, label = largest annotation), k-shot sets as in DA-Fusion."""

    name = "coco"
    Options = FewShotOptions
    VERSION = 1
    LEADERBOARD = FEW_SHOT
    needs_root = True
    download_hint = (
        "Get train2017.zip, val2017.zip and annotations_trainval2017.zip from "
        "https://cocodataset.org/#download and unpack them under the root."
    )
    RECIPE = RECIPE
    # 80 classes (augcond App D); val2017 has 5,000 images of which 48 have no annotation.
    EXPECTED = {"num_classes": 80, "splits": {"val": 4_952, "test": 4_952}}

    def load(self) -> LoadedDataset:
        base = locate_or_fail(
            self.require_root(),
            ("", "coco2017"),
            ["annotations/instances_train2017.json", "annotations/instances_val2017.json"],
            self.name,
            self.download_hint,
        )
        problems = Problems(self.name, self.download_hint)
        keys = ("images", "annotations", "categories")
        train_path = base / "annotations" / "instances_train2017.json"
        val_path = base / "annotations" / "instances_val2017.json"
        train_json = read_json(train_path, problems, keys)
        val_json = read_json(val_path, problems, keys)
        problems.raise_if_any()
        categories = category_list(train_json, train_path, problems)
        index = {c["id"]: i for i, c in enumerate(categories)}
        pool = largest_annotation_labels(
            train_json, train_path, base / "train2017", index, problems
        )
        evaluation = largest_annotation_labels(
            val_json, val_path, base / "val2017", index, problems
        )
        problems.raise_if_any()
        train, _ = da_fusion_split(pool, self.options.trial, self.options.shots, False)
        for split, groups in (("train", train), ("val2017", evaluation)):
            flat = [Path(f) for group in groups for f in group]
            existing_files(flat, problems, [f"{split} of {base / 'annotations'}"] * len(flat))
        problems.raise_if_any()
        names = [str(c["name"]) for c in categories]
        return few_shot_dataset(self, names, train, evaluation, pool)


def category_list(obj: dict[str, Any], path: Path, problems: Problems) -> list[dict[str, Any]]:
    """The categories in id order (their index is the label)."""
    good = [c for c in obj["categories"] if isinstance(c, dict) and isinstance(c.get("id"), int)]
    if len(good) != len(obj["categories"]) or not all("name" in c for c in good):
        problems.add(f"{path}: every category needs an integer 'id' and a 'name'")
    return sorted(good, key=lambda c: c["id"])


def largest_annotation_labels(
    obj: dict[str, Any], path: Path, folder: Path, index: dict[int, int], problems: Problems
) -> list[list[str]]:
    """Per class, the images whose largest annotation has that category (json order)."""
    largest: dict[Any, dict[str, Any]] = {}
    for i, ann in enumerate(obj["annotations"]):
        ann = ann if isinstance(ann, dict) else {}
        image_id, area, category = ann.get("image_id"), ann.get("area"), ann.get("category_id")
        if not isinstance(area, int | float) or category not in index:
            problems.add(
                f"{path}: annotations[{i}] needs image_id, a numeric area and a category_id "
                f"among the categories; got area={area!r}, category_id={category!r}"
            )
            continue
        best = largest.get(image_id)
        if best is None or area > best["area"]:  # strict: the first maximum wins, as max() does
            largest[image_id] = ann
    per_class: list[list[str]] = [[] for _ in index]
    for i, image in enumerate(obj["images"]):
        if not isinstance(image, dict) or "id" not in image or "file_name" not in image:
            problems.add(f"{path}: images[{i}] needs 'id' and 'file_name'")
            continue
        ann = largest.get(image["id"])
        if ann is not None:
            per_class[index[ann["category_id"]]].append(str(folder / image["file_name"]))
    return per_class
