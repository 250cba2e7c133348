"""Precision, recall, density and coverage (Naeem et al. 2020) in bounded memory.

The definitions are those of the `prdc` package (clovaai/generative-evaluation-prdc), with r_k(x)
the distance from x to its k-th nearest neighbour within its own set (itself excluded):

    precision = share of fake points inside some real ball:    any_i d(real_i, fake_j) < r_k(real_i)
    recall    = share of real points inside some fake ball:    any_j d(real_i, fake_j) < r_k(fake_j)
    density   = (1 / kM) sum_j sum_i [d(real_i, fake_j) < r_k(real_i)]
    coverage  = share of real points whose nearest fake point lies inside their ball

`prdc` builds the full N x N and N x M distance matrices (50,000 x 50,000 float32 = 10 GB, plus
an int64 index array twice that size in its k-th-value search). Here the matrices are visited in
blocks of `block` x `block` distances and reduced on the fly (running k + 1 smallest per row,
any / count per column and row), so memory grows with N x dims plus one block, not with N x M.

Distances follow scikit-learn's `euclidean_distances`, which `prdc` calls: squared distances
|x|^2 - 2 x.y + |y|^2 accumulated in float64, rounded to the inputs' precision (float32 for
float32 inputs), clipped at 0 and square-rooted; self-distances are exactly 0. Comparisons are
strict, as in `prdc`, so results agree with it, ties and duplicates included.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from bench.metrics.checks import (
    MetricInputError,
    check_enough,
    check_features,
    check_same_width,
)

DEFAULT_BLOCK = 2048  # 2048 x 2048 distances: 32 MB in float64, the largest buffer used


def prdc(
    real_features: Any, fake_features: Any, k: int = 5, block: int = DEFAULT_BLOCK
) -> dict[str, float]:
    """precision, recall, density and coverage of fake features against real ones."""
    # torch: heavy, imported where used (off the start-up path)
    import torch

    if k < 1:
        raise MetricInputError(f"k must be at least 1, got {k}.")
    if block < 1:
        raise MetricInputError(f"block must be at least 1, got {block}.")
    same_object = real_features is fake_features
    real = check_features(real_features, "real features")
    fake = check_features(fake_features, "fake features")
    check_same_width(real, fake, "real features", "fake features")
    why = f"the distance to the k-th nearest neighbour (k={k}, the point itself excluded)"
    check_enough(real, k + 1, "real features", why)
    check_enough(fake, k + 1, "fake features", why)
    out_dtype = torch.float32 if real.dtype == fake.dtype == np.float32 else torch.float64
    work = Workspace(min(block, max(len(real), len(fake))), out_dtype)
    real_set, fake_set = FeatureSet(real, block), FeatureSet(fake, block)
    with torch.no_grad():
        real_radii = knn_radii(real_set, k, work)
        fake_radii = knn_radii(fake_set, k, work)
        return cross_statistics(real_set, fake_set, real_radii, fake_radii, k, work, same_object)


class FeatureSet:
    """Features split into row blocks, with float64 squared norms (as scikit-learn takes them)."""

    def __init__(self, features: np.ndarray, block: int):
        # torch: heavy, imported where used (off the start-up path)
        import torch

        self.x = torch.from_numpy(features)
        self.bounds = [
            (lo, min(lo + block, len(features))) for lo in range(0, len(features), block)
        ]
        self.norms = torch.cat([self.rows(lo, hi).square().sum(1) for lo, hi in self.bounds])

    def __len__(self) -> int:
        return len(self.x)

    def rows(self, lo: int, hi: int) -> Any:
        # torch: heavy, imported where used (off the start-up path)
        import torch

        return self.x[lo:hi].to(torch.float64)


class Workspace:
    """Buffers reused for every block: fresh 100 MB tensors per block would cost more time in
    allocation and page faults than the arithmetic."""

    def __init__(self, block: int, out_dtype: Any):
        # torch: heavy, imported where used (off the start-up path)
        import torch

        self.out_dtype = out_dtype
        self.squared = torch.empty(block * block, dtype=torch.float64)
        exact = out_dtype == torch.float64  # float64 inputs keep the float64 distances
        self.rounded = None if exact else torch.empty(block * block, dtype=out_dtype)
        self.mask = torch.empty(block * block, dtype=torch.bool)
        self.ones = torch.ones(block, dtype=torch.float32)
        self.mask_as_float = torch.empty(block * block, dtype=torch.float32)

    def distances(self, a: Any, a_norms: Any, b: Any, b_norms: Any, zero_diagonal: bool) -> Any:
        """Euclidean distances between the rows of a and b (float64 blocks) in scikit-learn's
        order of operations: -2 a.b, + |a|^2, + |b|^2, rounded to the output precision, clipped
        at 0, self-distances set to 0, square root."""
        # torch: heavy, imported where used (off the start-up path)
        import torch

        shape = (len(a), len(b))
        squared = self.squared[: shape[0] * shape[1]].view(shape)
        torch.mm(a, b.T, out=squared)
        squared.mul_(-2.0).add_(a_norms[:, None]).add_(b_norms[None, :])
        if self.rounded is None:
            d = squared
        else:
            d = self.rounded[: squared.numel()].view(shape)
            d.copy_(squared)
        d.clamp_(min=0)
        if zero_diagonal:
            d.diagonal().zero_()
        return d.sqrt_()

    def less(self, d: Any, bound: Any) -> Any:
        # torch: heavy, imported where used (off the start-up path)
        import torch

        return torch.lt(d, bound, out=self.mask[: d.numel()].view(d.shape))

    def column_counts(self, mask: Any) -> Any:
        """Trues per column, exact (at most `block` per column, far below float32's 2^24)."""
        as_float = self.mask_as_float[: mask.numel()].view(mask.shape)
        return (self.ones[: len(mask)] @ as_float.copy_(mask)).round().long()


def knn_radii(features: FeatureSet, k: int, work: Workspace) -> Any:
    """Distance from every row to its k-th nearest neighbour in the same set (self excluded).

    The self-distance 0 is among the k + 1 smallest distances of a row, so the radius is the
    (k + 1)-th smallest distance, as `prdc` takes it. The distance matrix is symmetric, so only
    blocks on and above the diagonal are computed; each serves the rows of both its blocks.
    """
    # torch: heavy, imported where used (off the start-up path)
    import torch

    smallest = torch.full((len(features), k + 1), float("inf"), dtype=work.out_dtype)

    def keep_smallest(lo: int, hi: int, candidates: Any) -> None:
        merged = torch.cat([smallest[lo:hi], candidates], dim=1)
        smallest[lo:hi] = torch.topk(merged, k + 1, dim=1, largest=False).values

    for i, (lo, hi) in enumerate(features.bounds):
        rows = features.rows(lo, hi)
        for clo, chi in features.bounds[i:]:
            cols = rows if clo == lo else features.rows(clo, chi)
            d = work.distances(
                rows, features.norms[lo:hi], cols, features.norms[clo:chi], clo == lo
            )
            keep_smallest(lo, hi, torch.topk(d, min(k + 1, chi - clo), dim=1, largest=False).values)
            if clo != lo:
                by_column = torch.topk(d, min(k + 1, hi - lo), dim=0, largest=False).values
                keep_smallest(clo, chi, by_column.T)
    return smallest.max(dim=1).values


def cross_statistics(
    real: FeatureSet,
    fake: FeatureSet,
    real_radii: Any,
    fake_radii: Any,
    k: int,
    work: Workspace,
    same_object: bool,
) -> dict[str, float]:
    """One blocked pass over the real x fake distances, keeping only per-row / column results.

    coverage needs "the nearest fake point is inside the real ball", which is the same as "some
    fake point is inside it", so it comes from the same comparisons as precision and density.
    """
    # torch: heavy, imported where used (off the start-up path)
    import torch

    fake_in_real_ball = torch.zeros(len(fake), dtype=torch.bool)
    real_balls_per_fake = torch.zeros(len(fake), dtype=torch.int64)
    real_ball_holds_fake = torch.zeros(len(real), dtype=torch.bool)
    real_in_fake_ball = torch.zeros(len(real), dtype=torch.bool)
    for lo, hi in real.bounds:
        rows = real.rows(lo, hi)
        for clo, chi in fake.bounds:
            zero = same_object and clo == lo
            d = work.distances(
                rows, real.norms[lo:hi], fake.rows(clo, chi), fake.norms[clo:chi], zero
            )
            inside = work.less(d, real_radii[lo:hi, None])
            fake_in_real_ball[clo:chi] |= inside.any(0)
            real_ball_holds_fake[lo:hi] |= inside.any(1)
            real_balls_per_fake[clo:chi] += work.column_counts(inside)
            real_in_fake_ball[lo:hi] |= work.less(d, fake_radii[None, clo:chi]).any(1)
    n_fake = len(fake)
    return {
        "precision": float(fake_in_real_ball.sum().item() / n_fake),
        "recall": float(real_in_fake_ball.sum().item() / len(real)),
        "density": float((1.0 / k) * (real_balls_per_fake.sum().item() / n_fake)),
        "coverage": float(real_ball_holds_fake.sum().item() / len(real)),
    }
