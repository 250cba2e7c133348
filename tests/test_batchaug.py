"""Batch augmentations: Mixup and CutMix, and who is mixed with whom."""

from __future__ import annotations

import pytest
import torch

from bench.train.batchaug import cutmix, mixup, partners
from bench.train.recipe import BATCH_AUGS


def test_partners_within_the_batch_the_real_data_or_across_domains() -> None:
    torch.manual_seed(0)
    is_real = torch.tensor([True] * 6 + [False] * 4)
    real_only = partners(is_real, "real")
    assert bool(is_real[real_only[:6]].all()) and real_only[6:].tolist() == [6, 7, 8, 9]
    across = partners(is_real, "real-synthetic")
    assert bool((is_real[across] != is_real).all())  # every sample mixed with the other domain
    assert sorted(partners(is_real, "batch").tolist()) == list(range(10))
    alone = partners(torch.ones(4, dtype=torch.bool), "real-synthetic")
    assert alone.tolist() == [0, 1, 2, 3]  # no synthetic sample in the batch: nothing to mix


def test_mixup_is_a_convex_combination() -> None:
    torch.manual_seed(1)
    x = torch.randn(8, 1, 4, 4)
    partner = torch.randperm(8)
    mixed, lam = mixup(x, partner, 1.0)
    assert 0.0 <= lam <= 1.0
    assert torch.allclose(mixed, lam * x + (1 - lam) * x[partner])


def test_cutmix_pastes_a_box_and_lam_is_the_kept_area() -> None:
    torch.manual_seed(2)
    x = torch.zeros(4, 1, 16, 16)
    x[2:] = 1.0
    partner = torch.tensor([2, 3, 0, 1])
    mixed, lam = cutmix(x, partner, 1.0)
    pasted = float(mixed[0].mean())  # image 0 is zeros; the box holds ones from image 2
    assert pasted == pytest.approx(1.0 - lam)
    assert torch.equal(mixed[0] == 1, mixed[1] == 1)  # one box for the whole batch


def test_registry_names_resolve() -> None:
    for name in BATCH_AUGS:
        assert callable(BATCH_AUGS[name])
