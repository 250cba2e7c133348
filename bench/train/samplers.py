"""Mini-batch composition: per instance, class, sqrt(class size) or group, optionally with a fixed
real:synthetic mix.

The samplers are `bench.train.recipe.SAMPLERS`, a registry: a fixed distribution is a class here
(how it draws strata and with which probabilities) plus one line there; one whose draws follow
training (the Meta Sampler, bench/train/metasampler.py) is a batch plan of its own (`live`).

Batches index a ConcatDataset(real, synthetic): real samples are 0..n_real-1, synthetic ones
follow. Each epoch draws from its own seed, so a resumed run sees exactly the batches an
uninterrupted run would have seen.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from bench.io import seed_hash
from bench.train.recipe import SAMPLERS


class Instance:
    """Whole shuffled passes over the data, as a shuffling DataLoader does (ERM)."""

    by_group = False  # strata are the groups (else the classes)
    live = False  # draws that follow training: a batch plan of its own (metasampler.py)

    @staticmethod
    def stratum_probabilities(sizes: np.ndarray) -> np.ndarray | None:
        """The probability of drawing each stratum, or None: no strata (instance passes)."""
        return None


class Stratified(Instance):
    """A stratum with `stratum_probabilities`, then one of its samples."""

    @classmethod
    def draw_strata(cls, sizes: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
        return rng.choice(len(sizes), size=n, p=cls.stratum_probabilities(sizes))


class ClassBalanced(Stratified):
    """A class uniformly at random, then one of its samples (Kang et al. 2020)."""

    @staticmethod
    def stratum_probabilities(sizes: np.ndarray) -> np.ndarray | None:
        return np.full(len(sizes), 1.0 / len(sizes))

    @staticmethod
    def draw_strata(sizes: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
        return rng.integers(len(sizes), size=n)  # the uniform draw, as before the registry


class SqrtSize(Stratified):
    """A class with probability proportional to the square root of its size (CBDM's RS-SQRT)."""

    @staticmethod
    def stratum_probabilities(sizes: np.ndarray) -> np.ndarray | None:
        w = np.sqrt(sizes.astype(np.float64))
        return w / w.sum()


class GroupBalanced(ClassBalanced):
    """A group uniformly at random, then one of its samples (SubpopBench)."""

    by_group = True


def sampler_kind(name: str) -> type[Instance]:
    """The registered sampler `name`; a fixed distribution, the kind a `BatchPlan` draws."""

    kind = SAMPLERS[name]
    if kind.live:
        raise ValueError(
            f"sampler {name!r} draws from what training has learnt, not from a fixed "
            "distribution: bench.train.loop.training_data builds its own batch plan"
        )
    return kind


class Pool:
    """Dataset indices with strata (classes or groups), drawn per instance or per stratum: a
    stratum with the sampler's probabilities, then one of its samples, with replacement."""

    def __init__(self, indices: np.ndarray, labels: np.ndarray, mode: str):
        order = np.argsort(labels, kind="stable")
        self.indices, self.labels = indices[order], labels[order]
        self.classes, self.starts, self.sizes = np.unique(
            self.labels, return_index=True, return_counts=True
        )
        self.kind = sampler_kind(mode)

    def __len__(self) -> int:
        return len(self.indices)

    def draw(self, n: int, rng: np.random.Generator) -> np.ndarray:
        if issubclass(self.kind, Stratified):
            k = self.kind.draw_strata(self.sizes, n, rng)
            return self.indices[self.starts[k] + rng.integers(self.sizes[k])]
        passes = -(-n // len(self.indices))
        return np.concatenate([rng.permutation(self.indices) for _ in range(passes)])[:n]

    def sample_probabilities(self) -> np.ndarray:
        """The probability of each of `self.indices` in one draw."""
        p = self.kind.stratum_probabilities(self.sizes)
        if p is None:
            return np.full(len(self.indices), 1.0 / len(self.indices))
        return np.repeat(p / self.sizes, self.sizes)


class BatchPlan:
    """A batch sampler yielding `steps` lists of dataset indices per epoch, from a fixed
    distribution (`mode`: a name from the sampler registry)."""

    live = False

    def __init__(
        self,
        real_labels: np.ndarray,
        synthetic_labels: np.ndarray | None,
        batch_size: int,
        steps: int,
        mode: str,
        real_fraction: float | None,
        seed: int,
        strata: tuple[np.ndarray, np.ndarray | None] | None = None,
    ):
        """`strata` (real, synthetic) replaces the labels as what stratum modes balance (groups)."""
        if strata is not None:
            real_labels, synthetic_labels = strata
        n_real = len(real_labels)
        self.batch_size, self.steps, self.seed, self.epoch = batch_size, steps, seed, 0
        has_synthetic = synthetic_labels is not None and len(synthetic_labels) > 0
        if has_synthetic and real_fraction is not None:
            synth_idx = n_real + np.arange(len(synthetic_labels))
            self.pools = [
                Pool(np.arange(n_real), np.asarray(real_labels), mode),
                Pool(synth_idx, np.asarray(synthetic_labels), mode),
            ]
            n_real_batch = min(batch_size, max(1, round(batch_size * real_fraction)))
            self.shares = [n_real_batch, batch_size - n_real_batch]
        else:
            labels = (
                np.concatenate([real_labels, synthetic_labels])
                if has_synthetic
                else np.asarray(real_labels)
            )
            self.pools = [Pool(np.arange(len(labels)), labels, mode)]
            self.shares = [batch_size]

    def class_frequencies(self, classes: np.ndarray, num_classes: int) -> np.ndarray:
        """The expected share of each class in a mini-batch; `classes[i]` is index i's class."""
        out = np.zeros(num_classes)
        for pool, share in zip(self.pools, self.shares, strict=True):
            p = pool.sample_probabilities() * share / self.batch_size
            out += np.bincount(classes[pool.indices], weights=p, minlength=num_classes)
        return out

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def before_step(self, *args: Any) -> None:
        """A sampler's own work before each training step: none for a fixed distribution."""

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        pass

    def __len__(self) -> int:
        return self.steps

    def __iter__(self) -> Iterator[list[int]]:
        rng = np.random.default_rng(seed_hash(self.seed, "batches", self.epoch))
        draws = [
            pool.draw(share * self.steps, rng) if share else np.zeros(0, np.int64)
            for pool, share in zip(self.pools, self.shares, strict=True)
        ]
        for step in range(self.steps):
            parts = [d[step * s : (step + 1) * s] for d, s in zip(draws, self.shares, strict=True)]
            yield np.concatenate(parts).tolist()
