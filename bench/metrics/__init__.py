"""Evaluation metrics. Accuracy metrics are numpy-only; generation metrics import torch lazily."""

from bench.metrics.accuracy import per_class_accuracy, shot_accuracy

__all__ = ["per_class_accuracy", "shot_accuracy"]
