"""Domain-classifier accuracy: how well one linear layer tells real from synthetic features.

SYNAuG (seed 004, Sec 4.2, Fig. 3a) measures the domain gap between real and synthetic images
by training "only one fully-connected layer on the features extracted from [a] pre-trained
model" on 2.5k samples of each domain; 50% accuracy means no gap (SYNAuG reports 74.16% on
CIFAR100). One FC layer with a softmax over two domains is binary logistic regression on the
features. The paper states neither its train / test split nor its optimiser; ours (each a
setting of `bench eval-gen`, docs/metrics.md):

- a held-out share of each domain (20% by default) is the test set, drawn with the seed;
- features are standardised with the training part's mean and standard deviation;
- scikit-learn's `LogisticRegression` (L2, C = 1, L-BFGS run to a tolerance of 1e-10): the
  problem is convex, so the optimiser does not change the answer; the L2 strength does.

It replaced a hand-written L-BFGS fit of the same objective; on the test's Gaussian feature
sets (32 to 512 dimensions, 250 to 2,500 samples per domain) both gave the same held-out and
training accuracies.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from bench.metrics.checks import MetricInputError, check_features, check_same_width
from bench.metrics.imagesets import choose


def domain_classifier_accuracy(
    real: np.ndarray,
    fake: np.ndarray,
    n_per_domain: int = 2500,
    held_out: float = 0.2,
    seed: int = 0,
    c: float = 1.0,
) -> dict[str, Any]:
    """Held-out accuracy of a linear real-vs-synthetic classifier on the features.

    `n_per_domain` samples are drawn (without replacement, by `seed`) from each of `real` and
    `fake` (samples x dims); `held_out` of each domain's samples form the test set. Returns the
    test accuracy in [0, 1] (`domain_cls_acc`; 0.5 = the domains cannot be told apart), the
    training accuracy and the sizes.
    """
    real = check_features(real, "real features")
    fake = check_features(fake, "fake features")
    check_same_width(real, fake, "real features", "fake features")
    if n_per_domain < 2:
        raise MetricInputError(f"domain classifier: n per domain must be >= 2, got {n_per_domain}.")
    if not 0.0 < held_out < 1.0:
        raise MetricInputError(
            f"domain classifier: held-out fraction must lie in (0, 1), got {held_out}."
        )
    for what, x in (("real", real), ("fake", fake)):
        if len(x) < n_per_domain:
            raise MetricInputError(
                f"domain classifier: {len(x)} {what} feature rows, but {n_per_domain} per domain "
                "were asked for (SYNAuG Fig. 3a uses 2,500); give more images or lower "
                "domain_cls_n."
            )
    n_test = int(np.floor(held_out * n_per_domain + 0.5))
    if not 1 <= n_test < n_per_domain:
        raise MetricInputError(
            f"domain classifier: held-out fraction {held_out} of {n_per_domain} samples per "
            f"domain leaves {n_test} test and {n_per_domain - n_test} training samples; both "
            "must be at least 1."
        )
    rng = np.random.default_rng(seed)
    parts = []
    for label, x, offset in ((1, real, 0), (0, fake, 1)):
        rows = x[choose(len(x), n_per_domain, seed + offset)].astype(np.float64)
        order = rng.permutation(n_per_domain)
        parts.append((rows[order[n_test:]], rows[order[:n_test]], label))
    x_train = np.concatenate([p[0] for p in parts])
    x_test = np.concatenate([p[1] for p in parts])
    y_train = np.concatenate([np.full(len(p[0]), p[2]) for p in parts])
    y_test = np.concatenate([np.full(len(p[1]), p[2]) for p in parts])
    mean, std = standardiser(x_train)
    x_train, x_test = (x_train - mean) / std, (x_test - mean) / std
    from sklearn.linear_model import LogisticRegression  # scikit-learn: off the start-up path

    classifier = LogisticRegression(C=c, tol=1e-10, max_iter=10_000).fit(x_train, y_train)
    return {
        "domain_cls_acc": float(classifier.score(x_test, y_test)),
        "domain_cls_train_acc": float(classifier.score(x_train, y_train)),
        "domain_cls_n": n_per_domain,
        "domain_cls_n_test": 2 * n_test,
    }


def standardiser(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and standard deviation per dimension (a constant dimension divides by 1)."""
    std = x.std(axis=0)
    return x.mean(axis=0), np.where(std > 0, std, 1.0)
