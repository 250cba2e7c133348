"""The embedded pretrained generator (issue 14, items 2-3): the ddpm backend pretrained on
printed-digits, a cached model directory read back by the sd / unclip loader, and the methods
that run on it unchanged."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from helpers import cli, run_digits, tiny_sets

from bench.errors import BenchError, ConfigError
from bench.generators import pretrain
from bench.generators.ddpm import DDPMGenerator, train_encoder
from bench.generators.ddpm_settings import DDPMSettings
from bench.generators.pretrained import weights_digest, weights_dir
from bench.io import read_json

TINY = {
    "unet_channels": (8, 16),
    "train_steps": 1,
    "batch_size": 8,
    "num_train_timesteps": 10,
    "pretrain_per_class": 2,
    "encoder_steps": 1,
    "image_conditioning": True,
    "pretrained_generator": "printed-digits",
}
PRETRAINED = ["pretrained_generator=printed-digits"]


def digits(size: int = 8, channels: int = 1) -> SimpleNamespace:
    """What the pretraining reads of the run's data: classes, geometry, info."""
    return SimpleNamespace(
        name="digits-lt",
        class_names=[str(d) for d in range(10)],
        num_classes=10,
        image_size=size,
        channels=channels,
        info={},
    )


def pretrained(root: Path, size: int = 8, **changes) -> Path:
    settings = DDPMSettings(**{**TINY, **changes})
    return pretrain.ensure(DDPMGenerator(settings, 10, size, 1), digits(size), root, progress=False)


def test_pretrained_directory_round_trips_through_the_loader(tmp_path: Path) -> None:
    path = pretrained(tmp_path / "pretrained")
    # the same loader (and cache-key digest) as the sd / unclip weights
    assert weights_dir(SimpleNamespace(model_dir=str(path), model_id="x")) == path
    index = read_json(path / "model_index.json")
    assert index["corpus"]["name"] == "printed-digits" and index["pretraining"]["steps"] == 1
    a, b = DDPMGenerator.load(path), DDPMGenerator.load(path)
    images = np.zeros((3, 8, 8, 1), np.uint8)
    assert torch.equal(a.embed(images), b.embed(images))
    assert np.array_equal(a.sample_labels(np.arange(3), 0, 2), b.sample_labels(np.arange(3), 0, 2))
    # cached: the same settings give the same directory without training again
    done = (path / "done").stat().st_mtime_ns
    assert pretrained(tmp_path / "pretrained") == path
    assert (path / "done").stat().st_mtime_ns == done
    assert pretrained(tmp_path / "pretrained", pretrain_per_class=3) != path
    # a run's generator is that model as it is: fit copies it, nothing trains on the data
    settings = DDPMSettings(**{**TINY, "pretrained_dir": str(path)})
    run_gen = DDPMGenerator(settings, 10, 8, 1)
    workdir = tmp_path / "cache" / "generators" / "k"
    run_gen.fit(digits(), workdir, seed=0, progress=False)
    copy = DDPMGenerator.load(workdir)
    for x, y in zip(copy.ema_unet.parameters(), a.ema_unet.parameters(), strict=True):
        assert torch.equal(x, y)
    ident = pretrain.identity(settings)
    assert ident["digest"] == weights_digest(path)


def encoder_trained(settings: DDPMSettings) -> tuple[DDPMGenerator, dict, object]:
    corpus = pretrain.load_corpus(pretrain.corpus_options(settings, digits(), 8, 1))
    model = DDPMGenerator.for_data(pretrain.pretraining_settings(settings), corpus)
    info = train_encoder(model, corpus, settings, seed=0, progress=False)
    return model, info, corpus


def test_the_pretrained_image_encoder_stays_frozen_while_the_unet_trains(tmp_path: Path) -> None:
    model, _, corpus = encoder_trained(DDPMSettings(**{**TINY, "train_steps": 2}))
    before = {k: v.clone() for k, v in model.cond.encoder.state_dict().items()}
    unet = [p.clone() for p in model.unet.parameters()]
    model.fit(corpus, tmp_path / "fit", 0, progress=False)
    saved = DDPMGenerator.load(tmp_path / "fit").ema_cond.encoder.state_dict()
    assert all(torch.equal(before[k], saved[k]) for k in before)
    assert not all(torch.equal(a, b) for a, b in zip(unet, model.unet.parameters(), strict=True))


@pytest.mark.slow
def test_the_image_encoder_learns_the_printed_digits_as_a_classifier() -> None:
    settings = DDPMSettings(
        **{**TINY, "pretrain_per_class": 20, "encoder_steps": 80, "batch_size": 32}
    )
    _, info, _ = encoder_trained(settings)
    assert info["val_accuracy"] >= 0.3, info  # chance is 0.1


def test_no_image_is_the_zero_embedding_the_model_was_trained_with() -> None:
    model = DDPMGenerator(DDPMSettings(**TINY), 10, 8, 1)
    labels = torch.arange(3)
    with torch.no_grad():
        zero = model.cond(labels, torch.zeros(3, TINY_EMBED))
        assert torch.allclose(model.cond(labels, None), zero)


