"""Mini-batch composition: real:synthetic ratio, class balance, determinism."""

from __future__ import annotations

import numpy as np

from bench.train.samplers import BatchPlan

REAL = np.repeat(np.arange(4), [80, 15, 4, 1])  # long-tailed real labels
SYNTH = np.repeat(np.arange(4), [0, 65, 76, 79])  # the fill-up set


def batches(plan: BatchPlan, epoch: int = 0) -> list[list[int]]:
    plan.set_epoch(epoch)
    return list(plan)


def test_real_fraction_is_exact_in_every_batch() -> None:
    plan = BatchPlan(
        REAL, SYNTH, batch_size=10, steps=20, mode="instance", real_fraction=0.5, seed=0
    )
    for batch in batches(plan):
        assert len(batch) == 10
        assert sum(i < len(REAL) for i in batch) == 5


def test_pooled_instance_sampling_visits_every_sample_once_per_pass() -> None:
    plan = BatchPlan(
        REAL, SYNTH, batch_size=20, steps=16, mode="instance", real_fraction=None, seed=0
    )
    seen = np.concatenate(batches(plan))
    assert sorted(seen.tolist()) == list(range(len(REAL) + len(SYNTH)))


def test_class_balanced_draws_classes_uniformly() -> None:
    plan = BatchPlan(
        REAL, None, batch_size=100, steps=40, mode="class-balanced", real_fraction=0.5, seed=3
    )
    labels = REAL[np.concatenate(batches(plan))]
    freq = np.bincount(labels, minlength=4) / len(labels)
    assert np.allclose(freq, 0.25, atol=0.02)  # 4,000 draws: binomial sd ~0.007
    instance = BatchPlan(REAL, None, 100, 40, "instance", None, 3)
    assert np.bincount(REAL[np.concatenate(batches(instance))])[0] > 2000  # head dominates


def test_batches_are_deterministic_per_epoch_and_differ_across_epochs() -> None:
    a = BatchPlan(REAL, SYNTH, 8, 5, "instance", 0.5, seed=1)
    b = BatchPlan(REAL, SYNTH, 8, 5, "instance", 0.5, seed=1)
    assert batches(a, 2) == batches(b, 2)
    assert batches(a, 2) != batches(a, 3)
    assert batches(a, 2) != batches(BatchPlan(REAL, SYNTH, 8, 5, "instance", 0.5, seed=2), 2)
