"""Multi-process training (torch.distributed, gloo on the CPU): 2 processes train what one does."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import audited_cli, run_digits

# Group DRO (classes as groups): a loss reduced over groups of the whole batch, with state.
SETS = [
    "recipe.epochs=2",
    "recipe.steps_per_epoch=5",
    "recipe.batch_size=32",
    "recipe.loss=group-dro",
    "recipe.groups=auto",
]


def read_metrics(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


def spawn_run(results: Path, out: Path) -> Path:
    """`bench run` of the SETS run with 2 gloo ranks; returns the run directory."""
    from bench.train.distributed import spawn

    argv = ["run", "--method", "erm", "--dataset", "digits-lt", "--device", "cpu", "--quiet"]
    argv += ["--results", str(results), *(f"--set={s}" for s in SETS)]
    assert spawn(2, audited_cli, str(out), *argv) == 0
    (run_dir,) = (results / "runs").iterdir()
    return run_dir


def assert_same_training(single: Path, ddp: Path) -> None:
    """Same weights (up to float summation order), same per-epoch and final metrics."""
    for name in ("model_last.pt", "model_best.pt"):
        a = torch.load(single / name, weights_only=True)
        b = torch.load(ddp / name, weights_only=True)
        assert a.keys() == b.keys()
        for key in a:
            torch.testing.assert_close(b[key], a[key], rtol=1e-3, atol=1e-4, msg=key)
    rows_a, rows_b = read_metrics(single), read_metrics(ddp)
    assert len(rows_a) == len(rows_b) == 2
    for ra, rb in zip(rows_a, rows_b, strict=True):
        assert rb["train_loss"] == pytest.approx(ra["train_loss"], rel=1e-4)
        assert rb["train_acc"] == ra["train_acc"]
        assert rb["val_acc"] == ra["val_acc"] and rb["val_balanced"] == ra["val_balanced"]
    res_a = json.loads((single / "result.json").read_text())
    res_b = json.loads((ddp / "result.json").read_text())
    for key, value in res_a["metrics"].items():
        if isinstance(value, float):
            assert res_b["metrics"][key] == pytest.approx(value, abs=1e-6), key
    assert res_b["info"]["distributed"] == {"world_size": 2, "backend": "gloo"}
    assert "distributed" not in res_a["info"]


def test_two_processes_train_what_one_does(tmp_path):
    """erm with Group DRO on digits-lt (small-cnn with batch norm, per-sample shift
    augmentation): 2 gloo ranks each taking half of every batch end with the single-process
    weights and metrics; rank 0 alone wrote the run's files, and the record says world size 2."""
    single = run_digits("erm", tmp_path / "one", SETS, "--device", "cpu")
    ddp = spawn_run(tmp_path / "two", tmp_path)
    assert ddp.name == single.name
    assert_same_training(single, ddp)
    written = {r: json.loads((tmp_path / f"written-{r}.json").read_text()) for r in (0, 1)}
    assert any(".result.json." in p for p in written[0])  # atomic: via a temp file
    assert [p for p in written[1] if p.startswith(str((tmp_path / "two").resolve()))] == []
    assert sorted(p.name for p in ddp.iterdir()) == sorted(p.name for p in single.iterdir())
    log = (ddp / "log.txt").read_text()
    assert log.count("step train-classifier") == 1, log  # one writer: rank 0
    assert not (ddp / "train_state.pt").exists()


@pytest.mark.slow
def test_two_processes_resume_a_checkpoint(tmp_path):
    """Training stopped after epoch 1 (single process) and resumed by 2 ranks ends as the
    uninterrupted single-process run: every rank loads the same train_state.pt."""
    from bench.runs.config import resolve
    from bench.runs.runner import load_data
    from bench.train.loop import train_classifier

    class Stop(Exception):
        pass

    def stop(rows):
        raise Stop

    single = run_digits("erm", tmp_path / "one", SETS, "--device", "cpu")
    config = resolve("erm", "digits-lt", sets=SETS)
    data, _ = load_data(config, None, None)
    state = tmp_path / "two" / "runs" / single.name / "train_state.pt"
    state.parent.mkdir(parents=True)
    with pytest.raises(Stop):
        args = (config.recipe_settings, data, None, config.seed, "cpu", state, stop, False)
        train_classifier(*args, stages=config.stage_list())
    ddp = spawn_run(tmp_path / "two", tmp_path)
    assert "resuming classifier training in stage 0 after epoch 1" in (ddp / "log.txt").read_text()
    assert_same_training(single, ddp)


def test_each_rank_takes_its_share_of_every_batch():
    from bench.train.distributed import World
    from bench.train.loop import SeededBatches
    from bench.train.samplers import BatchPlan

    labels = np.repeat(np.arange(4), [20, 10, 5, 1])
    plan = BatchPlan(labels, None, 8, 3, "class-balanced", None, seed=3)
    whole = list(SeededBatches(plan))
    shares = [list(SeededBatches(plan, World(rank, 2))) for rank in range(2)]
    for step, keys in enumerate(whole):
        a, b = shares[0][step], shares[1][step]
        assert len(a) == len(b) == 4
        assert sorted(a + b) == sorted(keys)  # same indices, same per-sample seeds


def test_a_batch_that_does_not_split_is_refused():
    from bench.errors import ConfigError
    from bench.runs.config import resolve
    from bench.train.distributed import World
    from bench.train.loop import check_world, stage_plan

    recipe = resolve("erm", "digits-lt", sets=["recipe.batch_size=30"]).recipe_settings
    check_world(stage_plan(recipe), World(0, 2))
    with pytest.raises(ConfigError, match="batch_size=30 does not split over 4 processes"):
        check_world(stage_plan(recipe), World(0, 4))


def test_nproc_below_one_is_refused(tmp_path):
    from helpers import cli

    code, _, err = cli("run", "--method", "erm", "--dataset", "digits-lt", "--nproc", "0",
                       "--results", str(tmp_path))  # fmt: skip
    assert code == 2 and "--nproc 0: give 1 or more processes" in err
    assert not (tmp_path / "runs").exists()


def test_one_gpu_index_for_several_processes_is_refused(monkeypatch):
    from bench.errors import ConfigError
    from bench.train import distributed

    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "1")
    assert distributed.env_world() == distributed.World(1, 2, 0)
    with pytest.raises(ConfigError, match="--device cuda:1 with 2 processes"):
        distributed.init("cuda:1")
    assert not distributed.current().distributed
