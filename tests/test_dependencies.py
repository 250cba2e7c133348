"""Runs that depend on runs: resolved once, run first (or refused with the exact command),
their ids in the synthesis key, their classifier handed to the method."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import cli

from bench.io import read_json
from bench.method import Dependency
from bench.methods import METHODS
from bench.methods.ddpm_fill import DDPMFill
from bench.runs.config import resolve

SEEN: dict = {}


class FeedbackFill(DDPMFill):
    """A test method: ddpm-fill that needs an erm run's classifier (as FG does)."""

    DEPENDENCIES = {
        "classifier": Dependency("erm", "FG App F: an ERM classifier on the same LT data"),
    }

    def sampling_hooks(self, generator):
        SEEN["classifier"] = self.context.dependencies["classifier"]
        return super().sampling_hooks(generator)


@pytest.fixture
def feedback_method(monkeypatch):
    monkeypatch.setitem(METHODS._targets, "feedback-fill", "test_dependencies:FeedbackFill")
    monkeypatch.setitem(METHODS._loaded, "feedback-fill", FeedbackFill)
    SEEN.clear()
    yield "feedback-fill"


def test_dependency_is_resolved_once_with_the_same_data_and_overridable(feedback_method) -> None:
    cfg = resolve(
        feedback_method,
        "digits-lt",
        3,
        sets=["imbalance_factor=50", "dep.classifier.recipe.epochs=4"],
    )
    dep = cfg.dependencies["classifier"]
    assert dep.method == "erm" and dep.seed == 3 and dep.data == cfg.data
    assert dep.recipe["epochs"] == 4
    assert cfg.identity()["dependencies"] == {"classifier": dep.run_id}
    other = resolve(feedback_method, "digits-lt", 3, sets=["imbalance_factor=50"])
    assert other.run_id != cfg.run_id  # the dependency's settings are part of the identity
    with pytest.raises(Exception, match=r"dep\.NAME\.KEY=VALUE .*its dependencies: classifier"):
        resolve(feedback_method, "digits-lt", sets=["dep.teacher.recipe.lr=1"])


def run(method: str, results: Path, *extra: str) -> tuple[int, str, str]:
    sets = [*tiny_sets_for(method), *extra]
    options = [e for e in extra if e.startswith("--")]
    sets = [s for s in sets if not s.startswith("--")]
    return cli(
        "run",
        "--method",
        method,
        "--dataset",
        "digits-lt",
        "--quiet",
        *options,
        "--results",
        str(results),
        *[f"--set={s}" for s in sets],
    )


def tiny_sets_for(method: str) -> list[str]:
    from helpers import tiny_sets

    return [
        *tiny_sets("ddpm-fill"),
        "dep.classifier.recipe.epochs=2",
        "dep.classifier.recipe.steps_per_epoch=2",
        "dep.classifier.recipe.batch_size=16",
    ]


def test_no_deps_prints_the_exact_command_then_running_it_works(feedback_method, results):
    code, out, err = cli(
        "run",
        "--method",
        feedback_method,
        "--dataset",
        "digits-lt",
        "--quiet",
        "--no-deps",
        "--results",
        str(results),
        *[f"--set={s}" for s in tiny_sets_for(feedback_method)],
    )
    assert code == 2
    assert "needs its 'classifier' run (erm on digits-lt, seed 0)" in err
    command = err.strip().splitlines()[-1].strip().split()
    assert command[:6] == ["bench", "run", "--method", "erm", "--dataset", "digits-lt"]
    cache = results / "cache"  # refused before any work (only the data check is cached)
    assert not (cache / "generators").exists() and not (cache / "synthetic").exists()
    code, out, err = cli(*command[1:], "--quiet")  # the printed command, as a user runs it
    assert code == 0, err
    erm_dir = Path(out.strip())
    code, out, err = run(feedback_method, results, "--no-deps")
    assert code == 0, err
    assert SEEN["classifier"].run_dir == erm_dir and SEEN["classifier"].num_classes == 10


def test_missing_dependency_runs_first_and_is_shared(feedback_method, results) -> None:
    code, out, err = run(feedback_method, results)
    assert code == 0, err
    erm_runs = sorted((results / "runs").glob("erm-digits-lt-*"))
    assert len(erm_runs) == 1 and (erm_runs[0] / "done").exists()
    config = read_json(Path(out.strip()) / "config.json")
    assert config["dependencies"]["classifier"] in erm_runs[0].name
    code, _, err = run(feedback_method, results, "recipe.lr=0.002")  # another consumer
    assert code == 0, err
    assert len(sorted((results / "runs").glob("erm-digits-lt-*"))) == 1  # run once, shared
