"""Balanced Softmax against its formula, and the prior counts it uses."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from bench.train.losses import LossContext, make_loss, prior_counts
from bench.train.recipe import Stage


def balanced_softmax_loss(logits, targets, counts) -> torch.Tensor:
    """The registry's balanced-softmax loss (prior: the real counts) on one batch."""
    loss = make_loss(Stage(loss="balanced-softmax", prior="real"), context(counts.numpy()))
    return torch.tensor(batch_loss(loss, logits, targets), dtype=torch.float64)


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
    assert np.isclose(float(got), expected, rtol=1e-6)  # the log prior is float32


def test_balanced_softmax_differs_from_ce_and_equals_it_when_balanced() -> None:
    logits = torch.randn(8, 5, generator=torch.Generator().manual_seed(1))
    targets = torch.arange(8) % 5
    ce = torch.nn.functional.cross_entropy(logits, targets)
    assert torch.isclose(
        balanced_softmax_loss(logits, targets, torch.full((5,), 30.0)), ce.double()
    )
    skewed = balanced_softmax_loss(logits, targets, torch.tensor([1000.0, 100, 10, 5, 1]))
    assert not torch.isclose(skewed, ce.double())


def test_prior_counts_real_or_real_plus_synthetic() -> None:
    real, synth = np.array([100, 10, 0]), np.array([0, 90, 100])
    assert prior_counts("real", real, synth).tolist() == [100, 10, 1]  # 0 -> 1, never log(0)
    assert prior_counts("real+synthetic", real, synth).tolist() == [100, 100, 100]
    assert prior_counts("real+synthetic", real, None).tolist() == [100, 10, 1]


def context(real, synthetic=None, batch=None, groups=1, epochs=10) -> LossContext:
    real = np.asarray(real, dtype=float)
    return LossContext(len(real), real, synthetic, real / real.sum() if batch is None else batch,
                       groups, epochs)  # fmt: skip


def batch_loss(loss, logits, targets, groups=None) -> float:
    values, weights = loss.per_sample(logits, targets)
    groups = torch.zeros_like(targets) if groups is None else groups
    return float(loss.reduce(values, weights, groups))


def test_make_loss_uses_the_prior_it_names() -> None:
    logits, targets = torch.zeros(2, 2), torch.tensor([0, 1])
    ctx = context([3.0, 1.0], synthetic=np.array([0.0, 2.0]), batch=np.array([0.5, 0.5]))
    bs = make_loss(Stage(loss="balanced-softmax", prior="real"), ctx)
    # logits 0: softmax over log counts -> p(0) = 3/4, p(1) = 1/4.
    assert np.isclose(batch_loss(bs, logits, targets), -(np.log(0.75) + np.log(0.25)) / 2)
    balanced = -np.log(0.5)  # real+synthetic counts 3, 3 and the batch prior 1/2, 1/2: plain CE
    for prior in ("real+synthetic", "batch"):
        loss = make_loss(Stage(loss="balanced-softmax", prior=prior), ctx)
        assert np.isclose(batch_loss(loss, logits, targets), balanced)
    ce = make_loss(Stage(loss="ce"), ctx)
    assert np.isclose(batch_loss(ce, logits, targets), float(F.cross_entropy(logits, targets)))


def test_logit_adjusted_loss_scales_the_prior_by_tau() -> None:
    logits, targets = torch.randn(6, 3), torch.tensor([0, 1, 2, 0, 1, 2])
    ctx = context([100.0, 10.0, 1.0])
    tau = 0.5
    got = batch_loss(make_loss(Stage(loss="logit-adjusted", la_tau=tau), ctx), logits, targets)
    prior = torch.log(torch.tensor([100.0, 10.0, 1.0]))
    assert np.isclose(got, float(F.cross_entropy(logits + tau * prior, targets)), rtol=1e-6)
    one = batch_loss(make_loss(Stage(loss="logit-adjusted", la_tau=1.0), ctx), logits, targets)
    bs = batch_loss(make_loss(Stage(loss="balanced-softmax"), ctx), logits, targets)
    assert np.isclose(one, bs)


