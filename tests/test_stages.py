"""Training stages: what each trains, settings per stage, and bad stage lists failing up front."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from bench.datasets import DATASETS
from bench.errors import ConfigError
from bench.runs.config import resolve
from bench.train.loop import train_classifier

TINY = ["recipe.epochs=1", "recipe.steps_per_epoch=2", "recipe.batch_size=16"]


def train(method: str, tmp_path: Path, *sets: str, dataset: str = "digits-lt"):
    config = resolve(method, dataset, sets=[*TINY, *sets])
    data = DATASETS[dataset](config.dataset_settings).load()
    state = tmp_path / f"{method}-{len(list(tmp_path.iterdir()))}.pt"
    return train_classifier(
        config.recipe_settings,
        data,
        None,
        config.seed,
        "cpu",
        state,
        progress=False,
        stages=config.stage_list(),
    )


def weights(model: torch.nn.Module, prefix: str) -> dict[str, torch.Tensor]:
    return {k: v for k, v in model.state_dict().items() if k.startswith(prefix)}


def same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize(
    ("stage", "features", "head", "scales"),
    [
        # trains, reset_head -> which parts change after the first stage
        ("trains=head,reset_head=true", False, True, False),
        ("trains=head,reset_head=false", False, True, False),
        ("trains=lws,reset_head=false", False, False, True),
        ("trains=all,reset_head=false", True, True, False),
    ],
)
def test_each_stage_trains_only_what_it_names(tmp_path, stage, features, head, scales) -> None:
    first = train("erm", tmp_path).last  # the first stage alone: the same seed, the same weights
    sets = [f"stage.two.{kv}" for kv in stage.split(",")]
    both = train("erm", tmp_path, "recipe.then=two", "stage.two.epochs=2", *sets)
    for prefix, changes in (("features.", features), ("head.", head), ("scales", scales)):
        unchanged = same(weights(first, prefix), weights(both.last, prefix))
        assert unchanged != changes, (
            f"{prefix}: expected {'changed' if changes else 'bitwise same'}"
        )
    summary = both.stages[1]
    expected = {"head": 10 * 128 + 10, "lws": 10, "all": summary["total_parameters"] - 10}
    assert summary["trainable_parameters"] == expected[summary["trains"]]
    assert [row["stage"] for row in both.history] == ["main", "two", "two"]


def test_a_stage_with_no_epochs_is_skipped(tmp_path: Path) -> None:
    result = train("crt", tmp_path, "recipe.epochs=0", "stage.crt.epochs=1")
    assert [row["stage"] for row in result.history] == ["crt"]


def test_stage_settings_inherit_the_first_stage_and_are_recorded(tmp_path: Path) -> None:
    config = resolve("crt", "digits-lt", sets=["stage.crt.lr=0.01", "stage.crt.schedule=step"])
    crt = config.stage_settings["crt"]
    assert crt.lr == 0.01 and crt.optimizer is None  # None: the first stage's (adam on digits)
    assert config.stages["crt"]["trains"] == "head" and config.recipe["then"] == ["crt"]
    assert config.sources["stage.crt.lr"] == "command line"
    assert config.sources["stage.crt.trains"].startswith("crt default: Kang et al. 2020")
    assert config.identity()["stages"]["crt"]["lr"] == 0.01
    other = resolve("crt", "digits-lt", sets=["stage.crt.lr=0.02"])
    assert other.run_id != config.run_id


def test_stage_settings_from_a_config_file(tmp_path: Path) -> None:
    path = tmp_path / "run.yaml"
    path.write_text(
        "method: erm\ndataset: digits-lt\nrecipe:\n  then: [ft]\n"
        "stages:\n  ft:\n    trains: all\n    lr: 0.0001\n    schedule: step\n"
    )
    config = resolve(config_file=path)
    assert config.stage_list()[0][0] == "ft" and config.stage_settings["ft"].lr == 0.0001
    assert config.sources["stage.ft.lr"] == f"config file {path}"
    path.write_text(path.read_text().replace("    lr:", "    lrate:"))
    with pytest.raises(ConfigError, match=r"line 8: stage\.ft: unknown setting 'lrate'.*'lr'"):
        resolve(config_file=path)


@pytest.mark.parametrize(
    ("sets", "message"),
    [
        (["stage.crt.lrate=1"], r"stage\.crt: unknown setting 'lrate'\. Did you mean 'lr'"),
        (["stage.ft.lr=1"], r"settings for stage 'ft', which recipe\.then does not list"),
        (["stage.crt.trains=backbone"], r"trains='backbone' is not allowed.*all, head, lws"),
        (["stage.crt.mix_alpha=0"], r"mix_alpha=0\.0 must be greater than 0\.0"),
        (["recipe.mix_alpha=-1"], r"mix_alpha=-1\.0 must be greater than 0\.0"),
        (["recipe.loss=focal"], r"loss='focal' is not allowed.*ce, balanced-softmax"),
        (["stage.crt.sampler=grouped"], r"Did you mean 'group-balanced'"),
        (["stage.crt"], r"expected key=value"),
        (["stage.crt=1"], r"stage\.<name>\.<field>"),
    ],
)
def test_bad_stage_settings_fail_with_the_valid_choices(sets, message) -> None:
    with pytest.raises(ConfigError, match=message):
        resolve("crt", "digits-lt", sets=sets)


def test_bad_stage_lists_fail_before_any_training(tmp_path: Path, monkeypatch) -> None:
    import bench.train.loop as loop

    def no_training(*args, **kwargs):
        raise AssertionError("an epoch ran")

    monkeypatch.setattr(loop, "run_epoch", no_training)
    with pytest.raises(ConfigError, match=r"trains nothing: every stage has epochs=0"):
        train("crt", tmp_path, "recipe.epochs=0", "stage.crt.epochs=0")
    for sets, what in (
        (["recipe.sampler=group-balanced"], "sampler='group-balanced'"),
        (["recipe.loss=group-dro"], "loss='group-dro'"),
        (["recipe.then=x", "stage.x.data=group-balanced-subsample"], "group-balanced-subsample"),
    ):
        with pytest.raises(ConfigError, match=rf"{what}.* needs groups, but dataset digits-lt"):
            train("erm", tmp_path, *sets)


def test_a_head_only_stage_needs_a_separable_head() -> None:
    from bench.train.backbones import build_classifier, set_trainable

    with pytest.raises(ConfigError, match=r"trains='head' needs .*separable.*valid trains: all"):
        set_trainable(torch.nn.Sequential(torch.nn.Linear(2, 2)), "head", "stage.crt")
    model = build_classifier("small-cnn", 3, 1)
    assert [p.shape for p in set_trainable(model, "lws")] == [torch.Size([3])]


def test_group_balanced_subsample_balances_groups(tmp_path: Path) -> None:
    from bench.train.loop import real_subset

    config = resolve("dfr", "colored-digits")
    data = DATASETS["colored-digits"](config.dataset_settings).load()
    split = real_subset("group-balanced-subsample", config.recipe_settings, data, 0)
    counts = np.bincount(split.groups, minlength=20)
    assert (counts == counts.min()).all() and counts.min() == np.bincount(data.train.groups).min()
    classes = real_subset("class-balanced-subsample", config.recipe_settings, data, 0)
    assert len(set(np.bincount(classes.targets).tolist())) == 1


def test_the_papers_stage_recipes_resolve(tmp_path: Path) -> None:
    """docs/recipe.md's Fill-Up Stage II YAML and SYNAuG's stages are valid settings."""
    import re

    text = (Path(__file__).parent.parent / "docs" / "recipe.md").read_text()
    path = tmp_path / "fillup.yaml"
    path.write_text(re.search(r"```yaml\n(.*?)```", text, re.S).group(1))
    ft = resolve(config_file=path).stage_settings["ft"]
    assert (ft.trains, ft.data, ft.lr, ft.schedule, ft.warmup_epochs, ft.epochs) == (
        "all", "real", 0.001, "step", 5, 30,
    )  # fmt: skip
    synaug = resolve(
        "ddpm-fill",
        "digits-lt",
        sets=[
            "recipe.batch_aug=mixup",
            "recipe.mix_pairs=real-synthetic",
            "recipe.then=ft",
            "stage.ft.reset_head=false",
            "stage.ft.data=class-balanced-subsample",
        ],
    )
    assert synaug.stage_settings["ft"].trains == "head"


def test_data_synthetic_trains_on_the_synthetic_set_alone() -> None:
    """Fill-Up Table 1 / Table 5's synthetic-only rows: no real image in the training data."""
    from bench.train.loop import training_data
    from bench.train.recipe import stage_fields

    config = resolve(
        "fillup-template", "digits-lt", sets=["recipe.data=synthetic", "recipe.loss=ce"]
    )
    data = DATASETS["digits-lt"](config.dataset_settings).load()
    synthetic = data.splits["test"]  # any labelled split stands in for a synthetic set here
    st = stage_fields(config.recipe_settings)
    only = training_data(st, config.recipe_settings, data, synthetic, 0)
    assert only.n_real == 0 and len(only.dataset) == len(synthetic)
    assert (only.classes == synthetic.targets).all() and not only.real_counts.any()
    assert (only.synthetic_counts == synthetic.class_counts(data.num_classes)).all()
    drawn = np.concatenate(list(iter(only.plan)))
    assert drawn.max() < len(synthetic)
    pooled = training_data(
        stage_fields(resolve("fillup-template", "digits-lt").recipe_settings),
        config.recipe_settings,
        data,
        synthetic,
        0,
    )
    assert pooled.n_real == len(data.train) and len(pooled.dataset) == len(data.train) + len(
        synthetic
    )


