"""Mini-batch composition: real:synthetic ratio, class balance, determinism."""

from __future__ import annotations

import numpy as np
import pytest

from bench.train.recipe import SAMPLERS
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


def test_sqrt_sampling_draws_classes_in_proportion_to_the_root_of_their_size() -> None:
    plan = BatchPlan(REAL, None, batch_size=200, steps=50, mode="sqrt", real_fraction=None, seed=0)
    freq = np.bincount(REAL[np.concatenate(batches(plan))], minlength=4) / 10_000
    expected = np.sqrt([80, 15, 4, 1]) / np.sqrt([80, 15, 4, 1]).sum()
    assert np.allclose(freq, expected, atol=0.015)
    assert np.allclose(plan.class_frequencies(REAL, 4), expected)


def test_group_balanced_sampling_balances_the_strata_it_is_given() -> None:
    groups = np.arange(len(REAL)) % 5  # 5 groups cutting across the classes
    groups[:60] = 0  # group 0 is most of the data
    plan = BatchPlan(REAL, None, 100, 50, "group-balanced", None, 1, strata=(groups, None))
    drawn = groups[np.concatenate(batches(plan))]
    assert np.allclose(np.bincount(drawn) / len(drawn), 0.2, atol=0.02)


def test_batch_class_frequencies_follow_the_real_synthetic_mix() -> None:
    # 50/50 real:synthetic batches: half the batch has the real (long-tailed) class shares,
    # half the synthetic ones; that is the prior Balanced Softmax "batch" uses.
    plan = BatchPlan(REAL, SYNTH, 10, 4, "instance", 0.5, seed=0)
    classes = np.concatenate([REAL, SYNTH])
    real = np.bincount(REAL, minlength=4) / len(REAL)
    synth = np.bincount(SYNTH, minlength=4) / len(SYNTH)
    assert np.allclose(plan.class_frequencies(classes, 4), 0.5 * real + 0.5 * synth)
    pooled = BatchPlan(REAL, SYNTH, 10, 4, "instance", None, seed=0)
    assert np.allclose(pooled.class_frequencies(classes, 4), np.bincount(classes) / len(classes))
    drawn = classes[np.concatenate(batches(BatchPlan(REAL, SYNTH, 100, 200, "instance", 0.5, 2)))]
    assert np.allclose(np.bincount(drawn) / len(drawn), 0.5 * real + 0.5 * synth, atol=0.01)


@pytest.mark.parametrize("name", list(SAMPLERS))
def test_every_registered_sampler_draws_the_class_shares_it_declares(name: str) -> None:
    """The registry loop: each sampler, built as a stage builds it (on digits-lt's long-tailed
    training split), draws classes with the frequencies its plan states (the batch prior)."""
    from bench.datasets import DATASETS
    from bench.runs.config import resolve
    from bench.train.loop import training_data
    from bench.train.recipe import StageFields

    config = resolve("erm", "digits-lt", sets=["recipe.groups=auto"])
    data = DATASETS["digits-lt"](config.dataset_settings).load()
    st = StageFields(sampler=name, trains="head", data="real", batch_size=200, steps_per_epoch=30)
    train = training_data(st, config.recipe_settings, data, None, seed=0)
    train.plan.set_epoch(0)
    drawn = train.classes[np.concatenate(list(train.plan))]
    declared = train.plan.class_frequencies(train.classes, data.num_classes)
    assert np.isclose(declared.sum(), 1.0) and len(drawn) == 6000
    assert np.allclose(np.bincount(drawn, minlength=10) / len(drawn), declared, atol=0.02)
    assert declared.max() < 0.5 or name == "instance"  # all but ERM flatten the 114:1 tail
