"""Every dataset read from disk, checked on a tiny tree in its official format (no network).

The tests loop over the registry and `WRITERS`: a new dataset is covered by adding its adapter
and one fixture writer, with no new test code.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from fixtures.dataset_trees import WRITERS, Tree, truncate

from bench.cli import main
from bench.data import FULL_TRAIN
from bench.data.check import check, options_from_sets
from bench.datasets import DATASETS
from bench.errors import DataError

DISK = sorted(n for n in DATASETS if DATASETS[n].needs_root)


def load(name: str, tree: Tree, root: Path | None = None):
    cls = DATASETS[name]
    return cls(options_from_sets(cls.Options, tree.sets, name), root or tree.root).load()


@pytest.fixture(params=sorted(WRITERS))
def written(request, tmp_path: Path) -> tuple[str, Tree]:
    return request.param, WRITERS[request.param](tmp_path / "data")


def test_every_disk_dataset_has_a_fixture_writer() -> None:
    assert sorted(WRITERS) == DISK, "add a writer to tests/fixtures/dataset_trees.py"


def test_fixture_loads_with_consistent_labels_files_and_groups(written) -> None:
    name, tree = written
    data = load(name, tree)
    assert data.name == name and data.num_classes == len(data.class_names) > 1
    assert all(isinstance(c, str) and c for c in data.class_names)
    # CIFAR-LT also exposes the full balanced training set as a generation-metric reference.
    assert {"train", "val", "test"} <= set(data.splits) <= {"train", "val", "test", FULL_TRAIN}
    for split in data.splits.values():
        assert len(split) > 0
        assert split.targets.min() >= 0 and split.targets.max() < data.num_classes
        if split.files is not None:
            assert all(Path(f).is_absolute() and Path(f).is_file() for f in split.files)
        else:
            assert split.images.dtype == np.uint8 and split.images.ndim == 4
        if data.group_names:
            assert split.groups is not None and split.groups.max() < len(data.group_names)
        if data.attribute_names:
            assert split.attributes is not None
            assert split.attributes.max() < len(data.attribute_names)
    assert (data.train_counts() > 0).all(), "every class needs a training image"
    buckets = data.shot_buckets()
    assert sorted(c for bucket in buckets.values() for c in bucket) == list(range(data.num_classes))


def test_data_check_json_has_the_promised_keys(written, capsys) -> None:
    name, tree = written
    sets = [f"--set={s}" for s in tree.sets]
    assert (
        main(["data", "check", "--dataset", name, "--root", str(tree.root), "--json", *sets]) == 0
    )
    report = json.loads(capsys.readouterr().out)
    assert report["dataset"] == name and report["ok"] is True
    assert {"train", "val", "test"} <= set(report["splits"]) <= {"train", "val", "test", FULL_TRAIN}
    assert report["num_classes"] == len(load(name, tree).class_names)
    assert set(report["shots"]) == {"many", "medium", "few"}
    assert sum(report["shots"].values()) == report["num_classes"]
    assert "groups" in report
    data = load(name, tree)
    files = {f for s in data.splits.values() for f in (s.files or [])}
    files |= set(data.info.get("unused_files", []))  # few-shot pools: other trials use them
    assert report.get("images_decoded", 0) == len(files)


def test_missing_or_absent_root_names_the_path_and_where_to_get_data(written, tmp_path) -> None:
    name, tree = written
    hint = DATASETS[name].download_hint
    with pytest.raises(DataError, match="--data-root") as no_root:
        DATASETS[name](DATASETS[name].Options()).load()
    assert hint in str(no_root.value)
    nowhere = tmp_path / "no-such-dir"
    with pytest.raises(DataError, match=str(nowhere)) as missing:
        load(name, tree, root=nowhere)
    assert hint in str(missing.value)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DataError, match=str(empty)):
        load(name, tree, root=empty)


def test_every_missing_file_is_reported_together(written) -> None:
    name, tree = written
    if not tree.removable:  # read by listing a folder: a lost file shows as a count mismatch
        report = check(name, tree.root, tree.sets, decode=False)
        assert report["ok"] and any(": expected " in w for w in report["warnings"])
        return
    for path in tree.removable:
        path.unlink()
    with pytest.raises(DataError) as err:
        load(name, tree)
    message = str(err.value)
    for path in tree.removable:
        assert str(path) in message, f"{path} not named in:\n{message}"
    assert DATASETS[name].download_hint in message


def test_truncated_file_is_reported_by_the_check(written, capsys) -> None:
    name, tree = written
    truncate(tree.truncatable)
    report = check(name, tree.root, tree.sets, progress=False)
    assert not report["ok"]
    assert any(str(tree.truncatable) in e for e in report["errors"]), report["errors"]
    args = ["data", "check", "--dataset", name, "--root", str(tree.root), "--quiet"]
    assert main(args + [f"--set={s}" for s in tree.sets]) == 2
    assert str(tree.truncatable) in capsys.readouterr().out


def test_fixture_trains_end_to_end(written, tmp_path: Path, capsys) -> None:
    """Each adapter's splits go through the real training loop (small CNN, two tiny epochs)."""
    name, tree = written
    sets = [*tree.sets, "backbone=small-cnn", "epochs=2", "steps_per_epoch=2", "batch_size=4"]
    sets.append("warmup_epochs=0")
    args = ["run", "--method", "erm", "--dataset", name, "--data-root", str(tree.root)]
    args += ["--results", str(tmp_path / "results"), "--quiet"]
    assert main(args + [f"--set={s}" for s in sets]) == 0
    run_dir = Path(capsys.readouterr().out.strip().splitlines()[-1])
    result = json.loads((run_dir / "result.json").read_text())
    assert result["metrics"]["train_counts"] == load(name, tree).train_counts().tolist()


def test_imagenet_class_names_are_unique() -> None:
    from bench.datasets.imagenet_lt import unique_names, wordnet_lemmas

    lemmas = wordnet_lemmas()
    names = [lemmas[w] for w in ("n02012849", "n03126707", "n03710637", "n03710721")]
    assert names == ["crane", "crane", "maillot", "maillot"]  # what the lemma table gives
    wnids = ["n02012849", "n03126707", "n03710637", "n03710721", "n01440764", "x1", "x2"]
    got = unique_names(wnids, [*names, "tench", "dup", "dup"])
    assert got == ["crane bird", "construction crane", "maillot", "tank suit", "tench",
                   "dup (x1)", "dup (x2)"]  # fmt: skip
