"""The one FID bench reports (`bench eval-gen`): torch-fidelity's Fréchet distance, checked
against the textbook formula with scipy's matrix square root, the closed form of diagonal
Gaussians, and singular covariances (fewer samples than dimensions)."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg

from bench.metrics.generation import frechet_distance


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
    ours = frechet_distance(a.astype(np.float32), b.astype(np.float32))
    assert ours == pytest.approx(scipy_frechet(a, b), rel=1e-4, abs=1e-4)


def test_structured_gaussians_have_the_closed_form_distance() -> None:
    # Diagonal covariances: d^2 = |mu_a - mu_b|^2 + sum (sqrt(s_a) - sqrt(s_b))^2 exactly.
    rng = np.random.default_rng(0)
    a = rng.standard_normal((4000, 3))
    b = rng.standard_normal((4000, 3))
    a = (a - a.mean(0)) / a.std(0, ddof=1) * [1.0, 2.0, 3.0]
    b = (b - b.mean(0)) / b.std(0, ddof=1) * [2.0, 2.0, 1.0] + [1.0, 0.0, 0.0]
    closed = 1.0 + (1 - 2) ** 2 + 0.0 + (3 - 1) ** 2
    assert frechet_distance(a, b) == pytest.approx(closed, rel=0.02)


def test_identical_sets_give_about_zero_even_when_singular() -> None:
    rng = np.random.default_rng(2)
    a = rng.standard_normal((50, 64)).astype(np.float32)  # singular covariance
    assert abs(frechet_distance(a, a.copy())) < 1e-4
    assert frechet_distance(a, a + 1.0) == pytest.approx(64.0, rel=1e-5)
