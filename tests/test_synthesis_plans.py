"""Synthesis plans and the requests they expand to."""

from __future__ import annotations

import numpy as np
import pytest

from bench.data import ImageSplit, LoadedDataset
from bench.errors import ConfigError
from bench.synthesis.plans import expand, make_plan, parse_plan


def dataset(attributes: bool = True) -> LoadedDataset:
    # class 0: 5 images (3 in context 0, 2 in context 1); class 1: 2 images (context 0); class 2: 1
    targets = np.array([0, 0, 0, 0, 0, 1, 1, 2])
    attrs = np.array([0, 0, 0, 1, 1, 0, 0, 1]) if attributes else None
    images = np.zeros((len(targets), 4, 4, 1), np.uint8)
    split = ImageSplit("train", targets, images=images, attributes=attrs)
    return LoadedDataset(
        "toy",
        ["cat", "dog", "crane bird"],
        {"train": split, "val": split, "test": split},
        image_size=4,
        channels=1,
        attribute_names=["grass", "snow"] if attributes else None,
    )


@pytest.mark.parametrize(
    ("plan", "counts"),
    [
        ("fill:max", [0, 3, 4]),
        ("fill:3", [0, 1, 2]),  # class 0 already has 5 >= 3: none, recorded
        ("add:2", [2, 2, 2]),
        ("ratio:0.5", [2, 1, 0]),  # round(2.5) = 2 (banker's), round(1.0), round(0.5) = 0
    ],
)
def test_class_plans(plan: str, counts: list[int]) -> None:
    p = make_plan(plan, dataset())
    assert p.class_counts(3).tolist() == counts
    assert p.total == sum(counts)


def test_fill_to_n_records_the_classes_it_gives_none() -> None:
    p = make_plan("fill:3", dataset())
    assert p.skipped == {"0": "already has 5 >= 3 real images"}


def test_cell_plans_fill_class_context_cells() -> None:
    p = make_plan("cells:3", dataset())
    assert p.cells == [(0, 0), (0, 1), (1, 0), (1, 1), (2, 0), (2, 1)]
    assert p.real == [3, 2, 2, 0, 0, 1]
    assert p.counts == [0, 1, 1, 3, 3, 2]
    assert make_plan("cells:max", dataset()).counts == [0, 1, 1, 3, 3, 2]


def test_cell_plan_needs_an_attribute() -> None:
    with pytest.raises(ConfigError, match="toy has no attribute"):
        make_plan("cells:3", dataset(attributes=False))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("most", "is not a plan"),
        ("fill:-1", "whole number"),
        ("fill:2.5", "whole number"),
        ("ratio:0", r"ratio must be in \(0, 1000\]"),
        ("add:x", "'x' is not a number"),
    ],
)
def test_bad_plans(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_plan(text)


def test_requests_carry_prompts_contexts_and_conditioning_from_their_cell() -> None:
    data = dataset()
    plan = make_plan("cells:3", data)
    requests = expand(plan, "key", data, "a photo of a {class_name} in {context}", conditioning=2)
    assert len(requests) == plan.total == 10
    assert [r.index for r in requests] == list(range(10))
    first = requests[0]
    assert (first.label, first.group, first.prompt) == (0, 1, "a photo of a cat in snow")
    for r in requests:
        assert len(r.cond_ids) == 2
        pool = np.flatnonzero(data.train.targets == r.label)
        in_cell = pool[data.train.attributes[pool] == r.group]
        # a cell without images (dog in snow) conditions on any image of its class (FG Sec 4.3)
        allowed = in_cell if len(in_cell) else pool
        assert set(r.cond_ids) <= set(allowed.tolist())
    crane = [r for r in requests if r.label == 2]
    assert all(r.cond_ids == (7, 7) for r in crane)  # a one-image class is paired with itself
    # every sample has its own seed, a function of (key, cell, index) only
    assert len({r.seed for r in requests}) == len(requests)
    again = expand(plan, "key", data, "a photo of a {class_name} in {context}", conditioning=2)
    assert again == requests
    assert expand(plan, "other", data)[0].seed != requests[0].seed


def test_each_request_draws_its_own_conditioning_images() -> None:
    """FG Sec 3.2 / augcond: the real images a request is conditioned on are drawn from its own
    seed, so the requests of one cell see different images of it, not all the same ones."""
    pool = np.arange(40)
    data = LoadedDataset(
        "toy",
        ["a"],
        {
            "train": ImageSplit(
                "train", np.zeros(40, np.int64), images=np.zeros((40, 2, 2, 1), np.uint8)
            )
        },
        2,
        1,
    )
    plan = make_plan("add:30", data)
    requests = expand(plan, "key", data, conditioning=2)
    pairs = [r.cond_ids for r in requests]
    assert len(set(pairs)) >= 25  # 30 draws of 2 from 40 images: almost all distinct
    assert set(i for pair in pairs for i in pair) <= set(pool.tolist())


def test_prompt_template_fields_are_checked_before_any_work() -> None:
    data = dataset(attributes=False)
    plan = make_plan("fill:max", data)
    with pytest.raises(ConfigError, match=r"names \{colour\}, which no dataset provides"):
        expand(plan, "k", data, "a {colour} {class_name}")
    with pytest.raises(ConfigError, match=r"names \{context\}, but toy has no context"):
        expand(plan, "k", data, "a {class_name} in {context}")
    assert expand(plan, "k", data, "a photo of a {class_name}")[0].prompt == "a photo of a dog"
