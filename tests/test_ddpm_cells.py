"""The ddpm backend conditioned on (class, attribute) cells (`condition=cell`): the labels it
trains and samples with, that a fit learns the cells' colours, SYNAuG's fairness-aware plan on
colored-digits through it, the bad inputs, and that the new setting leaves earlier ids alone."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import cli, run_digits, tiny_sets

from bench.errors import ConfigError
from bench.generators.base import CFG, SamplingHooks, SynthesisRequest
from bench.generators.ddpm import DDPMGenerator, DDPMSettings
from bench.hparams import build, keyed
from bench.io import read_json

TINY = {"unet_channels": (8, 16), "batch_size": 16, "num_train_timesteps": 20}


def colored(image_size: int = 8, **options):
    from bench.datasets import DATASETS

    adapter = DATASETS["colored-digits"]
    settings = build(adapter.Options, {"image_size": image_size, **options}, "test")
    return adapter(settings, None).load()


def settings(**values) -> DDPMSettings:
    return build(DDPMSettings, {**TINY, **values}, "test")


class LabelSpy:
    """Every label the conditioner's label embedding is called with."""

    def __init__(self, conditioner: torch.nn.Module):
        self.seen: list[np.ndarray] = []
        conditioner.labels.register_forward_hook(self.hook)

    def hook(self, module, inputs, output) -> None:
        self.seen.append(inputs[0].detach().cpu().numpy().copy())


def test_a_cell_model_trains_on_the_groups_and_samples_each_requests_cell(tmp_path: Path) -> None:
    data = colored()
    k = len(data.attribute_names)
    model = DDPMGenerator.for_data(settings(condition="cell", train_steps=4), data)
    assert model.num_labels == 10 * k and model.null_label == 10 * k
    assert model.cond.labels.num_embeddings == 10 * k + 1
    # the training labels are colored-digits' groups, class * K + colour (SubpopBench)
    labels = model.training_labels(data.train).numpy()
    assert np.array_equal(labels, data.train.groups)
    assert np.array_equal(labels, data.train.targets * k + data.train.attributes)
    spy = LabelSpy(model.cond)
    model.fit(data, tmp_path, seed=0, progress=False)
    fed = np.concatenate(spy.seen)
    assert set(fed) <= set(data.train.groups) | {model.null_label}
    assert set(fed) - {model.null_label}  # labels reach the UNet, not only the null label
    # sampling: request (class c, attribute a) is drawn with label c * K + a; the
    # unconditional branch of classifier-free guidance with the null label
    loaded = DDPMGenerator.load(tmp_path)
    assert loaded.num_attributes == k
    requests = [
        SynthesisRequest(i, c, seed=i, group=a) for i, (c, a) in enumerate([(3, 1), (0, 0), (9, 1)])
    ]
    spy = LabelSpy(loaded.ema_cond)
    loaded.sample(requests, SamplingHooks(noise=CFG(2.0)), steps=2)
    fed = np.stack(spy.seen)
    assert set(map(tuple, fed)) == {(3 * k + 1, 0 * k + 0, 9 * k + 1), (10 * k,) * 3}


def test_balancing_and_label_dropout_work_on_cells(tmp_path: Path) -> None:
    data = colored()
    k = len(data.attribute_names)
    groups = data.train.groups
    # RS over the cells: minority cells (6 of 114 images of a class) are drawn as often as the
    # majority cells; drawn by the data they would make up about 5% of the batches
    model = DDPMGenerator.for_data(
        settings(condition="cell", train_steps=10, batch_size=64, label_dropout=0.0,
                 label_sampling="uniform"),
        data,
    )  # fmt: skip
    spy = LabelSpy(model.cond)
    model.fit(data, tmp_path / "rs", seed=0, progress=False)
    fed = np.concatenate(spy.seen)
    counts = np.bincount(fed, minlength=10 * k)
    minority = np.bincount(groups, minlength=10 * k) < 50
    assert minority.sum() == 10 and counts[minority].sum() > 0.35 * len(fed)
    # CBDM's y' is drawn over the cells too (both labels go through the conditioner)
    model = DDPMGenerator.for_data(
        settings(condition="cell", train_steps=2, cbdm_tau=0.001, label_dropout=0.0), data
    )
    spy = LabelSpy(model.cond)
    model.fit(data, tmp_path / "cbdm", seed=0, progress=False)
    assert all(len(s) == 2 * 16 and s.max() < 10 * k for s in spy.seen)
    # label dropout (classifier-free guidance training) drops to the null label of the cells
    model = DDPMGenerator.for_data(
        settings(condition="cell", train_steps=2, label_dropout=1.0), data
    )
    spy = LabelSpy(model.cond)
    model.fit(data, tmp_path / "drop", seed=0, progress=False)
    assert set(np.concatenate(spy.seen)) == {10 * k}


