"""The narrow interface a method plugs into; the harness owns everything else.

A method is one file in methods/ plus one registry line. It declares:
- `Hparams`: a frozen dataclass of `hp(...)` fields, each default with its paper source;
- `DATASET_DEFAULTS`: per-dataset paper values, {dataset: {name: (value, source)}};
- `RECIPE`: its training tweaks to the harness's classifier recipe, {name: (value, source)}
  (e.g. Balanced Softmax, 50/50 real:synthetic batches), including `then`, the names of its
  later training stages;
- `STAGES`: the settings of those later stages, {stage: {name: (value, source)}} (e.g. cRT's
  classifier re-training);
and, if it uses synthetic data, implements the hooks `fit_generator`, `load_generator` and
`synthesise`. Budgets (how many images per class), sharding, caching, resuming, classifier
training and evaluation belong to the harness, so methods stay comparable.

Method modules must not import torch at module level: `bench list` and config checks load them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from bench.data import LoadedDataset
from bench.errors import ConfigError
from bench.hparams import hp


@dataclass(frozen=True)
class NoHparams:
    """A method without hyperparameters of its own."""


@dataclass(frozen=True)
class FillHparams:
    """Settings shared by methods that fill classes up with synthetic images."""

    fill_to: int | str = hp(
        "max",
        stage="synthesis",
        source="fill every class up to the largest class count (FG App F.2; Fill-Up Sec 3.1)",
        help="'max' (the head-class count) or a number of images per class",
    )

    def __post_init__(self) -> None:
        if isinstance(self.fill_to, str) and self.fill_to != "max":
            raise ConfigError(f"fill_to={self.fill_to!r}: use 'max' or a number of images.")
        if isinstance(self.fill_to, int) and self.fill_to < 1:
            raise ConfigError(f"fill_to={self.fill_to}: must be at least 1.")


@dataclass
class MethodContext:
    """What the harness hands a method: the data, where it runs and how it is seeded."""

    data: LoadedDataset
    seed: int
    device: str
    progress: bool = True


class Method:
    """Base class. Subclasses override the class attributes and the hooks they need."""

    Hparams: ClassVar[type] = NoHparams
    DATASET_DEFAULTS: ClassVar[dict[str, dict[str, tuple[Any, str]]]] = {}
    RECIPE: ClassVar[dict[str, tuple[Any, str]]] = {}
    STAGES: ClassVar[dict[str, dict[str, tuple[Any, str]]]] = {}
    VERSION: ClassVar[int] = 1
    paper: ClassVar[str] = ""
    uses_synthetic_data: ClassVar[bool] = False
    # The smallest settings that still exercise every code path, for the registry smoke tests.
    TINY: ClassVar[dict[str, Any]] = {}

    def __init__(self, hparams: Any, context: MethodContext):
        self.hparams = hparams
        self.context = context

    # Hooks for methods that synthesise training data --------------------------------------

    def fit_generator(self, workdir: Path) -> None:
        """Train or adapt the generator on `self.context.data` and save it under `workdir`.

        Called once per generator config; the harness caches `workdir` and skips this when a
        finished generator is there. Long fits should checkpoint into `workdir` and resume.
        """
        raise NotImplementedError(f"{type(self).__name__} does not fit a generator")

    def load_generator(self, workdir: Path) -> None:
        """Load what `fit_generator` saved, before `synthesise` is called."""
        raise NotImplementedError(f"{type(self).__name__} does not load a generator")

    def synthesise(self, labels: np.ndarray, seed: int) -> np.ndarray:
        """Return one uint8 H x W x C image per label (N x H x W x C), deterministic in `seed`."""
        raise NotImplementedError(f"{type(self).__name__} does not synthesise images")

    @property
    def generator_seed(self) -> int:
        """The seed the generator is fitted with (see `generator_seed_of`)."""
        return generator_seed_of(vars_of(self.hparams), self.context.seed)

    def fill_target(self, train_counts: np.ndarray) -> int:
        """Images per class after filling up (the harness turns it into a per-class plan)."""
        fill_to = getattr(self.hparams, "fill_to", "max")
        return int(train_counts.max()) if fill_to == "max" else int(fill_to)


def generator_seed_of(hparams: dict[str, Any], run_seed: int) -> int:
    """A method's `generator_seed` setting, or the run's seed where it has none (or it is None).

    Papers fix their (pretrained) generator across seeds and vary synthesis and the classifier;
    methods that fit their own generator offer `generator_seed` to do the same.
    """
    value = hparams.get("generator_seed")
    return run_seed if value is None else int(value)


def vars_of(hparams: Any) -> dict[str, Any]:
    return dict(vars(hparams)) if hasattr(hparams, "__dict__") else {}
