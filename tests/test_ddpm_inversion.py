"""`ddpm-ti`: Fill-Up's learned class token on the harness DDPM (a new vector in the label-table
space per class, learned on the class's real images with the generator frozen), its resume, its
use in synthesis and its bad inputs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from bench.data import ImageSplit, LoadedDataset
from bench.errors import ConfigError, DataError
from bench.generators.base import CFG, SamplingHooks, SynthesisRequest
from bench.generators.ddpm import DDPMGenerator
from bench.generators.ddpm_inversion import (
    DDPMInversionGenerator,
    initial_vector,
    inversion_steps,
    invert_label,
)
from bench.generators.ddpm_settings import DDPMInversionSettings
from bench.generators.inversion import checkpoint_marks
from bench.hparams import build

TINY = {
    "unet_channels": (8, 16),
    "train_steps": 2,
    "batch_size": 4,
    "num_train_timesteps": 20,
    "token_steps_per_image": 2,
    "token_min_steps": 4,
    "token_max_steps": 6,
    "token_checkpoint_every": 2,
    "token_batch_size": 4,
    "token_lr": 0.1,
}


def toy_data(counts=(3, 2, 1)) -> LoadedDataset:
    rng = np.random.default_rng(0)
    targets = np.repeat(np.arange(len(counts)), counts)
    images = rng.integers(0, 256, (len(targets), 8, 8, 1), dtype=np.uint8)
    split = ImageSplit("train", targets, images=images)
    names = ["zero", "one", "two"][: len(counts)]
    return LoadedDataset("toy", names, {"train": split, "val": split, "test": split}, 8, 1)


def settings(**extra) -> DDPMInversionSettings:
    return build(DDPMInversionSettings, {**TINY, **extra}, "ddpm-ti")


def with_base(workdir: Path, data: LoadedDataset, **extra) -> DDPMInversionGenerator:
    """A ddpm-ti generator whose base ddpm is fitted (seeded: the same base every time)."""
    gen = DDPMInversionGenerator.for_data(settings(**extra), data)
    gen.use_base(gen.fit_base(data, workdir, seed=3, progress=False))
    gen.set_real_images(data.train, data.channels)
    return gen


def ids_of(data: LoadedDataset, label: int) -> np.ndarray:
    return np.flatnonzero(np.asarray(data.train.targets) == label)


def state(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def test_steps_follow_fill_ups_rule_scaled_for_cpus() -> None:
    s = build(DDPMInversionSettings, {}, "ddpm-ti")
    digits_lt = [114, 68, 40, 24, 14, 8, 5, 3, 1, 1]
    assert [inversion_steps(n, s) for n in digits_lt] == [500, 340, 200, 120] + [100] * 6
    assert checkpoint_marks(inversion_steps(1, s), s.token_checkpoint_every)[:3] == [5, 10, 15]
    with pytest.raises(ConfigError, match="token_min_steps=7 is more than token_max_steps=6"):
        settings(token_min_steps=7)


def test_the_vector_learns_with_the_generator_frozen(tmp_path: Path) -> None:
    data = toy_data()
    gen = with_base(tmp_path, data)
    unet, cond = state(gen.ema_unet), state(gen.ema_cond)
    losses: list[float] = []
    final = invert_label(
        gen, 0, ids_of(data, 0), 5, tmp_path, on_step=lambda s, loss: losses.append(loss)
    )
    assert len(losses) == inversion_steps(3, gen.inversion) == 6
    # the UNet, the label table (null row included) and the rest of the conditioner: bitwise
    for before, module in ((unet, gen.ema_unet), (cond, gen.ema_cond)):
        assert all(torch.equal(v, module.state_dict()[k]) for k, v in before.items())
    from safetensors.torch import load_file

    learned = load_file(final)["vector"]
    start = initial_vector(gen.ema_cond, "label-mean", 3)
    assert torch.equal(start, cond["labels.weight"][:3].mean(0))  # the init: a generic class
    assert learned.shape == (1, 4 * 8) and (learned[0] - start).abs().max() > 1e-3
    files = sorted((tmp_path / "checkpoints" / "0").glob("step-*.safetensors"))
    assert [f.name[5:11] for f in files] == ["000002", "000004", "000006"]
    assert torch.equal(load_file(files[-1])["vector"], learned)


def denoising_loss(gen: DDPMInversionGenerator, ids: np.ndarray, vector: torch.Tensor) -> float:
    """The DDPM loss of the class's images conditioned on `vector`, on fixed draws (not the
    inversion's own)."""
    import torch.nn.functional as F

    from bench.generators.ddpm import unit

    rng, total = torch.Generator().manual_seed(123), 0.0
    with torch.no_grad():
        for _ in range(8):
            pick = torch.randint(len(ids), (16,), generator=rng).numpy()
            x0 = unit(gen.real_images.read(ids[pick]))
            t = torch.randint(TINY["num_train_timesteps"], (16,), generator=rng)
            noise = torch.randn(x0.shape, generator=rng)
            emb = gen.ema_cond(None, None, vector[None].expand(16, -1))
            noisy = gen.noise_schedule.add_noise(x0, noise, t)
            total += F.mse_loss(gen.ema_unet(noisy, t, class_labels=emb).sample, noise).item()
    return total / 8