def test_ldam_margins_and_deferred_reweighting() -> None:
    counts = [400.0, 25.0, 1.0]
    loss = make_loss(Stage(loss="ldam-drw", epochs=10, drw_start=0.8), context(counts))
    margins = loss.margins.numpy()
    assert np.isclose(margins[2], 0.5) and np.allclose(
        margins, 0.5 * (1 / np.array(counts)) ** 0.25
    )
    logits, targets = torch.randn(4, 3), torch.tensor([0, 1, 2, 2])
    loss.set_epoch(7)
    shifted = logits.clone()
    shifted[torch.arange(4), targets] -= loss.margins.float()[targets]
    assert np.isclose(
        batch_loss(loss, logits, targets), float(F.cross_entropy(30 * shifted, targets)), rtol=1e-5
    )
    loss.set_epoch(8)  # DRW from epoch 8 of 10: weighted as F.cross_entropy(weight=...)
    w = loss.drw.float()
    assert np.isclose(w.sum(), 3.0) and w[2] > w[1] > w[0]
    expected = F.cross_entropy(30 * shifted, targets, weight=w)
    assert np.isclose(batch_loss(loss, logits, targets), float(expected), rtol=1e-5)


def test_group_dro_upweights_the_worst_group() -> None:
    loss = make_loss(Stage(loss="group-dro", dro_eta=1.0), context([1.0, 1.0], groups=2))
    logits = torch.tensor([[5.0, 0.0], [5.0, 0.0], [5.0, 0.0], [5.0, 0.0]])
    targets = torch.tensor([0, 0, 1, 1])  # group 1 is misclassified: large loss
    groups = torch.tensor([0, 0, 1, 1])
    value = batch_loss(loss, logits, targets, groups)
    per_group = [
        float(F.cross_entropy(logits[:2], targets[:2])),
        float(F.cross_entropy(logits[2:], targets[2:])),
    ]
    q = np.exp(per_group) / np.exp(per_group).sum()  # from uniform q, eta = 1
    assert np.allclose(loss.q.numpy(), q, rtol=1e-5) and q[1] > 0.99
    assert np.isclose(value, float(np.dot(q, per_group)), rtol=1e-5)
    state = loss.state_dict()
    fresh = make_loss(Stage(loss="group-dro", dro_eta=1.0), context([1.0, 1.0], groups=2))
    fresh.load_state_dict(state)
    assert torch.equal(fresh.q, loss.q)


def test_training_uses_the_real_class_counts_as_the_balanced_softmax_prior(
    tmp_path, monkeypatch
) -> None:
    """Through `bench run`: the prior the training loop hands the loss is the train split's
    counts, class by class (a long tail, so ones or a reversed order would show)."""
    from helpers import TINY_RECIPE, run_digits

    from bench.data.fingerprint import load_dataset
    from bench.datasets import DATASETS
    from bench.train import losses

    seen = []
    original = losses.BalancedSoftmax.adjust

    def spy(self, logits, targets):
        seen.append(self.log_prior.exp().round().tolist())
        return original(self, logits, targets)

    monkeypatch.setattr(losses.BalancedSoftmax, "adjust", spy)
    run_digits("balanced-softmax", tmp_path / "results", TINY_RECIPE)
    cls = DATASETS["digits-lt"]
    counts = load_dataset(cls(cls.Options(), None)).train_counts().tolist()
    assert counts[0] > counts[-1]  # a long tail
    assert seen and all(prior == counts for prior in seen)


def test_test_predictions_use_the_plain_logits() -> None:
    """Balanced Softmax adds its log prior in training only (BALMS issue #13): a classifier whose
    logits favour the right class by 1 keeps every test prediction, though the train split's
    prior (100 to 1) added to them would turn the tail class's into the head class."""
    from bench.data import ImageSplit, LoadedDataset
    from bench.runs.config import resolve
    from bench.runs.evaluate import evaluate
    from bench.train.loop import TrainResult

    class Brightness(torch.nn.Module):  # class c for images of brightness 40 c, by a margin of 1
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            b = (x.mean(dim=(1, 2, 3)) * 0.5 + 0.5) * 255
            return -((b[:, None] - torch.tensor([0.0, 40.0])[None]) ** 2) / 1600

    def split(name: str, labels: list[int]) -> ImageSplit:
        images = np.stack([np.full((8, 8, 1), 40 * c, dtype=np.uint8) for c in labels])
        return ImageSplit(name, np.array(labels), images=images)

    train, test = split("train", [0] * 100 + [1]), split("test", [0] * 5 + [1] * 5)
    data = LoadedDataset("toy", ["head", "tail"], {"train": train, "val": test, "test": test}, 8, 1)
    model = Brightness()
    recipe = resolve("balanced-softmax", "digits-lt").recipe_settings
    assert recipe.loss == "balanced-softmax"
    metrics = evaluate(TrainResult(model, model, 1, [{"val_balanced": 1.0}], 1), data, recipe,
                       "cpu", None)  # fmt: skip
    assert metrics["test"]["per_class"] == [1.0, 1.0]
