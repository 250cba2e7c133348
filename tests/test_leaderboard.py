"""Leaderboard tables against golden files, built from run directories as `bench run` writes them.

Regenerate the golden files after an intended change with BENCH_UPDATE_GOLDEN=1.
"""

from __future__ import annotations

import contextlib
import io
import os
from pathlib import Path

import pytest
from lb_helpers import md_table

from bench.cli import main
from bench.io import atomic_write_json
from bench.report import aggregate
from bench.runs.config import resolve

GOLDEN = Path(__file__).parent / "golden"

# (method, dataset sets, method sets, seed, overall, many, medium, few)
RUNS = [
    ("erm", [], [], 0, 0.81, 1.0, 0.95, 0.70),
    ("erm", [], [], 1, 0.79, 1.0, 0.93, 0.66),
    ("erm", [], [], 2, 0.83, 0.98, 0.97, 0.72),
    ("balanced-softmax", [], [], 0, 0.86, 0.96, 0.94, 0.80),
    ("balanced-softmax", [], [], 1, 0.88, 0.98, 0.95, 0.82),
    ("ddpm-fill", [], [], 0, 0.91, 0.96, 0.95, 0.88),
    ("ddpm-fill", [], [], 1, 0.90, 0.94, 0.96, 0.87),
    ("ddpm-fill", [], ["guidance_scale=2"], 0, 0.85, 0.95, None, 0.78),
    ("erm", ["imbalance_factor=1"], [], 0, 0.97, None, None, None),
]


def write_runs(results: Path) -> None:
    for method, data_sets, method_sets, seed, overall, many, medium, few in RUNS:
        config = resolve(method, "digits-lt", seed=seed, sets=[*data_sets, *method_sets])
        run_dir = results / "runs" / config.run_name
        test = {"overall": overall, "many": many, "medium": medium, "few": few}
        atomic_write_json(run_dir / "config.json", config.to_json())
        atomic_write_json(run_dir / "result.json", {"metrics": {"test": test}})
        atomic_write_json(run_dir / "done", {})
    unfinished = resolve("erm", "digits-lt", seed=9)  # no `done`: must not appear
    atomic_write_json(results / "runs" / unfinished.run_name / "config.json", unfinished.to_json())


def render(results: Path, fmt: str) -> str:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["leaderboard", "--results", str(results), "--format", fmt]) == 0
    return out.getvalue()


@pytest.mark.parametrize(
    ("fmt", "golden"),
    [("md", "leaderboard.md"), ("csv", "leaderboard.csv"), ("latex", "leaderboard.tex")],
)
def test_tables_match_golden_files(tmp_path: Path, fmt: str, golden: str) -> None:
    write_runs(tmp_path)
    text = render(tmp_path, fmt)
    if os.environ.get("BENCH_UPDATE_GOLDEN"):
        changed = not (GOLDEN / golden).exists() or (GOLDEN / golden).read_text() != text
        (GOLDEN / golden).write_text(text)
        # never a silent pass: the update is reported as a failure, to be reviewed in the diff
        pytest.fail(f"{golden} {'updated' if changed else 'unchanged'}; review the diff, then "
                    "rerun without BENCH_UPDATE_GOLDEN")  # fmt: skip
    assert text == (GOLDEN / golden).read_text()


def test_mean_and_sample_std_over_seeds(tmp_path: Path) -> None:
    write_runs(tmp_path)
    md = render(tmp_path, "md")
    big = md_table(md, "digits-lt (imbalance_factor=100)")
    # erm few: 70, 66, 72 -> mean 69.33, sample std 3.06; one seed shows no ± at all.
    assert ["erm", "0", "81.0 ± 2.0", "99.3 ± 1.2", "95.0 ± 2.0", "69.3 ± 3.1", "3"] in big
    assert ["ddpm-fill (guidance_scale=2)", "0", "85.0", "95.0", "–", "78.0", "1"] in big
    small = md_table(md, "digits-lt (imbalance_factor=1)")
    assert small == [["Method", "Synthetic", "Overall", "Seeds"], ["erm", "0", "97.0", "1"]]
    assert "nan" not in md.lower()


def test_empty_results_say_so(tmp_path: Path) -> None:
    assert render(tmp_path, "md") == "No finished runs.\n"


def test_variant_labels_only_name_what_differs() -> None:
    labels = aggregate.variant_labels(
        {"a": ("m", {"x": 1, "y": 2}), "b": ("m", {"x": 1, "y": 3}), "c": ("n", {"x": 5})}
    )
    assert labels == {"a": "m (y=2)", "b": "m (y=3)", "c": "n"}
