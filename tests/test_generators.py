"""Every generator backend through one interface: built tiny, saved, reloaded through the real
loading code, and sampled through requests, hooks and the store."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from bench.data import ImageSplit, LoadedDataset
from bench.errors import BenchError, ConfigError
from bench.generators import GENERATORS
from bench.generators.base import CFG, SamplingHooks, SynthesisRequest, X0Guidance
from bench.hparams import build
from bench.synthesis.plans import expand, make_plan
from bench.synthesis.store import StoreWriter, SyntheticSet


def toy_data() -> LoadedDataset:
    rng = np.random.default_rng(0)
    targets = np.array([0] * 6 + [1] * 3 + [2])
    images = rng.integers(0, 256, (len(targets), 8, 8, 1), dtype=np.uint8)
    split = ImageSplit("train", targets, images=images)
    return LoadedDataset(
        "toy", ["cat", "dog", "bird"], {"train": split, "val": split, "test": split}, 8, 1
    )


@pytest.fixture(scope="module")
def pipelines(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    from fixtures.tiny_pipelines import save_tiny_imgvar, save_tiny_sd, save_tiny_unclip

    root = tmp_path_factory.mktemp("pipelines")
    return {
        "sd": save_tiny_sd(root / "sd"),
        "unclip": save_tiny_unclip(root / "unclip"),
        "sd-imgvar": save_tiny_imgvar(root / "sd-imgvar"),
    }


TINY_DDPM = {
    "unet_channels": (8, 16),
    "train_steps": 4,
    "batch_size": 4,
    "num_train_timesteps": 20,
    "image_conditioning": True,
    "embed_dim": 4,
}


def settings_for(name: str, pipelines: dict[str, Path]) -> dict:
    if name == "ddpm":
        return TINY_DDPM
    if name == "ddpm-ti":  # a learned class vector: a few steps, a checkpoint every 2
        return {**TINY_DDPM, **TINY_DDPM_TI}
    if name in ("sd", "unclip", "sd-imgvar"):
        return {"model_dir": str(pipelines[name]), "resolution": 32}
    if name == "sd-ti":  # textual inversion: a few steps, a checkpoint every 2
        return {
            "model_dir": str(pipelines["sd"]),
            "resolution": 32,
            "ti_steps_per_image": 1,
            "ti_min_steps": 2,
            "ti_max_steps": 3,
            "ti_checkpoint_every": 2,
        }
    return {}


TINY_DDPM_TI = {
    "token_steps_per_image": 1,
    "token_min_steps": 2,
    "token_max_steps": 3,
    "token_checkpoint_every": 2,
    "token_batch_size": 4,
}


def ready(name: str, pipelines: dict[str, Path], tmp_path: Path):
    """A generator of backend `name`, fitted if it trains, then saved and loaded back."""
    cls = GENERATORS[name]
    settings = build(cls.Settings, settings_for(name, pipelines), name)
    data = toy_data()
    torch.manual_seed(0)
    generator = cls.for_data(settings, data)
    if cls.trains:
        generator.fit(data, tmp_path, seed=1, progress=False)
        generator = cls.load(tmp_path)  # the real loading code
    generator.set_real_images(data.train, data.channels)
    return generator, data


def conditioning(name: str) -> int:
    return 1 if GENERATORS[name].takes_images and name != "noise" else 0


@pytest.mark.parametrize("name", list(GENERATORS))
def test_backend_synthesises_through_requests_plans_and_the_store(
    name: str, pipelines: dict[str, Path], tmp_path: Path
) -> None:
    generator, data = ready(name, pipelines, tmp_path / "gen")
    plan = make_plan("fill:max", data)
    prompt = "a photo of a {class_name}" if GENERATORS[name].takes_prompts else None
    requests = expand(plan, "key", data, prompt, conditioning(name))
    GENERATORS[name].check_requests(requests, len(data.train))
    manifest = {
        "key": "key",
        "num_images": len(requests),
        "image_size": generator.image_size,
        "channels": generator.channels,
        "dtype": "uint8",
    }
    writer = StoreWriter(tmp_path / "set", manifest)
    hooks = SamplingHooks(noise=CFG(2.0))
    writer.fill(requests, lambda batch: generator.sample(batch, hooks, steps=2), progress=False)
    assert writer.finish()
    reader = SyntheticSet(tmp_path / "set")
    assert reader.class_counts(3).tolist() == [0, 3, 5]
    assert reader.read(np.arange(len(reader))).dtype == np.uint8
    meta = reader.metadata(0)
    assert meta["prompts"][0] == ("a photo of a dog" if prompt else None)
    assert meta["labels"] == [r.label for r in requests]


@pytest.mark.parametrize("name", ["ddpm", "sd", "unclip", "sd-imgvar"])
def test_a_sample_depends_on_its_seed_not_its_batch(name: str, pipelines, tmp_path) -> None:
    generator, _ = ready(name, pipelines, tmp_path)
    prompt = "x" if GENERATORS[name].takes_prompts else None
    cond = (1,) if conditioning(name) else ()
    requests = [SynthesisRequest(i, i % 3, 50 + i, None, prompt, cond) for i in range(3)]
    hooks = SamplingHooks(noise=CFG(1.5))
    whole = generator.sample(requests, hooks, steps=2).images
    part = generator.sample(requests[1:], hooks, steps=2).images
    assert np.abs(whole[1:].astype(int) - part.astype(int)).max() <= 1
    other = generator.sample([SynthesisRequest(0, 0, 51, None, prompt, cond)], hooks, steps=2)
    assert not np.array_equal(other.images[0], whole[0])


def mean_brightness(images: torch.Tensor, requests) -> torch.Tensor:
    return images.float().mean(dim=(1, 2, 3))


@pytest.mark.parametrize("name", ["ddpm", "sd", "unclip", "sd-imgvar"])
def test_x0_guidance_is_a_hook_zero_omega_is_plain_sampling(name: str, pipelines, tmp_path) -> None:
    generator, _ = ready(name, pipelines, tmp_path)
    prompt = "x" if GENERATORS[name].takes_prompts else None
    cond = (0,) if conditioning(name) else ()
    requests = [SynthesisRequest(i, i % 3, 7 + i, None, prompt, cond) for i in range(2)]
    plain = generator.sample(requests, SamplingHooks(noise=CFG(2.0)), steps=3)
    zero = SamplingHooks(noise=CFG(2.0), guidance=X0Guidance(mean_brightness, 0.0, every=1))
    assert np.array_equal(generator.sample(requests, zero, steps=3).images, plain.images)
    up = SamplingHooks(noise=CFG(2.0), guidance=X0Guidance(mean_brightness, 0.3, every=1))
    guided = generator.sample(requests, up, steps=3)
    assert guided.criterion is not None and guided.criterion.shape == (2,)
    # ascent on mean brightness: the guided images are brighter than the plain ones
    assert guided.images.astype(float).mean() > plain.images.astype(float).mean()


def test_guidance_settings_are_checked() -> None:
    with pytest.raises(ConfigError, match=r"omega=-0\.1 must be at least 0"):
        X0Guidance(mean_brightness, -0.1)
    with pytest.raises(ConfigError, match="every=0 must be at least 1"):
        X0Guidance(mean_brightness, 0.1, every=0)


@pytest.mark.parametrize("name", ["unclip", "sd-imgvar"])
def test_the_conditioning_image_steers_the_sample(name: str, pipelines, tmp_path) -> None:
    generator, _ = ready(name, pipelines, tmp_path)
    prompt = "x" if GENERATORS[name].takes_prompts else None
    a, b = ([SynthesisRequest(0, 0, 5, None, prompt, (i,))] for i in (0, 7))
    hooks = SamplingHooks(noise=CFG(3.0))
    first = generator.sample(a, hooks, steps=2).images
    assert not np.array_equal(first, generator.sample(b, hooks, steps=2).images)
    assert np.array_equal(first, generator.sample(a, hooks, steps=2).images)


@pytest.mark.parametrize("name", ["unclip", "sd-imgvar"])
def test_embedding_hook_sees_the_raw_embedding(name: str, pipelines, tmp_path) -> None:
    generator, _ = ready(name, pipelines, tmp_path)
    seen = {}

    def zero_out(embeds, requests):
        seen["shape"] = tuple(embeds.shape)
        return torch.zeros_like(embeds[:, 0])

    prompt = "x" if GENERATORS[name].takes_prompts else None
    requests = [SynthesisRequest(0, 0, 3, None, prompt, (0, 1))]  # a pair of images per request
    generator.sample(requests, SamplingHooks(embeddings=zero_out), steps=2)
    assert seen["shape"] == (1, 2, 32)
    with pytest.raises(ConfigError, match="no hook combines them"):
        generator.sample(requests, SamplingHooks(), steps=2)


def test_bad_requests_fail_before_any_work(pipelines) -> None:
    with pytest.raises(ConfigError, match="conditioning image id 10 of request 0 is out of range"):
        GENERATORS["unclip"].check_requests([SynthesisRequest(0, 0, 1, None, "x", (10,))], 10)
    with pytest.raises(ConfigError, match="the ddpm generator takes no prompts"):
        GENERATORS["ddpm"].check_requests([SynthesisRequest(0, 0, 1, None, "x")], 10)


def test_missing_weights_name_the_model_and_where_to_put_them(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty-cache"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    from bench.generators.unclip import UnCLIPSettings

    settings = build(UnCLIPSettings, {}, "unclip")
    with pytest.raises(BenchError, match=r"stable-diffusion-2-1-unclip \(revision main\) are not"):
        GENERATORS["unclip"].weights_identity(settings)
    with pytest.raises(BenchError, match="holds no pipeline"):
        GENERATORS["sd"].weights_identity(
            build(GENERATORS["sd"].Settings, {"model_dir": str(tmp_path)}, "sd")
        )


def test_sizes_a_backend_cannot_produce_are_refused() -> None:
    from bench.generators.ddpm import DDPMSettings
    from bench.generators.sd import SDSettings

    with pytest.raises(ConfigError, match="cannot produce 10 px images with 3 UNet levels"):
        build(DDPMSettings, {"image_size": 10}, "ddpm")
    with pytest.raises(ConfigError, match="resolution=36: a latent-diffusion pipeline needs"):
        build(SDSettings, {"resolution": 36}, "sd")
    with pytest.raises(ConfigError, match=r"unet_channels (is empty|needs at least one value)"):
        build(DDPMSettings, {"unet_channels": ""}, "ddpm")


def test_unknown_backend_has_close_matches() -> None:
    from bench.registry import UnknownNameError

    with pytest.raises(UnknownNameError, match="Did you mean 'unclip'"):
        GENERATORS["unclp"]


def test_textual_inversion_tokens_load_into_sd(pipelines, tmp_path) -> None:
    from safetensors.torch import save_file

    from bench.generators.sd import SDSettings

    folder = tmp_path / "tokens"
    folder.mkdir()
    save_file({"emb": torch.randn(32)}, folder / "<class-0>.safetensors")
    settings = build(
        SDSettings,
        {"model_dir": str(pipelines["sd"]), "resolution": 32, "token_embeddings": str(folder)},
        "sd",
    )
    generator = GENERATORS["sd"].for_data(settings, None)
    assert "<class-0>" in generator.pipe.tokenizer.get_vocab()
    images = generator.sample([SynthesisRequest(0, 0, 1, None, "a photo of a <class-0>")], steps=2)
    assert images.images.shape == (1, 32, 32, 3)
    with pytest.raises(BenchError, match="already in the tokenizer"):
        generator.add_tokens({"<class-0>": torch.randn(32)})


@pytest.mark.parametrize("name", list(GENERATORS))
def test_each_generator_declares_its_capabilities(name: str) -> None:
    from bench.generators import SETTINGS, capabilities
    from bench.generators.base import Capabilities

    caps = capabilities(name)  # torch-free: read from the settings class
    assert isinstance(caps, Capabilities)
    assert "capabilities" in vars(SETTINGS[name])  # its own declaration, not inherited
    cls = GENERATORS[name]
    assert cls.capabilities is caps
    assert (cls.takes_prompts, cls.takes_images) == (caps.prompts, caps.images)
    assert caps.inversion in (None, "text-token", "class-vector")
    assert not caps.needs_images or caps.images  # needing images means taking them
    assert bool(caps.inversion) == cls.fit_by_class  # learned per class: a fit split by class
    assert caps.pretrained == bool(cls.weights_needed(SETTINGS[name]()))
    from bench.generators.base import Generator

    assert cls.draw is not Generator.draw, f"{name} must implement draw()"  # the base raises
