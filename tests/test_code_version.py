"""Jobs run the submitted code: every run records the code version it ran, a sweep's jobs carry
the version they were submitted with and refuse to run other code, and SLURM jobs import the
installed bench rather than a `bench/` folder in their working directory."""

from __future__ import annotations

import json
import os
import pickle
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import REPO, TINY_RECIPE, cli, other_checkout

from bench.launch.launchers import SlurmLauncher
from bench.launch.task import UnitTask
from bench.launch.units import Env, Unit
from bench.runs.config import resolve
from bench.runs.records import code_version, environment


def python_in(other: Path | None, code: str, cwd: Path | None = None, python=(sys.executable,)):
    """Run `code` in a fresh interpreter, with `other` first on PYTHONPATH if given, in `cwd`
    (default: `other`; `-c` puts the working directory first on sys.path)."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    if other is not None:
        env["PYTHONPATH"] = str(other)
    return subprocess.run(
        [*python, "-c", code],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd or other,
        timeout=300,
    )


VERSION = (
    "import json; from bench.runs.records import code_version; print(json.dumps(code_version()))"
)


def version_in(other: Path) -> dict:
    out = python_in(other, VERSION)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def test_a_run_records_the_commit_and_a_digest_of_uncommitted_changes():
    here = code_version()
    env = environment("cpu")
    assert env["git"] == {k: here[k] for k in ("commit", "dirty", "changes")}
    assert env["code"] == {"digest": here["digest"], "path": str(REPO / "bench")}
    head = subprocess.run(["git", "-C", str(REPO), "rev-parse", "HEAD"], capture_output=True)
    assert here["commit"] == head.stdout.decode().strip()


def test_the_changes_digest_follows_edits_and_untracked_files_and_clears_on_revert(tmp_path):
    other = other_checkout(tmp_path / "other")
    clean = version_in(other)
    head = subprocess.run(["git", "-C", str(other), "rev-parse", "HEAD"], capture_output=True)
    assert clean["commit"] == head.stdout.decode().strip()
    assert clean["path"] == str(other / "bench") and clean["changes"] is None
    assert clean["dirty"] is False
    init = other / "bench" / "__init__.py"
    original = init.read_text()
    init.write_text(original + "# an edit\n")
    edited = version_in(other)
    assert edited["dirty"] and edited["changes"] and edited["digest"] != clean["digest"]
    (other / "bench" / "scratch.py").write_text("x = 1\n")  # untracked, inside the package
    both = version_in(other)
    assert both["changes"] not in (None, edited["changes"])
    (other / "bench" / "scratch.py").unlink()
    init.write_text(original)
    assert version_in(other) == clean  # the same code again: the same version
    (other / "notes.txt").write_text("not code\n")  # outside the package: not its version
    assert version_in(other) == clean


def pickled_task(tmp_path: Path) -> Path:
    """A unit task as `bench sweep` submits it (the job unpickles and calls it)."""
    config = resolve("erm", "digits-lt", 0, None, TINY_RECIPE)
    unit = Unit("run", config.run_name, "classifier", config)
    path = tmp_path / "task.pkl"
    path.write_bytes(pickle.dumps(UnitTask(unit, Env(tmp_path / "results"), code_version())))
    return path


JOB = "import pickle, sys; pickle.loads(open(sys.argv[1], 'rb').read())()"


def test_a_job_started_from_another_checkout_refuses_to_run_naming_both_versions(tmp_path):
    task = pickled_task(tmp_path)
    other = other_checkout(tmp_path / "other")
    theirs, ours = version_in(other), code_version()
    out = python_in(other, JOB.replace("sys.argv[1]", repr(str(task))))
    assert out.returncode != 0
    assert "this job would run other code than its sweep was submitted with" in out.stderr
    for version in (ours, theirs):  # both commits and both folders, named
        assert f"commit {version['commit'][:12]}" in out.stderr
        assert f"bench at {version['path']}" in out.stderr
    assert not (tmp_path / "results" / "runs").exists()  # nothing ran


def test_slurm_jobs_import_the_installed_bench_not_the_working_directorys(tmp_path, monkeypatch):
    """The interpreter command the SLURM launcher hands submitit, run where the sweep was
    submitted from: a checkout whose bench/ is another version."""
    other = other_checkout(tmp_path / "other")
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "srun").write_text("#!/bin/sh\nexit 1\n")  # submitit only checks srun is on PATH
    (fake / "srun").chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake}{os.pathsep}{os.environ['PATH']}")
    executor = SlurmLauncher(tmp_path / "logs", {"profile": "local"}).executor("classifier", [])
    command = executor._executor._submitit_command_str  # python ... -m submitit.core._submit F
    python = shlex.split(command)[: shlex.split(command).index("-u")]
    out = python_in(None, "import bench; print(bench.__file__)", cwd=other, python=python)
    assert out.returncode == 0, out.stderr
    assert Path(out.stdout.strip()).parent == Path(code_version()["path"])


def tiny_sweep(tmp_path: Path) -> tuple[Path, Path]:
    spec = tmp_path / "sweep.yaml"
    spec.write_text(
        json.dumps(
            {
                "name": "code",
                "methods": [{"name": "erm", "set": TINY_RECIPE}],
                "datasets": ["digits-lt"],
                "seeds": [0],
            }
        ),
        encoding="utf-8",
    )
    return spec, tmp_path / "results"


@pytest.mark.slurm
def test_a_slurm_sweep_submitted_from_another_checkout_runs_the_installed_bench(
    tmp_path, monkeypatch
):
    spec, results = tiny_sweep(tmp_path)
    monkeypatch.chdir(other_checkout(tmp_path / "other"))  # the jobs' working directory
    code, out, err = cli(
        "sweep", str(spec), "--profile", "local", "--results", str(results), "--wait"
    )
    assert code == 0, (out, err)
    ours = code_version()
    (result,) = (results / "runs").glob("*/result.json")
    assert json.loads(result.read_text())["environment"]["code"]["digest"] == ours["digest"]
    state = json.loads((results / "sweeps" / "code" / "state.json").read_text())
    assert state["code"] == ours
    assert [job["code"] for unit in state["units"].values() for job in unit["jobs"]] == [
        ours["digest"]
    ]


@pytest.mark.slurm
def test_a_slurm_job_importing_another_checkout_refuses_naming_both_versions(tmp_path, monkeypatch):
    spec, results = tiny_sweep(tmp_path)
    other = other_checkout(tmp_path / "other")
    theirs = version_in(other)
    monkeypatch.setenv("PYTHONPATH", str(other))  # sbatch passes it on to the job
    code, out, err = cli(
        "sweep", str(spec), "--profile", "local", "--results", str(results), "--wait"
    )
    assert code == 1, (out, err)
    (unit,) = json.loads((results / "sweeps" / "code" / "state.json").read_text())["units"].values()
    log = Path(unit["jobs"][-1]["log"]).read_text()
    assert "this job would run other code than its sweep was submitted with" in log
    for version in (code_version(), theirs):
        assert f"commit {version['commit'][:12]}" in log and f"bench at {version['path']}" in log
    assert not list((results / "runs").glob("*/result.json"))
