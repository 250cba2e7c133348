"""The Fréchet distance against a direct scipy `sqrtm` computation and torch-fidelity."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg

from bench.errors import BenchError
from bench.metrics import feature_statistics, frechet_distance


def scipy_frechet(a: np.ndarray, b: np.ndarray) -> float:
    """The textbook formula with scipy's matrix square root (pytorch-fid's computation)."""
    mu_a, mu_b = a.mean(0), b.mean(0)
    s_a, s_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    covmean = scipy.linalg.sqrtm(s_a @ s_b)
    return float(np.sum((mu_a - mu_b) ** 2) + np.trace(s_a + s_b - 2 * covmean.real))


@pytest.mark.parametrize(("n", "d", "shift"), [(500, 8, 0.5), (300, 32, 0.0), (2000, 4, 3.0)])
def test_equals_scipy_sqrtm_on_random_sets(n: int, d: int, shift: float) -> None:
    rng = np.random.default_rng(n + d)
    a = rng.standard_normal((n, d))
    mix = rng.standard_normal((d, d)) / np.sqrt(d)
    b = rng.standard_normal((n, d)) @ mix + shift
    assert frechet_distance(a, b) == pytest.approx(scipy_frechet(a, b), rel=1e-8, abs=1e-8)


def test_structured_gaussians_have_the_closed_form_distance() -> None:
    # Diagonal covariances: d^2 = |mu_a - mu_b|^2 + sum (sqrt(s_a) - sqrt(s_b))^2 exactly.
    rng = np.random.default_rng(0)
    a = rng.standard_normal((4000, 3))
    b = rng.standard_normal((4000, 3))
    a = (a - a.mean(0)) / a.std(0, ddof=1) * [1.0, 2.0, 3.0]
    b = (b - b.mean(0)) / b.std(0, ddof=1) * [2.0, 2.0, 1.0] + [1.0, 0.0, 0.0]
    # Sample covariances are not exactly diagonal, so compare with scipy, and the closed form
    # loosely (it ignores the small off-diagonal terms).
    closed = 1.0 + (1 - 2) ** 2 + 0.0 + (3 - 1) ** 2
    assert frechet_distance(a, b) == pytest.approx(scipy_frechet(a, b), rel=1e-8)
    assert frechet_distance(a, b) == pytest.approx(closed, rel=0.02)


def test_equals_torch_fidelity() -> None:
    import torch
    from torch_fidelity.metric_fid import fid_features_to_statistics, fid_statistics_to_metric

    rng = np.random.default_rng(1)
    a = rng.standard_normal((400, 16)).astype(np.float32)
    b = (rng.standard_normal((400, 16)) * 1.3 + 0.2).astype(np.float32)
    tf = fid_statistics_to_metric(
        fid_features_to_statistics(torch.from_numpy(a)),
        fid_features_to_statistics(torch.from_numpy(b)),
        verbose=False,
    )["frechet_inception_distance"]
    assert frechet_distance(a, b) == pytest.approx(tf, rel=1e-6)


def test_identical_sets_give_about_zero_even_when_singular() -> None:
    rng = np.random.default_rng(2)
    a = rng.standard_normal((50, 64))  # fewer samples than dimensions: singular covariance
    assert abs(frechet_distance(a, a.copy())) < 1e-6
    assert frechet_distance(a, a + 1.0) == pytest.approx(64.0, rel=1e-6)


def test_statistics_use_ddof_1() -> None:
    x = np.array([[0.0], [2.0]])
    mu, sigma = feature_statistics(x)
    assert mu.tolist() == [1.0] and sigma.tolist() == [[2.0]]


@pytest.mark.parametrize(
    ("a", "b", "message"),
    [
        (np.zeros((10, 4)), np.zeros((10, 5)), "4 dimensions but features_b have 5"),
        (np.full((10, 4), np.nan), np.zeros((10, 4)), "40 NaN or infinite values in 10 of 10"),
        (np.zeros((10, 4)), np.array([[np.inf] * 4] + [[0.0] * 4] * 9), "first: row 0"),
        (np.zeros((1, 4)), np.zeros((10, 4)), "1 samples, but a covariance needs at least 2"),
        (np.zeros(10), np.zeros((10, 1)), r"2-D array \(samples x dims\), got shape \(10,\)"),
    ],
)
def test_bad_input(a, b, message) -> None:
    with pytest.raises(BenchError, match=message):
        frechet_distance(a, b)