TINY_EMBED = DDPMSettings().embed_dim


def test_bad_pretrained_generators_are_refused_before_training(tmp_path: Path) -> None:
    small = DDPMSettings(**{**TINY, "batch_size": 64, "pretrain_per_class": 5})
    with pytest.raises(ConfigError, match=r"corpus of 50 images is smaller than .*batch_size=64"):
        pretrain.check_data(small, digits())
    letters = SimpleNamespace(
        name="letters", class_names=["a", "b"], num_classes=2, image_size=8, channels=1
    )
    with pytest.raises(ConfigError, match="knows the digits 0-9; letters has 2 classes"):
        pretrain.check_data(DDPMSettings(**TINY), letters)
    path = pretrained(tmp_path / "pretrained")  # 8 px, 1 channel, 10 classes
    other = DDPMSettings(**{**TINY, "pretrained_dir": str(path)})
    with pytest.raises(ConfigError, match=rf"pretrained_dir={path}.*\(10, 8, 1\).*\(10, 16, 1\)"):
        DDPMGenerator.check_data(other, digits(16))
    with pytest.raises(BenchError, match=r"no model_index\.json"):
        DDPMGenerator.check_data(
            DDPMSettings(**{**TINY, "pretrained_dir": str(tmp_path)}), digits()
        )
    # from the command line: exit 2 with the message, before any training
    code, _, err = cli(
        "run", "--method", "ldm-txt-img", "--dataset", "digits-lt", "--smoke", "--quiet",
        "--results", str(tmp_path / "r"), "--set", "pretrained_generator=printed-digits",
        "--set", "method.batch_size=64", "--set", "pretrain_per_class=5",
    )  # fmt: skip
    assert code == 2 and "pretrain_per_class=5" in err
    assert not (tmp_path / "r" / "cache" / "pretrained").exists()


def smoke(method: str, results: Path, *extra: str, dataset: str = "digits-lt") -> dict:
    run_dir = run_digits(
        method, results, [*tiny_sets(method), *PRETRAINED, *extra], "--smoke", dataset=dataset
    )
    result = read_json(run_dir / "result.json")
    return result


FAST = ["ldm-txt-img", "fg-entropy", "augcond-embed-cutmix-dropout"]
ALL = [
    "ddpm-fill",
    "ldm-txt",
    "ldm-txt-img",
    *(f"fg-{c}" for c in ("loss", "entropy", "hardness", "combined")),
    *(
        f"augcond-{v}"
        for v in (
            "random-image", "dropout", "mixup", "mixup-dropout", "embed-mixup",
            "embed-mixup-dropout", "cutmix", "cutmix-dropout", "embed-cutmix",
            "embed-cutmix-dropout",
        )
    ),
    "fill-up",  # ddpm-ti: a learned class vector on the pretrained model
    "fillup-template",  # the pretrained model's label row (the class name)
    "synaug",
]  # fmt: skip


def check_on_pretrained(result: dict) -> None:
    gen = result["info"]["generator"]
    assert gen["cached"] in (True, False)
    workdir = Path(gen["dir"])
    src = Path(read_json(workdir / "pretrained.json")["path"])
    assert (src / "model_index.json").is_file()
    assert src.parent == workdir.parent.parent / "pretrained"  # <cache>/pretrained, shared
    synthetic = result["metrics"]["synthetic_counts"]
    assert synthetic is not None and sum(synthetic) > 0
    if (workdir / "base").is_dir():  # ddpm-ti inverts the pretrained model, bitwise as it is
        inverted = DDPMGenerator.load(workdir / "base")
        for x, y in zip(
            inverted.ema_unet.parameters(),
            DDPMGenerator.load(src).ema_unet.parameters(),
            strict=True,
        ):
            assert torch.equal(x, y)


def test_methods_run_on_the_pretrained_generator(tmp_path: Path) -> None:
    """One pretrained model (image-conditioned) serves LDM txt+img, FG and augcond alike."""
    sources = set()
    for method in FAST:
        result = smoke(method, tmp_path)
        check_on_pretrained(result)
        gen_dir = Path(result["info"]["generator"]["dir"])
        sources.add(read_json(gen_dir / "pretrained.json")["path"])
    assert len(sources) == 1


@pytest.mark.slow
@pytest.mark.parametrize("method", [m for m in ALL if m not in FAST])
def test_every_pretrained_generator_method_smokes(method: str, results: Path) -> None:
    sets = ["image_conditioning=true"] if method == "ldm-txt" else []
    check_on_pretrained(smoke(method, results, *sets))


@pytest.mark.slow
def test_colored_digits_gets_a_coloured_pretrained_generator(tmp_path: Path) -> None:
    result = smoke("augcond-random-image", tmp_path, "plan=cells:max", dataset="colored-digits")
    check_on_pretrained(result)
    src = Path(read_json(Path(result["info"]["generator"]["dir"]) / "pretrained.json")["path"])
    corpus = read_json(src / "generator.json")
    assert corpus["channels"] == 3
