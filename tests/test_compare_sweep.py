"""`bench compare` on the records of a real (tiny) sweep reproduces, from the records alone, the
per-seed differences the measurement scripts' readers compute from result.json, with a
bootstrap interval from the predictions `bench run` stored.

Default tier: erm and balanced-softmax on digits-lt, seeds 0-2, the tiny recipe, run in this
process. Slow tier: the same two methods through benchmarks/synthesis_measurements.sh itself
(`--smoke`, so the smoke runs are compared with --include-smoke)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import REPO, TINY_RECIPE, bench_env, cli, run_digits
from lb_helpers import md_table

SEEDS = (0, 1, 2)
PAIR = ("balanced-softmax", "erm")


def differences_from_result_files(results: Path, metric: str) -> list[float]:
    """What a measurement script's reader does (benchmarks/recipe_table.py): result.json's
    test metric per run, A - B per seed, in points."""
    values: dict[tuple[str, int], float] = {}
    for run in sorted((results / "runs").iterdir()):
        if (run / "done").exists():
            result = json.loads((run / "result.json").read_text())
            values[(result["method"], result["seed"])] = 100 * result["metrics"]["test"][metric]
    return [values[(PAIR[0], s)] - values[(PAIR[1], s)] for s in SEEDS]


def compared(results: Path, metric: str, *extra: str) -> dict[str, str]:
    code, out, err = cli("compare", *PAIR, "--dataset", "digits-lt", "--metric", metric,
                         "--results", str(results), *extra)  # fmt: skip
    assert code == 0, err
    rows = md_table(out, f"{PAIR[0]} vs {PAIR[1]} on digits-lt")
    assert len(rows) == 2
    return dict(zip(rows[0], rows[1], strict=True))


def check(results: Path, *extra: str) -> None:
    for metric in ("overall", "few"):
        row = compared(results, metric, *extra)
        expected = differences_from_result_files(results, metric)
        per_seed = [float(x) for x in row["Ours per seed: A - B"].split(" / ")]
        assert per_seed == pytest.approx([round(d, 1) for d in expected], abs=1e-9)
        mean = float(row["Mean [95% CI over seeds]"].split(" [")[0])
        assert mean == pytest.approx(round(sum(expected) / 3, 1), abs=0.051)
        low, high = (float(x) for x in row["95% CI over test images"].strip("[]").split(", "))
        assert low <= high  # from the stored per-image predictions: present, not omitted
        assert row["Verdict"] in ("holds on every seed", "holds on average", "within noise",
                                  "reversed")  # fmt: skip


def test_compare_reproduces_a_tiny_sweeps_per_seed_differences(results: Path) -> None:
    for seed in SEEDS:
        for method in PAIR:
            run_digits(method, results, TINY_RECIPE, "--seed", str(seed))
    check(results)
    code, out, _ = cli("compare", "--claims", "--results", str(results))
    assert code == 0 and "Balanced Softmax > CE" in out and "+23.95 (FG Table 1)" in out


@pytest.mark.slow
def test_the_measurement_scripts_sweep(results: Path) -> None:
    env = {**bench_env(), "METHODS": " ".join(PAIR), "SEEDS": " ".join(map(str, SEEDS)),
           "BENCH": str(Path(sys.executable).parent / "bench")}  # fmt: skip
    script = REPO / "benchmarks" / "synthesis_measurements.sh"
    subprocess.run(["bash", str(script), str(results), "--smoke"], env=env, check=True,
                   capture_output=True, timeout=1800)  # fmt: skip
    assert len(list((results / "runs").glob("*-smoke-*"))) == 6
    check(results, "--include-smoke")
