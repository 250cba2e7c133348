"""Batch augmentations, by name in `bench.train.recipe.BATCH_AUGS`: a function here plus a line.

Each takes the batch images, the partner of every sample and the mixing strength, and returns the
mixed images and the weight of the first label set (the loss is lam * loss(y) + (1 - lam) *
loss(y[partner])). Partners come from `partners`: any sample of the batch, real samples among
themselves, or real with synthetic (SYNAuG's domain Mixup). Random draws use torch's global
generator, which the training loop seeds per epoch, so a resumed run mixes exactly as an
uninterrupted one.
"""

from __future__ import annotations

import torch


def partners(is_real: torch.Tensor, pairs: str) -> torch.Tensor:
    """The index each sample is mixed with (its own index: left as it is)."""
    n = len(is_real)
    if pairs == "batch":
        return torch.randperm(n)
    out = torch.arange(n)
    real = torch.nonzero(is_real).flatten()
    synthetic = torch.nonzero(~is_real).flatten()
    if pairs == "real":
        out[real] = real[torch.randperm(len(real))]
        return out
    if len(real) and len(synthetic):  # real-synthetic: each sample with one of the other domain
        out[real] = synthetic[torch.randint(len(synthetic), (len(real),))]
        out[synthetic] = real[torch.randint(len(real), (len(synthetic),))]
    return out


def beta(alpha: float) -> float:
    return float(torch.distributions.Beta(alpha, alpha).sample())


def no_mix(x: torch.Tensor, partner: torch.Tensor, alpha: float) -> tuple[torch.Tensor, float]:
    return x, 1.0


def mixup(x: torch.Tensor, partner: torch.Tensor, alpha: float) -> tuple[torch.Tensor, float]:
    """lam x + (1 - lam) x[partner], lam ~ Beta(alpha, alpha) (Zhang et al. 2018)."""
    lam = beta(alpha)
    return lam * x + (1.0 - lam) * x[partner], lam


def cutmix(x: torch.Tensor, partner: torch.Tensor, alpha: float) -> tuple[torch.Tensor, float]:
    """Paste a box of area (1 - lam) from the partner; lam is then the kept area (Yun et al.
    2019, official train.py rand_bbox)."""
    lam = beta(alpha)
    h, w = x.shape[-2:]
    cut = (1.0 - lam) ** 0.5
    ch, cw = int(h * cut), int(w * cut)
    cy, cx = int(torch.randint(h, ())), int(torch.randint(w, ()))
    y0, y1 = max(cy - ch // 2, 0), min(cy + ch // 2, h)
    x0, x1 = max(cx - cw // 2, 0), min(cx + cw // 2, w)
    out = x.clone()
    out[..., y0:y1, x0:x1] = x[partner][..., y0:y1, x0:x1]
    return out, 1.0 - (y1 - y0) * (x1 - x0) / (h * w)
