"""A run's identity includes its data; paths stay inside the root; splits are checked.

The fingerprint (bench.data.fingerprint) changes with every edit that changes what a run reads
and stays the same for a copy of the tree elsewhere; every image path resolves inside the data
root; duplicates and train/test overlaps are reported; `bench run` refuses a tree the fast check
finds errors in.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from fixtures.dataset_trees import write_coco, write_image, write_imagenet_lt, write_waterbirds
from helpers import cli

from bench.data.check import options_from_sets
from bench.data.fingerprint import load_dataset
from bench.datasets import DATASETS
from bench.errors import DataError
from bench.runs.config import resolve
from bench.runs.runner import bind_data

SPLIT = "ImageNet_LT_test.txt"


def load(name: str, root: Path, sets: list[str]):
    cls = DATASETS[name]
    return load_dataset(cls(options_from_sets(cls.Options, sets, name), root))


def digest(root: Path, sets: list[str], name: str = "imagenet-lt") -> str:
    return load(name, root, sets).info["fingerprint"]["digest"]


def append_line(path: Path, line: str) -> None:
    path.write_text(path.read_text(encoding="utf-8") + line + "\n", encoding="utf-8")


def test_fingerprint_follows_what_the_run_reads(tmp_path: Path) -> None:
    tree = write_imagenet_lt(tmp_path / "a")
    base = digest(tree.root, tree.sets)
    assert digest(tree.root, tree.sets) == base  # deterministic
    copy = tmp_path / "elsewhere"
    shutil.copytree(tree.root, copy)  # a copy on another disk (new file times) is the same data
    assert digest(copy, tree.sets) == base
    assert digest(tree.root, ["image_size=32"]) != base  # the options are part of it

    lines = (copy / SPLIT).read_text().splitlines()
    (copy / SPLIT).write_text("\n".join(lines[:-1]) + "\n")  # a test line removed
    assert digest(copy, tree.sets) != base

    shutil.rmtree(copy)
    shutil.copytree(tree.root, copy)
    write_image(copy / lines[0].split()[0], seed=999, size=12)  # an image replaced
    assert digest(copy, tree.sets) != base


def test_the_fingerprint_of_in_memory_data_covers_its_labels_groups_and_pixels() -> None:
    """An embedded dataset reads no file: its split's labels, groups and image array are what
    the fingerprint hashes, so relabelled data (an adapter change without a version bump) is
    another fingerprint, hence another run."""
    import numpy as np

    from bench.data import ImageSplit
    from bench.data.fingerprint import split_fingerprint

    def split(labels, groups=(0, 0, 1), pixel=0):
        images = np.full((3, 2, 2, 1), pixel, np.uint8)
        return ImageSplit("train", np.array(labels), images=images, groups=np.array(groups))

    base = split_fingerprint(split([0, 1, 2]), None, {})
    assert split_fingerprint(split([0, 1, 2]), None, {}) == base
    for other in (split([0, 2, 1]), split([0, 1, 2], groups=(0, 1, 1)), split([0, 1, 2], pixel=1)):
        assert split_fingerprint(other, None, {}) != base


def test_the_run_id_changes_when_the_tree_changes(tmp_path: Path) -> None:
    tree = write_imagenet_lt(tmp_path)
    config = resolve("erm", "imagenet-lt", sets=tree.sets)
    before = bind_data(config, tree.root)
    assert before.data_fingerprint and before.run_id != config.run_id
    assert bind_data(config, tree.root).run_name == before.run_name
    append_line(tree.root / "ImageNet_LT_test.txt", (tree.root / SPLIT).read_text().split("\n")[0])
    after = bind_data(config, tree.root)
    assert after.run_name != before.run_name


def escape_lines(root: Path, outside: Path) -> dict[str, str]:
    """Ways a split file line can point out of the root (each an existing image)."""
    (root / "train" / "n01440764" / "link.JPEG").symlink_to(outside)
    return {
        "dotdot": f"../secret/n01440764/{outside.name} 0",
        "absolute": f"{outside} 0",
        "symlink": "train/n01440764/link.JPEG 0",
    }


@pytest.mark.parametrize("kind", ["dotdot", "absolute", "symlink"])
def test_split_file_paths_must_stay_inside_the_root(tmp_path: Path, kind: str) -> None:
    tree = write_imagenet_lt(tmp_path / "root")
    # in a folder named like class 0's, so only the containment check can object
    outside = write_image(tmp_path / "secret" / "n01440764" / "x.JPEG", seed=1)
    line = escape_lines(tree.root, outside)[kind]
    append_line(tree.root / SPLIT, line)
    number = len((tree.root / SPLIT).read_text().splitlines())
    with pytest.raises(DataError) as err:
        load("imagenet-lt", tree.root, tree.sets)
    assert f"{tree.root / SPLIT}:{number}" in str(err.value)
    assert "outside the data root" in str(err.value)
    code, out, _ = cli("data", "check", "--dataset", "imagenet-lt", "--root", str(tree.root),
                          "--quiet", *[f"--set={s}" for s in tree.sets])  # fmt: skip
    assert code == 2 and "outside the data root" in out


def test_metadata_csv_and_annotation_json_paths_must_stay_inside(tmp_path: Path) -> None:
    tree = write_waterbirds(tmp_path / "wb")
    outside = write_image(tmp_path / "secret" / "x.jpg", seed=1)
    metadata = next(tree.root.rglob("metadata.csv"))
    lines = metadata.read_text().splitlines()
    header = lines[0].split(",")
    row = lines[1].split(",")
    row[header.index("img_filename")] = str(outside)
    metadata.write_text("\n".join([lines[0], ",".join(row), *lines[2:]]) + "\n")
    with pytest.raises(DataError, match=f"{metadata}:2: image .* resolves to"):
        load("waterbirds", tree.root, tree.sets)

    tree = write_coco(tmp_path / "coco")
    annotations = next(tree.root.rglob("instances_val2017.json"))
    obj = json.loads(annotations.read_text())
    obj["images"][0]["file_name"] = "../../secret/x.jpg"
    annotations.write_text(json.dumps(obj))
    with pytest.raises(DataError, match="outside the data root"):
        load("coco", tree.root, tree.sets)


def check_json(root: Path, sets: list[str], *extra: str) -> tuple[int, dict]:
    args = ["data", "check", "--dataset", "imagenet-lt", "--root", str(root), "--json"]
    code, out, _ = cli(*args, "--quiet", *extra, *[f"--set={s}" for s in sets])
    return code, json.loads(out)


def test_duplicates_and_overlaps_are_warnings_and_strict_errors(tmp_path: Path) -> None:
    tree = write_imagenet_lt(tmp_path)
    test_lines = (tree.root / SPLIT).read_text().splitlines()
    train_line = (tree.root / "ImageNet_LT_train.txt").read_text().splitlines()[0]
    append_line(tree.root / SPLIT, test_lines[0])  # listed twice in test
    append_line(tree.root / SPLIT, train_line)  # a training image in test
    code, report = check_json(tree.root, tree.sets)
    assert code == 0
    assert any(f"{SPLIT}:{len(test_lines) + 1}: image" in w and "listed twice in the test" in w
               for w in report["warnings"])  # fmt: skip
    assert any("1 image(s) of the test split are also training images" in w
               for w in report["warnings"])  # fmt: skip
    code, report = check_json(tree.root, tree.sets, "--strict")
    assert code == 2 and any("listed twice" in e for e in report["errors"])
    assert any("also training images" in e for e in report["errors"])


def run_args(tree, results: Path) -> list[str]:
    return ["run", "--method", "erm", "--dataset", "imagenet-lt", "--data-root", str(tree.root),
            "--results", str(results), "--quiet", "--device", "cpu",
            *[f"--set={s}" for s in tree.sets]]  # fmt: skip


def test_run_refuses_a_tree_with_an_unreadable_listed_file(tmp_path: Path) -> None:
    tree = write_imagenet_lt(tmp_path / "root")
    (tree.root / "val" / "n01484850" / "notes.JPEG").write_text("root:x:0:0:root:/root\n")
    append_line(tree.root / SPLIT, "val/n01484850/notes.JPEG 2")
    number = len((tree.root / SPLIT).read_text().splitlines())
    code, _, err = cli(*run_args(tree, tmp_path / "results"))
    assert code == 2, err
    assert f"{tree.root / SPLIT}:{number}: " in err and "is not an image file" in err
    assert "bench data check --dataset imagenet-lt" in err
    assert not (tmp_path / "results" / "runs").exists()  # refused before any run directory
    cached = list((tmp_path / "results" / "cache" / "data-checks").glob("*.json"))
    assert len(cached) == 1  # the check result, cached by fingerprint
    code, _, again = cli(*run_args(tree, tmp_path / "results"))
    assert code == 2 and "is not an image file" in again


def test_non_utf8_split_file_names_file_and_line(tmp_path: Path) -> None:
    tree = write_imagenet_lt(tmp_path)
    (tree.root / SPLIT).write_bytes((tree.root / SPLIT).read_bytes() + b"val/caf\xe9.JPEG 1\n")
    number = len((tree.root / SPLIT).read_bytes().splitlines())
    with pytest.raises(DataError, match=f"{SPLIT}:{number}: not UTF-8 text"):
        load("imagenet-lt", tree.root, tree.sets)
