"""Learning-rate multipliers per optimisation step (torch's LambdaLR): the one cosine decay and
the one linear warm-up, shared by the classifier recipe's schedules (bench.train.optim) and the
ddpm generator."""

from __future__ import annotations

import math
from collections.abc import Callable

Factor = Callable[[int], float]


def cosine_decay(total: int) -> Factor:
    """1 at step 0, down to 0 at step `total` on a half cosine, then held at 0."""

    def factor(step: int) -> float:
        return 0.5 * (1.0 + math.cos(math.pi * min(step, total) / max(1, total)))

    return factor


def with_warmup(warmup: int, after: Factor) -> Factor:
    """Linear warm-up over `warmup` steps ((step + 1) / warmup), then `after`, its steps counted
    from the end of the warm-up."""

    def factor(step: int) -> float:
        return (step + 1) / warmup if step < warmup else after(step - warmup)

    return factor


def cosine_with_warmup(total_steps: int, warmup: int | None = None) -> Factor:
    """Linear warm-up (default ~2% of the steps), then cosine decay to zero at `total_steps`."""
    warmup = max(1, total_steps // 50) if warmup is None else warmup
    return with_warmup(warmup, cosine_decay(total_steps - warmup))
