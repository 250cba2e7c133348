"""CBDM Table 1's +ADA / +DiffAug on the harness DDPM (train_augment; ddpm_augment.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from bench.data import ImageSplit, LoadedDataset
from bench.errors import ConfigError
from bench.generators.ddpm import DDPMGenerator, DDPMSettings, settings_key
from bench.generators.ddpm_augment import ADA_DIM, ada_draws, ada_vector, ada_warp, augment
from bench.hparams import build
from bench.io import stable_hash

TINY = {"unet_channels": (8, 16), "train_steps": 4, "batch_size": 8, "num_train_timesteps": 20}


def settings(**extra) -> DDPMSettings:
    return build(DDPMSettings, {**TINY, **extra}, "test")


def toy_data(n: int = 24) -> LoadedDataset:
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(n, 8, 8, 1), dtype=np.uint8)
    split = ImageSplit("train", np.arange(n) % 3, images=images)
    return LoadedDataset("toy", ["a", "b", "c"], {"train": split}, 8, 1)


def fit(workdir: Path, **extra) -> DDPMGenerator:
    torch.manual_seed(0)
    model = DDPMGenerator(settings(**extra), num_classes=3, image_size=8, channels=1)
    model.fit(toy_data(), workdir, seed=5, progress=False)
    return model


def batch(seed: int = 0, n: int = 32, channels: int = 3, size: int = 16) -> torch.Tensor:
    return (
        torch.rand(n, channels, size, size, generator=torch.Generator().manual_seed(seed)) * 2 - 1
    )


@pytest.mark.parametrize("mode", ["ada", "diffaug"])
def test_augmentation_is_deterministic_given_the_seed_and_changes_the_images(mode: str) -> None:
    x = batch()

    def run(seed: int) -> tuple[torch.Tensor, torch.Tensor | None]:
        return augment(x.clone(), mode, 0.5, torch.Generator().manual_seed(seed))

    a, pa = run(1)
    b, pb = run(1)
    c, _ = run(2)
    assert torch.equal(a, b) and (pa is None or torch.equal(pa, pb))
    assert not torch.equal(a, c)
    changed = (a - x).abs().flatten(1).amax(1) > 1e-3
    assert changed.float().mean() > 0.5  # most images of the batch are transformed
    assert (pa is not None) == (mode == "ada")


def test_none_leaves_the_batch_and_the_random_stream_alone() -> None:
    x = batch()
    rng = torch.Generator().manual_seed(3)
    state = rng.get_state()
    out, params = augment(x, "none", 0.12, rng)
    assert out is x and params is None
    assert torch.equal(rng.get_state(), state)


def test_ada_vector_is_zero_exactly_where_no_transform_is_applied() -> None:
    x = batch(n=64)
    rng = torch.Generator().manual_seed(0)
    draws = ada_draws(len(x), 0.0, rng)  # only the x-flip, always drawn with probability 1/2
    vec = ada_vector(draws)
    assert vec.shape == (64, ADA_DIM)
    assert torch.all(vec[:, 1:] == 0)
    flipped = vec[:, 0] == 1
    assert 0 < int(flipped.sum()) < 64
    out = ada_warp(x, draws)
    assert torch.equal(out[~flipped], x[~flipped])  # a zero vector: the image as it is
    assert torch.allclose(out[flipped], x[flipped].flip(-1), atol=1e-5)  # the warp is a flip

    draws = ada_draws(len(x), 1.0, torch.Generator().manual_seed(0))  # every transform
    vec = ada_vector(draws)
    assert torch.all(vec[:, 1:].abs().sum(1) > 0)
    rot = draws[:, 3]
    assert torch.allclose(vec[:, 3:5], torch.stack([rot.cos() - 1, rot.sin()], 1))


def test_ada_y_flip_and_translation_move_pixels_as_drawn() -> None:
    x = batch(n=2, channels=1, size=8)
    draws = torch.zeros(2, 8)
    draws[0, 1] = 1.0  # y-flip
    draws[1, 6] = 1.0  # tx = 1 sigma = 1/8 of the side: one pixel of 8, to the right
    out = ada_warp(x, draws)
    assert torch.allclose(out[0], x[0].flip(-2), atol=1e-5)
    assert torch.allclose(out[1, :, :, 1:], x[1, :, :, :-1], atol=1e-5)


def test_default_settings_keep_their_keys() -> None:
    key = settings_key(build(DDPMSettings, {}, "test"))
    assert "train_augment" not in key and "ada_prob" not in key
    assert stable_hash(key) == "c4270c14241b"  # the generator key of ddpm-fill before ADA
    ada = settings_key(build(DDPMSettings, {"train_augment": "ada"}, "test"))
    assert ada["train_augment"] == "ada"


@pytest.mark.parametrize(
    ("given", "words"),
    [
        ({"train_augment": "adaa"}, "train_augment"),
        ({"train_augment": "ada", "ada_prob": 1.5}, "ada_prob"),
        ({"ada_prob": 0.3}, "Set train_augment=ada"),
        ({"train_augment": "ada", "pretrained_generator": "printed-digits"}, "pretrained"),
    ],
)
def test_bad_values_are_config_errors(given: dict, words: str) -> None:
    with pytest.raises(ConfigError, match=words):
        build(DDPMSettings, given, "test")


@pytest.mark.parametrize("mode", ["none", "ada", "diffaug"])
@pytest.mark.parametrize("tau", [0.0, 0.001])
def test_tiny_fit_saves_loads_and_samples_identically(tmp_path: Path, mode: str, tau: float):
    model = fit(tmp_path, train_augment=mode, cbdm_tau=tau)
    assert (model.cond.augment is not None) == (mode == "ada")
    loaded = DDPMGenerator.load(tmp_path)
    assert loaded.settings.train_augment == mode
    labels = np.array([0, 1, 2, 1])
    a = model.sample_labels(labels, seed=2, steps=3, guidance_scale=1.5)
    assert np.array_equal(a, loaded.sample_labels(labels, seed=2, steps=3, guidance_scale=1.5))
    if mode == "ada":
        w = loaded.ema_cond.augment.weight
        assert w.shape == (4 * 8, ADA_DIM) and torch.equal(w, model.ema_cond.augment.weight)


def test_ada_training_feeds_the_parameters_and_sampling_feeds_zeros(tmp_path: Path) -> None:
    seen: list[torch.Tensor] = []
    original = DDPMGenerator.__init__

    def hooked(self, *args, **kwargs):
        original(self, *args, **kwargs)
        self.cond.augment.register_forward_hook(lambda m, inp, out: seen.append(inp[0].clone()))

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(DDPMGenerator, "__init__", hooked)
        model = fit(tmp_path, train_augment="ada", ada_prob=1.0, cbdm_tau=0.001)
    assert len(seen) == TINY["train_steps"]
    for inp in seen:  # CBDM: eps(x, y) and eps(x, y') both see the images' parameters
        first, second = inp.chunk(2)
        assert torch.equal(first, second) and torch.all(first[:, 1:].abs().sum(1) > 0)

    sampled: list[torch.Tensor] = []
    model.ema_cond.augment.register_forward_hook(lambda m, inp, out: sampled.append(inp[0]))
    model.sample_labels(np.array([0, 1]), seed=0, steps=2, guidance_scale=2.0)
    assert sampled and all(torch.all(inp == 0) for inp in sampled)


def test_augmentation_changes_what_the_generator_learns(tmp_path: Path) -> None:
    plain = fit(tmp_path / "none")
    for mode in ("ada", "diffaug"):
        other = fit(tmp_path / mode, train_augment=mode)
        pairs = zip(plain.ema_unet.parameters(), other.ema_unet.parameters(), strict=True)
        assert not all(torch.equal(a, b) for a, b in pairs)


def test_fine_tuning_with_ada_from_a_generator_without_it(tmp_path: Path) -> None:
    base = fit(tmp_path / "base")
    assert base.cond.augment is None
    tuned = fit(tmp_path / "tuned", train_augment="ada", init_from=str(tmp_path / "base"))
    assert tuned.cond.augment is not None
    back = fit(tmp_path / "back", init_from=str(tmp_path / "tuned"))  # drops ADA's layer
    assert back.cond.augment is None


@pytest.mark.parametrize("mode", ["ada", "diffaug"])
def test_the_loss_sees_the_augmented_images(tmp_path: Path, mode: str) -> None:
    import bench.generators.ddpm as ddpm

    made: list[tuple[torch.Tensor, torch.Tensor]] = []
    losses: list[torch.Tensor] = []
    real_augment, real_loss = ddpm.augment, DDPMGenerator.training_loss

    def recording_augment(x, *args):
        out = real_augment(x, *args)
        made.append((x.clone(), out[0].clone()))
        return out

    def recording_loss(self, x0, *args):
        losses.append(x0.clone())
        return real_loss(self, x0, *args)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(ddpm, "augment", recording_augment)
        patch.setattr(DDPMGenerator, "training_loss", recording_loss)
        fit(tmp_path, train_augment=mode, ada_prob=1.0 if mode == "ada" else 0.12)
    assert len(made) == len(losses) == TINY["train_steps"]
    for (before, after), seen in zip(made, losses, strict=True):
        assert torch.equal(seen, after) and not torch.equal(seen, before)


@pytest.mark.parametrize(("method", "mode"), [("ddpm-fill", "ada"), ("cbdm", "diffaug")])
def test_methods_run_end_to_end_with_an_augmented_generator(
    method: str, mode: str, results: Path
) -> None:
    from helpers import run_digits, tiny_sets

    run_dir = run_digits(method, results, [*tiny_sets(method), f"method.train_augment={mode}"])
    generators = list((results / "cache" / "generators").glob("*/generator.json"))
    assert len(generators) == 1
    generator = DDPMGenerator.load(generators[0].parent)
    assert generator.settings.train_augment == mode
    assert (generator.ema_cond.augment is not None) == (mode == "ada")
    assert (run_dir / "result.json").is_file()
