"""Top-1 accuracy overall, per class, and per shot bucket (many / medium / few)."""

from __future__ import annotations

from typing import Any

import numpy as np

from bench.data import shot_buckets
from bench.metrics.checks import MetricInputError, check_labels

__all__ = ["check_labels", "per_class_accuracy", "shot_accuracy"]


def per_class_accuracy(y_true: Any, y_pred: Any, num_classes: int) -> list[float | None]:
    """Accuracy of each class; None for a class with no evaluation sample (never NaN)."""
    y_true, y_pred = check_labels(y_true, y_pred)
    out: list[float | None] = []
    for c in range(num_classes):
        mask = y_true == c
        out.append(float(np.mean(y_pred[mask] == c)) if mask.any() else None)
    return out


def mean_of(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return float(np.mean(present)) if present else None


def shot_accuracy(
    y_true: Any, y_pred: Any, train_counts: Any, many: int = 100, few: int = 20
) -> dict[str, Any]:
    """Overall, many, medium, few and per-class top-1 accuracy.

    As the long-tail codebases do (classifier-balancing `shot_acc`), a bucket's accuracy is the
    mean of the per-class accuracies of its classes: many = more than `many` training images,
    few = fewer than `few`, medium = the rest. A bucket with no class is None. `overall` is the
    plain sample accuracy; `balanced` the mean per-class accuracy (equal on a balanced test set).
    """
    y_true, y_pred = check_labels(y_true, y_pred)
    train_counts = np.asarray(train_counts)
    if y_true.max() >= len(train_counts):
        raise MetricInputError(
            f"label {int(y_true.max())} is out of range for {len(train_counts)} classes."
        )
    per_class = per_class_accuracy(y_true, y_pred, len(train_counts))
    buckets = shot_buckets(train_counts, many, few)
    result: dict[str, Any] = {
        "overall": float(np.mean(y_true == y_pred)),
        "balanced": mean_of(per_class),
    }
    for name, classes in buckets.items():
        result[name] = mean_of([per_class[c] for c in classes])
    result["per_class"] = per_class
    result["bucket_sizes"] = {name: len(classes) for name, classes in buckets.items()}
    return result
