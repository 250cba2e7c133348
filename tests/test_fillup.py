"""Fill-Up: textual inversion per class on a tiny random-weight Stable Diffusion pipeline, its
checkpoints used evenly, prompt synthesis, the two training stages, and its bad inputs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import run_digits, tiny_sets

from bench.data import ImageSplit, LoadedDataset
from bench.errors import BenchError, ConfigError, DataError
from bench.generators.base import SynthesisRequest
from bench.generators.inversion import (
    InversionSettings,
    TextualInversionGenerator,
    checkpoint_steps,
    class_images,
    inversion_steps,
    invert_class,
)
from bench.hparams import build
from bench.io import read_json

TINY_TI = {"ti_steps_per_image": 2, "ti_min_steps": 4, "ti_max_steps": 6, "ti_checkpoint_every": 2}


@pytest.fixture(scope="module")
def sd_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from fixtures.tiny_pipelines import save_tiny_sd

    return save_tiny_sd(tmp_path_factory.mktemp("pipelines") / "sd")


def toy_data(counts=(3, 2, 1)) -> LoadedDataset:
    rng = np.random.default_rng(0)
    targets = np.repeat(np.arange(len(counts)), counts)
    images = rng.integers(0, 256, (len(targets), 8, 8, 3), dtype=np.uint8)
    split = ImageSplit("train", targets, images=images)
    names = ["cat", "dog", "bird"][: len(counts)]
    return LoadedDataset("toy", names, {"train": split, "val": split, "test": split}, 8, 3)


def settings(sd_dir: Path, **extra) -> InversionSettings:
    values = {"model_dir": str(sd_dir), "resolution": 32, **TINY_TI, **extra}
    return build(InversionSettings, values, "sd-ti")


def fresh(sd_dir: Path, data: LoadedDataset, **extra) -> TextualInversionGenerator:
    return TextualInversionGenerator.for_data(settings(sd_dir, **extra), data)


def test_step_heuristic_and_checkpoints_follow_fill_up() -> None:
    s = build(InversionSettings, {}, "sd-ti")
    assert [inversion_steps(n, s) for n in (1, 20, 21, 57, 100, 1280)] == [
        2000,
        2000,
        2100,
        5700,
        10000,
        10000,
    ]
    assert checkpoint_steps(57, s) == list(range(100, 5701, 100))  # 57 checkpoints
    assert (s.ti_vectors, s.ti_init_word, s.ti_lr, s.ti_batch_size) == (4, "object", 5e-3, 2)


def test_inversion_learns_only_the_new_rows_and_writes_sd_token_files(sd_dir, tmp_path) -> None:
    data = toy_data()
    gen = fresh(sd_dir, data)
    table_before = gen.pipe.text_encoder.get_input_embeddings().weight.detach().clone()
    unet_before = {k: v.clone() for k, v in gen.pipe.unet.state_dict().items()}
    losses: list[float] = []
    images = class_images(data, 32)[0]
    final = invert_class(
        gen.pipe, images, gen.settings, 1, tmp_path, on_step=lambda s, loss: losses.append(loss)
    )
    assert len(losses) == inversion_steps(3, gen.settings) == 6
    # the original vocabulary's rows and the UNet are untouched (bitwise)
    table_after = gen.pipe.text_encoder.get_input_embeddings().weight
    assert torch.equal(table_after[: len(table_before)], table_before)
    assert all(torch.equal(v, gen.pipe.unet.state_dict()[k]) for k, v in unet_before.items())
    from safetensors.torch import load_file

    from bench.generators.inversion import init_vector

    learned = load_file(final)["<class-0>"]
    start = init_vector(gen.pipe, "object").repeat(4, 1)
    assert learned.shape == (4, 32)
    assert (learned - start).abs().max() > 1e-4  # the embedding moved from "object"
    ckpts = sorted((tmp_path / "checkpoints" / "0").glob("step-*.safetensors"))
    assert [p.name for p in ckpts] == [
        "step-000002.safetensors",
        "step-000004.safetensors",
        "step-000006.safetensors",
    ]
    assert torch.equal(load_file(ckpts[-1])["<class-0>"], learned)
    # the sd backend reads the token file (4 rows -> 4 tokenizer entries)
    from bench.generators.sd import SDSettings, StableDiffusionGenerator

    sd = StableDiffusionGenerator.for_data(
        build(
            SDSettings,
            {"model_dir": str(sd_dir), "resolution": 32, "token_embeddings": str(final.parent)},
            "sd",
        ),
        None,
    )
    vocab = sd.pipe.tokenizer.get_vocab()
    assert all(f"<class-0>.{i}" in vocab for i in range(4))
    table = sd.pipe.text_encoder.get_input_embeddings().weight
    assert torch.equal(table[vocab["<class-0>.2"]], learned[2])
    out = sd.sample([SynthesisRequest(0, 0, 5, None, "a photo of a <class-0>")], steps=2)
    assert out.images.shape == (1, 32, 32, 3)


class Interrupt(Exception):
    pass


def test_an_interrupted_inversion_resumes_to_the_uninterrupted_embedding(sd_dir, tmp_path) -> None:
    from safetensors.torch import load_file

    data = toy_data()
    whole = invert_class(
        fresh(sd_dir, data).pipe, class_images(data, 32)[0], settings(sd_dir), 7, tmp_path / "a"
    )

    def stop_at_5(step: int, loss: float) -> None:
        if step == 5:  # after the checkpoint at step 4, before the one at 6
            raise Interrupt

    s = settings(sd_dir)
    with pytest.raises(Interrupt):
        invert_class(
            fresh(sd_dir, data).pipe,
            class_images(data, 32)[0],
            s,
            7,
            tmp_path / "b",
            on_step=stop_at_5,
        )
    assert not (tmp_path / "b" / "tokens").exists()
    seen: list[int] = []
    resumed = invert_class(
        fresh(sd_dir, data).pipe,
        class_images(data, 32)[0],
        s,
        7,
        tmp_path / "b",
        on_step=lambda step, loss: seen.append(step),
    )
    assert seen == [5, 6]  # resumed from the checkpoint at step 4
    assert torch.equal(load_file(resumed)["<class-0>"], load_file(whole)["<class-0>"])


def test_checkpoints_are_used_evenly_and_change_the_samples(sd_dir, tmp_path) -> None:
    data = toy_data()
    gen = fresh(sd_dir, data)
    gen.fit(data, tmp_path, seed=1, progress=False)
    gen = TextualInversionGenerator.load(tmp_path)
    assert [len(gen.checkpoints[c]) for c in range(3)] == [3, 2, 2]  # 6, 4 and 4 steps
    used = np.bincount([gen.checkpoint_of(SynthesisRequest(i, 0, i, rank=i)) for i in range(10)])
    assert used.tolist() == [4, 3, 3]  # 10 images over 3 checkpoints
    same_seed = [SynthesisRequest(i, 0, 42, None, "a photo of a *", (), i) for i in range(2)]
    images = gen.sample(same_seed, steps=2).images
    assert not np.array_equal(images[0], images[1])  # checkpoint 0 vs 1, same noise
    again = gen.sample(same_seed[:1], steps=2).images
    assert np.abs(again[0].astype(int) - images[0].astype(int)).max() <= 1


def test_bad_inputs_fail_before_any_fitting(sd_dir, tmp_path) -> None:
    data = toy_data()
    gen = fresh(sd_dir, data, ti_placeholder="{label}")  # "0" is a token of the tokenizer
    with pytest.raises(ConfigError, match="placeholder token '0' is already in the tokenizer"):
        gen.fit(data, tmp_path, seed=1, progress=False)
    empty = toy_data((2, 0, 1))
    with pytest.raises(DataError, match=r"class 1 \(dog\) has no real training image to invert"):
        fresh(sd_dir, empty).fit(empty, tmp_path, seed=1, progress=False)
    assert not (tmp_path / "checkpoints").exists()
    with pytest.raises(ConfigError, match="must contain \\{label\\}"):
        settings(sd_dir, ti_placeholder="<cls>")
    gen.add_tokens({"<x>": torch.zeros(4, 32)})
    with pytest.raises(BenchError, match=r"token '<x>\.0' is already in the tokenizer"):
        gen.add_tokens({"<x>": torch.zeros(4, 32)})


@pytest.mark.slow
@pytest.mark.parametrize("method", ["fill-up", "fillup-template"])
def test_fill_up_runs_end_to_end_on_the_tiny_sd_pipeline(method, sd_dir, tmp_path) -> None:
    backend = "sd-ti" if method == "fill-up" else "sd"
    sets = [
        *tiny_sets(method),
        f"method.generator={backend}",
        f"model_dir={sd_dir}",
        "resolution=32",
        "sampling_steps=2",
        "plan=fill:6",
        *(f"{k}={v}" for k, v in TINY_TI.items() if method == "fill-up"),
    ]
    run_dir = run_digits(method, tmp_path / "results", sets)
    result = read_json(run_dir / "result.json")
    assert result["metrics"]["synthetic_counts"] == [0, 0, 0, 0, 0, 0, 1, 3, 5, 5]
    stages = result["metrics"]["stages"]
    assert [s["name"] for s in stages] == ["main", "ft"]
    assert stages[1]["data"] == "real" and stages[1]["trains"] == "all"
    assert stages[1]["train_samples"] == sum(result["metrics"]["train_counts"])
    store = Path(result["info"]["synthesis"]["key"])
    from bench.synthesis.store import SyntheticSet

    synthetic = SyntheticSet(tmp_path / "results" / "cache" / "synthetic" / store)
    prompt = synthetic.metadata(0)["prompts"][0]
    assert prompt == ("a photo of a *" if method == "fill-up" else "a photo of a 6")


def test_prompt_lists_of_fill_up_table_1(tmp_path) -> None:
    """CLIP templates (Fig. A9, 80 of them) and a user's prompt file, used evenly per class."""
    from bench.methods.fillup import class_prompts
    from bench.synthesis.plans import expand, make_plan

    data = toy_data()
    clip = class_prompts("clip-templates", data)
    assert [len(v) for v in clip.values()] == [80, 80, 80]
    assert clip[0][0] == "a bad photo of a cat." and clip[2][-1] == "a tattoo of the bird."
    assert len(set(clip[1])) == 80
    lm = tmp_path / "t5.yaml"
    lm.write_text(
        "cat: [a cat asleep on a sofa]\n'*': ['{class_name} in the wild', 'a {class_name}']\n"
    )
    prompts = class_prompts(str(lm), data)
    assert prompts == {
        0: ["a cat asleep on a sofa"],
        1: ["dog in the wild", "a dog"],
        2: ["bird in the wild", "a bird"],
    }
    requests = expand(make_plan("fill:5", data), "k", data, "{modifier}", 0, prompts)
    assert [r.prompt for r in requests if r.label == 2] == ["bird in the wild", "a bird"] * 2
    lm.write_text("cat: ['a {modifier} cat']\n'*': [a photo]\n")
    with pytest.raises(ConfigError, match=r"prompt 'a \{modifier\} cat': only \{class_name\}"):
        class_prompts(str(lm), data)
    lm.write_text("cat: [a cat]\n")
    with pytest.raises(ConfigError, match=r"no prompts for class 'dog'"):
        class_prompts(str(lm), data)


