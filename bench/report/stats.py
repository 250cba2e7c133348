"""Statistics of the leaderboard: mean ± sample std over seeds, the 95% Student-t interval and
the paired t-test behind within-noise marking (pure functions, numbers in, numbers out).

Within-noise marking (`mark_within_noise`): in each column the row with the best mean gets a
"†", and so does every row whose paired t-test against it over their common seeds (and
trials) gives a two-sided p >= 0.05: the difference is within seed noise. Rows sharing fewer
than 2 seeds with the best row are not tested (no mark).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

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
            from scipy.special import stdtrit  # Student-t quantile (as scipy.stats.t.ppf)

            ci = float(stdtrit(len(values) - 1, 0.975)) * std / math.sqrt(len(values))
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
    """Two-sided p of the paired t-test on the differences (= scipy.stats.ttest_rel)."""
    from scipy.special import stdtr  # Student-t CDF

    mean, std = mean_std(diffs)
    assert mean is not None and std is not None
    t = mean / (std / math.sqrt(len(diffs)))
    return float(2.0 * stdtr(len(diffs) - 1, -abs(t)))
