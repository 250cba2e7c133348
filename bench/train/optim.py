"""The classifier's optimisers and learning-rate schedules, by name.

`bench.train.recipe.OPTIMIZERS` and `LR_SCHEDULES` are registries pointing here: a new
optimiser is a function `(stage fields, parameters) -> torch optimizer`, a new schedule a
function `(stage fields, steps per epoch) -> LR multiplier per step after the warm-up`, each
plus one registry line. The warm-up (`warmup_epochs`) wraps every schedule (bench.schedules).
"""

from __future__ import annotations

from typing import Any

import torch

from bench.schedules import Factor, cosine_decay, with_warmup
from bench.train.recipe import LR_SCHEDULES, OPTIMIZERS


def sgd(st: Any, params: list) -> torch.optim.Optimizer:
    return torch.optim.SGD(params, lr=st.lr, momentum=st.momentum, weight_decay=st.weight_decay)


def adam(st: Any, params: list) -> torch.optim.Optimizer:
    return torch.optim.Adam(params, lr=st.lr, weight_decay=st.weight_decay)


def cosine(st: Any, steps: int) -> Factor:
    """Cosine decay to zero at the stage's last step."""
    return cosine_decay((st.epochs - st.warmup_epochs) * steps)


def constant(st: Any, steps: int) -> Factor:
    return lambda step: 1.0


def step_decay(st: Any, steps: int) -> Factor:
    """x step_gamma every step_epochs epochs."""
    return lambda step: st.step_gamma ** (step // (st.step_epochs * steps))


def make_optimizer(st: Any, params: list) -> torch.optim.Optimizer:
    return OPTIMIZERS[st.optimizer](st, params)


def lr_factor(st: Any, steps: int) -> Factor:
    """Per-step LR multiplier: the linear warm-up, then the stage's schedule."""
    return with_warmup(st.warmup_epochs * steps, LR_SCHEDULES[st.schedule](st, steps))
