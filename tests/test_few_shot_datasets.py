"""Caltech101, Flowers102, Pascal VOC and COCO: DA-Fusion's k-shot protocol and labelling."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from fixtures.dataset_trees import (
    write_caltech101,
    write_coco,
    write_flowers102,
    write_palette_png,
    write_pascal_voc,
)

from bench.data.check import check, options_from_sets
from bench.datasets import DATASETS
from bench.errors import ConfigError, DataError


def load(name: str, root: Path, *sets: str):
    cls = DATASETS[name]
    return cls(options_from_sets(cls.Options, sets, name), root).load()


def da_fusion_caltech(folder: Path, seed: int, k: int) -> tuple[list[str], list[str]]:
    """DA-Fusion CalTech101Dataset, transcribed: class names from folders, then per class in
    name order a permutation, halves, first k of the first half (files sorted beforehand)."""
    class_to_images: dict[str, list[str]] = {}
    for path in sorted(folder.glob("*/*.jpg")):
        class_to_images.setdefault(path.parent.name.lower().replace("_", " "), []).append(str(path))
    class_names = sorted(class_to_images)
    rng = np.random.default_rng(seed)
    ids = {key: rng.permutation(len(class_to_images[key])) for key in class_names}
    train = {key: np.array_split(ids[key], 2)[0][:k] for key in class_names}
    val = {key: np.array_split(ids[key], 2)[1] for key in class_names}
    pick = lambda chosen: [class_to_images[key][i] for key in class_names for i in chosen[key]]  # noqa: E731
    return pick(train), pick(val)


@pytest.mark.parametrize(("trial", "shots"), [(0, 1), (3, 2), (7, 4)])
def test_caltech101_matches_da_fusion_split(tmp_path: Path, trial: int, shots: int) -> None:
    tree = write_caltech101(tmp_path)
    data = load("caltech101", tree.root, f"trial={trial}", f"shots={shots}")
    train, val = da_fusion_caltech(tree.root / "caltech101" / "101_ObjectCategories", trial, shots)
    assert data.train.files == train and data.splits["test"].files == val
    assert data.splits["val"] is data.splits["test"]
    assert data.class_names == ["accordion", "background google", "car side", "faces easy"]
    assert not set(data.train.files) & set(data.splits["test"].files)


def test_trials_differ_and_repeat_and_bad_shots_fail(tmp_path: Path) -> None:
    root = write_flowers102(tmp_path).root
    a, b = load("flowers102", root, "trial=0"), load("flowers102", root, "trial=1")
    assert a.train.files != b.train.files
    assert load("flowers102", root, "trial=0").train.files == a.train.files
    assert (
        a.train_counts().tolist() == [1] * 102 and a.class_names[1] == "hard-leaved pocket orchid"
    )
    with pytest.raises(ConfigError, match="shots=3 is not allowed"):
        load("flowers102", root, "shots=3")


def test_too_few_images_for_k_shots_is_a_note(tmp_path: Path) -> None:
    root = write_caltech101(tmp_path).root
    report = check("caltech101", root, ["shots=4"], decode=False)
    # 4, 5, 6, 7 images per class: first halves of 2, 3, 3, 4 (np.array_split)
    assert report["ok"] and report["splits"]["train"] == 2 + 3 + 3 + 4
    assert "class 'background google' has only 2 training image(s) for 4-shot" in report["notes"]
    assert len(report["notes"]) == 3


def test_flowers102_bad_label_file_is_reported(tmp_path: Path) -> None:
    from scipy.io import savemat

    root = write_flowers102(tmp_path).root
    mat = root / "flowers-102" / "imagelabels.mat"
    savemat(mat, {"label": np.ones((1, 3))})
    with pytest.raises(DataError, match=rf"{mat}: no 'labels' variable \(found \['label'\]\)"):
        load("flowers102", root)


def test_pascal_voc_label_is_the_largest_object(tmp_path: Path) -> None:
    root = write_pascal_voc(tmp_path).root
    data = load("pascal-voc", root, "shots=1")
    assert data.train_counts().tolist() == [1] * 20
    assert data.class_names[10] == "dining table" and data.class_names[19] == "television"
    for path, label in zip(data.splits["test"].files, data.splits["test"].targets, strict=True):
        assert int(Path(path).stem.split("_")[1]) == label  # the fixture's largest object


def test_pascal_voc_bad_masks_are_all_reported(tmp_path: Path) -> None:
    root = write_pascal_voc(tmp_path).root
    base = root / "VOCdevkit" / "VOC2012"
    write_palette_png(base / "SegmentationObject" / "2007_000001.png", np.zeros((6, 6)))
    classes = np.zeros((6, 6))
    classes[0:3, 0:3] = 21
    write_palette_png(base / "SegmentationClass" / "2007_000002.png", classes)
    (base / "SegmentationClass" / "2008_000003.png").unlink()
    with pytest.raises(DataError) as err:
        load("pascal-voc", root)
    message = str(err.value)
    listing = base / "ImageSets" / "Segmentation"
    assert f"{listing / 'train.txt'}:2: 2007_000001 has no object" in message
    assert f"{listing / 'train.txt'}:3: 2007_000002's largest object has class value 21" in message
    assert (
        f"{listing / 'val.txt'}:4: mask {base / 'SegmentationClass' / '2008_000003.png'}" in message
    )


def test_coco_label_is_the_largest_annotation_and_ids_are_remapped(tmp_path: Path) -> None:
    root = write_coco(tmp_path).root
    data = load("coco", root, "shots=2")
    assert data.class_names == ["person", "car", "dog"]
    assert data.train_counts().tolist() == [2, 2, 2]
    test = data.splits["test"]
    assert test.targets.tolist() == [0, 0, 1, 1, 2, 2]  # unlabelled image left out
    assert data.info["train_pool"] == 9


def test_coco_bad_annotations_are_reported(tmp_path: Path) -> None:
    root = write_coco(tmp_path).root
    path = root / "annotations" / "instances_val2017.json"
    obj = json.loads(path.read_text())
    obj["annotations"][1]["category_id"] = 2
    del obj["annotations"][4]["area"]
    path.write_text(json.dumps(obj))
    with pytest.raises(DataError) as err:
        load("coco", root)
    assert f"{path}: annotations[1] needs image_id" in str(err.value)
    assert "annotations[4] needs image_id, a numeric area" in str(err.value)