@pytest.mark.slow
def test_a_cell_fit_draws_the_requested_background_colour(tmp_path: Path) -> None:
    """A short fit (600 steps, about 2 minutes on 2 cores) learns the cells: for every digit,
    the samples asked for red (colour 0) are redder (mean R - G) than those asked for green,
    in the rare cells (6 training images each) too. Measured: 11..26 grey levels apart."""
    torch.manual_seed(0)
    data = colored(image_size=8)
    s = settings(
        condition="cell", unet_channels=(16, 32), train_steps=600, batch_size=64, lr=4e-3,
        num_train_timesteps=1000, label_sampling="uniform", ema_decay=0.99,
    )  # fmt: skip
    model = DDPMGenerator.for_data(s, data)
    model.fit(data, tmp_path, seed=0, progress=False)
    cells = [(c, a) for c in range(10) for a in range(2) for _ in range(4)]
    requests = [SynthesisRequest(i, c, seed=1000 + i, group=a) for i, (c, a) in enumerate(cells)]
    images = model.sample(requests, steps=20).images.astype(np.float32)
    redness = images[..., 0].mean((1, 2)) - images[..., 1].mean((1, 2))
    gaps = []
    for c in range(10):
        red, green = (redness[[x == (c, a) for x in cells]].mean() for a in (0, 1))
        gaps.append(float(red - green))
    assert min(gaps) > 5, gaps


def test_synaug_fairness_aware_on_colored_digits_fills_every_cell_and_reports_gaps(
    results: Path,
) -> None:
    from bench.synthesis.store import SyntheticSet

    sets = [*tiny_sets("synaug"), "plan=cells:max", "condition=cell", "dataset.image_size=8"]
    run = run_digits("synaug", results, sets, dataset="colored-digits")
    result = read_json(run / "result.json")
    fairness = result["metrics"]["test"]["fairness"]
    assert all(isinstance(fairness[k], float) for k in ("dp", "eo", "ed"))
    data = colored(image_size=8)
    store = SyntheticSet(results / "cache" / "synthetic" / result["info"]["synthesis"]["key"])
    cells = store.targets * 2 + store.attributes
    real = np.bincount(data.train.groups, minlength=20)
    synthetic = np.bincount(cells, minlength=20)
    assert (real + synthetic == real.max()).all() and synthetic.sum() == 10 * (108 - 6)
    generator = read_json(Path(result["info"]["generator"]["dir"]) / "generator.json")
    assert generator["num_attributes"] == 2 and generator["settings"]["condition"] == "cell"


def test_bad_cell_conditioning_fails_before_any_fitting(tmp_path: Path) -> None:
    def run(dataset: str, *sets: str) -> str:
        args = ["run", "--method", "synaug", "--dataset", dataset, "--smoke", "--quiet"]
        code, _, err = cli(*args, "--results", str(tmp_path), *[f"--set={s}" for s in sets])
        assert code == 2, err
        return err

    err = run("digits-lt", "condition=cell")
    assert "condition='cell'" in err and "digits-lt has no attribute" in err
    err = run("colored-digits", "plan=add:2", "condition=cell")
    assert "condition='cell'" in err and "names no attribute" in err and "cells:" in err
    err = run("colored-digits", "plan=cells:max")
    assert "condition='class'" in err and "Set condition=cell" in err
    err = run("colored-digits", "condition=cell", "pretrained_generator=printed-digits")
    assert "pretrained generator is conditioned on the class only" in err
    assert not list(tmp_path.glob("cache/generators/*"))  # nothing fitted
    with pytest.raises(ConfigError, match="knows 2"):
        model = DDPMGenerator.for_data(settings(condition="cell"), colored())
        model.label_of(SynthesisRequest(0, 1, 0, group=2))


def test_the_condition_setting_leaves_earlier_run_ids_and_cache_keys_alone() -> None:
    from bench.runs.config import resolve

    base = resolve("ddpm-fill", "digits-lt")
    assert "condition" not in base.identity()["hparams"]
    assert resolve("ddpm-fill", "digits-lt", sets=["condition=class"]).run_id == base.run_id
    cell = resolve("synaug", "colored-digits", sets=["condition=cell"])
    assert cell.identity()["hparams"]["condition"] == "cell"
    assert cell.run_id != resolve("synaug", "colored-digits").run_id
    assert keyed(DDPMSettings, {"condition": "class", "lr": 0.1}) == {"lr": 0.1}
    assert keyed(DDPMSettings, {"condition": "cell"}) == {"condition": "cell"}
    from bench.generators.ddpm import settings_key

    assert "condition" not in settings_key(settings())
    assert settings_key(settings(condition="cell"))["condition"] == "cell"
