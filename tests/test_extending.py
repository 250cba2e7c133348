"""A new image augmentation, sampler and LR schedule, each added by one function (the sampler:
a class with one method) plus one registry line, and reachable from a run's settings: resolve
accepts the names and a tiny training run uses all three."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
import torch
from test_stages import train

from bench.data.augment import AUGMENTS
from bench.errors import ConfigError
from bench.runs.config import resolve
from bench.train.recipe import LR_SCHEDULES, SAMPLERS
from bench.train.samplers import Stratified

CALLS: Counter[str] = Counter()
NEW = ["recipe.augment=jitter", "recipe.sampler=inverse-size", "recipe.schedule=halving"]


def jitter(x: torch.Tensor) -> torch.Tensor:
    """A new augmentation: a little noise, from torch's generator (seeded per sample)."""
    CALLS["augment"] += 1
    return (x + 0.02 * torch.randn_like(x)).clamp(0.0, 1.0)


class InverseSize(Stratified):
    """A new sampler: a class with probability inversely proportional to its size."""

    @staticmethod
    def stratum_probabilities(sizes: np.ndarray) -> np.ndarray | None:
        CALLS["sampler"] += 1
        w = 1.0 / sizes.astype(np.float64)
        return w / w.sum()


def halving(st, steps: int):
    """A new LR schedule: half the LR at every step."""
    CALLS["schedule"] += 1
    return lambda step: 0.5**step


@pytest.fixture
def registered(monkeypatch):
    # the one registry line of each
    monkeypatch.setitem(AUGMENTS._targets, "jitter", f"{__name__}:jitter")
    monkeypatch.setitem(SAMPLERS._targets, "inverse-size", f"{__name__}:InverseSize")
    monkeypatch.setitem(LR_SCHEDULES._targets, "halving", f"{__name__}:halving")
    CALLS.clear()


def test_unregistered_names_are_refused() -> None:
    for item in NEW:
        with pytest.raises(ConfigError, match="is not allowed"):
            resolve("erm", "digits-lt", sets=[item])


def test_a_new_augmentation_sampler_and_schedule_reach_training(registered, tmp_path) -> None:
    config = resolve("erm", "digits-lt", sets=NEW)
    st = config.recipe_settings
    assert (st.augment, st.sampler, st.schedule) == ("jitter", "inverse-size", "halving")
    assert config.run_id != resolve("erm", "digits-lt").run_id
    result = train("erm", tmp_path, *NEW)
    assert CALLS["augment"] >= 16 and CALLS["sampler"] >= 1 and CALLS["schedule"] >= 1
    assert result.history and np.isfinite(result.history[-1]["train_loss"])


def test_a_new_augmentation_reaches_streamed_and_file_images(registered) -> None:
    from PIL import Image
    from test_pipeline import BatchSource

    from bench.data.torchdata import StreamImages, file_transform

    data = StreamImages(BatchSource(4, 16, 3), 16, 3, "half", "jitter", "array")
    first, again = (data.getitems_seeded([(0, 11), (1, 12)]) for _ in range(2))
    assert CALLS["augment"] == 4  # per sample, under the sample's seed: the same both times
    assert all(torch.equal(a[0], b[0]) for a, b in zip(first, again, strict=True))
    image = Image.fromarray(np.zeros((20, 20, 3), np.uint8))
    assert file_transform(16, "jitter", "half", 3)(image).shape == (3, 16, 16)
    assert CALLS["augment"] == 5
