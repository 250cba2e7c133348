"""The Fréchet distance between Gaussians fitted to two feature sets (FID on Inception features).

    d^2 = |mu_a - mu_b|^2 + tr(S_a) + tr(S_b) - 2 tr((S_a S_b)^(1/2))

tr((S_a S_b)^(1/2)) is computed as the sum of the square roots of the eigenvalues of the
symmetric matrix S_a^(1/2) S_b S_a^(1/2), which has the same eigenvalues as S_a S_b and is
positive semi-definite, so no complex parts or `sqrtm` convergence problems arise when the
covariances are singular (fewer samples than dimensions).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from bench.metrics.checks import check_enough, check_features, check_same_width


def feature_statistics(features: Any, what: str = "features") -> tuple[np.ndarray, np.ndarray]:
    """Mean and covariance (ddof = 1, as pytorch-fid and torch-fidelity) in float64."""
    x = check_features(features, what).astype(np.float64)
    check_enough(x, 2, what, "a covariance")
    return x.mean(axis=0), np.atleast_2d(np.cov(x, rowvar=False))


def frechet_distance(features_a: Any, features_b: Any) -> float:
    """Fréchet distance between two feature sets (samples x dims each)."""
    a = check_features(features_a, "features_a")
    b = check_features(features_b, "features_b")
    check_same_width(a, b, "features_a", "features_b")
    return frechet_distance_from_statistics(
        *feature_statistics(a, "features_a"), *feature_statistics(b, "features_b")
    )


def frechet_distance_from_statistics(
    mu_a: np.ndarray, sigma_a: np.ndarray, mu_b: np.ndarray, sigma_b: np.ndarray
) -> float:
    mu_a, mu_b = np.atleast_1d(mu_a), np.atleast_1d(mu_b)
    sigma_a, sigma_b = np.atleast_2d(sigma_a), np.atleast_2d(sigma_b)
    diff = mu_a - mu_b
    root_a = psd_sqrt(sigma_a)
    middle = root_a @ sigma_b @ root_a
    eig = np.linalg.eigvalsh((middle + middle.T) / 2)
    tr_covmean = np.sqrt(np.clip(eig, 0.0, None)).sum()
    return float(diff @ diff + np.trace(sigma_a) + np.trace(sigma_b) - 2.0 * tr_covmean)


def psd_sqrt(sigma: np.ndarray) -> np.ndarray:
    """The symmetric square root of a covariance matrix (round-off negative eigenvalues -> 0)."""
    eig, vec = np.linalg.eigh((sigma + sigma.T) / 2)
    return (vec * np.sqrt(np.clip(eig, 0.0, None))) @ vec.T