@pytest.mark.parametrize(
    ("name", "sets", "prompts"),
    [
        ("fill-up", {"generator": "sd-ti"}, ["a photo of a *"] * 4),
        ("fill-up", {"generator": "ddpm-ti"}, [None] * 4),
        ("fill-up", {"generator": "ddpm-ti", "prompt": "a photo"}, [None] * 4),
        ("fillup-template", {"generator": "sd"}, ["a photo of a bird"] * 4),
        ("fillup-template", {"generator": "ddpm"}, [None] * 4),
        (
            "fillup-template",
            {"generator": "sd", "prompts": "clip-templates"},
            [
                "a bad photo of a bird.",
                "a photo of many bird.",
                "a sculpture of a bird.",
                "a photo of the hard to see bird.",
            ],
        ),
    ],
)
def test_only_a_generator_with_prompts_gets_them(name, sets, prompts) -> None:
    """A generator without a text encoder (ddpm, ddpm-ti: prompts off) gets no prompt, no
    prompt list and no check of the prompt's '*'; one with prompts gets its template or list."""
    from bench.method import MethodContext
    from bench.methods import METHODS
    from bench.synthesis.plans import expand, make_plan

    data = toy_data()
    cls = METHODS[name]
    method = cls(build(cls.Hparams, sets, name), MethodContext(data, 0, "cpu", False))
    requests = expand(make_plan("fill:5", data), "k", data, method.prompt(), 0, method.modifiers())
    assert [r.prompt for r in requests if r.label == 2] == prompts
    if prompts[0] is None:
        assert method.prompt() is None and method.modifiers() is None


