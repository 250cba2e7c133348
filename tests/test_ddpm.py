"""The harness's own DDPM backend: exact resume, save/load, deterministic guided sampling."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from diffusers import UNet2DModel

from bench.data import ImageSplit, LoadedDataset
from bench.generators.base import CFG, SamplingHooks
from bench.generators.ddpm import DDPMGenerator, DDPMSettings
from bench.hparams import build

SETTINGS = build(
    DDPMSettings,
    {"unet_channels": (8, 16), "train_steps": 6, "batch_size": 8, "num_train_timesteps": 20},
    "test",
)


def toy_data(n: int = 24) -> LoadedDataset:
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(n, 8, 8, 1), dtype=np.uint8)
    split = ImageSplit("train", np.arange(n) % 3, images=images)
    return LoadedDataset("toy", ["a", "b", "c"], {"train": split}, 8, 1)


def fitted(workdir: Path) -> DDPMGenerator:
    torch.manual_seed(0)
    model = DDPMGenerator(SETTINGS, num_classes=3, image_size=8, channels=1, checkpoint_every=2)
    model.fit(toy_data(), workdir, seed=5, progress=False)
    return model


def test_interrupted_fit_resumes_to_the_same_weights(tmp_path: Path, monkeypatch) -> None:
    straight = fitted(tmp_path / "straight")

    calls = {"n": 0}
    original = DDPMGenerator._train_step

    def counting(self, *args):
        calls["n"] += 1
        if calls["n"] == 5:
            raise KeyboardInterrupt  # the job is killed after the step-4 checkpoint
        return original(self, *args)

    monkeypatch.setattr(DDPMGenerator, "_train_step", counting)
    with pytest.raises(KeyboardInterrupt):
        fitted(tmp_path / "resumed")
    assert (tmp_path / "resumed" / "checkpoint.pt").exists()
    calls["n"] = -100  # no more interruptions; count the steps the relaunch trains
    resumed = fitted(tmp_path / "resumed")
    assert calls["n"] == -100 + 2  # resumed at step 4 of 6: two steps, not six
    for a, b in zip(straight.ema_unet.parameters(), resumed.ema_unet.parameters(), strict=True):
        assert torch.equal(a, b)
    assert not (tmp_path / "resumed" / "checkpoint.pt").exists()


def test_a_damaged_fit_checkpoint_is_set_aside_and_fitting_restarts(tmp_path: Path) -> None:
    straight = fitted(tmp_path / "straight")
    workdir = tmp_path / "damaged"
    workdir.mkdir()
    (workdir / "checkpoint.pt").write_bytes(b"PK\x03\x04 torn")  # a truncated zip
    calls = {"n": 0}
    original = DDPMGenerator._train_step

    def counting(self, *args):
        calls["n"] += 1
        return original(self, *args)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(DDPMGenerator, "_train_step", counting)
        refit = fitted(workdir)
    assert calls["n"] == 6  # every step again, from step 0
    assert [p.read_bytes() for p in (workdir / "attempts").iterdir()] == [b"PK\x03\x04 torn"]
    for a, b in zip(straight.ema_unet.parameters(), refit.ema_unet.parameters(), strict=True):
        assert torch.equal(a, b)


def test_saved_generator_loads_in_diffusers_and_samples_deterministically(tmp_path: Path) -> None:
    fitted(tmp_path)
    unet = UNet2DModel.from_pretrained(tmp_path / "unet")  # plain diffusers format
    assert unet.config.class_embed_type == "identity"
    model = DDPMGenerator.load(tmp_path)
    labels = np.array([0, 1, 2, 2, 1])
    a = model.sample_labels(labels, seed=3, steps=3, batch_size=2)
    assert a.shape == (5, 8, 8, 1) and a.dtype == np.uint8
    assert np.array_equal(a, model.sample_labels(labels, seed=3, steps=3, batch_size=5))
    assert not np.array_equal(a, model.sample_labels(labels, seed=4, steps=3, batch_size=2))
    assert model.sample([]).images.shape == (0, 8, 8, 1)


def test_guidance_scale_selects_the_branches(tmp_path: Path) -> None:
    model = fitted(tmp_path)
    labels = np.array([0, 1, 2])
    outs = {w: model.sample_labels(labels, seed=1, steps=3, guidance_scale=w) for w in (0, 1, 2.5)}
    assert not np.array_equal(outs[0], outs[1])
    assert not np.array_equal(outs[1], outs[2.5])
    # the CFG hook: w = 1 asks for no unconditional pass; w = 0 is the unconditional one
    cond, uncond = torch.randn(3, 1, 8, 8), torch.randn(3, 1, 8, 8)
    assert not CFG(1.0).needs_unconditional and CFG(2.0).needs_unconditional
    assert torch.equal(CFG(1.0)(0, cond, None), cond)
    assert torch.equal(CFG(0.0)(0, cond, uncond), uncond)
    assert torch.allclose(CFG(2.0)(0, cond, uncond), uncond + 2.0 * (cond - uncond))
    # the convenience path is the requests path with per-request seeds and a CFG hook
    from bench.generators.base import SynthesisRequest
    from bench.io import seed_hash

    hooks = SamplingHooks(noise=CFG(0.0))
    reqs = [SynthesisRequest(i, int(y), seed_hash(1, i)) for i, y in enumerate(labels)]
    assert np.array_equal(model.sample(reqs, hooks, steps=3).images, outs[0])
