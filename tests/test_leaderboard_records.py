"""`bench leaderboard` on real results directories: bad records are skipped (warned, footnoted,
never counted), smoke runs and versions are kept apart, bad arguments are clear errors, and
nothing in the results directory changes."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from helpers import cli
from lb_helpers import md_table

from bench.io import atomic_write_json
from bench.runs.config import resolve


def write_run(
    results: Path,
    method: str = "erm",
    seed: int = 0,
    overall: float = 0.8,
    sets: tuple[str, ...] = (),
    **extra: object,
) -> Path:
    config = resolve(method, "digits-lt", seed=seed, sets=list(sets)).to_json()
    config.update(extra)
    run_dir = results / "runs" / f"{method}-s{seed}-{abs(hash(json.dumps(config, default=str)))}"
    test = {"overall": overall, "many": 0.9, "medium": 0.8, "few": 0.7}
    atomic_write_json(run_dir / "config.json", config)
    atomic_write_json(run_dir / "result.json", {"metrics": {"test": test}})
    atomic_write_json(run_dir / "done", {})
    return run_dir


def tree_digest(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


@pytest.fixture
def results(tmp_path: Path) -> Path:
    for seed, acc in enumerate((0.80, 0.82)):
        write_run(tmp_path, seed=seed, overall=acc)
    return tmp_path


def break_record(run_dir: Path, how: str) -> Path:
    if how == "half-written":
        path = run_dir / "result.json"
        path.write_text('{"metrics": {"test": {"overall": 0.')
    elif how == "foreign":
        path = run_dir / "result.json"
        path.write_text(json.dumps({"accuracy": 0.99, "model": "someone else's"}))
    elif how == "non-numeric":
        path = run_dir / "result.json"
        path.write_text(json.dumps({"metrics": {"test": {"overall": "0.99"}}}))
    else:  # no dataset key
        path = run_dir / "config.json"
        config = json.loads(path.read_text())
        del config["dataset"]
        path.write_text(json.dumps(config))
    return path


@pytest.mark.parametrize("how", ["half-written", "foreign", "non-numeric", "no-dataset"])
def test_a_bad_record_is_skipped_warned_and_footnoted(results: Path, how: str) -> None:
    bad = break_record(write_run(results, seed=2, overall=0.10), how)
    before = tree_digest(results)
    code, out, err = cli("leaderboard", "--results", str(results))
    assert code == 0
    rows = md_table(out, "digits-lt")
    assert rows[1][0] == "erm" and rows[1][-1] == "2"  # two seeds, not three
    assert rows[1][2] == "81.0 ± 1.4"  # the bad record's 10% is not in the mean
    assert f"WARNING skipping {bad}:" in err
    assert "1 run record(s) could not be read or failed validation and were skipped" in out
    assert tree_digest(results) == before  # nothing modified


def test_unfinished_runs_are_not_records(results: Path) -> None:
    run_dir = write_run(results, seed=5, overall=0.1)
    (run_dir / "done").unlink()
    code, out, _ = cli("leaderboard", "--results", str(results))
    assert code == 0 and md_table(out, "digits-lt")[1][-1] == "2" and "skipped" not in out


def test_smoke_runs_are_left_out_unless_asked(results: Path) -> None:
    write_run(results, seed=7, overall=0.2, smoke=True)
    _, out, _ = cli("leaderboard", "--results", str(results))
    assert [r[0] for r in md_table(out, "digits-lt")[1:]] == ["erm"]
    assert "1 smoke run(s) left out (--include-smoke shows them)." in out
    _, out, _ = cli("leaderboard", "--results", str(results), "--include-smoke")
    rows = md_table(out, "digits-lt")
    # a smoke run is its own row, never averaged with the real seeds
    assert [(r[0], r[-1]) for r in rows[1:]] == [("erm", "2"), ("erm [smoke]", "1")]


def test_versions_are_never_averaged(results: Path) -> None:
    write_run(results, seed=0, overall=0.5, method_version=2)
    write_run(results, seed=0, overall=0.5, dataset_version=3)
    _, out, _ = cli("leaderboard", "--results", str(results))
    rows = md_table(out, "digits-lt")
    assert [(r[0], r[-1]) for r in rows[1:]] == [("erm", "2"), ("erm (method_version=2)", "1")]
    assert md_table(out, "digits-lt (dataset_version=3)")[1][-1] == "1"


def test_bad_arguments_are_clear_errors(results: Path, tmp_path: Path) -> None:
    code, _, err = cli("leaderboard", "--results", str(tmp_path / "nope"))
    assert code == 2 and "does not exist" in err and "Traceback" not in err
    file = tmp_path / "file.txt"
    file.write_text("x")
    code, _, err = cli("leaderboard", "--results", str(file))
    assert code == 2 and "is a file" in err
    code, _, err = cli("leaderboard", "--results", str(results), "--output", str(tmp_path))
    assert code == 2 and "is a directory" in err
    code, _, err = cli("leaderboard", "--results", str(results), "--dataset", "digts-lt")
    assert code == 2 and "unknown dataset 'digts-lt'" in err and "'digits-lt'" in err
    with pytest.raises(SystemExit) as exc:
        cli("leaderboard", "--results", str(results), "--format", "docx")
    assert exc.value.code == 2
    code, _, err = cli("leaderboard", "--results", str(results), "--write", str(results))
    assert code == 2 and "among the run records" in err


def test_output_and_write_leave_the_runs_alone(results: Path, tmp_path: Path) -> None:
    before = tree_digest(results / "runs")
    out_file = tmp_path / "lb.md"
    assert cli("leaderboard", "--results", str(results), "--output", str(out_file))[0] == 0
    assert out_file.read_text().startswith("## digits-lt")
    site = results / "leaderboard"
    code, out, _ = cli("leaderboard", "--results", str(results), "--write", str(site))
    assert code == 0 and out.strip() == str(site / "index.html")
    assert tree_digest(results / "runs") == before
    names = {p.name for p in site.iterdir()}
    assert {"LEADERBOARD.md", "leaderboard.tex", "leaderboard.csv", "index.html"} <= names