@pytest.mark.parametrize(
    ("sets", "message"),
    [
        (
            ["prompts=missing.yaml"],
            r"prompts='missing\.yaml' is neither 'single', 'clip-templates'",
        ),
        (
            ["method.generator=ddpm", "prompts=clip-templates"],
            r"the ddpm generator has no text encoder",
        ),
    ],
)
def test_bad_prompt_lists_fail_at_resolve(sets, message) -> None:
    from bench.runs.config import resolve

    with pytest.raises(ConfigError, match=message):
        resolve("fillup-template", "imagenet-lt", sets=sets)


@pytest.mark.slow
def test_synthetic_only_clip_templates_run_on_the_tiny_sd_pipeline(sd_dir, tmp_path) -> None:
    """Fill-Up Table 1's CLIP-templates row: synthetic images alone train the classifier."""
    sets = [
        *tiny_sets("fillup-template"),
        "method.generator=sd",
        f"model_dir={sd_dir}",
        "resolution=32",
        "sampling_steps=2",
        "plan=add:2",
        "prompts=clip-templates",
        "recipe.data=synthetic",
        "recipe.loss=ce",
        "stage.ft.epochs=0",
    ]
    run_dir = run_digits("fillup-template", tmp_path / "results", sets)
    result = read_json(run_dir / "result.json")
    assert result["metrics"]["synthetic_counts"] == [2] * 10
    main = result["metrics"]["stages"][0]
    assert main["data"] == "synthetic" and main["train_samples"] == 20
    from bench.synthesis.store import SyntheticSet

    key = result["info"]["synthesis"]["key"]
    synthetic = SyntheticSet(tmp_path / "results" / "cache" / "synthetic" / key)
    assert synthetic.metadata(0)["prompts"][:2] == ["a bad photo of a 0.", "a photo of many 0."]


