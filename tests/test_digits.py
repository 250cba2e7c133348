"""The embedded digits-lt benchmark: exact long-tailed counts, balanced held-out splits."""

from __future__ import annotations

import numpy as np
import pytest

from bench.datasets import DATASETS
from bench.errors import ConfigError
from bench.runs.config import resolve


def load(*sets: str):
    cfg = resolve("erm", "digits-lt", sets=list(sets))
    return DATASETS["digits-lt"](cfg.dataset_settings).load()


def test_default_split_is_long_tailed_with_every_bucket_filled() -> None:
    data = load()
    assert data.train_counts().tolist() == [114, 68, 40, 24, 14, 8, 5, 3, 1, 1]
    buckets = data.shot_buckets()
    assert buckets == {"many": [0], "medium": [1, 2, 3], "few": [4, 5, 6, 7, 8, 9]}
    assert data.splits["val"].class_counts(10).tolist() == [10] * 10
    assert data.splits["test"].class_counts(10).tolist() == [50] * 10
    assert data.train.images.shape == (278, 16, 16, 1) and data.train.images.dtype == np.uint8


def test_splits_are_disjoint_real_images_and_deterministic() -> None:
    a, b = load(), load()
    assert np.array_equal(a.train.images, b.train.images)
    flat = {s: {im.tobytes() for im in a.splits[s].images} for s in ("train", "val", "test")}
    # sklearn's digits has a few exact duplicates; the overlap must be at most those few.
    assert len(flat["train"] & flat["test"]) <= 2 and len(flat["val"] & flat["test"]) <= 2
    c = load("split_seed=1")
    assert not np.array_equal(a.splits["test"].images, c.splits["test"].images)


@pytest.mark.parametrize(
    ("sets", "shape"),
    [(("image_size=8",), (8, 8, 1)), (("image_size=32", "channels=3"), (32, 32, 3))],
)
def test_image_geometry(sets, shape) -> None:
    assert load(*sets).train.images.shape[1:] == shape


def test_imbalance_factor_changes_the_tail_and_impossible_ones_fail() -> None:
    assert load("imbalance_factor=1").train_counts().tolist() == [114] * 10
    assert load("imbalance_factor=24").train_counts().tolist() == [
        114,
        80,
        56,
        39,
        27,
        19,
        13,
        9,
        6,
        4,
    ]
    with pytest.raises(ConfigError, match="imbalance_factor=500 leaves class 9 with no"):
        load("imbalance_factor=500")
    with pytest.raises(ConfigError, match="test_per_class \\+ val_per_class = 180"):
        load("test_per_class=170")
