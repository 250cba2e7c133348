"""The dataset option real_kept (SYNAuG's replacement test, Sec 4.2 / Fig. 2): the reduced
training split per class for both kinds, seeded draws, run identity, bad input, and a synaug run
whose plan fills the emptied classes."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
from helpers import run_digits, tiny_sets

from bench.data.realkept import kept_indices, share
from bench.errors import ConfigError
from bench.io import read_json
from bench.runs.config import RunConfig, resolve
from bench.runs.runner import load_data

FULL = [114, 68, 40, 24, 14, 8, 5, 3, 1, 1]  # digits-lt's training counts per class


def digits(real_kept: str, seed: int = 0):
    config = resolve("synaug", "digits-lt", seed, sets=[f"dataset.real_kept={real_kept}"])
    return load_data(config, None, None)[0]


def test_default_keeps_every_real_image() -> None:
    data = digits("all")
    assert data.train_counts().tolist() == FULL and "real_kept" not in data.info
    # at its default the option is no part of the data fingerprint (earlier run ids stay)
    assert "real_kept" not in data.info["fingerprint"]["options"]
    assert digits("uniform:0.5").info["fingerprint"]["options"]["real_kept"] == "uniform:0.5"


def test_uniform_keeps_the_share_of_every_class_at_least_one() -> None:
    full = digits("all")
    data = digits("uniform:0.1")
    # 10% rounded half up, at least one: 114 -> 11, 68 -> 7, 40 -> 4, 24 -> 2, 14 -> 1, ...
    assert data.train_counts().tolist() == [11, 7, 4, 2, 1, 1, 1, 1, 1, 1]
    assert data.info["real_kept"]["kept"] == 30 and data.info["real_kept"]["of"] == 278
    assert data.info["real_kept"]["classes_without_real"] == []
    # the kept images are real training images of their class, each once
    kept = data.train.images.reshape(len(data.train), -1)
    pool = {
        row.tobytes(): int(t)
        for row, t in zip(full.train.images.reshape(278, -1), full.train.targets, strict=True)
    }
    assert [pool[row.tobytes()] for row in kept] == data.train.targets.tolist()
    assert len({row.tobytes() for row in kept}) == 30
    assert digits("uniform:1").train_counts().tolist() == FULL
    # the other splits are untouched
    assert {k: len(v) for k, v in data.splits.items() if k != "train"} == {
        k: len(v) for k, v in full.splits.items() if k != "train"
    }


def test_classwise_keeps_all_images_of_a_share_of_the_classes_and_none_of_the_others() -> None:
    data = digits("classwise:0.5")
    counts = np.array(data.train_counts())
    kept = np.flatnonzero(counts)
    assert len(kept) == 5 and counts[kept].tolist() == [FULL[c] for c in kept]
    assert data.info["real_kept"]["classes_without_real"] == np.flatnonzero(counts == 0).tolist()
    assert len(np.flatnonzero(digits("classwise:0.01").train_counts())) == 1  # at least one


def test_draws_are_seeded() -> None:
    first = digits("classwise:0.5", seed=0).train_counts().tolist()
    assert digits("classwise:0.5", seed=0).train_counts().tolist() == first
    others = {tuple(digits("classwise:0.5", seed=s).train_counts()) for s in (1, 2, 3)}
    assert others - {tuple(first)}  # another seed draws other classes
    targets = np.repeat(np.arange(4), 50)
    a, b = (kept_indices(targets, 4, "uniform:0.2", s) for s in (7, 8))
    assert len(a) == len(b) == 40 and not np.array_equal(a, b)


def test_share_rounds_half_up_with_at_least_one() -> None:
    assert [share(0.01, n) for n in (500, 30, 250, 150, 0)] == [5, 1, 3, 2, 0]
    assert share(0.5, 3) == 2 and share(1.0, 7) == 7


def test_run_identity_and_pickling() -> None:
    base = resolve("synaug", "digits-lt")
    assert "real_kept" not in base.identity()["data"]  # earlier run ids are unchanged
    one = resolve("synaug", "digits-lt", sets=["dataset.real_kept=uniform:0.010"])
    assert one.data["real_kept"] == "uniform:0.01"  # one spelling, one id
    assert one.run_id == resolve("synaug", "digits-lt", sets=["real_kept=uniform:0.01"]).run_id
    other = resolve("synaug", "digits-lt", sets=["dataset.real_kept=uniform:0.02"])
    assert len({base.run_id, one.run_id, other.run_id}) == 3
    again = pickle.loads(pickle.dumps(one))
    assert again == one and again.dataset_settings.real_kept == "uniform:0.01"
    assert RunConfig.from_json(one.to_json()).run_id == one.run_id


def test_a_shared_generator_is_not_shared_across_drawn_real_splits(tmp_path: Path) -> None:
    """generator_seed fixes the ddpm across run seeds; with real_kept each seed fits on other
    real images, so the generator keys must differ."""
    from bench.runs.runner import open_synthesis

    def generator_key(seed: int, *sets: str) -> str:
        config = resolve("synaug", "digits-lt", seed, sets=["generator_seed=0", *sets])
        data = load_data(config, None, None)[0]
        return open_synthesis(config, data, tmp_path, "cpu", False, False).generator_key

    assert generator_key(0) == generator_key(1)
    kept = "dataset.real_kept=uniform:0.5"
    assert len({generator_key(0), generator_key(0, kept), generator_key(1, kept)}) == 3


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("uniform:1.5", "F=1.5 lies outside (0, 1]"),
        ("classwise:-0.1", "F=-0.1 lies outside (0, 1]"),
        ("uniform:0", "keeps no real training image"),
        ("half:0.5", "'half:0.5': unknown form"),
        ("uniform", "'uniform': unknown form"),
        ("uniform:x", "'x' is not a number"),
    ],
)
def test_bad_forms_are_config_errors_naming_the_value_and_the_forms(
    value: str, message: str
) -> None:
    with pytest.raises(ConfigError, match="real_kept=") as info:
        resolve("synaug", "digits-lt", sets=[f"dataset.real_kept={value}"])
    assert message in str(info.value)
    assert "all | uniform:F | classwise:F with 0 < F <= 1" in str(info.value)


def test_the_cli_refuses_a_bad_form_before_any_work(tmp_path: Path) -> None:
    from helpers import cli

    results = tmp_path / "r"
    args = ["run", "--method", "synaug", "--dataset", "digits-lt", "--results", str(results)]
    code, _, err = cli(*args, "--quiet", "--set", "dataset.real_kept=uniform:2")
    assert code == 2 and "real_kept='uniform:2': F=2 lies outside (0, 1]" in err
    assert "Traceback" not in err and not results.exists()


@pytest.mark.slow
def test_uniform_replacement_run_fills_every_class_to_the_target(tmp_path: Path) -> None:
    """Fig. 2b on digits-lt: every class keeps 10% of its real images, fill:20 tops it up."""
    sets = [*tiny_sets("synaug"), "dataset.real_kept=uniform:0.1", "plan=fill:20"]
    result = read_json(run_digits("synaug", tmp_path / "results", sets) / "result.json")
    real = result["metrics"]["train_counts"]
    assert real == [11, 7, 4, 2, 1, 1, 1, 1, 1, 1]
    assert [r + s for r, s in zip(real, result["metrics"]["synthetic_counts"], strict=True)] == [
        20
    ] * 10


@pytest.mark.slow
def test_synaug_replacement_run_fills_the_emptied_classes(tmp_path: Path) -> None:
    """Fig. 2a on digits-lt: half the classes lose their real images; fill:68 (the largest
    class kept) fills them from nothing; no Mixup, no fine-tuning."""
    sets = [
        *tiny_sets("synaug"),
        "dataset.real_kept=classwise:0.5",
        "plan=fill:68",
        "recipe.batch_aug=none",
        "recipe.mix_pairs=batch",
        "stage.ft.epochs=0",
    ]
    run_dir = run_digits("synaug", tmp_path / "results", sets)
    result = read_json(run_dir / "result.json")
    real = np.array(result["metrics"]["train_counts"])
    emptied = result["info"]["real_kept"]["classes_without_real"]
    assert emptied == np.flatnonzero(real == 0).tolist() and len(emptied) == 5
    synthetic = np.array(result["metrics"]["synthetic_counts"])
    assert (real + synthetic == 68).all()  # emptied classes: 68 synthetic images
    assert result["info"]["synthetic_plan"]["num_images"] == 680 - real.sum()
    assert result["metrics"]["test"]["overall"] is not None