def reference_ti_loss(pipe, images: np.ndarray, names, rows, seed: int, label: int, step: int):
    """Textual inversion's loss from its definition (Gal et al. 2023, Fill-Up Sec 3.1),
    computed without bench's inversion code: E || eps - eps_theta(z_t, t, c(y)) ||^2 with
    z ~ E(x) the VAE posterior's sample (scaled), z_t = sqrt(abar_t) z + sqrt(1 - abar_t) eps,
    and c(y) the text encoder's output for the training prompt whose class token has `rows` as
    its embedding (here: new tokenizer entries with those rows in a resized table, the way the
    sampler adds tokens). The draws follow bench's documented per-step stream: a generator
    seeded by seed_hash(seed, "ti", label, step) draws the image picks, the flips, the VAE
    sample, the noise and the timesteps, in that order (what lets a fit resume exactly)."""
    from bench.io import seed_hash

    tok, enc, vae = pipe.tokenizer, pipe.text_encoder, pipe.vae
    if names[0] not in tok.get_vocab():
        tok.add_tokens(list(names))
        enc.resize_token_embeddings(len(tok))
    ids = tok.convert_tokens_to_ids(list(names))
    rng = torch.Generator().manual_seed(seed_hash(seed, "ti", label, step))
    pick = torch.randint(len(images), (2,), generator=rng).numpy()
    flip = (torch.rand(2, generator=rng) < 0.5).tolist()
    x = np.stack([im[:, ::-1] if f else im for im, f in zip(images[pick], flip, strict=True)])
    x = torch.as_tensor(x).permute(0, 3, 1, 2).float() / 127.5 - 1.0
    with torch.no_grad():
        table = enc.get_input_embeddings().weight
        table[ids] = rows.float()
        post = vae.encode(x).latent_dist
        z = (post.mean + post.std * torch.randn(post.mean.shape, generator=rng)) * 0.18215
        eps = torch.randn(z.shape, generator=rng)
        t = torch.randint(1000, (2,), generator=rng)
        abar = pipe.scheduler.alphas_cumprod[t].float()[:, None, None, None]
        z_t = abar.sqrt() * z + (1 - abar).sqrt() * eps
        prompt = "a photo of a " + " ".join(names)
        ids_in = tok(prompt, padding="max_length", max_length=77, return_tensors="pt").input_ids
        text = enc(ids_in.expand(2, -1))[0]
        pred = pipe.unet(z_t, t, encoder_hidden_states=text).sample
    return ((pred - eps) ** 2).mean().item()


def test_the_inversion_loss_is_textual_inversions_denoising_loss(tmp_path) -> None:
    """Every step's loss of a fit (the first at the 'object' start, each later one at the rows
    of the checkpoint before it) equals the loss recomputed from its definition on a second copy
    of the same tiny pipeline."""
    from safetensors.torch import load_file

    from bench.generators import tiny
    from bench.generators.inversion import ClassImages, init_vector
    from bench.generators.sd import vector_tokens

    rng = np.random.default_rng(5)
    images = rng.integers(0, 256, (3, 32, 32, 3), dtype=np.uint8)
    s = build(InversionSettings, {"model_dir": "tiny", **TINY_TI, "ti_checkpoint_every": 1}, "")
    pipe, reference = tiny.build("StableDiffusionPipeline"), tiny.build("StableDiffusionPipeline")
    assert pipe.vae.config.scaling_factor == 0.18215  # the reference's constants
    assert pipe.scheduler.config.num_train_timesteps == 1000
    assert pipe.scheduler.config.prediction_type == "epsilon"
    start = init_vector(pipe, "object").repeat(4, 1)
    losses: list[float] = []
    invert_class(
        pipe,
        ClassImages(2, lambda ids: images[ids], np.arange(3)),
        s,
        11,
        tmp_path,
        on_step=lambda step, loss: losses.append(loss),
    )
    names = vector_tokens("<class-2>", 4)
    ckpts = sorted((tmp_path / "checkpoints" / "2").glob("step-*.safetensors"))
    rows = [start] + [load_file(f)["<class-2>"] for f in ckpts]
    expected = [
        reference_ti_loss(reference, images, names, rows[k], 11, 2, k) for k in range(len(losses))
    ]
    assert len(losses) == 6 and len(set(expected)) == 6
    assert losses == pytest.approx(expected, rel=1e-5)
