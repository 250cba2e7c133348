"""bench sweep on a real SLURM cluster (marked `slurm`; .ci/run starts one with slurm/local/start).

The acceptance tests of issue 11: arrays to the end and a relaunch that submits nothing, a
failed task reported and retried, synthesis interrupted by a bare requeue or by the preemption
signal ending with a synthetic set identical to an uninterrupted one, and the chain erm -> FG
synthesis -> classifier in order with the shared erm run done once.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
import yaml
from helpers import REPO, TINY_RECIPE, cli, run_digits, tiny_sets

from bench.io import read_json
from bench.launch import sweep as sweeps
from bench.launch.units import Env
from bench.runs.config import resolve
from bench.runs.records import run_dir_for
from bench.runs.runner import bind_data

pytestmark = pytest.mark.slurm

# ddpm-fill with a synthetic set of 11 shards, slow enough to interrupt between two of them.
SLOW_SYNTHESIS = [*tiny_sets("ddpm-fill"), "method.plan=fill:300"]


@pytest.fixture(scope="module", autouse=True)
def cluster() -> None:
    sinfo = shutil.which("sinfo")
    out = subprocess.run([sinfo or "sinfo", "-h", "-o", "%t"], capture_output=True, text=True)
    if sinfo is None or out.returncode != 0 or not out.stdout.strip():
        pytest.fail("no SLURM cluster answers sinfo: start one with slurm/local/start")


def write_spec(tmp_path: Path, methods: list, seeds: list[int]) -> Path:
    path = tmp_path / "sweep.yaml"
    spec = {"name": "acceptance", "methods": methods, "datasets": ["digits-lt"], "seeds": seeds}
    path.write_text(yaml.safe_dump(spec), encoding="utf-8")
    return path


def open_(spec: Path, results: Path) -> sweeps.Sweep:
    return sweeps.open_sweep(spec, "slurm", {"profile": "local"}, (), Env(results))


def test_sweep_of_arrays_ends_done_on_the_leaderboard_and_a_relaunch_submits_nothing(tmp_path):
    methods = [
        {"name": "erm", "set": TINY_RECIPE},
        {"name": "ddpm-fill", "set": tiny_sets("ddpm-fill")},
    ]
    spec, results = write_spec(tmp_path, methods, [0, 1]), tmp_path / "results"
    args = ("sweep", str(spec), "--profile", "local", "--results", str(results))
    code, out, err = cli(*args, "--wait")
    assert code == 0, (out, err)
    # ddpm-fill fits one generator for both seeds (generator_seed 0); each set is one task
    assert "submitted 1 generator, 2 synthesis, 4 classifier" in out
    assert len(list((results / "runs").glob("*/done"))) == 4
    units = read_json(results / "sweeps/acceptance/state.json")["units"].values()
    for stage in ("synthesis", "classifier"):
        ids = [u["jobs"][0]["id"] for u in units if u["stage"] == stage]
        assert len({i.split("_")[0] for i in ids}) == 1 and all("_" in i for i in ids)  # an array
    code, out, _ = cli("leaderboard", "--results", str(results))
    rows = {  # a row's label: the method, then the settings it was given
        line.split("|")[1].split()[0]: line for line in out.splitlines() if line.startswith("| ")
    }
    assert {"erm", "ddpm-fill"} <= set(rows), out
    assert all(rows[m].rstrip(" |").split("|")[-1].strip() == "2" for m in ("erm", "ddpm-fill"))
    code, out, _ = cli(*args)
    assert code == 0 and "submitted nothing (left alone: 7 done)" in out
    assert (
        read_json(results / "sweeps/acceptance/state.json")["units"]
        == read_json(results / "sweeps/acceptance/state.json")["units"]
    )


def test_a_failed_task_shows_its_log_and_retry_failed_completes_it(tmp_path):
    spec = write_spec(tmp_path, [{"name": "erm", "set": TINY_RECIPE}], [0, 1])
    results = tmp_path / "results"
    bad = resolve("erm", "digits-lt", 1, None, TINY_RECIPE)
    run_dir = run_dir_for(results, bind_data(bad))  # named after the data it reads too
    run_dir.mkdir(parents=True)  # the cause: another run's config.json in its directory
    (run_dir / "config.json").write_text(json.dumps(resolve("erm", "digits-lt", 0).to_json()))
    args = ("sweep", str(spec), "--profile", "local", "--results", str(results))
    code, out, _ = cli(*args, "--wait")
    assert code == 1
    code, out, _ = cli(*args, "--status")
    job = read_json(results / "sweeps/acceptance/state.json")["units"][bad.run_name]["jobs"][-1]
    assert f"{bad.run_name}  job {job['id']}  log {job['log']}" in out
    assert (
        Path(job["log"]).is_file()
        and "holds a run of another config" in Path(job["log"]).read_text()
    )
    failure = read_json(run_dir / "failure.json")
    assert failure["job_id"] == job["id"] and failure["log"] == job["log"]
    (run_dir / "config.json").unlink()
    code, out, _ = cli(*args, "--retry-failed", "--wait")
    assert code == 0 and "submitted 1 classifier" in out, out
    assert (run_dir / "done").exists() and not (run_dir / "failure.json").exists()


def synthetic_set(results: Path) -> dict[str, bytes]:
    """Every file of the finished set: images (.npy) and per-sample metadata (.json)."""
    (store,) = (results / "cache" / "synthetic").glob("*/done")
    return {
        shard.name: shard.read_bytes()
        for shard in sorted(store.parent.glob("shard-*"))
        if shard.suffix in (".npy", ".json")
    }


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory) -> dict[str, np.ndarray]:
    results = tmp_path_factory.mktemp("reference") / "results"
    run_digits("ddpm-fill", results, SLOW_SYNTHESIS)
    return synthetic_set(results)


@pytest.mark.parametrize("how", ["requeue", "preempt"])
def test_interrupted_synthesis_ends_identical_to_an_uninterrupted_one(tmp_path, how, uninterrupted):
    import submitit

    spec = write_spec(tmp_path, [{"name": "ddpm-fill", "set": SLOW_SYNTHESIS}], [0])
    results = tmp_path / "results"
    code, _, err = cli("sweep", str(spec), "--profile", "local", "--results", str(results))
    assert code == 0, err
    sweep = open_(spec, results)
    (key,) = [k for k, unit in sweep.plan.units.items() if unit.stage == "synthesis"]
    job_id = sweep.state.last_job(key)["id"]  # the synthesis task (after the generator's fit)
    deadline = time.time() + 600
    while not list((results / "cache" / "synthetic").glob("*/shard-00001.json")):
        assert time.time() < deadline, "synthesis never started"
        time.sleep(0.5)
    shards_before = len(list((results / "cache" / "synthetic").glob("*/shard-*.json")))
    if how == "requeue":
        subprocess.run(["scontrol", "requeue", job_id], check=True)
    else:
        submitit.SlurmJob(sweep.state.log_folder, job_id)._interrupt()  # SIGTERM, then USR2
    assert not list((results / "cache" / "synthetic").glob("*/done")), "interrupted too late"
    status = sweeps.wait(sweep, poll_s=2, timeout_s=900)
    assert set(status.values()) == {"done"} and len(status) == 3  # generator, synthesis, run
    assert synthetic_set(results) == uninterrupted
    assert shards_before < len(uninterrupted) // 2
    log = Path(sweep.state.last_job(key)["log"]).read_text()
    if how == "preempt":  # submitit caught the signal, checkpointed and requeued the task
        assert "Caught signal SIGUSR2" in log and "this job is preempted" in log, log


def test_cancel_then_a_relaunch_submits_the_cancelled_units_again(tmp_path):
    spec = write_spec(tmp_path, [{"name": "erm", "set": TINY_RECIPE}], [0])
    results = tmp_path / "results"
    args = ("sweep", str(spec), "--profile", "local", "--results", str(results))
    assert cli(*args)[0] == 0
    code, out, _ = cli(*args, "--cancel")
    assert code == 0 and "cancelled 1 job(s)" in out
    sweep = open_(spec, results)
    deadline = time.time() + 60
    while set(sweep.status().values()) != {"cancelled"}:  # sacct lags scancel a little
        assert time.time() < deadline, sweep.status()
        time.sleep(1)
    code, out, _ = cli(*args, "--wait")
    assert code == 0 and "submitted 1 classifier" in out
    assert set(sweep.status().values()) == {"done"}


def test_dependency_chain_runs_in_order_with_the_shared_erm_run_done_once(tmp_path):
    """erm -> FG-style synthesis -> classifier: fg-entropy and fg-loss at seed 0 need the same
    feedback run; it runs once, in the dependency array, and the synthesis array (which FG's
    guidance needs it for) starts only after it; the classifiers after their sets."""
    methods = [{"name": m, "set": tiny_sets(m)} for m in ("fg-entropy", "fg-loss")]
    spec, results = write_spec(tmp_path, methods, [0]), tmp_path / "results"
    args = ("sweep", str(spec), "--profile", "local", "--results", str(results))
    code, out, err = cli(*args, "--wait")
    assert code == 0, (out, err)
    # one erm run and one generator fit for both criteria, a set (one task) and a run each
    assert "submitted 1 dependency, 1 generator, 2 synthesis, 2 classifier" in out
    units = read_json(results / "sweeps/acceptance/state.json")["units"]
    arrays = {}
    for unit in units.values():
        assert len(unit["jobs"]) == 1  # nothing submitted twice
        arrays.setdefault(unit["stage"], set()).add(unit["jobs"][0]["id"].split("_")[0])
    assert sorted(arrays) == ["classifier", "dependency", "generator", "synthesis"]
    assert all(len(ids) == 1 for ids in arrays.values())  # one array per stage
    (erm_dir,) = (results / "runs").glob("erm-*")  # the shared erm run, once
    assert (erm_dir / "done").exists()
    assert (erm_dir / "log.txt").read_text().count(f"run {erm_dir.name} ->") == 1
    erm_done = (erm_dir / "done").stat().st_mtime
    stores = sorted((results / "cache" / "synthetic").glob("*/done"))
    assert len(stores) == 2
    for store in stores:  # each synthesis task started (wrote its manifest) after erm finished
        assert (store.parent / "manifest.json").stat().st_mtime >= erm_done
    for method in ("fg-entropy", "fg-loss"):
        (fg_dir,) = (results / "runs").glob(f"{method}-*")
        assert (fg_dir / "done").exists()
        result = read_json(fg_dir / "result.json")
        synthesis = result["info"]["synthesis"]
        assert synthesis["cached"] is True and synthesis["generated_shards"] == 0
        store_done = results / "cache" / "synthetic" / synthesis["key"] / "done"
        assert (fg_dir / "config.json").stat().st_mtime >= store_done.stat().st_mtime
        assert result["metrics"]["synthetic_counts"] is not None
    code, out, _ = cli(*args)
    assert code == 0 and "submitted nothing (left alone: 6 done)" in out


def test_a_failed_dependency_holds_back_its_chain_and_retry_failed_completes_it(tmp_path):
    """FG's erm run fails on the cluster (SLURM cancels the synthesis and the classifier that
    wait on it): a plain relaunch exits 1 naming the failure with its log's end and the retry
    command, and submits nothing; --retry-failed, the cause removed, completes the chain."""
    spec = write_spec(tmp_path, [{"name": "fg-entropy", "set": tiny_sets("fg-entropy")}], [0])
    results = tmp_path / "results"
    fg = resolve("fg-entropy", "digits-lt", 0, None, tiny_sets("fg-entropy"))
    erm_dir = run_dir_for(results, bind_data(fg.dependencies["classifier"]))
    erm_dir.mkdir(parents=True)  # the cause: another run's config.json in its directory
    (erm_dir / "config.json").write_text(json.dumps(resolve("erm", "digits-lt", 1).to_json()))
    args = ("sweep", str(spec), "--profile", "local", "--results", str(results))
    code, out, _ = cli(*args, "--wait")
    assert code == 1 and "submitted 1 dependency, 1 generator, 1 synthesis, 1 classifier" in out
    state = results / "sweeps/acceptance/state.json"
    jobs_before = {k: len(u["jobs"]) for k, u in read_json(state)["units"].items()}
    failure = read_json(erm_dir / "failure.json")
    assert "holds a run of another config" in failure["log_tail"][-1], failure["log_tail"]
    code, out, _ = cli(*args)
    assert code == 1, out
    assert "submitted nothing (left alone: 1 done, 1 failed, 2 waiting on a failure)" in out
    assert "error: " in out and "holds a run of another config" in out
    assert f"bench sweep {spec} --profile local --results {results} --retry-failed" in out
    assert {k: len(u["jobs"]) for k, u in read_json(state)["units"].items()} == jobs_before
    (erm_dir / "config.json").unlink()
    code, out, _ = cli(*args, "--retry-failed", "--wait")
    assert code == 0 and "submitted 1 dependency, 1 synthesis, 1 classifier" in out, out
    assert len(list((results / "runs").glob("*/done"))) == 2
    assert not (erm_dir / "failure.json").exists()


def test_the_embedded_benchmark_at_smoke_size_then_the_leaderboard(tmp_path):
    """`bench sweep sweeps/embedded.yaml --smoke` on the cluster (CI runs it), then its rows on
    `bench leaderboard --include-smoke`: every method of the spec, three seeds each."""
    spec, results = REPO / "sweeps" / "embedded.yaml", tmp_path / "results"
    args = ("sweep", str(spec), "--smoke", "--profile", "local", "--results", str(results))
    code, out, err = cli(*args, "--wait")
    assert code == 0, (out, err)
    assert "submitted 3 dependency, 4 generator, 30 synthesis, 33 classifier" in out
    runs = list((results / "runs").glob("*-smoke-*/done"))
    assert len(runs) == 36  # 33 runs of the sweep and FG's erm run of each seed
    code, out, _ = cli("leaderboard", "--results", str(results))
    assert "No finished runs." in out and "36 smoke run(s) left out" in out
    code, out, _ = cli("leaderboard", "--results", str(results), "--include-smoke")
    rows = [line for line in out.splitlines() if line.startswith("| ") and "[smoke]" in line]
    assert len(rows) == 12, out  # the spec's 12 method entries
    assert all(row.rstrip(" |").split("|")[-1].strip() == "3" for row in rows), out
    code, out, _ = cli(*args)
    assert code == 0 and "submitted nothing (left alone: 70 done)" in out