@pytest.mark.parametrize(
    ("method", "sets", "message"),
    [
        ("erm", [], r"recipe\.data='synthetic': erm makes no synthetic data"),
        ("fillup-template", ["recipe.loss=balanced-softmax"], r"prior='real' counts real images"),
        ("ddpm-fill", ["recipe.loss=group-dro"], r"loss='group-dro' needs group labels"),
        (
            "fillup-template",
            [
                "recipe.loss=ce",
                "recipe.then=x",
                "stage.x.data=synthetic",
                "stage.x.sampler=group-balanced",
            ],
            r"stage\.x: sampler='group-balanced' needs group labels",
        ),
    ],
)
def test_data_synthetic_is_refused_where_it_cannot_work(method, sets, message) -> None:
    """At resolve time, before any generator fit or synthesis."""
    first = ["recipe.data=synthetic"] if not any(s.startswith("stage.x.data") for s in sets) else []
    with pytest.raises(ConfigError, match=message):
        resolve(method, "digits-lt", sets=[*first, *sets])


@pytest.mark.parametrize("method", ["fill-up", "fillup-template"])
def test_fill_up_stage_two_fine_tunes_all_on_real_data_at_its_own_lr(method: str) -> None:
    """Fill-Up Sec 3.2 / App B.4: Stage II trains the whole model on the real data alone, from
    LR 1e-3 (not Stage I's), with the synthetic set still at hand."""
    from bench.train.loop import training_data
    from bench.train.recipe import stage_fields

    imagenet = resolve(method, "imagenet-lt")
    ft = stage_fields(imagenet.recipe_settings, imagenet.stage_settings["ft"])
    assert (ft.trains, ft.data, ft.lr) == ("all", "real", 1e-3)
    assert imagenet.recipe_settings.lr == 0.1  # Stage I's is another (App B.4)
    config = resolve(method, "digits-lt")
    ft = stage_fields(config.recipe_settings, config.stage_settings["ft"])
    data = DATASETS["digits-lt"](config.dataset_settings).load()
    synthetic = data.splits["test"]  # a labelled split stands in for the synthetic set
    stage_two = training_data(ft, config.recipe_settings, data, synthetic, 0)
    assert stage_two.n_real == len(data.train) == len(stage_two.dataset)
    assert stage_two.synthetic_counts is None or not stage_two.synthetic_counts.any()


def test_synaug_fine_tunes_the_last_layer_only(tmp_path: Path) -> None:
    """SYNAuG Alg. 1 step 3: only the last layer, continued (not re-initialised); trained with
    that stage, the backbone is bitwise the first stage's."""
    ft = resolve("synaug", "digits-lt").stage_settings["ft"]
    assert (ft.trains, ft.reset_head) == ("head", False)
    first = train("erm", tmp_path).last
    sets = [f"stage.ft.{k}={getattr(ft, k)}" for k in ("trains", "reset_head")]
    sets.append("stage.ft.data=class-balanced-subsample")  # digits-lt has no groups
    both = train("erm", tmp_path, "recipe.then=ft", "stage.ft.epochs=1", *sets)
    assert same(weights(first, "features."), weights(both.last, "features."))
    assert not same(weights(first, "head."), weights(both.last, "head."))
