"""Worst / mean / train-weighted group accuracy on hand-computed cases, and bad input."""

from __future__ import annotations

import numpy as np
import pytest

from bench.errors import BenchError
from bench.metrics import group_accuracy

# Four Waterbirds-like groups (y, place): 0 = (land, land), 1 = (land, water), 2 = (water, land),
# 3 = (water, water). Accuracies by hand: g0 3/4, g1 1/2, g2 0/2, g3 2/2.
Y_TRUE = [0, 0, 0, 0, 0, 0, 1, 1, 1, 1]
Y_PRED = [0, 0, 0, 1, 0, 1, 0, 0, 1, 1]
GROUPS = [0, 0, 0, 0, 1, 1, 2, 2, 3, 3]
NAMES = ["landbird/land", "landbird/water", "waterbird/land", "waterbird/water"]


def test_hand_computed_worst_mean_and_per_group() -> None:
    out = group_accuracy(Y_TRUE, Y_PRED, GROUPS, group_names=NAMES)
    assert out["per_group"] == {
        "landbird/land": 0.75,
        "landbird/water": 0.5,
        "waterbird/land": 0.0,
        "waterbird/water": 1.0,
    }
    assert out["worst"] == 0.0 and out["worst_group"] == "waterbird/land"
    assert out["mean"] == pytest.approx((0.75 + 0.5 + 0.0 + 1.0) / 4)
    assert out["weighted"] is None  # no training groups given: not silently the mean
    assert out["group_sizes"] == dict(zip(NAMES, [4, 2, 2, 2], strict=True))


def test_weighted_uses_training_group_proportions() -> None:
    # WILDS Waterbirds train counts (3498, 184, 56, 1057) as the weights of adj_acc_avg.
    train = np.repeat([0, 1, 2, 3], [3498, 184, 56, 1057])
    out = group_accuracy(Y_TRUE, Y_PRED, GROUPS, train_groups=train, group_names=NAMES)
    expected = (3498 * 0.75 + 184 * 0.5 + 56 * 0.0 + 1057 * 1.0) / 4795
    assert out["weighted"] == pytest.approx(expected)
    assert out["train_group_sizes"]["waterbird/land"] == 56
    # The test set's own proportions (4, 2, 2, 2) would give another number.
    assert out["weighted"] != pytest.approx(np.mean(np.equal(Y_TRUE, Y_PRED)))


def test_worst_group_is_not_the_smallest_group() -> None:
    # JTT #2: the worst group is the least accurate one, whatever its size.
    out = group_accuracy([0, 0, 0, 1], [1, 1, 1, 1], [0, 0, 0, 1])
    assert out["worst_group"] == "0" and out["worst"] == 0.0


def test_empty_named_group_is_an_error_naming_it() -> None:
    with pytest.raises(BenchError, match="'waterbird/water'"):
        group_accuracy([0, 1, 1], [0, 1, 0], [0, 1, 2], group_names=NAMES)


def test_skip_empty_leaves_the_group_out_and_lists_it() -> None:
    out = group_accuracy([0, 1, 1], [0, 1, 0], [0, 1, 2], group_names=NAMES, skip_empty=True)
    assert out["empty_groups"] == ["waterbird/water"]
    assert set(out["per_group"]) == set(NAMES[:3]) and out["worst"] == 0.0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (([0, 1], [0], [0, 1]), r"equally long: got \(2,\) labels and \(1,\) predictions"),
        (([0, 1], [0, 1], [0]), r"one value per sample: got shape \(1,\) for 2 labels"),
        (([0, 1], [0, 1], [0, 7]), "group index 7 is out of range for 4 group names"),
        (([0, 1], [0, 1], [0.5, 1.0]), "integer group indices"),
    ],
)
def test_bad_input(args, message) -> None:
    with pytest.raises(BenchError, match=message):
        group_accuracy(*args, group_names=NAMES, skip_empty=True)


def test_no_training_sample_in_any_evaluated_group() -> None:
    with pytest.raises(BenchError, match="train-weighted accuracy is undefined"):
        group_accuracy([0, 1], [0, 1], [2, 3], train_groups=[0, 0, 1], group_names=NAMES,
                       skip_empty=True)  # fmt: skip
