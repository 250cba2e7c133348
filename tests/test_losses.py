"""Balanced Softmax against its formula, and the prior counts it uses."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from bench.train.losses import balanced_softmax_loss, make_loss, prior_counts


def test_balanced_softmax_matches_formula() -> None:
    # -log( n_y e^{z_y} / sum_j n_j e^{z_j} ), averaged over the batch (Ren et al. 2020, Eq. 4).
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(6, 4))
    targets = np.array([0, 1, 2, 3, 3, 1])
    counts = np.array([500.0, 40.0, 7.0, 1.0])
    expected = np.mean(
        [
            -np.log(counts[y] * np.exp(z[y]) / np.sum(counts * np.exp(z)))
            for z, y in zip(logits, targets, strict=True)
        ]
    )
    got = balanced_softmax_loss(torch.tensor(logits), torch.tensor(targets), torch.tensor(counts))
    assert np.isclose(float(got), expected, rtol=1e-10)


def test_balanced_softmax_differs_from_ce_and_equals_it_when_balanced() -> None:
    logits = torch.randn(8, 5, generator=torch.Generator().manual_seed(1))
    targets = torch.arange(8) % 5
    ce = torch.nn.functional.cross_entropy(logits, targets)
    assert torch.isclose(balanced_softmax_loss(logits, targets, torch.full((5,), 30.0)), ce)
    skewed = balanced_softmax_loss(logits, targets, torch.tensor([1000.0, 100, 10, 5, 1]))
    assert not torch.isclose(skewed, ce)


def test_prior_counts_real_or_real_plus_synthetic() -> None:
    real, synth = np.array([100, 10, 0]), np.array([0, 90, 100])
    assert prior_counts("real", real, synth).tolist() == [100, 10, 1]  # 0 -> 1, never log(0)
    assert prior_counts("real+synthetic", real, synth).tolist() == [100, 100, 100]
    assert prior_counts("real+synthetic", real, None).tolist() == [100, 10, 1]


def test_make_loss_uses_the_counts_it_is_given() -> None:
    logits = torch.zeros(2, 2)
    loss = make_loss("balanced-softmax", np.array([3.0, 1.0]))
    # logits 0: softmax over log counts -> p(0) = 3/4, p(1) = 1/4. Each class on its own, so a
    # sign error (logits - log n) or reversed counts give another value (a mean over both would
    # not notice: it is symmetric).
    assert np.isclose(float(loss(logits, torch.tensor([0, 0]))), -np.log(0.75))
    assert np.isclose(float(loss(logits, torch.tensor([1, 1]))), -np.log(0.25))
    targets = torch.tensor([0, 1])
    assert make_loss("ce")(logits, targets) == torch.nn.functional.cross_entropy(logits, targets)


def test_training_uses_the_real_class_counts_as_the_balanced_softmax_prior(
    tmp_path: Path, monkeypatch
) -> None:
    """Through `bench run`: the prior the training loop hands the loss is the train split's
    counts, class by class (a long tail, so ones or a reversed order would show)."""
    from helpers import TINY_RECIPE, run_digits

    from bench.data.fingerprint import load_dataset
    from bench.datasets import DATASETS
    from bench.train import losses

    seen = []
    original = losses.balanced_softmax_loss

    def spy(logits, targets, class_counts):
        seen.append(class_counts.tolist())
        return original(logits, targets, class_counts)

    monkeypatch.setattr(losses, "balanced_softmax_loss", spy)
    run_digits("balanced-softmax", tmp_path / "results", TINY_RECIPE)
    cls = DATASETS["digits-lt"]
    counts = load_dataset(cls(cls.Options(), None)).train_counts().tolist()
    assert counts[0] > counts[-1]  # a long tail
    assert seen and all(prior == counts for prior in seen)