def test_the_learned_vector_fits_its_class_better_than_its_start_and_label_row(tmp_path) -> None:
    """What the inversion is for: on draws it never trained on, the class's images are denoised
    better with the learned vector than with the generic start or the class's own label row."""
    from safetensors.torch import load_file

    data = toy_data()
    steps = {"token_min_steps": 60, "token_max_steps": 60, "token_checkpoint_every": 60}
    gen = with_base(tmp_path, data, **steps)
    ids = ids_of(data, 0)
    start = initial_vector(gen.ema_cond, "label-mean", 3)
    row = gen.ema_cond.labels.weight[0].detach()
    learned = load_file(invert_label(gen, 0, ids, 5, tmp_path))["vector"][0]
    losses = [denoising_loss(gen, ids, v) for v in (start, row, learned)]
    assert losses[2] < min(losses[:2]) - 0.005, losses


class Interrupt(Exception):
    pass


def reference_loss(gen: DDPMInversionGenerator, ids, vector, seed: int, label: int, step: int):
    """The inversion's loss from its definition (Fill-Up Sec 3.1 on the DDPM: the class vector
    in place of the token), computed without bench's inversion code: E || eps - eps_theta(x_t, t,
    c(v)) ||^2, x_t = sqrt(abar_t) x0 + sqrt(1 - abar_t) eps, x0 the class's images in [-1, 1],
    c(v) the frozen conditioner given the vector v and no image. The draws follow the documented
    per-step stream: seed_hash(seed, "ddpm-ti", label, step) draws the picks, the timesteps and
    the noise, in that order (what lets a fit resume exactly)."""
    from bench.io import seed_hash

    batch = TINY["token_batch_size"]
    rng = torch.Generator().manual_seed(seed_hash(seed, "ddpm-ti", label, step))
    pick = torch.randint(len(ids), (batch,), generator=rng).numpy()
    images = gen.real_images.read(ids[pick])
    x0 = torch.as_tensor(images).permute(0, 3, 1, 2).float() / 127.5 - 1.0
    t = torch.randint(TINY["num_train_timesteps"], (batch,), generator=rng)
    eps = torch.randn(x0.shape, generator=rng)
    abar = gen.noise_schedule.alphas_cumprod[t][:, None, None, None]
    with torch.no_grad():
        emb = gen.ema_cond(None, None, vector.expand(batch, -1))
        pred = gen.ema_unet(abar.sqrt() * x0 + (1 - abar).sqrt() * eps, t, class_labels=emb)
    return ((pred.sample - eps) ** 2).mean().item()


def test_the_inversion_loss_is_the_denoising_loss_of_the_class_vector(tmp_path: Path) -> None:
    """Every step's loss of a fit (the first at the start vector, each later one at the vector
    of the checkpoint before it) equals the loss recomputed from its definition."""
    from safetensors.torch import load_file

    data = toy_data()
    gen = with_base(tmp_path, data, token_checkpoint_every=1)
    start = initial_vector(gen.ema_cond, "label-mean", 3)[None]
    losses: list[float] = []
    invert_label(gen, 1, ids_of(data, 1), 9, tmp_path, on_step=lambda s, loss: losses.append(loss))
    files = sorted((tmp_path / "checkpoints" / "1").glob("step-*.safetensors"))
    vectors = [start] + [load_file(f)["vector"] for f in files]
    expected = [
        reference_loss(gen, ids_of(data, 1), vectors[k], 9, 1, k) for k in range(len(losses))
    ]
    assert len(losses) == 4 and len(set(expected)) == 4
    assert losses == pytest.approx(expected, rel=1e-5)


