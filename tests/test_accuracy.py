"""Many / medium / few accuracy on hand-computed cases, and the bucket boundaries."""

from __future__ import annotations

import numpy as np
import pytest

from bench.data import shot_buckets
from bench.metrics.accuracy import shot_accuracy


def test_shot_buckets_boundaries() -> None:
    counts = np.array([101, 100, 20, 19, 0, 500])
    assert shot_buckets(counts) == {"many": [0, 5], "medium": [1, 2], "few": [3, 4]}
    assert shot_buckets(counts, many=19, few=19) == {
        "many": [0, 1, 2, 5],
        "medium": [3],
        "few": [4],
    }


def test_shot_accuracy_averages_per_class_within_buckets() -> None:
    counts = [200, 50, 5, 3]  # many: 0; medium: 1; few: 2, 3
    y_true = [0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 3, 3]
    y_pred = [0, 0, 0, 1, 1, 0, 2, 0, 0, 0, 0, 3]
    acc = shot_accuracy(y_true, y_pred, counts)
    assert acc["per_class"] == [0.75, 0.5, 0.5, 0.25]
    assert acc["many"] == 0.75 and acc["medium"] == 0.5
    assert acc["few"] == pytest.approx((0.5 + 0.25) / 2)  # class mean, not sample mean (2/6)
    assert acc["overall"] == pytest.approx(6 / 12)
    assert acc["balanced"] == pytest.approx(0.5)
    assert acc["bucket_sizes"] == {"many": 1, "medium": 1, "few": 2}


def test_empty_bucket_and_unseen_class_are_none_not_nan() -> None:
    acc = shot_accuracy([0, 1], [0, 0], [150, 120, 130])
    assert acc["medium"] is None and acc["few"] is None
    assert acc["per_class"] == [1.0, 0.0, None]


@pytest.mark.parametrize(
    ("y_true", "y_pred", "message"),
    [
        ([0, 1], [0], "equally long"),
        ([], [], "no samples"),
        ([5], [0], "label 5 is out of range for 3 classes"),
    ],
)
def test_bad_input(y_true, y_pred, message) -> None:
    with pytest.raises(ValueError, match=message):
        shot_accuracy(y_true, y_pred, [10, 10, 10])
