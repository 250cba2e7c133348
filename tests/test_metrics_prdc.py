"""Blocked precision / recall / density / coverage equal the `prdc` package's, ties included."""

from __future__ import annotations

import contextlib
import io

import numpy as np
import prdc as prdc_package
import pytest

from bench.errors import BenchError
from bench.metrics import prdc


def reference(real: np.ndarray, fake: np.ndarray, k: int) -> dict[str, float]:
    with contextlib.redirect_stdout(io.StringIO()):  # prdc prints the set sizes
        out = prdc_package.compute_prdc(real, fake, nearest_k=k)
    return {key: float(value) for key, value in out.items()}


def random_sets(seed: int, n: int, m: int, d: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    real = rng.standard_normal((n, d)).astype(np.float32)
    fake = (rng.standard_normal((m, d)) * 1.2 + 0.3).astype(np.float32)
    return real, fake


@pytest.mark.parametrize(
    ("n", "m", "d", "k", "block"),
    [(300, 200, 16, 5, 64), (500, 500, 64, 3, 4096), (123, 77, 3, 1, 50), (90, 140, 8, 7, 32)],
)
def test_equals_prdc_on_random_sets(n: int, m: int, d: int, k: int, block: int) -> None:
    real, fake = random_sets(n + m, n, m, d)
    assert prdc(real, fake, k, block=block) == reference(real, fake, k)


def test_equals_prdc_with_ties_and_duplicates() -> None:
    rng = np.random.default_rng(0)
    # Integer grid points: many exactly equal distances and duplicate points in both sets.
    real = rng.integers(0, 3, (400, 4)).astype(np.float32)
    fake = rng.integers(0, 3, (300, 4)).astype(np.float32)
    for k in (1, 3, 5):
        assert prdc(real, fake, k, block=64) == reference(real, fake, k)
    # float64 input, fake a duplicate-laden subset of real
    grid = rng.integers(0, 4, (200, 2)).astype(np.float64)
    assert prdc(grid, grid[:150].copy(), 5, block=70) == reference(grid, grid[:150].copy(), 5)
    # continuous points, some repeated
    x = rng.standard_normal((200, 8)).astype(np.float32)
    doubled = np.concatenate([x, x[:50]])
    assert prdc(doubled, x[:120].copy(), 3, block=64) == reference(doubled, x[:120].copy(), 3)


def test_structured_clusters_equal_prdc() -> None:
    # Fake covers only one of the two real clusters: recall and coverage about 1/2.
    rng = np.random.default_rng(3)
    real = np.concatenate([rng.normal(0, 1, (150, 5)), rng.normal(20, 1, (150, 5))])
    fake = rng.normal(0, 1, (200, 5))
    ours = prdc(real, fake, 5, block=100)
    assert ours == reference(real, fake, 5)
    assert 0.4 < ours["coverage"] <= 0.5 and ours["precision"] > 0.9


def test_identical_sets_give_full_coverage() -> None:
    real, _ = random_sets(4, 300, 10, 12)
    out = prdc(real, real.copy(), 5, block=128)
    assert out["coverage"] == 1.0 and out["precision"] == 1.0 and out["recall"] == 1.0
    assert out == reference(real, real.copy(), 5)


@pytest.mark.parametrize(
    ("real", "fake", "k", "message"),
    [
        (np.zeros((10, 4)), np.zeros((10, 3)), 5, "real features have 4 dimensions but fake"),
        (np.zeros((5, 4)), np.zeros((10, 4)), 5, "real features: 5 samples, but .* at least 6"),
        (np.zeros((10, 4)), np.zeros((6, 4)), 6, "fake features: 6 samples, but .* at least 7"),
        (np.ones((10, 4)), np.full((10, 4), np.nan), 3, "fake features hold 40 NaN"),
        (np.zeros((10, 4)), np.zeros((10, 4)), 0, "k must be at least 1"),
    ],
)
def test_bad_input(real, fake, k, message) -> None:
    with pytest.raises(BenchError, match=message):
        prdc(real, fake, k)
