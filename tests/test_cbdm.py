"""CBDM's regulariser against a direct computation of Eq. 4, label sets, RS sampling, the method."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from test_ddpm import toy_data

from bench.errors import ConfigError, DataError
from bench.generators.balancing import cbdm_regulariser, class_distribution, image_weights
from bench.generators.ddpm import DDPMGenerator, DDPMSettings
from bench.hparams import build
from bench.methods import METHODS
from bench.runs.config import resolve

TINY = {"unet_channels": (8, 16), "train_steps": 3, "batch_size": 8, "num_train_timesteps": 20}


def tiny(**sets) -> DDPMGenerator:
    torch.manual_seed(0)
    settings = build(DDPMSettings, {**TINY, "cbdm_tau": 0.001, **sets}, "test")
    return DDPMGenerator(settings, num_classes=3, image_size=8, channels=1)


def batch() -> tuple[torch.Tensor, ...]:
    g = torch.Generator().manual_seed(1)
    x0 = torch.rand((4, 1, 8, 8), generator=g) * 2 - 1
    noise = torch.randn(x0.shape, generator=g)
    return x0, torch.tensor([0, 1, 2, 0]), torch.tensor([3, 19, 10, 0]), noise


def eq4(model: DDPMGenerator, x0, y, t, noise, other, stop_gradients: bool = True):
    """Eq. 4 written out with two separate forward passes; weight tau t at T = 1000."""
    s = model.settings
    noisy = model.noise_schedule.add_noise(x0, noise, t)
    eps_y = model.unet(noisy, t, class_labels=model.cond(y, None)).sample
    eps_o = model.unet(noisy, t, class_labels=model.cond(other, None)).sample
    sg = (lambda v: v.detach()) if stop_gradients else (lambda v: v)
    total = F.mse_loss(eps_y, noise)
    for i in range(len(y)):
        w = s.cbdm_tau * float(t[i]) * 1000 / s.num_train_timesteps
        reg = ((eps_y[i] - sg(eps_o[i])) ** 2).mean()
        com = ((sg(eps_y[i]) - eps_o[i]) ** 2).mean()
        total = total + w * (reg + s.cbdm_commitment * com) / len(y)
    return total


def grads(model: DDPMGenerator, loss: torch.Tensor) -> list[torch.Tensor]:
    params = [*model.unet.parameters(), *model.cond.parameters()]
    return [
        g if g is not None else torch.zeros_like(p)
        for g, p in zip(torch.autograd.grad(loss, params, allow_unused=True), params, strict=True)
    ]


def test_training_loss_is_eq4_in_value_and_gradient() -> None:
    model = tiny(cbdm_tau=0.05)  # a weight large enough that the regulariser shows in gradients
    x0, y, t, noise = batch()
    other = torch.tensor([2, 0, 1, 1])
    ours = model.training_loss(x0, y, t, noise, None, other, torch.ones(4, dtype=torch.bool))
    direct = eq4(model, x0, y, t, noise, other)
    assert torch.allclose(ours, direct, rtol=1e-5, atol=1e-7)
    plain = model.training_loss(x0, y, t, noise)
    assert ours > plain  # the regulariser adds a positive term
    ours_g = flat(grads(model, ours))
    assert rel(ours_g, flat(grads(model, eq4(model, x0, y, t, noise, other)))) < 1e-4
    # The check can tell: without the stop-gradients the parameter gradients differ.
    no_sg = flat(grads(model, eq4(model, x0, y, t, noise, other, stop_gradients=False)))
    assert rel(ours_g, no_sg) > 1e-2


def flat(tensors: list[torch.Tensor]) -> torch.Tensor:
    return torch.cat([v.reshape(-1) for v in tensors])


def rel(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).norm() / b.norm())


def test_each_branch_gets_only_its_own_gradient() -> None:
    h = torch.randn(3, 1, 2, 2, requires_grad=True)  # eps(x_t, y)
    h_other = torch.randn(3, 1, 2, 2, requires_grad=True)  # eps(x_t, y')
    w = torch.tensor([0.0, 0.5, 1.0])
    cbdm_regulariser(h, h_other, w, 0.25).backward()
    n = h.numel()
    diff = (h - h_other).detach()
    wb = w[:, None, None, None]
    assert torch.allclose(h.grad, 2 * wb * diff / n)  # L_r only: y' is stopped
    assert torch.allclose(h_other.grad, -2 * 0.25 * wb * diff / n)  # L_rc only: y is stopped
    assert torch.equal(h.grad[0], torch.zeros_like(h.grad[0]))  # t = 0: no regularisation


def test_dropped_labels_and_t_zero_get_no_regulariser() -> None:
    model = tiny(cbdm_tau=0.05)
    x0, y, t, noise = batch()
    other = torch.tensor([2, 0, 1, 1])
    keep = torch.tensor([False, False, False, True])  # the only kept sample has t = 0
    plain = model.training_loss(x0, y, t, noise)
    assert torch.allclose(model.training_loss(x0, y, t, noise, None, other, keep), plain)


def test_y_prime_is_drawn_from_the_label_set_not_from_the_sample(monkeypatch) -> None:
    """Alg. 1 lines 6-10: one y' per sample from the label set (here Y^bal, uniform),
    independent of the sample's own label y."""
    model = tiny(cbdm_label_set="bal", train_steps=40, label_dropout=0.0)
    seen: list[tuple[torch.Tensor, torch.Tensor]] = []
    loss = model.training_loss

    def spy(x0, y, t, noise, embeds=None, other=None, keep=None, aug=None):
        seen.append((y.clone(), other.clone()))
        return loss(x0, y, t, noise, embeds, other, keep, aug)

    monkeypatch.setattr(model, "training_loss", spy)
    data = toy_data(30)
    data.train.targets[:] = np.array([0] * 24 + [1] * 4 + [2] * 2)  # a long tail
    labels = torch.as_tensor(data.train.targets)
    model._set_balancing(labels)
    g = torch.Generator().manual_seed(0)
    opt = torch.optim.SGD(model.unet.parameters(), lr=0.0)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda _: 1.0)
    images = type("Images", (), {"read": lambda self, i: data.train.images[i]})()
    for _ in range(25):
        model._train_step(images, labels, opt, sched, g, list(model.unet.parameters()))
    y = torch.cat([a for a, _ in seen])
    other = torch.cat([b for _, b in seen])
    assert float((other == y).float().mean()) < 0.6  # 1/3 expected; y' = y would give 1
    counts = torch.bincount(other, minlength=3).double() / len(other)
    assert torch.allclose(counts, torch.full((3,), 1 / 3, dtype=torch.float64), atol=0.1)


