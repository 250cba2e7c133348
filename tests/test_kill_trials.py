"""`kill -9` trials in generator fitting and record writing (slow tier): each relaunch ends
bitwise equal to an uninterrupted run: the same metrics, classifier weights and generator files.

Each trial draws its kill point from its seed, printed with the command that replays it
(BENCH_KILL_SEED=N pytest -m slow tests/test_kill_trials.py -k ...). The kill -9 trials in all:

    generator fitting    5 here (slow)
    record writing       5 here (slow): between the classifier files and result.json
    synthesis            tests/test_store.py: 1 random (quick) + 5 seeds (slow)
    classifier training  tests/test_records.py: 2 (quick, plus SIGTERM and SIGINT) + 4 (slow)

22 in the slow tier (`make test-all`), 3 of them in the quick one.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest
import torch
from helpers import bench_command, bench_env, tiny_sets

from bench.io import tree_digests
from bench.runs.records import load_run

# A ddpm-fill smoke run whose generator fit lasts a few seconds on a CPU.
SETS = [*tiny_sets("ddpm-fill"), "method.train_steps=8"]
FIT_TRIALS = [11, 12, 13, 14, 15]
RECORD_TRIALS = [21, 22, 23, 24, 25]


def args(results: Path) -> list[str]:
    return bench_command("run", "--method", "ddpm-fill", "--dataset", "digits-lt", "--smoke",
                         "--quiet", "--device", "cpu", "--results", str(results),
                         *[f"--set={s}" for s in SETS])  # fmt: skip


def launch(results: Path) -> str:
    out = subprocess.run(args(results), env=bench_env(), capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip().splitlines()[-1]


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An uninterrupted run: its directory (its results folder holds the caches)."""
    return Path(launch(tmp_path_factory.mktemp("reference") / "results"))


def trial_seed(default: int) -> random.Random:
    seed = int(os.environ.get("BENCH_KILL_SEED", default))
    print(f"kill trial seed {seed} (replay with BENCH_KILL_SEED={seed})")
    return random.Random(seed)


def kill_when(results: Path, ready, delay: float, finished) -> None:
    """Start the run, wait until `ready()` is true, then `delay` seconds, then kill -9 it.

    If the run got past the kill point first (`finished()`: a fast machine, or this process
    descheduled), the trial starts again from scratch with a quarter of the delay, so every
    trial kills inside the stage it is about."""
    for _ in range(6):
        shutil.rmtree(results / "runs", ignore_errors=True)
        proc = subprocess.Popen(
            args(results), env=bench_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        deadline = time.time() + 600
        while not ready():
            assert proc.poll() is None, proc.communicate()[1]
            assert time.time() < deadline, "the kill point never came"
            time.sleep(0.005)
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        if not finished():
            return
        print(f"the run got past the kill point within {delay:.4f} s: again, sooner")
        delay /= 4


def assert_same_as(reference: Path, run_dir: Path) -> None:
    resumed, straight = load_run(run_dir), load_run(reference)
    assert resumed["done"] and resumed["result"]["metrics"] == straight["result"]["metrics"]
    for name in ("model_best.pt", "model_last.pt"):
        a = torch.load(run_dir / name, weights_only=True)
        b = torch.load(reference / name, weights_only=True)
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    new = run_dir.parents[1] / "cache" / "generators"
    for ref in (d for d in (reference.parents[1] / "cache" / "generators").iterdir() if d.is_dir()):
        # the generator's files, bitwise (its `done` holds the fitting time)
        assert tree_digests(ref, skip=("done",)) == tree_digests(new / ref.name, skip=("done",))


@pytest.mark.slow
@pytest.mark.parametrize("seed", FIT_TRIALS)
def test_kill_during_generator_fitting(reference: Path, tmp_path: Path, seed: int) -> None:
    rng = trial_seed(seed)
    results = tmp_path / "results"
    generators = results / "cache" / "generators"

    def fitting() -> bool:
        return any(d.is_dir() for d in generators.glob("*")) if generators.is_dir() else False

    def finished() -> bool:
        return bool(list((results / "runs").glob("*/done")))

    kill_when(results, fitting, rng.uniform(0.0, 4.0), finished)
    fitted = list(generators.glob("*/done"))
    print(f"killed {'after' if fitted else 'during'} the generator fit")
    assert not list((results / "runs").glob("*/done"))  # killed before the run finished
    assert_same_as(reference, Path(launch(results)))


@pytest.mark.slow
@pytest.mark.parametrize("seed", RECORD_TRIALS)
def test_kill_while_the_record_is_written(reference: Path, tmp_path: Path, seed: int) -> None:
    rng = trial_seed(seed)
    results = tmp_path / "results"
    shutil.copytree(reference.parents[1] / "cache", results / "cache")  # generator and set
    run_dir = results / "runs" / reference.name

    delay = rng.uniform(0.0, 0.008)
    kill_when(
        results,
        lambda: (run_dir / "model_best.pt").exists(),
        delay,
        run_dir.joinpath("done").exists,
    )
    written = sorted(p.name for p in run_dir.iterdir() if p.suffix in (".pt", ".json"))
    print(f"killed with {written} written")
    assert not (run_dir / "done").exists(), "the run finished before the kill"
    assert_same_as(reference, Path(launch(results)))
