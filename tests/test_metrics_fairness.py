"""DP / EO / ED against fairlearn, DEO-A / DEO-M by hand, and bad input."""

from __future__ import annotations

import numpy as np
import pytest
from fairlearn.metrics import (
    demographic_parity_difference,
    equal_opportunity_difference,
    equalized_odds_difference,
)

from bench.errors import BenchError
from bench.metrics import fairness


def binary_case(seed: int, n: int, groups: int) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(seed)
    sensitive = rng.integers(0, groups, n)
    y_true = rng.integers(0, 2, n)
    # Predictions whose quality depends on the group, so the gaps are not all zero.
    flip = rng.random(n) < 0.1 + 0.1 * sensitive
    y_pred = np.where(flip, 1 - y_true, y_true)
    return y_true, y_pred, sensitive


@pytest.mark.parametrize(("seed", "n", "groups"), [(0, 400, 2), (1, 1000, 4), (2, 60, 3)])
def test_binary_equals_fairlearn(seed: int, n: int, groups: int) -> None:
    y_true, y_pred, sensitive = binary_case(seed, n, groups)
    out = fairness(y_true, y_pred, sensitive)
    kw = {"sensitive_features": sensitive}
    assert out["dp"] == pytest.approx(
        demographic_parity_difference(y_true, y_pred, **kw), abs=1e-12
    )
    assert out["eo"] == pytest.approx(equal_opportunity_difference(y_true, y_pred, **kw), abs=1e-12)
    assert out["ed"] == pytest.approx(equalized_odds_difference(y_true, y_pred, **kw), abs=1e-12)
    # DEO-M is worst-case equalized odds, DEO-A its agg="mean" variant, for a binary task.
    assert out["deo_m"] == pytest.approx(out["ed"], abs=1e-12)
    mean_ed = equalized_odds_difference(y_true, y_pred, agg="mean", **kw)
    assert out["deo_a"] == pytest.approx(mean_ed, abs=1e-12)
    assert out["task"].startswith("binary")


def test_string_attribute_values_equal_fairlearn() -> None:
    y_true, y_pred, sensitive = binary_case(3, 300, 4)
    races = np.array(["White", "Black", "Asian", "Indian"])[sensitive]
    out = fairness(y_true, y_pred, races)
    assert out["groups"] == ["Asian", "Black", "Indian", "White"]
    expected = equalized_odds_difference(y_true, y_pred, sensitive_features=races)
    assert out["ed"] == pytest.approx(expected, abs=1e-12)


def test_hand_computed_binary() -> None:
    # group 0: y=[1,1,0,0], yhat=[1,0,0,0] -> TPR 1/2, FPR 0, selection 1/4
    # group 1: y=[1,1,0,0], yhat=[1,1,1,0] -> TPR 1,   FPR 1/2, selection 3/4
    y_true = [1, 1, 0, 0, 1, 1, 0, 0]
    y_pred = [1, 0, 0, 0, 1, 1, 1, 0]
    out = fairness(y_true, y_pred, [0, 0, 0, 0, 1, 1, 1, 1])
    assert (out["dp"], out["eo"], out["ed"]) == (0.5, 0.5, 0.5)
    # acc[g, l]: class 1 -> (1/2, 1), class 0 -> (1, 1/2): DEO per class 1/2 and 1/2.
    assert (out["deo_a"], out["deo_m"]) == (0.5, 0.5)
    assert out["per_group"]["0"] == {
        "n": 4,
        "selection_rate": [0.75, 0.25],
        "tpr": [1.0, 0.5],
        "fpr": [0.5, 0.0],
    }


def test_hand_computed_multiclass_one_vs_rest() -> None:
    # Three classes, two groups.
    # group a: y=[0,1,2], yhat=[0,1,2] -> per-class acc (1, 1, 1)
    # group b: y=[0,1,2,2], yhat=[0,0,2,1] -> per-class acc (1, 0, 1/2)
    y_true = [0, 1, 2, 0, 1, 2, 2]
    y_pred = [0, 1, 2, 0, 0, 2, 1]
    out = fairness(y_true, y_pred, ["a", "a", "a", "b", "b", "b", "b"], num_classes=3)
    assert out["deo_m"] == 1.0  # class 1: 1 - 0
    assert out["deo_a"] == pytest.approx((0 + 1 + 0.5) / 3)
    assert out["eo"] == out["deo_m"]  # worst class's TPR gap
    # Selection rates: a (1/3, 1/3, 1/3), b (1/2, 1/4, 1/4): worst class gap 1/6.
    assert out["dp"] == pytest.approx(1 / 6)
    # FPR of class 0 in b: 1 of 3 non-0 samples predicted 0 -> 1/3 vs 0 in a; TPR gaps max 1.
    assert out["ed"] == 1.0
    assert out["task"].startswith("one-vs-rest")


def test_group_without_positives_names_the_group() -> None:
    # fairlearn would score group 1's TPR as 0; here it is an error.
    with pytest.raises(BenchError, match=r"group '1' has no samples of class 1"):
        fairness([1, 0, 0, 0], [1, 0, 1, 0], [0, 0, 1, 1])


@pytest.mark.parametrize(
    ("args", "kwargs", "message"),
    [
        (([0, 1, 1], [0, 1], [0, 1, 1]), {}, "equally long"),
        (([0, 1, 1], [0, 1, 1], [0, 1]), {}, r"one value per sample: got shape \(2,\)"),
        (([0, 1, 1, 0], [0, 1, 1, 0], [0, 0, 0, 0]), {}, "at least two sensitive groups"),
        (
            ([0, 1, 1, 0], [0, 1, 1, 0], [0, 0, 1, 1]),
            {"group_names": ["White", "Black", "Asian"]},
            "'Asian' have no samples",
        ),
        (([0, 3], [0, 1], [0, 1]), {"num_classes": 2}, "class 3 is out of range for 2 classes"),
    ],
)
def test_bad_input(args, kwargs, message) -> None:
    with pytest.raises(BenchError, match=message):
        fairness(*args, **kwargs)
