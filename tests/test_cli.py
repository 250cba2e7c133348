"""The `bench` console script as a user types it."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest


def bench(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    exe = shutil.which("bench", path=str(Path(sys.executable).parent))
    assert exe, "the bench console script is not installed in this environment"
    return subprocess.run([exe, *args], capture_output=True, text=True, timeout=120, cwd=cwd)


def test_help_lists_the_commands() -> None:
    out = bench("--help")
    assert out.returncode == 0
    for command in ("run", "list", "show", "leaderboard"):
        assert command in out.stdout


def test_list_names_every_registered_entry() -> None:
    from bench.datasets import DATASETS
    from bench.methods import METHODS

    methods, datasets = bench("list", "methods"), bench("list", "datasets")
    assert [line.split()[0] for line in methods.stdout.splitlines()] == list(METHODS)
    assert [line.split()[0] for line in datasets.stdout.splitlines()] == list(DATASETS)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["run", "--method", "ddpm-fil", "--dataset", "digits-lt"], "Did you mean 'ddpm-fill'"),
        (["run", "--method", "erm", "--dataset", "digit-lt"], "Did you mean 'digits-lt'"),
        (
            ["run", "--method", "erm", "--dataset", "digits-lt", "--set", "recipe.epoch=3"],
            "Did you mean 'epochs'",
        ),
    ],
)
def test_bad_input_exits_non_zero_with_a_hint_and_no_traceback(args, message, tmp_path) -> None:
    out = bench(*args, "--results", str(tmp_path / "r"))
    assert out.returncode == 2
    assert message in out.stderr and "Traceback" not in out.stderr
    assert not (tmp_path / "r").exists()  # nothing was started


def test_dry_run_prints_settings_with_sources(tmp_path: Path) -> None:
    out = bench(
        "run",
        "--method",
        "ddpm-fill",
        "--dataset",
        "digits-lt",
        "--dry-run",
        "--set",
        "guidance_scale=1.5",
        "--results",
        str(tmp_path / "r"),
    )
    assert out.returncode == 0
    assert "guidance_scale = 1.5    # command line" in out.stdout
    # the run directory's id also hashes the data's fingerprint: not printed as if it were final
    assert "run: ddpm-fill-digits-lt-s0-<id: settings + the data's fingerprint" in out.stdout
    assert 'loss = "balanced-softmax"    # ddpm-fill default: FG Sec 4.1' in out.stdout
    assert not (tmp_path / "r").exists()
