"""ImageNet-LT, ImageNet100-LT and Places-LT read from `relpath label` split files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fixtures.dataset_trees import (
    write_image,
    write_imagenet100_lt,
    write_imagenet_lt,
    write_inat2018,
    write_lines,
    write_places_lt,
)

from bench.data.check import check
from bench.datasets import DATASETS
from bench.errors import DataError


def load(name: str, root: Path):
    return DATASETS[name](DATASETS[name].Options(), root).load()


def test_imagenet_lt_splits_labels_and_wordnet_class_names(tmp_path: Path) -> None:
    data = load("imagenet-lt", write_imagenet_lt(tmp_path).root)
    assert data.class_names == ["tench", "goldfish", "great white shark", "tiger shark"]
    assert data.train_counts().tolist() == [6, 4, 2, 1]
    assert [len(data.splits[s]) for s in ("train", "val", "test")] == [13, 4, 8]
    assert all("/train/" in f for f in data.splits["val"].files)  # val: ImageNet train folder
    assert all("/val/" in f for f in data.splits["test"].files)  # test: ILSVRC2012 val set
    in100 = load("imagenet100-lt", write_imagenet100_lt(tmp_path / "in100").root)
    assert in100.class_names == ["tiger shark", "great white shark", "goldfish", "tench"]


def test_split_files_may_sit_in_their_codebase_folder(tmp_path: Path) -> None:
    tree = write_imagenet_lt(tmp_path)
    (tmp_path / "ImageNet_LT").mkdir()
    for split in ("train", "val", "test"):
        name = f"ImageNet_LT_{split}.txt"
        (tmp_path / name).rename(tmp_path / "ImageNet_LT" / name)
    assert len(load("imagenet-lt", tree.root).train) == 13
    nested = tmp_path.parent / "nested"
    (nested).mkdir()
    tmp_path.rename(nested / "imagenet-lt")  # BENCH_DATA_ROOT/<registry name> works too
    assert len(load("imagenet-lt", nested).train) == 13


def test_malformed_lines_bad_labels_and_mixed_folders_are_all_reported(tmp_path: Path) -> None:
    write_imagenet_lt(tmp_path)
    train = tmp_path / "ImageNet_LT_train.txt"
    lines = train.read_text().splitlines()
    lines[2] = "train/n01440764/no_label.JPEG"
    lines[3] = "train/n01440764/n01440764_3.JPEG 2"  # the tench folder suddenly has label 2
    write_lines(train, [*lines, "train/n01440764/n01440764_4.JPEG x"])
    test = tmp_path / "ImageNet_LT_test.txt"
    write_lines(test, [*test.read_text().splitlines(), "val/n01440764/ILSVRC2012_val_9.JPEG 7"])
    with pytest.raises(DataError) as err:
        load("imagenet-lt", tmp_path)
    message = str(err.value)
    assert f"{train}:3: expected '<relative/path> <integer label>'" in message
    assert f"{train}:14: expected '<relative/path> <integer label>'" in message
    assert f"{test}:9: label 7 is out of range (expected 0..3)" in message
    assert "image-net.org" in message
    write_lines(test, test.read_text().splitlines()[:-1])
    write_lines(train, [*lines[:2], *lines[4:], lines[3]])
    with pytest.raises(DataError, match=rf"{train}:12: label 2 for folder 'n01440764', but "):
        load("imagenet-lt", tmp_path)


def test_missing_split_file_is_named(tmp_path: Path) -> None:
    write_places_lt(tmp_path)
    (tmp_path / "Places_LT_val.txt").unlink()
    with pytest.raises(DataError, match=rf"split file {tmp_path / 'Places_LT_val.txt'} does not"):
        load("places-lt", tmp_path)


@pytest.mark.parametrize("files", ["easy", "plain"])
@pytest.mark.parametrize("images", ["easy", "plain"])
def test_places_lt_reads_either_path_convention_on_either_layout(tmp_path, files, images) -> None:
    data = load("places-lt", write_places_lt(tmp_path, files=files, images=images).root)
    assert data.class_names == ["airfield", "apartment building (outdoor)", "bakery (shop)"]
    assert data.train_counts().tolist() == [5, 3, 1]
    assert data.info["layout"] == images
    sub = "apartment_building-outdoor" if images == "easy" else "a/apartment_building/outdoor"
    assert any(sub in f for f in data.train.files)


def test_places_lt_inside_places365_standard_folder(tmp_path: Path) -> None:
    write_places_lt(tmp_path / "places365_standard")
    for split in ("train", "val", "test"):
        name = f"Places_LT_{split}.txt"
        (tmp_path / "places365_standard" / name).rename(tmp_path / name)
    assert len(load("places-lt", tmp_path).splits["test"]) == 6


def test_places_lt_unknown_layout_line_is_reported(tmp_path: Path) -> None:
    write_places_lt(tmp_path)
    train = tmp_path / "Places_LT_train.txt"
    write_lines(train, [*train.read_text().splitlines(), "images/airfield/x.jpg 0"])
    with pytest.raises(DataError, match=rf"{train}:10: 'images/airfield/x.jpg' is in neither"):
        load("places-lt", tmp_path)


def test_shot_buckets_at_their_boundaries(tmp_path: Path) -> None:
    """101 / 100 / 20 / 19 training images: many, medium, medium, few."""
    lines = []
    for label, count in enumerate((101, 100, 20, 19)):
        for i in range(count):
            rel = f"train/c{label}/{i}.jpg"
            write_image(tmp_path / rel, seed=i, size=2)
            lines.append(f"{rel} {label}")
    write_lines(tmp_path / "Places_LT_train.txt", lines)
    write_lines(tmp_path / "Places_LT_val.txt", [f"train/c{c}/0.jpg {c}" for c in range(4)])
    write_lines(tmp_path / "Places_LT_test.txt", [f"train/c{c}/1.jpg {c}" for c in range(4)])
    report = check("places-lt", tmp_path, decode=False)
    assert report["shots"] == {"many": 1, "medium": 2, "few": 1}
    assert report["train_counts"] == {"max": 101, "min": 19, "imbalance_factor": 5.32}


def test_inat2018_labels_are_category_ids_val_is_test_and_names_are_real(tmp_path) -> None:
    tree = write_inat2018(tmp_path)
    data = load("inat2018", tree.root)
    assert data.train_counts().tolist() == [5, 3, 1]
    assert data.splits["val"] is data.splits["test"] and len(data.splits["test"]) == 3
    assert data.class_names == ["Quercus robur", "Pica pica", "Apis mellifera"]
    assert data.info["class_names_from"].endswith("categories.json")
    (tmp_path / "categories.json").unlink()
    assert load("inat2018", tree.root).class_names == ["0000", "0001", "0002"]  # obfuscated


def test_inat2018_bad_annotations_are_all_reported(tmp_path) -> None:
    tree = write_inat2018(tmp_path)
    path = tmp_path / "val2018.json"
    obj = json.loads(path.read_text())
    obj["annotations"][0]["category_id"] = 99
    obj["annotations"].pop()
    path.write_text(json.dumps(obj))
    (tmp_path / "categories.json").write_text("{not json")
    with pytest.raises(DataError) as err:
        load("inat2018", tree.root)
    message = str(err.value)
    assert f"{path}: annotations[0] has category_id 99, expected an integer in 0..2" in message
    assert f"{path}: image 1002 (train_val2018/Insecta/2/" in message
    assert f"{tmp_path / 'categories.json'}: not valid JSON" in message
    (tmp_path / "train2018.json").write_text('{"images": []}')
    with pytest.raises(DataError, match="missing keys annotations, categories"):
        load("inat2018", tree.root)


def test_a_label_on_two_folders_and_a_class_without_training_images(tmp_path: Path) -> None:
    write_imagenet_lt(tmp_path)
    train = tmp_path / "ImageNet_LT_train.txt"
    lines = train.read_text().splitlines()
    kept = [line for line in lines if not line.endswith(" 2")]  # class 2 loses its train images
    write_lines(train, [*kept, "train/n09999999/n09999999_0.JPEG 0"])
    with pytest.raises(DataError) as err:
        load("imagenet-lt", tmp_path)
    message = str(err.value)
    assert f"{train}:12: label 0 for folder 'n09999999', but {train}:1 gave it to folder" in message
    assert f"{train}: labels [2] have no training image" in message
