"""Datasets with groups and attributes: colored-digits, Waterbirds, NICO++ and UTKFace."""

from __future__ import annotations

import json
import random
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from fixtures.dataset_trees import (
    NICO_CLASSES,
    NICO_GROUP_SIZES,
    UTK_MALFORMED,
    write_lines,
    write_nicopp,
    write_nicopp_images,
    write_utkface,
    write_waterbirds,
)
from helpers import TINY_RECIPE, bench_command, bench_env

from bench.data.check import check, options_from_sets
from bench.data.files import natural_key
from bench.datasets import DATASETS
from bench.datasets import nicopp as nicopp_module
from bench.datasets.colored_digits import COLOURS
from bench.datasets.utkface import parse_names
from bench.errors import DataError


def load(name: str, root: Path | None = None, *sets: str):
    cls = DATASETS[name]
    return cls(options_from_sets(cls.Options, sets, name), root).load()


# colored-digits ----------------------------------------------------------------------------------


def test_colored_digits_colour_is_spurious_in_train_and_balanced_in_test() -> None:
    data = load("colored-digits")
    assert data.train_counts().tolist() == [114] * 10
    train, test = data.train, data.splits["test"]
    majority = train.targets % 2
    assert np.mean(train.attributes == majority) == pytest.approx(108 / 114)
    assert np.bincount(train.groups, minlength=20).tolist() == [108, 6, 6, 108] * 5
    assert np.bincount(test.groups, minlength=20).tolist() == [25] * 20
    assert np.bincount(data.splits["val"].groups, minlength=20).tolist() == [5] * 20
    assert data.group_names[:3] == ["0/red", "0/green", "1/red"]
    corner = train.images[:, 0, 0, :].astype(int)  # digits leave the corner as background
    palette = np.array(list(COLOURS.values()))[train.attributes]
    assert np.abs(corner - palette).max() <= 1
    assert train.images.shape[1:] == (16, 16, 3)
    assert np.array_equal(load("colored-digits").train.images, train.images)


def test_colored_digits_options_change_the_construction() -> None:
    data = load("colored-digits", None, "correlation=0.5", "num_colors=3")
    counts = np.bincount(data.train.groups, minlength=30).reshape(10, 3)
    assert counts[0].tolist() == [57, 29, 28] and counts.sum() == 1140
    assert len(data.group_names) == 30 and data.attribute_names == ["red", "green", "blue"]
    assert check("colored-digits", None, ["correlation=0.5", "num_colors=3"], strict=True)["ok"]


