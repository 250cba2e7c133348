"""`noise`: the test double of a generator (as lm-eval's dummy model): no network, instant.

Each image is uniform noise from its request's seed, tinted by its class so a classifier can
tell the classes apart a little. It exercises every harness path around a generator (plans,
requests, the store, resumption, training on synthetic data) in milliseconds; it is never a
result. Its "fit" writes a small file, so the cached-fit path runs too.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bench.generators.base import (
    Capabilities,
    Generator,
    SampleBatch,
    SamplingHooks,
    SynthesisRequest,
)
from bench.hparams import hp
from bench.io import atomic_write_json, read_json


@dataclass(frozen=True)
class NoiseSettings:
    capabilities = Capabilities(prompts=True, labels=True, images=True)

    noise_size: int | None = hp(
        None,
        low=4,
        high=512,
        part="generator",
        source="test double: the dataset's image size",
        help="side of the noise images; none = the dataset's",
    )


class NoiseGenerator(Generator):
    """Class-tinted noise images (a test double, never a result)."""

    name = "noise"
    Settings = NoiseSettings
    trains = True

    def __init__(self, num_classes: int, image_size: int, channels: int):
        self.num_classes, self.image_size, self.channels = num_classes, image_size, channels

    @classmethod
    def for_data(cls, settings: NoiseSettings, data: Any, device: str = "cpu") -> NoiseGenerator:
        return cls(data.num_classes, settings.noise_size or data.image_size, data.channels)

    def fit(self, data: Any, workdir: Path, seed: int, progress: bool = True) -> None:
        self.save(workdir)

    def save(self, workdir: Path) -> None:
        meta = {
            "backend": self.name,
            "num_classes": self.num_classes,
            "image_size": self.image_size,
            "channels": self.channels,
        }
        atomic_write_json(Path(workdir) / "generator.json", meta)

    @classmethod
    def load(cls, workdir: Path, device: str = "cpu") -> NoiseGenerator:
        meta = read_json(Path(workdir) / "generator.json")
        return cls(meta["num_classes"], meta["image_size"], meta["channels"])

    @property
    def sample_channels(self) -> int:
        return self.channels

    def draw(self, requests: Sequence[SynthesisRequest], hooks: SamplingHooks, **_: Any) -> Any:
        shape = (self.image_size, self.image_size, self.channels)
        out = np.zeros((len(requests), *shape), np.uint8)
        for i, r in enumerate(requests):
            noise = np.random.default_rng(r.seed).integers(0, 128, shape)
            out[i] = noise + int(r.label * 127 / max(1, self.num_classes - 1))
        return SampleBatch(out)
