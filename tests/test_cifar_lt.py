"""CIFAR-LT: LDAM-DRW's exact counts, totals, subset and both spellings of the imbalance factor.

The fixtures hold the real per-class pools (5,000 / 500 training images per class, as 2x2 images
in the official pickle format), so the totals below come out of the adapter, not the formula.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
from fixtures.dataset_trees import write_cifar10, write_cifar100

from bench.data.check import options_from_sets
from bench.datasets import DATASETS
from bench.errors import ConfigError, DataError
from bench.runs.config import resolve

WRITE = {"cifar10-lt": write_cifar10, "cifar100-lt": write_cifar100}


@pytest.fixture(scope="module")
def roots(tmp_path_factory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("cifar")
    return {name: write(base / name).root for name, write in WRITE.items()}


def load(name: str, root: Path, *sets: str):
    cls = DATASETS[name]
    return cls(options_from_sets(cls.Options, sets, name), root).load()


@pytest.mark.parametrize(
    ("name", "setting", "total"),
    [
        ("cifar10-lt", "imbalance_factor=100", 12_406),
        ("cifar10-lt", "imb_factor=0.01", 12_406),
        ("cifar10-lt", "imbalance_factor=50", 13_996),
        ("cifar10-lt", "imb_factor=0.02", 13_996),
        ("cifar10-lt", "imbalance_factor=10", 20_431),
        ("cifar10-lt", "imb_factor=0.1", 20_431),
        ("cifar100-lt", "imbalance_factor=100", 10_847),
        ("cifar100-lt", "imb_factor=0.01", 10_847),
        ("cifar100-lt", "imbalance_factor=50", 12_608),
        ("cifar100-lt", "imb_factor=0.02", 12_608),
        ("cifar100-lt", "imbalance_factor=10", 19_573),
        ("cifar100-lt", "imbalance_factor=0.1", 19_573),  # a ratio below 1 is LDAM's spelling
    ],
)
def test_totals_match_the_official_numbers(roots, name, setting, total) -> None:
    data = load(name, roots[name], setting)
    assert len(data.train) == total
    assert len(data.splits["test"]) == 10_000
    assert data.splits["val"] is data.splits["test"]  # LDAM protocol: test doubles as val
    full = data.splits["train_full"]  # CBDM's balanced generation reference
    assert len(full) == 50_000 and len(set(full.class_counts(data.num_classes).tolist())) == 1


def test_per_class_counts_and_shot_buckets(roots) -> None:
    c10 = load("cifar10-lt", roots["cifar10-lt"])
    assert c10.train_counts().tolist() == [5000, 2997, 1796, 1077, 645, 387, 232, 139, 83, 50]
    c100 = load("cifar100-lt", roots["cifar100-lt"])
    counts = c100.train_counts()
    assert counts[0] == 500 and counts[-1] == 5 and (np.diff(counts) <= 0).all()
    assert {k: len(v) for k, v in c100.shot_buckets().items()} == {
        "many": 35,
        "medium": 35,
        "few": 30,
    }


def ldam_reference(targets: np.ndarray, counts: list[int]) -> np.ndarray:
    """LDAM-DRW's gen_imbalanced_data, literally: global seed 0, shuffle per np.unique class."""
    state = np.random.get_state()
    try:
        np.random.seed(0)
        picked = []
        for the_class, n in zip(np.unique(targets), counts, strict=True):
            idx = np.where(targets == the_class)[0]
            np.random.shuffle(idx)
            picked.append(idx[:n])
        return np.concatenate(picked)
    finally:
        np.random.set_state(state)


def test_subset_is_ldam_drw_exactly(roots) -> None:
    root = roots["cifar10-lt"] / "cifar-10-batches-py"
    batches = []
    for i in range(1, 6):
        with open(root / f"data_batch_{i}", "rb") as f:
            batches.append(pickle.load(f, encoding="latin1"))
    data = np.concatenate([b["data"] for b in batches])
    labels = np.concatenate([b["labels"] for b in batches])
    keep = ldam_reference(labels, [5000, 2997, 1796, 1077, 645, 387, 232, 139, 83, 50])
    loaded = load("cifar10-lt", roots["cifar10-lt"])
    expected_images = data[keep].reshape(-1, 3, 2, 2).transpose(0, 2, 3, 1)
    assert np.array_equal(loaded.train.targets, labels[keep])
    assert np.array_equal(loaded.train.images, expected_images)
    assert loaded.class_names[0] == "airplane" and loaded.train.images.shape[1:] == (2, 2, 3)


def test_both_spellings_are_one_experiment_and_contradictions_fail() -> None:
    base = resolve("erm", "cifar100-lt")
    assert base.data["imbalance_factor"] == 100.0
    assert resolve("erm", "cifar100-lt", sets=["imb_factor=0.01"]).run_id == base.run_id
    assert resolve("erm", "cifar100-lt", sets=["imbalance_factor=0.01"]).run_id == base.run_id
    assert resolve("erm", "cifar100-lt", sets=["imb_factor=0.02"]).data["imbalance_factor"] == 50
    with pytest.raises(ConfigError, match=r"imb_factor=0.02 \(IF 50\) contradicts"):
        resolve("erm", "cifar100-lt", sets=["imb_factor=0.02", "imbalance_factor=10"])
    with pytest.raises(ConfigError, match=r"imb_factor=2.0 is above its maximum"):
        resolve("erm", "cifar100-lt", sets=["imb_factor=2"])


def test_bad_pickles_name_the_file_and_what_is_wrong(tmp_path: Path) -> None:
    tree = write_cifar10(tmp_path)
    folder = tree.root / "cifar-10-batches-py"
    with open(folder / "data_batch_1", "rb") as f:
        batch = pickle.load(f, encoding="latin1")
    del batch["labels"]
    with open(folder / "data_batch_1", "wb") as f:
        pickle.dump(batch, f)
    with open(folder / "test_batch", "rb") as f:
        test = pickle.load(f, encoding="latin1")
    test["labels"][7] = 10
    with open(folder / "test_batch", "wb") as f:
        pickle.dump(test, f)
    with pytest.raises(DataError) as err:
        load("cifar10-lt", tree.root)
    message = str(err.value)
    assert "2 problems" in message
    assert f"{folder / 'data_batch_1'}: missing key labels" in message
    assert f"{folder / 'test_batch'}: label 10 at row 7 is out of range 0..9" in message
    assert "cs.toronto.edu" in message


def test_eval_gen_measures_against_the_balanced_train_set(roots, tmp_path: Path) -> None:
    from helpers import write_arrays

    from bench.runs.evalgen import eval_gen

    full = load("cifar10-lt", roots["cifar10-lt"], "image_size=8").splits["train_full"]
    store = write_arrays(tmp_path / "syn", full.images[:300], full.targets[:300])
    fast = ["extractor=small", "prd_runs=1", "prd_clusters_per_class=2", "n=300"]
    out = {
        split: eval_gen(
            "cifar10-lt",
            store,
            sets=[*fast, f"split={split}", "dataset.image_size=8"],
            results=tmp_path / "results",
            data_root=roots["cifar10-lt"],
            progress=False,
        )
        for split in ("train_full", "test")
    }
    assert out["train_full"]["n_real"] == out["test"]["n_real"] == 300  # n= subsamples both
    assert out["train_full"]["fid"] != out["test"]["fid"]  # another reference set