def test_colored_digits_runs_end_to_end(tmp_path: Path) -> None:
    sets = [f"--set={s}" for s in TINY_RECIPE]
    out = subprocess.run(
        bench_command(
            "run", "--method", "erm", "--dataset", "colored-digits", "--quiet",
            "--results", str(tmp_path), *sets,
        ),
        capture_output=True,
        text=True,
        env=bench_env(),
        timeout=300,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    result = json.loads((Path(out.stdout.strip()) / "result.json").read_text())
    assert 0.0 <= result["metrics"]["test"]["overall"] <= 1.0


# Waterbirds --------------------------------------------------------------------------------------


def test_waterbirds_groups_and_attributes(tmp_path: Path) -> None:
    tree = write_waterbirds(tmp_path)
    data = load("waterbirds", tree.root)
    assert data.class_names == ["landbird", "waterbird"]
    assert np.bincount(data.train.groups, minlength=4).tolist() == [4, 1, 1, 3]
    assert data.train.attributes.tolist() == (data.train.groups % 2).tolist()
    assert [len(data.splits[s]) for s in ("train", "val", "test")] == [9, 4, 8]
    assert data.group_names[2] == "waterbird/land"
    inside = load("waterbirds", tree.root / "waterbird_complete95_forest2water2")
    assert inside.train.files == data.train.files


def test_waterbirds_bad_metadata_is_reported_with_lines(tmp_path: Path) -> None:
    tree = write_waterbirds(tmp_path)
    path = tree.root / "waterbird_complete95_forest2water2" / "metadata.csv"
    lines = path.read_text().splitlines()
    lines[2] = lines[2].replace(",0,0,0,", ",2,0,0,")  # y = 2
    lines[5] = lines[5].replace(",0,0,", ",0,x,")  # split = x
    write_lines(path, lines)
    with pytest.raises(DataError) as err:
        load("waterbirds", tree.root)
    assert f"{path}:3: y=2 is out of range (expected 0..1)" in str(err.value)
    assert f"{path}:6: column split must be an integer, got 'x'" in str(err.value)
    write_lines(path, [line.rsplit(",", 2)[0] for line in lines])  # drop place, place_filename
    with pytest.raises(DataError, match=rf"{path}: missing column place \(found: img_id, "):
        load("waterbirds", tree.root)


# NICO++ ------------------------------------------------------------------------------------------


def subpopbench_reference(root: Path) -> pd.DataFrame:
    """SubpopBench's generate_metadata_nicopp, transcribed, with sorted files for glob order."""
    rows = []
    for c, attr in enumerate(["autumn", "dim", "grass", "outdoor", "rock", "water"]):
        for label in NICO_CLASSES:
            folder = root / "public_dg_0416" / "train" / attr / label
            files = sorted(folder.glob("*.jpg")) if folder.is_dir() else []
            rows += [{"filename": str(p.relative_to(root)), "y": NICO_CLASSES[label], "a": c}
                     for p in files]  # fmt: skip
    df = pd.DataFrame(rows)
    df["g"] = df["a"] + df["y"] * 6
    random.seed(666)
    val_set, test_set = [], []
    for g in pd.unique(df["g"]):
        curr = df[df["g"] == g]["filename"].values.copy()
        random.shuffle(curr)
        size = min(len(curr), 75)
        val_set += list(curr[: size // 3])
        test_set += list(curr[size // 3 : size])
    split = {**dict.fromkeys(val_set, 1), **dict.fromkeys(test_set, 2)}
    df["split"] = df["filename"].map(split).fillna(0).astype(int)
    return df.drop(columns=["g"])


def test_nicopp_prepare_reproduces_subpopbench_on_sorted_files(tmp_path: Path) -> None:
    tree = write_nicopp(tmp_path)
    ours = pd.read_csv(tree.root / "metadata.csv")
    reference = subpopbench_reference(tree.root)
    assert ours.to_dict("records") == reference.to_dict("records")
    for (label, context), n in NICO_GROUP_SIZES.items():
        names = ours[ours["filename"].str.contains(f"/{context}/{label}/")]
        k = min(n, 75)
        assert np.bincount(names["split"], minlength=3).tolist() == [n - k, k // 3, k - k // 3]


def test_nicopp_split_does_not_depend_on_file_creation_order(tmp_path: Path) -> None:
    first = write_nicopp(tmp_path / "a").root
    second = tmp_path / "b"
    write_nicopp_images(second)
    for folder in sorted((second / "public_dg_0416" / "train").glob("*/*")):
        for path in sorted(folder.iterdir(), reverse=True):  # recreate newest-first
            data = path.read_bytes()
            path.unlink()
            path.write_bytes(data)
    DATASETS["nicopp"](DATASETS["nicopp"].Options(), second).prepare()
    assert (first / "metadata.csv").read_text() == (second / "metadata.csv").read_text()


def test_nicopp_groups_classes_and_metadata_sources(tmp_path: Path, monkeypatch) -> None:
    tree = write_nicopp(tmp_path / "data")
    data = load("nicopp", tree.root)
    assert data.class_names == ["airplane", "bear", "cat"]
    assert data.group_names[:2] == ["airplane/autumn", "airplane/dim"]
    assert data.train_counts().tolist() == [5, 3, 2]
    assert set(data.train.groups.tolist()) == {0, 8, 13}  # 6 * class + context
    shipped = tmp_path / "shipped.csv"
    (tree.root / "metadata.csv").rename(shipped)
    with pytest.raises(DataError, match=r"metadata file .*metadata.csv does not exist"):
        load("nicopp", tree.root)
    monkeypatch.setattr(nicopp_module, "PACKAGED_METADATA", shipped)
    assert load("nicopp", tree.root).info["metadata"] == str(shipped)


def test_nicopp_bad_metadata_and_missing_images_are_reported(tmp_path: Path) -> None:
    tree = write_nicopp(tmp_path)
    path = tree.root / "metadata.csv"
    lines = path.read_text().splitlines()
    lines[1] = lines[1].rsplit(",", 2)[0] + ",6,0"  # context 6 does not exist
    write_lines(path, lines)
    with pytest.raises(DataError, match=rf"{path}:2: a=6 is out of range \(expected 0..5\)"):
        load("nicopp", tree.root)
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "dg_label_id_mapping.json").write_text(json.dumps(NICO_CLASSES))
    with pytest.raises(DataError, match=rf"no images under {empty / 'public_dg_0416'}"):
        DATASETS["nicopp"](DATASETS["nicopp"].Options(), empty).prepare()


# UTKFace -----------------------------------------------------------------------------------------


def cgl_reference(folder: Path, test_per_cell: int) -> tuple[list[str], list[str]]:
    """CGL's UTKFaceDataset split (race sensitive), transcribed; gender as the label."""
    filenames = sorted((p.name for p in folder.glob("*.jpg")), key=natural_key)
    filenames = [f for f in filenames if len(f.split("_")) == 4 and f.split("_")[2] != "4"]
    features = [[int(f.split("_")[2]), int(f.split("_")[1]), f] for f in filenames]
    random.seed(1)
    random.shuffle(features)
    counts: dict[tuple[int, int], int] = {}
    test = []
    for item in reversed(list(features)):
        cell = (item[0], item[1])
        counts[cell] = counts.get(cell, 0) + 1
        if counts[cell] <= test_per_cell:
            features.remove(item)
            test.append(item)
    return [f[2] for f in features], [f[2] for f in test]


def test_utkface_follows_cgl_split_with_gender_class_and_race_groups(tmp_path: Path) -> None:
    tree = write_utkface(tmp_path)
    data = load("utkface", tree.root, "test_per_cell=2", "val_per_cell=1")
    train_ref, test_ref = cgl_reference(tree.root / "UTKFace", 2)
    assert [Path(f).name for f in data.splits["test"].files] == test_ref
    train_and_val = {Path(f).name for s in ("train", "val") for f in data.splits[s].files}
    assert train_and_val == set(train_ref)
    assert [len(data.splits[s]) for s in ("train", "val", "test")] == [16, 8, 16]
    assert np.bincount(data.splits["test"].groups, minlength=8).tolist() == [2] * 8
    assert data.class_names == ["male", "female"] and len(data.attribute_names) == 4
    for split in data.splits.values():
        for path, y, race in zip(split.files, split.targets, split.attributes, strict=True):
            _, gender, r, _ = Path(path).name.split("_")
            assert (int(gender), int(r)) == (y, race) and race != 4
        ages = [int(Path(f).name.split("_")[0]) for f in split.files]
        assert split.extra["age"].tolist() == ages  # for SYNAuG's "{age} year old" prompts
    sub = data.train.subset(np.array([1, 0]))
    assert sub.extra["age"].tolist() == data.train.extra["age"][[1, 0]].tolist()


def test_utkface_malformed_names_are_listed_not_guessed(tmp_path: Path) -> None:
    tree = write_utkface(tmp_path)
    report = check("utkface", tree.root, tree.sets, decode=False)
    assert report["info"]["malformed"] == 3 and report["info"]["race_others_left_out"] == 4
    for name in UTK_MALFORMED:
        assert any(note.endswith(name) for note in report["notes"])
    data = load("utkface", tree.root, *tree.sets)
    assert not {Path(f).name for s in data.splits.values() for f in s.files} & set(UTK_MALFORMED)
    faces, malformed = parse_names(["5_1_2_2017.jpg", "5_x_2_2017.jpg", "5_1_7_2017.jpg", "a.jpg"])
    assert [f.name for f in faces] == ["5_1_2_2017.jpg"]
    assert malformed == ["5_x_2_2017.jpg", "5_1_7_2017.jpg", "a.jpg"]


def test_natural_order_sorts_numbers_by_value() -> None:
    names = ["10_0_0_1.jpg", "2_1_0_1.jpg", "2_0_3_1.jpg", "100_0_0_1.jpg"]
    assert sorted(names, key=natural_key) == [
        "2_0_3_1.jpg",
        "2_1_0_1.jpg",
        "10_0_0_1.jpg",
        "100_0_0_1.jpg",
    ]
