"""Property-based tests (hypothesis) where a property is natural: shot buckets partition the
classes, the leaderboard's std is the sample std, CIFAR-LT counts fall from the head to the tail
end point, and the data fingerprint changes with any label."""

from __future__ import annotations

import itertools
import statistics

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from bench.data import ImageSplit, LoadedDataset, shot_buckets
from bench.datasets.cifar10_lt import lt_counts
from bench.report.stats import mean_std

counts_lists = st.lists(st.integers(min_value=0, max_value=5000), min_size=1, max_size=60)


@given(counts_lists, st.integers(0, 1000), st.integers(1, 1000))
def test_shot_buckets_partition_the_classes(counts: list[int], many: int, few: int) -> None:
    buckets = shot_buckets(np.array(counts), many, few)
    every = [c for bucket in buckets.values() for c in bucket]
    if few <= many + 1:  # the options refuse overlapping thresholds (DatasetOptions)
        assert sorted(every) == list(range(len(counts)))  # each class exactly once
    for c in buckets["many"]:
        assert counts[c] > many
    for c in buckets["few"]:
        assert counts[c] < few
    for c in buckets["medium"]:
        assert few <= counts[c] <= many


@given(st.lists(st.floats(-1e6, 1e6, allow_nan=False), min_size=0, max_size=30))
def test_mean_std_is_the_sample_std(values: list[float]) -> None:
    mean, std = mean_std(values)
    if not values:
        assert (mean, std) == (None, None)
        return
    assert np.isclose(mean, statistics.fmean(values), rtol=1e-9, atol=1e-6)
    if len(values) == 1:
        assert std is None
    else:
        assert np.isclose(std, statistics.stdev(values), rtol=1e-7, atol=1e-6)  # n - 1


@given(
    st.integers(10, 6000),
    st.integers(2, 120),
    st.floats(1.0, 500.0, allow_nan=False),
)
def test_cifar_lt_counts_fall_to_the_right_end_points(img_max: int, classes: int, imb: float):
    counts = lt_counts(img_max, classes, imb)
    assert len(counts) == classes
    assert counts[0] == img_max
    assert all(a >= b for a, b in itertools.pairwise(counts))  # never increasing
    assert counts[-1] == int(img_max * (1.0 / imb) ** 1.0)  # the tail end point: max / IF


@settings(max_examples=30)
@given(st.lists(st.integers(0, 4), min_size=2, max_size=40), st.data())
def test_fingerprint_changes_with_any_label(labels: list[int], data) -> None:
    from bench.data.files import Reading
    from bench.data.fingerprint import fingerprint

    def digest(targets: list[int]) -> str:
        images = np.zeros((len(targets), 2, 2, 1), np.uint8)
        split = ImageSplit("train", np.array(targets), images=images)
        loaded = LoadedDataset("toy", ["a"] * 5, {"train": split}, 2, 1)
        return fingerprint(loaded, None, None, Reading(), {})["digest"]

    i = data.draw(st.integers(0, len(labels) - 1))
    changed = list(labels)
    changed[i] = (changed[i] + 1) % 5
    assert digest(labels) == digest(list(labels))
    assert digest(changed) != digest(labels)
