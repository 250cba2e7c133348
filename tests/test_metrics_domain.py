"""SYNAuG's domain-classifier accuracy: separated domains score ~1, one distribution ~0.5, the
held-out split is the one documented (scikit-learn's logistic regression fitted on it gives the
value), and bad input is an error."""

from __future__ import annotations

import numpy as np
import pytest

from bench.metrics.checks import MetricInputError
from bench.metrics.domain import domain_classifier_accuracy, standardiser
from bench.metrics.generation import GenerationSettings, domain_metrics


def gaussians(n: int, dims: int, shift: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    real = rng.normal(size=(n, dims)).astype(np.float32)
    fake = rng.normal(size=(n, dims)).astype(np.float32)
    fake[:, 0] += shift
    return real, fake


def test_well_separated_domains_are_told_apart() -> None:
    real, fake = gaussians(600, 16, 6.0, 0)
    out = domain_classifier_accuracy(real, fake, 500, 0.2, seed=1)
    assert out["domain_cls_acc"] >= 0.99
    assert out["domain_cls_n"] == 500 and out["domain_cls_n_test"] == 200


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_two_draws_of_one_distribution_score_chance(seed: int) -> None:
    # 2 x 500 held-out samples: the standard error of a chance accuracy is 0.5 / sqrt(1000)
    # = 0.016; 4 standard errors is 0.063.
    real, fake = gaussians(2500, 32, 0.0, seed)
    out = domain_classifier_accuracy(real, fake, 2500, 0.2, seed=seed)
    assert abs(out["domain_cls_acc"] - 0.5) < 0.063
    # a shift of 1 sd along one axis: the Bayes-optimal accuracy is Phi(1/2) = 0.691
    real, fake = gaussians(2500, 32, 1.0, seed)
    acc = domain_classifier_accuracy(real, fake, 2500, 0.2, seed=seed)["domain_cls_acc"]
    assert 0.691 - 0.063 < acc <= 0.691 + 0.03


def test_memorised_training_samples_do_not_count() -> None:
    # 256-d noise, 400 training samples: the classifier fits its training set far above chance,
    # the held-out accuracy (2 x 100 samples, 4 standard errors = 0.14) stays at chance.
    real, fake = gaussians(250, 256, 0.0, 4)
    out = domain_classifier_accuracy(real, fake, 250, 0.2, seed=4)
    assert out["domain_cls_train_acc"] > 0.8
    assert abs(out["domain_cls_acc"] - 0.5) < 0.14


def test_the_held_out_accuracy_matches_scikit_learn_on_the_function_split() -> None:
    """The whole function against scikit-learn fitted on the split it draws (rebuilt here)."""
    from sklearn.linear_model import LogisticRegression

    from bench.metrics.imagesets import choose

    real, fake = gaussians(300, 8, 0.6, 7)
    n, seed = 250, 3
    out = domain_classifier_accuracy(real, fake, n, 0.2, seed=seed)
    rng = np.random.default_rng(seed)
    train, test = [], []
    for label, x, offset in ((1, real, 0), (0, fake, 1)):
        rows = x[choose(len(x), n, seed + offset)].astype(np.float64)
        order = rng.permutation(n)
        train.append((rows[order[50:]], label))
        test.append((rows[order[:50]], label))
    x_train = np.concatenate([t[0] for t in train])
    y_train = np.concatenate([np.full(len(t[0]), t[1]) for t in train])
    x_test = np.concatenate([t[0] for t in test])
    y_test = np.concatenate([np.full(len(t[0]), t[1]) for t in test])
    mean, std = standardiser(x_train)
    ref = LogisticRegression(C=1.0, tol=1e-10, max_iter=10_000)
    ref.fit((x_train - mean) / std, y_train)
    assert out["domain_cls_acc"] == ref.score((x_test - mean) / std, y_test)
    assert out["domain_cls_train_acc"] == ref.score((x_train - mean) / std, y_train)


def test_bad_input_is_a_clear_error() -> None:
    real, fake = gaussians(100, 4, 0.0, 0)
    with pytest.raises(MetricInputError, match="60 fake feature rows, but 80 per domain"):
        domain_classifier_accuracy(real, fake[:60], 80)
    with pytest.raises(MetricInputError, match="held-out fraction must lie in"):
        domain_classifier_accuracy(real, fake, 50, held_out=1.0)
    with pytest.raises(MetricInputError, match="leaves 0 test"):
        domain_classifier_accuracy(real, fake, 2, held_out=0.1)
    with pytest.raises(MetricInputError, match="dimensions"):
        domain_classifier_accuracy(real, fake[:, :3], 50)


def test_eval_gen_records_null_with_a_note_when_a_set_is_too_small() -> None:
    real, fake = gaussians(100, 4, 0.0, 0)
    out = domain_metrics(real, fake, GenerationSettings())
    assert out["domain_cls_acc"] is None and "domain_cls_n=2500" in out["domain_cls_note"]
    out = domain_metrics(real, fake, GenerationSettings(domain_cls_n=100))
    assert 0.0 <= out["domain_cls_acc"] <= 1.0 and out["domain_cls_n_test"] == 40
