"""The repository tracks source, not state: no lock, cache, result or bytecode file is committed
(a committed `.lock` or run record would be taken for live state by the next checkout)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
STRAY = re.compile(
    r"(^|/)(\.lock|[^/]*\.lock|__pycache__/.*|[^/]*\.pyc|done|result\.json|config\.json|"
    r"[^/]*\.(npz|npy|pt|safetensors|ckpt))$|^(results|r)/(runs|cache|sweeps)/"
)


def stray(paths: list[str]) -> list[str]:
    return [p for p in paths if STRAY.search(p) and not p.startswith("tests/fixtures/")]


def test_the_stray_pattern_sees_what_it_should() -> None:
    bad = ["r/sweeps/sweep/.lock", "results/runs/x/result.json", "results/cache/a.npz",
           "bench/__pycache__/io.cpython-312.pyc", "x/state.lock"]  # fmt: skip
    good = ["bench/io.py", "bench/runs/runner.py", "results/published/published.csv"]
    assert stray(bad) == bad and stray(good) == []


def test_git_tracks_no_lock_cache_or_result_file() -> None:
    """Run in the checkout (CI clones it): no git, no check, so a missing git is a failure."""
    assert shutil.which("git") and (REPO / ".git").exists(), "needs git and the repository"
    out = subprocess.run(
        ["git", "ls-files"], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout
    assert stray(out.splitlines()) == []
