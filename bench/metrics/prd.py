"""Precision and recall for distributions (Sajjadi et al., NeurIPS 2018): the PRD curve, F8, F1/8.

The algorithm of the authors' reference `prd_score.py` (msmsajjadi/precision-recall-distributions,
from google/compare_gan), which CBDM (Sec 5.1) reports with 20 x (number of classes) clusters:

1. cluster the union of the fake and real features with mini-batch k-means (n_init = 10);
2. turn each set's cluster assignments into a histogram P (fake) and Q (real), each summing to 1;
3. for angles theta in an even grid over (0, pi/2) with slope lambda = tan(theta):
   precision(lambda) = sum_i min(lambda Q_i, P_i),  recall(lambda) = precision(lambda) / lambda;
4. average the curves over `runs` independent clusterings;
5. F_beta = max over the curve of (1 + b^2) p r / (b^2 p + r + 1e-10);
   F8 (beta = 8) weighs recall (diversity), F1/8 (beta = 1/8) precision (fidelity).

Both sets must be equally large (the reference's `enforce_balance`: a bigger set would dominate
the clustering). Identical sets give F8 = F1/8 = 1; sets in disjoint clusters give 0.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from bench.metrics.checks import MetricInputError, check_features, check_same_width

EPSILON = 1e-10  # the reference's angle margin and F_beta denominator guard


def prd_curve(
    fake_features: Any,
    real_features: Any,
    num_clusters: int = 20,
    num_angles: int = 1001,
    runs: int = 10,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """The PRD curve (precision, recall), each of length `num_angles`, averaged over runs."""
    fake = check_features(fake_features, "fake features").astype(np.float64)
    real = check_features(real_features, "real features").astype(np.float64)
    check_same_width(fake, real, "fake features", "real features")
    if len(fake) != len(real):
        raise MetricInputError(
            f"PRD needs equally many fake and real samples (got {len(fake)} fake, {len(real)} "
            "real): the larger set would dominate the clustering. Subsample the larger one."
        )
    if not 1 <= num_clusters <= len(fake) + len(real):
        raise MetricInputError(
            f"num_clusters={num_clusters} must be between 1 and the {len(fake) + len(real)} "
            "samples being clustered."
        )
    if num_angles < 3:
        raise MetricInputError(f"num_angles must be at least 3, got {num_angles}.")
    curves = [
        prd_from_histograms(*cluster_histograms(fake, real, num_clusters, seed + run), num_angles)
        for run in range(runs)
    ]
    return np.mean([c[0] for c in curves], axis=0), np.mean([c[1] for c in curves], axis=0)


def cluster_histograms(
    fake: np.ndarray, real: np.ndarray, num_clusters: int, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    # sklearn: heavy, imported where used (off the start-up path)
    from sklearn.cluster import MiniBatchKMeans

    kmeans = MiniBatchKMeans(n_clusters=num_clusters, n_init=10, random_state=seed)
    labels = kmeans.fit(np.vstack([fake, real])).labels_
    fake_hist = np.bincount(labels[: len(fake)], minlength=num_clusters) / len(fake)
    real_hist = np.bincount(labels[len(fake) :], minlength=num_clusters) / len(real)
    return fake_hist, real_hist


def prd_from_histograms(
    fake_hist: np.ndarray, real_hist: np.ndarray, num_angles: int = 1001
) -> tuple[np.ndarray, np.ndarray]:
    slopes = np.tan(np.linspace(EPSILON, np.pi / 2 - EPSILON, num_angles))
    precision = np.minimum(real_hist[None, :] * slopes[:, None], fake_hist[None, :]).sum(axis=1)
    return precision, precision / slopes


def f_beta(precision: np.ndarray, recall: np.ndarray, beta: float) -> float:
    """max over the curve of F_beta(p, r)."""
    if beta <= 0:
        raise MetricInputError(f"beta must be positive, got {beta}.")
    # Round-off can push a value a hair past 1 (the reference rejects anything > 1).
    p, r = np.clip(precision, 0.0, 1.0), np.clip(recall, 0.0, 1.0)
    return float(np.max((1 + beta**2) * p * r / (beta**2 * p + r + EPSILON)))


def prd_scores(
    fake_features: Any,
    real_features: Any,
    num_clusters: int = 20,
    beta: float = 8.0,
    num_angles: int = 1001,
    runs: int = 10,
    seed: int = 0,
) -> dict[str, float]:
    """F_beta and F_1/beta of the PRD curve: {"f8": ..., "f1_8": ...} for beta = 8."""
    precision, recall = prd_curve(
        fake_features, real_features, num_clusters, num_angles, runs, seed
    )
    return {
        f"f{beta:g}": f_beta(precision, recall, beta),
        f"f1_{beta:g}": f_beta(precision, recall, 1.0 / beta),
    }
