"""Statistics of the leaderboard and of `bench compare`: mean ± sample std over seeds, the 95%
Student-t interval, the paired t-test behind within-noise marking, the paired interval of a
mean difference over seeds, a bootstrap interval over test images, and a claim's verdict (pure
functions, numbers in, numbers out; the distributions and tests are scipy.stats').

Within-noise marking (`mark_within_noise`): in each column the row with the best mean gets a
"†", and so does every row whose paired t-test against it over their common seeds (and
trials) gives a two-sided p >= 0.05: the difference is within seed noise. Rows sharing fewer
than 2 seeds with the best row are not tested (no mark).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # types only: aggregate builds Rows of Stats
    from bench.report.aggregate import Group

NOISE_P = 0.05


@dataclass
class Stat:
    mean: float | None
    std: float | None
    n: int
    ci: float | None = None  # half-width of the 95% confidence interval

    @classmethod
    def of(cls, values: list[float]) -> Stat:
        mean, std = mean_std(values)
        ci = None
        if std is not None:
            # scipy: heavy, imported where used (off the start-up path)
            from scipy import stats

            ci = float(stats.t.ppf(0.975, len(values) - 1)) * std / math.sqrt(len(values))
        return cls(mean, std, len(values), ci)


def mean_std(values: list[float]) -> tuple[float | None, float | None]:
    if not values:
        return None, None
    mean = sum(values) / len(values)
    if len(values) < 2:
        return mean, None
    var = sum((v - mean) ** 2 for v in values) / (len(values) - 1)
    return mean, math.sqrt(var)


def mark_within_noise(group: Group) -> None:
    """Mark, per column, the best row and the rows a paired t-test cannot tell from it."""
    keys = {k for r in group.rows for k in r.values}
    lower = {c.key for c in group.columns if c.lower_is_better}
    for key in keys:
        candidates = [r for r in group.rows if r.values.get(key)]
        if not candidates:
            continue
        sign = -1.0 if key.split("@")[0] in lower else 1.0
        best = max(candidates, key=lambda r: sign * (r.stat(key).mean or 0.0))
        best.noise.add(key)
        for row in candidates:
            if row is not best and within_noise(best.values[key], row.values[key]):
                row.noise.add(key)


def within_noise(a: dict[tuple[int, int], float], b: dict[tuple[int, int], float]) -> bool:
    """Paired two-sided t-test over the common (seed, trial) pairs: p >= 0.05."""
    common = sorted(set(a) & set(b))
    if len(common) < 2:
        return False
    diffs = [a[k] - b[k] for k in common]
    scale = max(1.0, *(abs(d) for d in diffs))
    if max(diffs) - min(diffs) <= 1e-9 * scale:  # no spread: only equal means are within noise
        return abs(diffs[0]) <= 1e-9 * scale
    return paired_t_pvalue(diffs) >= NOISE_P


def paired_t_pvalue(diffs: list[float]) -> float:
    """Two-sided p of the paired t-test on the differences: scipy.stats.ttest_rel's, from the
    t statistic and scipy.stats' Student-t survival function (ttest_rel itself costs 2 ms a
    call, which thousands of leaderboard cells feel)."""
    # scipy: heavy, imported where used (off the start-up path)
    from scipy import stats

    mean, std = mean_std(diffs)
    assert mean is not None and std is not None
    t = mean / (std / math.sqrt(len(diffs)))
    return float(2.0 * stats.t.sf(abs(t), len(diffs) - 1))


# Comparing two rows ---------------------------------------------------------------------------

CONFIDENCE = 0.95
BOOTSTRAP_RESAMPLES = 2000
# What a comparison concludes, from its per-seed differences and their paired interval.
HOLDS_EVERY_SEED = "holds on every seed"
HOLDS_ON_AVERAGE = "holds on average"
WITHIN_NOISE = "within noise"
REVERSED = "reversed"


@dataclass(frozen=True)
class Interval:
    low: float
    high: float

    def excludes_zero(self) -> bool:
        return self.low > 0 or self.high < 0


def seed_interval(diffs: Sequence[float]) -> Interval | None:
    """The 95% paired Student-t interval of the mean difference over seeds (the interval of
    scipy.stats.ttest_rel over the pairs); None under two seeds, the point itself when every
    seed gives the same difference."""
    # scipy: heavy, imported where used (off the start-up path)
    from scipy import stats

    if len(diffs) < 2:
        return None
    if max(diffs) - min(diffs) <= 1e-12 * max(1.0, *map(abs, diffs)):
        return Interval(float(diffs[0]), float(diffs[0]))
    ci = stats.ttest_1samp(list(diffs), 0.0).confidence_interval(CONFIDENCE)
    return Interval(float(ci.low), float(ci.high))


def image_differences(runs: Sequence[tuple[Any, Any, Any]]) -> tuple[Any, Any]:
    """(labels, d) for runs = (labels, predicted by A, predicted by B) per seed on the same test
    images: d[i] = the mean over seeds of A's correctness minus B's on image i."""

    labels = np.asarray(runs[0][0], dtype=np.int64)
    d = np.mean(
        [(np.asarray(a) == labels).astype(float) - (np.asarray(b) == labels) for _, a, b in runs],
        axis=0,
    )
    return labels, d


def bootstrap_interval(
    runs: Sequence[tuple[Any, Any, Any]],
    classes: Sequence[int] | None = None,
    resamples: int = BOOTSTRAP_RESAMPLES,
    seed: int = 0,
) -> Interval:
    """Percentile bootstrap (scipy.stats.bootstrap, test images resampled with replacement) of
    the mean over seeds of A's accuracy minus B's, in points. `classes=None`: plain accuracy
    (`overall`); a list of classes: the mean of those classes' accuracies, as a shot bucket is
    (bench.metrics.accuracy.shot_accuracy; a class a resample leaves empty is skipped)."""
    # scipy: heavy, imported where used (off the start-up path)
    from scipy import stats

    labels, d = image_differences(runs)
    statistic = accuracy_statistic(labels, d, classes)
    result = stats.bootstrap(
        (np.arange(len(labels)),),
        statistic,
        n_resamples=resamples,
        batch=50,
        vectorized=True,
        method="percentile",
        confidence_level=CONFIDENCE,
        rng=np.random.default_rng(seed),
    )
    ci = result.confidence_interval
    return Interval(100.0 * float(ci.low), 100.0 * float(ci.high))


def accuracy_statistic(labels: Any, d: Any, classes: Sequence[int] | None) -> Any:
    """The statistic of resampled image indices (shape (n,) or (batch, n)): mean of d, or the
    mean over `classes` of each class's mean of d."""

    n_classes = int(labels.max()) + 1
    wanted = None if classes is None else np.asarray(list(classes), dtype=np.int64)

    def statistic(idx: Any, axis: int = -1) -> Any:
        idx = np.asarray(idx)
        batch = np.atleast_2d(idx)
        if wanted is None:
            out = d[batch].mean(axis=-1)
        else:
            flat = (labels[batch] + n_classes * np.arange(len(batch))[:, None]).ravel()
            size = len(batch) * n_classes
            counts = np.bincount(flat, minlength=size).reshape(len(batch), n_classes)
            sums = np.bincount(flat, weights=d[batch].ravel(), minlength=size)
            per_class = sums.reshape(len(batch), n_classes)[:, wanted]
            with np.errstate(invalid="ignore", divide="ignore"):
                per_class = per_class / counts[:, wanted]
            out = np.nanmean(np.where(counts[:, wanted] > 0, per_class, np.nan), axis=-1)
        return out if idx.ndim > 1 else out[0]

    return statistic


def verdict(diffs: Sequence[float], interval: Interval | None, lower_is_better: bool) -> str:
    """What the per-seed differences (A - B) say about "A is better than B": every seed agrees,
    the mean does with a paired interval that excludes 0, the interval includes 0, or the
    difference goes the other way (on every seed, or with an interval that excludes 0)."""
    sign = -1.0 if lower_is_better else 1.0
    signed = [sign * x for x in diffs]
    tolerance = 1e-9 * max(1.0, *map(abs, signed)) if signed else 0.0
    if signed and all(x > tolerance for x in signed):
        return HOLDS_EVERY_SEED
    if signed and all(x < -tolerance for x in signed):
        return REVERSED
    if interval is not None and interval.excludes_zero():
        return HOLDS_ON_AVERAGE if sum(signed) > 0 else REVERSED
    return WITHIN_NOISE
