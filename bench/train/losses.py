"""Training losses: cross-entropy and Balanced Softmax."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F


def balanced_softmax_loss(
    logits: torch.Tensor, targets: torch.Tensor, class_counts: torch.Tensor
) -> torch.Tensor:
    """CE(logits + log n, y) (Ren et al. 2020, BalancedMetaSoftmax loss/BalancedSoftmaxLoss.py).

    Only training uses the prior; at test time the plain logits are used (BALMS issue #13).
    """
    return F.cross_entropy(logits + class_counts.to(logits).log(), targets)


def prior_counts(
    prior: str, real_counts: np.ndarray, synthetic_counts: np.ndarray | None
) -> np.ndarray:
    """The per-class counts Balanced Softmax adds: real only, or real + synthetic.

    A class with no image at all gets a count of 1 (the smallest prior) instead of log(0) = -inf,
    which would make its samples' loss infinite.
    """
    counts = np.asarray(real_counts, dtype=np.float64)
    if prior == "real+synthetic" and synthetic_counts is not None:
        counts = counts + np.asarray(synthetic_counts, dtype=np.float64)
    return np.maximum(counts, 1.0)


def make_loss(
    loss: str, counts: np.ndarray | None = None
) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    if loss == "ce":
        return F.cross_entropy
    if loss == "balanced-softmax":
        prior = torch.as_tensor(counts, dtype=torch.float32)
        return lambda logits, targets: balanced_softmax_loss(logits, targets, prior)
    raise ValueError(f"unknown loss {loss!r}")
