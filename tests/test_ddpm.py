"""The harness's own class-conditional DDPM: resume, save/load, deterministic guided sampling."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from diffusers import UNet2DModel

from bench.generators.ddpm import ConditionalDDPM, DDPMSpec

SPEC = DDPMSpec(
    block_out_channels=(8, 16),
    train_steps=6,
    batch_size=8,
    num_train_timesteps=20,
    checkpoint_every=2,
)


def toy_data(n: int = 24) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, size=(n, 8, 8, 1), dtype=np.uint8), np.arange(n) % 3


def fitted(workdir: Path) -> ConditionalDDPM:
    torch.manual_seed(0)
    model = ConditionalDDPM(SPEC, num_classes=3, image_size=8, channels=1)
    model.fit(*toy_data(), seed=5, workdir=workdir, progress=False)
    return model


def test_interrupted_fit_resumes_to_the_same_weights(tmp_path: Path, monkeypatch) -> None:
    straight = fitted(tmp_path / "straight")

    calls = {"n": 0}
    original = ConditionalDDPM._train_step

    def crash_at_step_five(self, *args):
        calls["n"] += 1
        if calls["n"] == 5:
            raise KeyboardInterrupt  # the job is killed after the step-4 checkpoint
        return original(self, *args)

    monkeypatch.setattr(ConditionalDDPM, "_train_step", crash_at_step_five)
    with pytest.raises(KeyboardInterrupt):
        fitted(tmp_path / "resumed")
    assert (tmp_path / "resumed" / "checkpoint.pt").exists()
    done_after_relaunch = {"n": 0}

    def count_steps(self, *args):
        done_after_relaunch["n"] += 1
        return original(self, *args)

    monkeypatch.setattr(ConditionalDDPM, "_train_step", count_steps)
    resumed = fitted(tmp_path / "resumed")
    # starts at step 4, not 0: only the last two of the six steps are trained again (training
    # from scratch would give the same weights too, so the step count is what shows resuming)
    assert done_after_relaunch["n"] == SPEC.train_steps - 4
    for a, b in zip(straight.ema.parameters(), resumed.ema.parameters(), strict=True):
        assert torch.equal(a, b)
    assert not (tmp_path / "resumed" / "checkpoint.pt").exists()


def test_saved_generator_loads_in_diffusers_and_samples_deterministically(tmp_path: Path) -> None:
    fitted(tmp_path)
    unet = UNet2DModel.from_pretrained(tmp_path / "unet")  # plain diffusers format
    assert unet.config.num_class_embeds == 4  # 3 classes + the null label
    model = ConditionalDDPM.load(tmp_path)
    labels = np.array([0, 1, 2, 2, 1])
    a = model.sample(labels, seed=3, steps=3, batch_size=2)
    assert a.shape == (5, 8, 8, 1) and a.dtype == np.uint8
    assert np.array_equal(a, model.sample(labels, seed=3, steps=3, batch_size=2))
    assert not np.array_equal(a, model.sample(labels, seed=4, steps=3, batch_size=2))
    assert model.sample(np.array([], dtype=int), seed=0).shape == (0, 8, 8, 1)


def test_guidance_scale_selects_the_branches(tmp_path: Path) -> None:
    model = fitted(tmp_path)
    labels = np.array([0, 1, 2])
    outs = {w: model.sample(labels, seed=1, steps=3, guidance_scale=w) for w in (0.0, 1.0, 2.5)}
    assert not np.array_equal(outs[0.0], outs[1.0])
    assert not np.array_equal(outs[1.0], outs[2.5])
    # w = 1 is the conditional model alone; eps_u + 1 * (eps_c - eps_u) must give the same x.
    x = torch.randn(3, 1, 8, 8)
    t = torch.tensor(10)
    y = torch.tensor(labels)
    null = torch.full_like(y, 3)
    eps_c = model.ema(x, t, class_labels=y).sample  # the conditional branch, computed directly
    eps_u = model.ema(x, t, class_labels=null).sample
    assert not torch.allclose(eps_c, eps_u, atol=1e-6)  # so the checks below can tell them apart
    assert torch.allclose(model._guided_eps(x, t, y, 1.0), eps_c, atol=1e-6)
    assert torch.allclose(model._guided_eps(x, t, y, 0.0), eps_u, atol=1e-6)
    two = model._guided_eps(x, t, y, 2.0)
    assert torch.allclose(two, eps_u + 2.0 * (eps_c - eps_u), atol=1e-5)
