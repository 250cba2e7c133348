"""Input checks shared by the metrics: every bad input is an error that names sizes or values.

A metric that silently returns NaN ends up as a NaN cell in a table that nobody questions, so
these checks run before any arithmetic.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from bench.errors import BenchError


class MetricInputError(BenchError, ValueError):
    """Inputs a metric cannot be computed on (the message says which and why).

    A ValueError too, so code that guards numeric input with `except ValueError` still works;
    a BenchError, so the CLI prints the message without a traceback.
    """


def check_labels(y_true: Any, y_pred: Any) -> tuple[np.ndarray, np.ndarray]:
    """Both as int64 arrays of the same length, or an error naming the lengths."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    if y_true.shape != y_pred.shape or y_true.ndim != 1:
        raise MetricInputError(
            f"labels and predictions must be 1-D and equally long: got {y_true.shape} labels "
            f"and {y_pred.shape} predictions."
        )
    if len(y_true) == 0:
        raise MetricInputError("no samples: cannot compute accuracy of an empty split.")
    for what, values in (("labels", y_true), ("predictions", y_pred)):
        if not np.issubdtype(values.dtype, np.integer) and not np.all(values == np.round(values)):
            raise MetricInputError(f"{what} must be integer class indices, got {values.dtype}.")
    return y_true.astype(np.int64), y_pred.astype(np.int64)


def check_per_sample(values: Any, n: int, what: str) -> np.ndarray:
    """One entry per sample (a group index or an attribute value), or an error naming sizes."""
    values = np.asarray(values)
    if values.ndim != 1 or len(values) != n:
        raise MetricInputError(
            f"{what} must give one value per sample: got shape {values.shape} for {n} labels."
        )
    return values


def check_features(features: Any, what: str) -> np.ndarray:
    """A finite 2-D float array (samples x feature dimensions)."""
    x = np.asarray(features)
    if x.ndim != 2:
        raise MetricInputError(f"{what} must be a 2-D array (samples x dims), got shape {x.shape}.")
    if not np.issubdtype(x.dtype, np.floating):
        x = x.astype(np.float64)
    bad = ~np.isfinite(x)
    if bad.any():
        rows = np.flatnonzero(bad.any(axis=1))
        raise MetricInputError(
            f"{what} hold {int(bad.sum())} NaN or infinite values in {len(rows)} of {len(x)} rows "
            f"(first: row {int(rows[0])}); fix the feature extractor or drop those samples."
        )
    return x


def check_same_width(a: np.ndarray, b: np.ndarray, what_a: str, what_b: str) -> None:
    if a.shape[1] != b.shape[1]:
        raise MetricInputError(
            f"{what_a} have {a.shape[1]} dimensions but {what_b} have {b.shape[1]}: both must "
            "come from the same feature extractor and layer."
        )


def check_enough(x: np.ndarray, needed: int, what: str, why: str) -> None:
    if len(x) < needed:
        raise MetricInputError(f"{what}: {len(x)} samples, but {why} needs at least {needed}.")
