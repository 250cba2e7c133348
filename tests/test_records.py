"""Run records: relaunching a finished run does nothing; a killed run resumes to the same result."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path

import pytest
from helpers import bench_command, bench_env, cli, run_digits

from bench.errors import BenchError
from bench.io import atomic_write_text, read_json, read_jsonl
from bench.runs.config import resolve
from bench.runs.records import load_run, run_dir_for, run_lock
from bench.runs.runner import bind_data, run

SHORT = ["recipe.epochs=3", "recipe.steps_per_epoch=3", "recipe.batch_size=16"]
KILLABLE = ["recipe.epochs=6", "recipe.steps_per_epoch=20", "recipe.batch_size=32"]


def snapshot(run_dir: Path) -> dict[str, float]:
    return {str(p): p.stat().st_mtime_ns for p in run_dir.rglob("*") if p.is_file()}


def test_record_is_self_describing_and_done_is_last(results: Path) -> None:
    run_dir = run_digits("erm", results, SHORT)
    config = bind_data(resolve("erm", "digits-lt", sets=SHORT))
    assert run_dir == run_dir_for(results, config)
    assert run_dir.name.endswith(config.run_id)
    assert read_json(run_dir / "config.json")["run_id"] == config.run_id
    result = read_json(run_dir / "result.json")
    env = result["environment"]
    assert result["seed"] == 0 and env["packages"]["torch"] and env["host"]
    assert "commit" in env["git"] and env["device"]["name"] == "cpu"
    assert {"load-data", "train-classifier", "evaluate", "total"} <= set(result["timings"])
    assert len(read_jsonl(run_dir / "metrics.jsonl")) == 3
    assert not (run_dir / "train_state.pt").exists()  # folded into model_best/model_last
    # every test image's label and the selected checkpoint's prediction (bench compare's input)
    metrics = result["metrics"]
    stored = metrics["test_predictions"]
    assert len(stored["labels"]) == len(stored["predicted"]) == 500  # digits-lt: 50 per class
    hits = [y == p for y, p in zip(stored["labels"], stored["predicted"], strict=True)]
    assert sum(hits) / len(hits) == pytest.approx(metrics["test"]["overall"])


def test_done_is_written_after_the_result(results: Path, monkeypatch) -> None:
    """A failing result write leaves no `done` (so the run is rerun, not taken as finished)."""
    from bench.runs import records

    original = records.atomic_write_json

    def failing(path, obj):
        if Path(path).name == "result.json":
            raise OSError("disk full")
        return original(path, obj)

    monkeypatch.setattr(records, "atomic_write_json", failing)
    config = resolve("erm", "digits-lt", sets=SHORT)
    with pytest.raises(OSError, match="disk full"):
        run(config, results, progress=False)
    run_dir = run_dir_for(results, bind_data(config))
    assert (run_dir / "config.json").exists()  # the run got as far as writing its record
    assert not (run_dir / "done").exists() and not (run_dir / "result.json").exists()


def test_relaunching_a_finished_run_does_no_work(results: Path) -> None:
    run_dir = run_digits("erm", results, SHORT)
    before = snapshot(run_dir)
    args = [f"--set={s}" for s in SHORT]
    code, out, err = cli(
        "run", "--method", "erm", "--dataset", "digits-lt", "--results", str(results), *args
    )
    assert code == 0 and Path(out.strip()) == run_dir
    assert "already done" in err and str(run_dir / "result.json") in err
    assert snapshot(run_dir) == before


# Two stages: killed in the second one (cRT's head-only stage), after its first epoch.
TWO_STAGES = [
    "recipe.epochs=2",
    "recipe.steps_per_epoch=20",
    "recipe.batch_size=32",
    "stage.crt.epochs=4",
]


def as_from_a_terminal() -> None:
    """In the child before exec: SIGINT and SIGTERM at their defaults and unblocked, as for a
    command started from a shell. A test worker can pass them on ignored or blocked (in the full
    suite, a run once ignored SIGINT and finished with 0), and bench rightly keeps an inherited
    SIG_IGN (a background job's)."""
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT, signal.SIGTERM})


