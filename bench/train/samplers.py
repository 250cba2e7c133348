"""Mini-batch composition: instance or class-balanced draws, optionally a fixed real:synthetic mix.

Batches index a ConcatDataset(real, synthetic): real samples are 0..n_real-1, synthetic ones
follow. Each epoch draws from its own seed, so a resumed run sees exactly the batches an
uninterrupted run would have seen.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from bench.io import seed_hash


class Pool:
    """Dataset indices with labels, drawn either uniformly per instance or per class."""

    def __init__(self, indices: np.ndarray, labels: np.ndarray, mode: str):
        order = np.argsort(labels, kind="stable")
        self.indices, self.labels = indices[order], labels[order]
        self.classes, self.starts, self.sizes = np.unique(
            self.labels, return_index=True, return_counts=True
        )
        self.mode = mode

    def __len__(self) -> int:
        return len(self.indices)

    def draw(self, n: int, rng: np.random.Generator) -> np.ndarray:
        if self.mode == "class-balanced":
            # A class uniformly at random, then one of its samples (with replacement).
            k = rng.integers(len(self.classes), size=n)
            return self.indices[self.starts[k] + rng.integers(self.sizes[k])]
        # Instance sampling: whole shuffled passes over the pool, as a shuffling DataLoader does.
        passes = -(-n // len(self.indices))
        return np.concatenate([rng.permutation(self.indices) for _ in range(passes)])[:n]


class BatchPlan:
    """A batch sampler yielding `steps` lists of dataset indices per epoch."""

    def __init__(
        self,
        real_labels: np.ndarray,
        synthetic_labels: np.ndarray | None,
        batch_size: int,
        steps: int,
        mode: str,
        real_fraction: float | None,
        seed: int,
    ):
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

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

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