def test_label_sets_and_their_official_defaults() -> None:
    counts = np.array([400, 100, 0, 25])
    assert np.allclose(class_distribution(counts, "train"), counts / 525)
    assert np.allclose(class_distribution(counts, "bal"), [0.25] * 4)  # randint(num_class)
    assert np.allclose(class_distribution(counts, "sqrt"), np.array([20, 10, 0, 5]) / 35)
    assert np.allclose(class_distribution(counts, "uniform"), [1 / 3, 1 / 3, 0, 1 / 3])
    assert tiny().settings.label_set() == "train"  # from scratch: the training frequencies
    assert tiny(init_from="somewhere").settings.label_set() == "bal"  # --finetune: uniform
    assert tiny(init_from="x", cbdm_label_set="sqrt").settings.label_set() == "sqrt"


@pytest.mark.parametrize("kind", ["uniform", "sqrt"])
def test_resampling_draws_classes_by_the_target_distribution(kind: str) -> None:
    labels = np.repeat([0, 1, 2], [90, 9, 1])
    w = image_weights(labels, 3, kind)
    per_class = np.bincount(labels, weights=w, minlength=3)
    target = class_distribution(np.bincount(labels), kind)
    assert np.allclose(per_class / per_class.sum(), target)
    draws = torch.multinomial(torch.as_tensor(w), 30_000, True, generator=torch.manual_seed(0))
    freq = np.bincount(labels[draws.numpy()], minlength=3) / 30_000
    assert np.allclose(freq, target, atol=0.01)


@pytest.mark.parametrize(
    ("sets", "message"),
    [
        ({"cbdm_tau": -0.001}, r"cbdm_tau=-0\.001 is below its minimum 0\.0"),
        ({"cbdm_label_set": "balanced"}, r"cbdm_label_set='balanced' is not allowed.*auto, train"),
        ({"label_sampling": "rs"}, r"label_sampling='rs' is not allowed.*data, uniform, sqrt"),
    ],
)
def test_bad_settings_name_the_value_and_the_choices(sets: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        build(DDPMSettings, sets, "test")


def test_cbdm_and_rs_fit_and_fine_tune_from_a_fitted_generator(tmp_path: Path) -> None:
    base = tiny(cbdm_tau=0.0)
    base.fit(toy_data(), tmp_path / "base", seed=0, progress=False)
    tuned = tiny(init_from=str(tmp_path / "base"), label_sampling="sqrt", train_steps=1)
    tuned._start_from(tmp_path / "base")
    source = DDPMGenerator.load(tmp_path / "base")
    for a, b in zip(tuned.unet.parameters(), source.ema_unet.parameters(), strict=True):
        assert torch.equal(a, b)
    info = tuned.fit(toy_data(), tmp_path / "tuned", seed=0, progress=False)
    assert np.isfinite(info["final_loss"]) and info["steps"] == 1
    with pytest.raises(DataError, match="holds no fitted ddpm generator"):
        tiny(init_from=str(tmp_path / "nothing")).fit(toy_data(), tmp_path / "t2", 0, False)
    other = build(DDPMSettings, {**TINY, "unet_channels": (16, 16)}, "test")
    wider = DDPMGenerator(other, num_classes=3, image_size=8, channels=1)
    with pytest.raises(ConfigError, match="do not fit this architecture"):
        wider._start_from(tmp_path / "base")


def test_cbdm_guides_with_omega_and_takes_cifar_defaults() -> None:
    cfg = resolve("cbdm", "cifar100-lt")
    assert cfg.hparams["omega"] == 0.8 and cfg.hparams["plan"] == "add:500"
    assert cfg.hparams["cbdm_tau"] == 0.001 and cfg.hparams["sampling_steps"] == 100
    assert resolve("cbdm", "cifar10-lt").hparams["omega"] == 1.0
    assert resolve("cbdm", "digits-lt").hparams["omega"] == 0.0
    with pytest.raises(ConfigError, match="set omega=1 instead"):
        resolve("cbdm", "digits-lt", sets=["guidance_scale=2"])
    hparams = build(METHODS["cbdm"].Hparams, {"omega": 0.8}, "test")
    method = METHODS["cbdm"](hparams, None)
    assert method.sampling_hooks(None).noise.scale == pytest.approx(1.8)
