"""The claim `make run` demonstrates, at full default budgets (slow: about 6 minutes on 2 cores).

Run with: .venv/bin/pytest -m slow tests/test_embedded_benchmark.py
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bench.io import read_json
from bench.runs.config import resolve
from bench.runs.runner import run

SEEDS = (0, 1, 2)


def few_shot(method: str, results: Path) -> list[float]:
    scores = []
    for seed in SEEDS:
        run_dir = run(resolve(method, "digits-lt", seed=seed), results, progress=False)
        scores.append(read_json(run_dir / "result.json")["metrics"]["test"]["few"])
    return scores


@pytest.mark.slow
def test_ddpm_fill_beats_erm_on_few_shot_classes(tmp_path: Path) -> None:
    erm, fill = few_shot("erm", tmp_path), few_shot("ddpm-fill", tmp_path)
    # The few bucket has 300 test images: gaps under ~2 points are noise.
    assert np.mean(fill) > np.mean(erm) + 0.02, (erm, fill)