@pytest.mark.parametrize(
    ("method", "sets", "kill_after", "sig"),
    [
        ("erm", KILLABLE, 2, signal.SIGKILL),
        ("crt", TWO_STAGES, 3, signal.SIGKILL),
        # A scheduler's preemption (SIGTERM) and Ctrl-C (SIGINT): the run stops, says how to
        # resume, exits 128 + signal, and the relaunch resumes as after a kill.
        ("erm", KILLABLE, 2, signal.SIGTERM),
        ("erm", KILLABLE, 2, signal.SIGINT),
        # the slow tier: kill -9 after other epochs (tests/test_kill_trials.py lists every trial)
        *[
            pytest.param("erm", KILLABLE, k, signal.SIGKILL, marks=pytest.mark.slow)
            for k in (1, 3, 4)
        ],
        pytest.param("crt", TWO_STAGES, 4, signal.SIGKILL, marks=pytest.mark.slow),
    ],
    ids=[
        "erm-SIGKILL",
        "crt-SIGKILL",
        "erm-SIGTERM",
        "erm-SIGINT",
        "erm-SIGKILL-after-1",
        "erm-SIGKILL-after-3",
        "erm-SIGKILL-after-4",
        "crt-SIGKILL-after-4",
    ],
)
def test_killed_run_resumes_to_the_uninterrupted_result(
    tmp_path: Path, method: str, sets: list[str], kill_after: int, sig: signal.Signals
) -> None:
    args = [
        "run",
        "--method",
        method,
        "--dataset",
        "digits-lt",
        "--quiet",
        *[f"--set={s}" for s in sets],
    ]
    killed, straight = tmp_path / "killed", tmp_path / "straight"
    run_dir = run_dir_for(killed, bind_data(resolve(method, "digits-lt", sets=sets)))

    proc = subprocess.Popen(
        bench_command(*args, "--results", str(killed)),
        env=bench_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=as_from_a_terminal,
    )
    deadline = time.time() + 180
    while time.time() < deadline and proc.poll() is None:
        metrics = run_dir / "metrics.jsonl"
        if metrics.exists() and len(read_jsonl(metrics)) >= kill_after:
            break
        time.sleep(0.05)
    # Freeze it first, so the signal lands at the point observed even if this process is
    # descheduled for a while on a loaded machine (the run could otherwise finish first).
    proc.send_signal(signal.SIGSTOP)
    assert proc.poll() is None, "the run ended before it could be killed"
    proc.send_signal(sig)
    proc.send_signal(signal.SIGCONT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == (-sig if sig == signal.SIGKILL else 128 + sig), err
    if sig != signal.SIGKILL:
        assert f"interrupted by {sig.name}" in err and "rerun the same command" in err
        assert "Traceback" not in err
    assert not (run_dir / "done").exists()
    assert (run_dir / "train_state.pt").exists()
    epochs_at_kill = len(read_jsonl(run_dir / "metrics.jsonl"))
    assert kill_after <= epochs_at_kill < 6

    config = resolve(method, "digits-lt", sets=sets)
    assert run(config, killed, progress=False) == run_dir  # the relaunch
    run(config, straight, progress=False)
    resumed = load_run(run_dir)
    uninterrupted = load_run(run_dir_for(straight, bind_data(config)))
    assert resumed["done"]
    # the relaunch trained only the epochs left (training from scratch would end with the same
    # numbers too, so the count of epochs trained after the relaunch is what shows resuming)
    log = (run_dir / "log.txt").read_text()
    after = log.split("resuming classifier training in stage ")[1]
    stage, _, _, epoch = after.split()[:4]
    done = int(epoch) + (2 if stage == "1" else 0)  # crt: 2 main epochs, then 4 of its own
    assert done >= epochs_at_kill
    assert after.count("  loss ") == 6 - done
    assert resumed["result"]["metrics"] == uninterrupted["result"]["metrics"]

    def without_time(rows: list[dict]) -> list[dict]:
        return [{k: v for k, v in r.items() if k not in ("seconds", "images_per_s")} for r in rows]

    assert without_time(resumed["epochs"]) == without_time(uninterrupted["epochs"])
    if method == "crt":  # it was killed in the second stage and resumed there
        assert [r["stage"] for r in resumed["epochs"]] == ["main"] * 2 + ["crt"] * 4
        assert "resuming classifier training in stage 1" in (run_dir / "log.txt").read_text()
    for name in ("model_best.pt", "model_last.pt"):
        import torch

        a = torch.load(run_dir / name, weights_only=True)
        b = torch.load(run_dir_for(straight, bind_data(config)) / name, weights_only=True)
        assert all(torch.equal(a[k], b[k]) for k in a)  # bitwise identical weights


def test_a_run_directory_of_another_config_is_left_alone(results: Path) -> None:
    config = resolve("erm", "digits-lt", sets=SHORT)
    run_dir = run_dir_for(results, bind_data(config))
    other = bind_data(resolve("erm", "digits-lt", sets=[*SHORT, "recipe.lr=0.5"])).to_json()
    atomic_write_text(run_dir / "config.json", json.dumps(other))
    with pytest.raises(BenchError, match="holds a run of another config"):
        run(config, results, progress=False)
    assert json.loads((run_dir / "config.json").read_text()) == other


def test_a_run_in_progress_elsewhere_is_not_touched(results: Path) -> None:
    config = resolve("erm", "digits-lt", sets=SHORT)
    run_dir = run_dir_for(results, bind_data(config))
    with run_lock(run_dir), pytest.raises(BenchError, match="being run by another process"):
        run(config, results, progress=False)
    assert not (run_dir / "config.json").exists()


def test_show_summarises_a_run(results: Path) -> None:
    run_dir = str(run_digits("erm", results, SHORT))
    code, shown, _ = cli("show", run_dir)
    assert code == 0
    assert "status    done" in shown and "test      overall" in shown and "epochs    3" in shown
    code, raw, _ = cli("show", run_dir, "--json")
    assert json.loads(raw)["result"]["metrics"]["selection"] == "best-val"
    code, _, err = cli("show", str(results))
    assert code == 2 and "is not a run directory" in err


def test_show_prints_group_and_fairness_metrics_where_present() -> None:
    from bench.cli import subgroup_lines

    test = {
        "group": {"worst": 0.25, "mean": 0.5, "weighted": None},
        "fairness": {"error": "group 'a' has no sample of class 1"},
    }
    assert subgroup_lines(test) == [
        "groups    worst 25.0  mean 50.0  weighted –",
        "fairness  not computed: group 'a' has no sample of class 1",
    ]
    assert subgroup_lines({"overall": 0.9}) == []