def test_an_interrupted_inversion_resumes_to_the_uninterrupted_vector(tmp_path: Path) -> None:
    from safetensors.torch import load_file

    data = toy_data()
    whole = invert_label(with_base(tmp_path / "a", data), 0, ids_of(data, 0), 7, tmp_path / "a")

    def stop_at_5(step: int, loss: float) -> None:
        if step == 5:  # after the checkpoint at step 4, before the one at 6
            raise Interrupt

    with pytest.raises(Interrupt):
        gen = with_base(tmp_path / "b", data)
        invert_label(gen, 0, ids_of(data, 0), 7, tmp_path / "b", on_step=stop_at_5)
    assert not (tmp_path / "b" / "vectors").exists()
    seen: list[int] = []
    gen = with_base(tmp_path / "b", data)  # a new process: the base is reused, not refitted
    resumed = invert_label(
        gen, 0, ids_of(data, 0), 7, tmp_path / "b", on_step=lambda s, _: seen.append(s)
    )
    assert seen == [5, 6]  # from the checkpoint at step 4
    assert torch.equal(load_file(resumed)["vector"], load_file(whole)["vector"])


def test_synthesis_conditions_on_the_learned_vectors(tmp_path: Path) -> None:
    data = toy_data()
    torch.manual_seed(0)
    gen = DDPMInversionGenerator.for_data(settings(), data)
    gen.fit(data, tmp_path, seed=1, progress=False)  # every class, then generator.json
    gen = DDPMInversionGenerator.load(tmp_path)
    base = DDPMGenerator.load(tmp_path / "base")  # the same model with its label rows
    assert [len(gen.checkpoints[c]) for c in range(3)] == [3, 2, 2]  # 6, 4 and 4 steps
    requests = [SynthesisRequest(i, i % 3, 40 + i) for i in range(6)]
    hooks = SamplingHooks(noise=CFG(1.0))
    learned = gen.sample(requests, hooks, steps=3).images
    label_rows = base.sample(requests, hooks, steps=3).images
    assert learned.shape == label_rows.shape == (6, 8, 8, 1)
    diff = np.abs(learned.astype(int) - label_rows.astype(int)).reshape(6, -1).max(1)
    assert (diff > 8).all(), diff  # same seeds, another class condition: other images
    # checkpoints used evenly: ranks 0 and 1 of a class take checkpoints 0 and 1
    ranks = [SynthesisRequest(0, 0, 9, rank=0), SynthesisRequest(1, 0, 9, rank=1)]
    assert [gen.checkpoint_of(r) for r in ranks] == [0, 1]
    a, b = gen.sample(ranks, hooks, steps=3).images
    assert not np.array_equal(a, b)
    rows = gen.class_rows(ranks)
    assert torch.equal(rows[1], gen.checkpoints[0][1])


def test_a_class_without_images_fails_before_any_fitting(tmp_path: Path) -> None:
    data = toy_data((2, 0, 1))
    gen = DDPMInversionGenerator.for_data(settings(), data)
    with pytest.raises(DataError, match=r"class 1 \(one\) has no real training image to invert"):
        gen.fit(data, tmp_path, seed=1, progress=False)
    assert not (tmp_path / "base").exists() and not (tmp_path / "checkpoints").exists()


def test_cell_conditioning_is_refused_before_any_fitting() -> None:
    with pytest.raises(ConfigError, match="condition='cell' is not supported"):
        build(DDPMInversionSettings, {"condition": "cell"}, "test")


@pytest.mark.parametrize("dataset", ["digits-lt", "colored-digits", "imagenet-lt"])
def test_fill_up_inverts_the_ddpm_on_the_embedded_digits(dataset: str) -> None:
    """Fill-Up's learned token vs the class name on the embedded data: fill-up inverts the
    harness DDPM, fillup-template samples its label rows; real datasets keep Stable Diffusion."""
    from bench.runs.config import resolve

    embedded = dataset != "imagenet-lt"
    learned = resolve("fill-up", dataset, 0, None, ["pretrained_generator=printed-digits"])
    template = resolve("fillup-template", dataset, 0, None, ["pretrained_generator=printed-digits"])
    assert learned.hparams["generator"] == ("ddpm-ti" if embedded else "sd-ti")
    assert template.hparams["generator"] == ("ddpm" if embedded else "sd")
    assert learned.hparams["pretrained_generator"] == "printed-digits"


def test_classes_fitted_by_separate_processes_equal_one_whole_fit(tmp_path: Path) -> None:
    """Each class is a unit of work (array tasks): fitted in another order by other generator
    objects sharing the folder (and the base the first one fitted), bitwise the same vectors."""
    from safetensors.torch import load_file

    data = toy_data()
    torch.manual_seed(0)
    DDPMInversionGenerator.for_data(settings(), data).fit(data, tmp_path / "a", 1, False)
    for parts in ([2], [1, 0]):  # two "processes", the later classes first
        gen = DDPMInversionGenerator.for_data(settings(), data)
        for part in parts:
            gen.fit_part(data, tmp_path / "b", 1, part, False)
    for c in range(3):
        a, b = (
            load_file(d / "vectors" / f"{c}.safetensors")["vector"]
            for d in (tmp_path / "a", tmp_path / "b")
        )
        assert torch.equal(a, b), c
