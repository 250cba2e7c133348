"""SYNAuG: modifier prompts through a tiny Stable Diffusion pipeline, fairness-aware cell plans,
the stages and ablation switches, and its bad inputs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from helpers import cli, run_digits, tiny_sets

from bench.data import ImageSplit, LoadedDataset
from bench.errors import ConfigError
from bench.io import read_json
from bench.methods.synaug import SHIPPED, class_ages
from bench.synthesis.plans import expand, load_class_lists, make_plan, per_class_lists


def faces() -> LoadedDataset:
    """A UTKFace-shaped toy: class = gender, attribute = race, ages per image."""
    targets = np.array([0, 0, 0, 0, 0, 1, 1, 1])
    race = np.array([0, 0, 0, 1, 1, 0, 1, 1])
    ages = np.array([20, 30, 20, 41, 52, 25, 33, 60])
    images = np.zeros((8, 8, 8, 3), np.uint8)
    split = ImageSplit("train", targets, images=images, attributes=race, extra={"age": ages})
    return LoadedDataset(
        "faces",
        ["male", "female"],
        {"train": split, "val": split, "test": split},
        8,
        3,
        attribute_names=["White", "Black"],
    )


def test_shipped_modifiers_give_twenty_per_class() -> None:
    table = load_class_lists(SHIPPED)
    assert all(len(mods) == 20 for mods in table.values())
    mods = per_class_lists(table, ["cat", "landbird"], SHIPPED)
    assert mods[0] == table["*"] and mods[1] == table["landbird"]


def test_modifiers_are_used_evenly_in_the_prompts() -> None:
    data = faces()
    plan = make_plan("fill:6", data)  # male 5 -> 1, female 3 -> 3
    mods = {0: ["a red", "a blue"], 1: ["a red", "a blue"]}
    requests = expand(plan, "k", data, "a photo of {modifier} {class_name}", 0, mods)
    female = [r.prompt for r in requests if r.label == 1]
    assert female == [
        "a photo of a red female",
        "a photo of a blue female",
        "a photo of a red female",
    ]


def test_fairness_aware_plan_equalises_every_class_attribute_cell() -> None:
    data = faces()
    fair = make_plan("cells:max", data)
    # cells (male, White) 3, (male, Black) 2, (female, White) 1, (female, Black) 2
    assert fair.real == [3, 2, 1, 2] and fair.counts == [0, 1, 2, 1]
    requests = expand(
        fair,
        "k",
        data,
        "Portrait face photo of {attribute} {class_name}, {modifier} year old",
        0,
        class_ages(data),
    )
    assert [r.prompt for r in requests] == [
        "Portrait face photo of Black male, 20 year old",
        "Portrait face photo of White female, 25 year old",
        "Portrait face photo of White female, 33 year old",
        "Portrait face photo of Black female, 25 year old",
    ]
    classes_only = make_plan("fill:max", data)  # SYNAuG*: the attribute is ignored
    assert classes_only.counts == [0, 2] and classes_only.cells == [(0, None), (1, None)]


def test_bad_inputs_fail_before_any_work(tmp_path: Path) -> None:
    bad = tmp_path / "mods.yaml"
    bad.write_text("cat: [a small]\n")
    with pytest.raises(ConfigError, match=r"no modifiers for class 'dog' .* Classes: cat, dog"):
        per_class_lists(load_class_lists(bad), ["cat", "dog"], bad)
    bad.write_text("cat: []\n")
    with pytest.raises(ConfigError, match="'cat' must map to a non-empty list"):
        load_class_lists(bad)
    # a fairness-aware plan on a dataset without a sensitive attribute
    code, _, err = cli(
        "run",
        "--method",
        "synaug",
        "--dataset",
        "digits-lt",
        "--quiet",
        "--results",
        str(tmp_path / "r"),
        "--set",
        "plan=cells:max",
    )
    assert code == 2 and "plan='cells:max'" in err and "digits-lt has no attribute" in err
    assert "fill:/add:/ratio:" in err
    assert not list((tmp_path / "r").glob("cache/generators/*/done"))  # nothing fitted
    code, _, err = cli(
        "run",
        "--method",
        "synaug",
        "--dataset",
        "digits-lt",
        "--dry-run",
        "--set",
        f"modifiers_file={tmp_path / 'none.yaml'}",
    )
    assert code == 2 and "no such file" in err


def test_a_missing_class_in_the_modifier_file_stops_the_run_before_fitting(tmp_path: Path) -> None:
    from fixtures.tiny_pipelines import save_tiny_sd

    sd = save_tiny_sd(tmp_path / "sd")
    mods = tmp_path / "mods.yaml"
    mods.write_text("'0': [a]\n")
    code, _, err = cli(
        "run",
        "--method",
        "synaug",
        "--dataset",
        "digits-lt",
        "--quiet",
        "--results",
        str(tmp_path / "r"),
        "--set",
        "generator=sd",
        "--set",
        f"model_dir={sd}",
        "--set",
        "resolution=32",
        "--set",
        f"modifiers_file={mods}",
    )
    assert code == 2 and "no modifiers for class '1'" in err
    assert not (tmp_path / "r" / "cache" / "synthetic").exists()


@pytest.mark.slow
def test_stages_mixup_across_domains_then_the_last_layer_on_a_uniform_subsample(
    results: Path,
) -> None:
    metrics = read_json(run_digits("synaug", results, tiny_sets("synaug")) / "result.json")[
        "metrics"
    ]
    main, ft = metrics["stages"]
    assert main["batch_aug"] == "mixup" and main["data"] == "real+synthetic"
    assert ft["trains"] == "head" and ft["train_samples"] == 10 * min(metrics["train_counts"])


@pytest.mark.slow
def test_ablation_switches_no_mixup_no_fine_tuning(results: Path) -> None:
    no_mixup = ["recipe.batch_aug=none", "recipe.mix_pairs=batch"]
    sets = [*tiny_sets("synaug"), *no_mixup, "stage.ft.epochs=0"]
    metrics = read_json(run_digits("synaug", results, sets) / "result.json")["metrics"]
    (main,) = metrics["stages"]  # a stage with epochs=0 is skipped, so not recorded
    assert main["name"] == "main" and main["batch_aug"] == "none"


@pytest.mark.slow
def test_modifier_prompts_through_the_tiny_sd_pipeline(tmp_path: Path) -> None:
    from fixtures.tiny_pipelines import save_tiny_sd

    from bench.synthesis.store import SyntheticSet

    sd = save_tiny_sd(tmp_path / "sd")
    sets = [
        *tiny_sets("synaug"),
        "generator=sd",
        f"model_dir={sd}",
        "resolution=32",
        "sampling_steps=2",
        "plan=fill:3",
    ]
    run_dir = run_digits("synaug", tmp_path / "results", sets)
    result = read_json(run_dir / "result.json")
    assert result["metrics"]["synthetic_counts"] == [0, 0, 0, 0, 0, 0, 0, 0, 2, 2]
    key = result["info"]["synthesis"]["key"]
    store = SyntheticSet(tmp_path / "results" / "cache" / "synthetic" / key)
    prompts = store.metadata(0)["prompts"]
    star = load_class_lists(SHIPPED)["*"]
    assert prompts == [
        f"a photo of {star[0]} 8",
        f"a photo of {star[1]} 8",
        f"a photo of {star[0]} 9",
        f"a photo of {star[1]} 9",
    ]
