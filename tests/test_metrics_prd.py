"""PRD curves and F8 / F1/8 on cases with known answers."""

from __future__ import annotations

import numpy as np
import pytest

from bench.errors import BenchError
from bench.metrics import prd_scores
from bench.metrics.prd import f_beta, prd_from_histograms


def test_identical_sets_score_one() -> None:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((300, 16))
    out = prd_scores(x, x.copy(), num_clusters=20, runs=2)
    assert out["f8"] == pytest.approx(1.0, abs=1e-6)
    assert out["f1_8"] == pytest.approx(1.0, abs=1e-6)


def test_disjoint_sets_score_zero() -> None:
    rng = np.random.default_rng(1)
    real = rng.standard_normal((200, 8))
    fake = rng.standard_normal((200, 8)) + 100.0  # no cluster can hold points of both
    assert prd_scores(fake, real, num_clusters=10, runs=2) == {"f8": 0.0, "f1_8": 0.0}


def test_half_coverage_histograms_by_hand() -> None:
    # Fake puts all its mass on one of two equally likely real modes: P = (1, 0), Q = (1/2, 1/2).
    # precision(l) = min(l/2, 1), recall = precision / l = min(1/2, 1/l); the best F_beta of
    # either kind is at l = 2, p = 1, r = 1/2.
    precision, recall = prd_from_histograms(np.array([1.0, 0.0]), np.array([0.5, 0.5]))
    f8_expected = 65 * 1 * 0.5 / (64 * 1 + 0.5)
    f18_expected = (1 + 1 / 64) * 1 * 0.5 / (1 / 64 + 0.5)
    assert f_beta(precision, recall, 8) == pytest.approx(f8_expected, rel=2e-3)
    assert f_beta(precision, recall, 1 / 8) == pytest.approx(f18_expected, rel=2e-3)
    assert recall.max() == pytest.approx(0.5) and precision.max() == pytest.approx(1.0)


def test_mode_dropping_lowers_f8_more_than_f1_8() -> None:
    # Recall-like F8 punishes a fake set that drops modes; precision-like F1/8 hardly does.
    rng = np.random.default_rng(2)
    centres = rng.standard_normal((4, 8)) * 20
    real = np.concatenate([c + rng.standard_normal((100, 8)) for c in centres])
    fake = np.concatenate([c + rng.standard_normal((200, 8)) for c in centres[:2]])
    out = prd_scores(fake, real, num_clusters=8, runs=2)
    assert out["f8"] < 0.7 and out["f1_8"] > 0.9


@pytest.mark.parametrize(
    ("fake", "real", "clusters", "message"),
    [
        (np.zeros((10, 2)), np.zeros((12, 2)), 2, "equally many fake and real samples"),
        (np.zeros((10, 2)), np.zeros((10, 3)), 2, "2 dimensions but real features have 3"),
        (np.zeros((5, 2)), np.zeros((5, 2)), 11, "num_clusters=11 must be between 1 and the 10"),
    ],
)
def test_bad_input(fake, real, clusters, message) -> None:
    with pytest.raises(BenchError, match=message):
        prd_scores(fake, real, num_clusters=clusters, runs=1)
