"""Many processes writing runs into one results folder: 0 lost, 0 corrupt, the leaderboard
counts every run.

50 `bench run` processes (smoke runs of erm: one epoch of two steps), all alive at once, share
one results folder and its caches; five launch a configuration another process is running at the
same moment. They are forked from one parent that imported bench and torch
(tests/fixtures/fork_writers.py), so they start in a second and share the imported code; set
`BENCH_CONCURRENT_WRITERS=K` to keep at most K alive on a small machine.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import bench_env, cli
from lb_helpers import md_table

from bench.report.records import load_records

PROCESSES = 50
DUPLICATES = 5  # configurations launched twice, side by side
ALIVE = int(os.environ.get("BENCH_CONCURRENT_WRITERS", str(PROCESSES)))
FORK = Path(__file__).parent / "fixtures" / "fork_writers.py"


def launches(results: Path) -> list[tuple[str, list[str]]]:
    """(configuration label, argv) of every process, each duplicate next to its twin."""
    base = ["run", "--method", "erm", "--dataset", "digits-lt", "--smoke", "--quiet",
            "--results", str(results), "--set=recipe.epochs=1", "--set=recipe.steps_per_epoch=2",
            "--device", "cpu"]  # fmt: skip
    configs = [(f"s{s}", ["--seed", str(s)]) for s in range(30)]
    configs += [(f"s{s}-lr", ["--seed", str(s), "--set=recipe.lr=0.05"]) for s in range(15)]
    assert len(configs) + DUPLICATES == PROCESSES
    out = []
    for i, (label, extra) in enumerate(configs):
        out.append((label, [*base, *extra]))
        if i < DUPLICATES:
            out.append((label, [*base, *extra]))
    return out


@pytest.mark.slow
def test_fifty_processes_write_one_results_folder(tmp_path: Path) -> None:
    results, logs = tmp_path / "results", tmp_path / "logs"
    todo = launches(results)
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps({"alive": ALIVE, "logs": str(logs), "launches": todo}))
    env = {**bench_env(), "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    proc = subprocess.run(
        [sys.executable, str(FORK), str(spec)], env=env, capture_output=True, text=True,
        timeout=1800,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout.splitlines()[-1])
    assert report["most_alive"] == min(ALIVE, PROCESSES)  # this many were writing at once

    made: dict[str, set[str]] = {}
    for i, ((label, _), code) in enumerate(zip(todo, report["codes"], strict=True)):
        out, err = (logs / f"{i}.out").read_text(), (logs / f"{i}.err").read_text()
        assert "Traceback" not in err, err
        if code == 0:
            made.setdefault(label, set()).add(out.strip().splitlines()[-1])
        else:  # only a duplicate may lose the race for its run, and it says so
            assert code == 2 and "is being run by another process right now" in err, err
    # 0 lost: every configuration made its run, one directory each, each finished
    assert len(made) == PROCESSES - DUPLICATES and all(len(d) == 1 for d in made.values())
    run_dirs = sorted((results / "runs").iterdir())
    assert sorted(d for dirs in made.values() for d in dirs) == [str(d) for d in run_dirs]
    assert all((d / "done").is_file() for d in run_dirs)
    # one writer per run: its log shows one start, so a twin never worked in its directory
    assert all((d / "log.txt").read_text().count(" run erm-") == 1 for d in run_dirs)
    # 0 corrupt: every record passes the schema, every epoch log holds its one epoch
    loaded = load_records(results, include_smoke=True)
    assert loaded.skipped == [] and len(loaded.records) == PROCESSES - DUPLICATES
    assert all(len((d / "metrics.jsonl").read_text().splitlines()) == 1 for d in run_dirs)
    # the leaderboard counts them all: 30 seeds of one row, 15 of the other
    code, out, err = cli("leaderboard", "--results", str(results), "--include-smoke")
    assert code == 0, err
    rows = md_table(out, "digits-lt")[1:]
    assert sorted(int(r[-1]) for r in rows) == [15, 30] and "skipped" not in out
