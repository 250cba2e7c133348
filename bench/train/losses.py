"""Training losses, by name in `bench.train.recipe.LOSSES`: a new one is a class here plus a line.

A loss gives per-sample values and weights (`per_sample`), and turns them into the batch loss
(`reduce`: the weighted mean, as `F.cross_entropy(weight=...)` does; Group DRO reweights groups
instead). Batch augmentations mix two label sets through `per_sample`, so every loss works with
Mixup and CutMix. Losses with state (Group DRO's group weights) checkpoint it with the model.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from bench.train.recipe import LOSSES


@dataclass
class LossContext:
    """What a loss may need to know about the stage's data."""

    num_classes: int
    real_counts: np.ndarray
    synthetic_counts: np.ndarray | None
    batch_frequencies: np.ndarray  # expected class share of a mini-batch under the sampler
    num_groups: int
    epochs: int  # of the stage (DRW starts at a fraction of them)


def prior_counts(
    prior: str,
    real_counts: np.ndarray,
    synthetic_counts: np.ndarray | None,
    batch_frequencies: np.ndarray | None = None,
) -> np.ndarray:
    """The per-class prior Balanced Softmax adds: real counts, real + synthetic counts, or the
    class frequencies the sampler puts in a batch (scaled to the real total; only ratios matter).

    A class with no image at all gets a count of 1 (the smallest prior) instead of log(0) = -inf,
    which would make its samples' loss infinite.
    """
    counts = np.asarray(real_counts, dtype=np.float64)
    if prior == "real+synthetic" and synthetic_counts is not None:
        counts = counts + np.asarray(synthetic_counts, dtype=np.float64)
    elif prior == "batch" and batch_frequencies is not None:
        counts = np.asarray(batch_frequencies, dtype=np.float64) * max(1.0, counts.sum())
    return np.maximum(counts, 1.0)


class CrossEntropy:
    """Plain cross-entropy (ERM)."""

    def __init__(self, stage: Any, context: LossContext):
        self.stage, self.context = stage, context

    def set_epoch(self, epoch: int) -> None:
        """Called before each epoch of the stage (0-based)."""

    def adjust(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """The logits the cross-entropy sees (training only; prediction uses the plain ones)."""
        return logits

    def class_weights(self) -> torch.Tensor | None:
        return None

    def per_sample(
        self, logits: torch.Tensor, targets: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        values = F.cross_entropy(self.adjust(logits, targets), targets, reduction="none")
        weights = self.class_weights()
        w = torch.ones_like(values) if weights is None else weights.to(values)[targets]
        return values * w, w

    def reduce(
        self, values: torch.Tensor, weights: torch.Tensor, groups: torch.Tensor
    ) -> torch.Tensor:
        return values.sum() / weights.sum()

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        pass


class BalancedSoftmax(CrossEntropy):
    """CE(logits + log prior) with the prior the stage's `prior` names (Ren et al. 2020)."""

    tau = 1.0

    def __init__(self, stage: Any, context: LossContext):
        super().__init__(stage, context)
        counts = prior_counts(
            stage.prior, context.real_counts, context.synthetic_counts, context.batch_frequencies
        )
        self.log_prior = torch.as_tensor(np.log(counts), dtype=torch.float32)

    def adjust(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return logits + self.tau * self.log_prior.to(logits)


class LogitAdjusted(BalancedSoftmax):
    """Menon et al. 2021's logit-adjusted loss, CE(logits + tau log prior); tau = 1 is Balanced
    Softmax. Prediction uses the plain logits (the loss-based variant, not post-hoc)."""

    def __init__(self, stage: Any, context: LossContext):
        super().__init__(stage, context)
        self.tau = stage.la_tau


class LDAMDRW(CrossEntropy):
    """LDAM (Cao et al. 2019): subtract m_y = C / n_y^(1/4) (largest = max_m) from the target
    logit and scale by s; DRW: from `drw_start` of the stage on, weight classes by the inverse
    effective number (1 - beta) / (1 - beta^n_y), normalised to sum to the number of classes."""

    def __init__(self, stage: Any, context: LossContext):
        super().__init__(stage, context)
        counts = np.maximum(np.asarray(context.real_counts, dtype=np.float64), 1.0)
        margins = 1.0 / np.sqrt(np.sqrt(counts))
        self.margins = torch.as_tensor(margins * (stage.ldam_max_m / margins.max()))
        effective = (1.0 - stage.drw_beta) / (1.0 - np.power(stage.drw_beta, counts))
        self.drw = torch.as_tensor(effective / effective.sum() * len(counts))
        self.drw_epoch = int(stage.drw_start * context.epochs)
        self.weights: torch.Tensor | None = None

    def set_epoch(self, epoch: int) -> None:
        self.weights = self.drw if epoch >= self.drw_epoch else None

    def class_weights(self) -> torch.Tensor | None:
        return self.weights

    def adjust(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        margin = self.margins.to(logits)[targets]
        shifted = logits - F.one_hot(targets, logits.shape[1]).to(logits) * margin[:, None]
        return self.stage.ldam_s * shifted


class GroupDRO(CrossEntropy):
    """Online Group DRO (Sagawa et al. 2020, loss.py): q_g <- q_g exp(eta * loss_g), normalised;
    the batch loss is sum_g q_g loss_g over per-group mean losses (absent groups count 0)."""

    def __init__(self, stage: Any, context: LossContext):
        super().__init__(stage, context)
        self.q = torch.full((context.num_groups,), 1.0 / context.num_groups)

    def reduce(
        self, values: torch.Tensor, weights: torch.Tensor, groups: torch.Tensor
    ) -> torch.Tensor:
        n = self.q.numel()
        onehot = F.one_hot(groups, n).to(values)  # B x G
        counts = onehot.sum(0)
        group_loss = (onehot.T @ values) / (counts + (counts == 0).to(values))
        q = self.q.to(values) * torch.exp(self.stage.dro_eta * group_loss.detach())
        self.q = (q / q.sum()).detach().cpu()
        return (group_loss * self.q.to(values)).sum()

    def state_dict(self) -> dict[str, Any]:
        return {"q": self.q.clone()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.q = state["q"].clone().cpu()


def make_loss(stage: Any, context: LossContext) -> CrossEntropy:
    """The loss the stage names, from the registry."""

    return LOSSES[stage.loss](stage, context)
