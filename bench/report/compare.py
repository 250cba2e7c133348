"""Two rows of ours against each other: `bench compare A B --dataset D` and the papers' claims
(results/published/claims.csv) on our runs. Pure: aggregated Groups in, Comparisons out
(bench.report.layout lays them out).

A comparison pairs the runs of two rows by (seed, trial) and gives, for one metric:

- the difference A - B of each pair (points of accuracy, or the metric's own unit);
- their mean with the 95% paired Student-t interval over seeds (scipy.stats.ttest_rel's);
- a 95% percentile bootstrap interval over test images (resampled with replacement, the same
  images for A and B and every seed), from the per-image predictions the records store; omitted
  with a note where a run has none (recorded before they were stored) or the metric is not an
  accuracy of the images (group, fairness and generation metrics);
- a verdict on "A is better than B": holds on every seed, holds on average (the seed interval
  excludes 0), within noise, or reversed (every seed, or the interval, on the other side).

Which rows: a side is a bench method and settings its rows must hold (bench.report.matching's
`holds`: `a|b`, `*`, patterns, `!x`). Where several rows of a side match (the same method at two
recipes, with and without a pretrained generator), rows are paired when they agree on every
setting that tells the matching rows of either side apart, the claim's own settings aside; a
setting one side's method does not have is not compared.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from bench.errors import BenchError
from bench.registry import unknown_name_message
from bench.report.aggregate import COLUMNS, Column, Group, Row, all_columns, canonical, slug
from bench.report.matching import holds
from bench.report.published import Claim, PublishedDataError, RowSpec
from bench.report.stats import (
    Interval,
    bootstrap_interval,
    seed_interval,
    verdict,
)

# Metrics whose value is an accuracy over test images: the bootstrap recomputes them.
IMAGE_METRICS = ("overall", "many", "medium", "few")


class CompareError(BenchError):
    """Rows that cannot be compared as asked (none on the dataset, different test splits)."""


@dataclass
class Comparison:
    """Row A against row B of one group on one metric column."""

    group: Group
    a: Row
    b: Row
    column: Column
    key: str  # the column key in the rows' values (e.g. few, overall@4, fid[classifier:x])
    pairs: list[tuple[int, int]]
    diffs: list[float]
    seed_ci: Interval | None
    boot: Interval | None
    boot_note: str
    verdict: str
    claim: Claim | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def mean(self) -> float | None:
        return sum(self.diffs) / len(self.diffs) if self.diffs else None


def compare_rows(group: Group, a: Row, b: Row, key: str, claim: Claim | None = None) -> Comparison:
    """A against B on the column `key`, over the (seed, trial) pairs both rows have."""
    column = column_for(group, key)
    pairs = sorted(set(a.values.get(key, {})) & set(b.values.get(key, {})))
    diffs = [a.values[key][p] - b.values[key][p] for p in pairs]
    interval = seed_interval(diffs)
    boot, note = image_interval(a, b, key, pairs)
    found = verdict(diffs, interval, column.lower_is_better) if diffs else "no common seeds"
    return Comparison(group, a, b, column, key, pairs, diffs, interval, boot, note, found, claim)


def column_for(group: Group, key: str) -> Column:
    """The Column of a row-values key (a few-shot `overall@4` is `overall` at k=4)."""
    base, _, k = key.partition("@")
    column = next((c for c in group.columns if c.key == base), None) or COLUMNS.get(base)
    if column is None:
        column = next(c for c in all_columns() if c.key == base)
    if not k:
        return column
    return Column(key, f"{column.title} (k={k})", column.path, column.scale, column.digits,
                  column.kind, column.lower_is_better)  # fmt: skip


def image_interval(
    a: Row, b: Row, key: str, pairs: list[tuple[int, int]]
) -> tuple[Interval | None, str]:
    """The bootstrap interval over test images, or None and why it is omitted."""
    base, _, k = key.partition("@")
    if base not in IMAGE_METRICS:
        return None, "no bootstrap over test images for a metric that is not an image accuracy"
    if not pairs:
        return None, ""
    suffix = f"@{k}" if k else ""
    found = [(a.predictions.get((suffix, p)), b.predictions.get((suffix, p))) for p in pairs]
    runs = [(pa, pb) for pa, pb in found if pa is not None and pb is not None]
    if len(runs) < len(found):
        return None, (
            "bootstrap over test images omitted: a run of these rows has no stored test "
            "predictions (recorded before bench stored them); the seed interval stands"
        )
    for (pa, pb), pair in zip(runs, pairs, strict=True):
        if list(pa.labels) != list(pb.labels):
            raise CompareError(
                f"{a.label} and {b.label} (seed {pair[0]}) were tested on different test images "
                f"({len(pa.labels)} vs {len(pb.labels)}, or another order): a paired comparison "
                "needs the same test split. Compare runs of one dataset version and options."
            )
    classes = None if base == "overall" else runs[0][0].buckets.get(base)
    if base != "overall" and not classes:
        return None, f"bootstrap over test images omitted: the records name no {base} class"
    triples = [(pa.labels, pa.predicted, pb.predicted) for pa, pb in runs]
    return bootstrap_interval(triples, classes), ""


def rows_for(group: Group, spec: RowSpec) -> list[Row]:
    """The group's rows of the spec's method that hold its settings."""
    return [r for r in group.rows if r.method == spec.method and holds(r.options, spec.settings)]


def row_pairs(a_rows: list[Row], b_rows: list[Row], fixed: set[str]) -> list[tuple[Row, Row]]:
    """(a, b) pairs agreeing on every setting that tells the rows of a side apart (`fixed`: the
    settings the comparison itself names, which may differ); a setting the rows of one side
    never have (another method's own) is not compared."""
    varying = set()
    for rows in (a_rows, b_rows):
        keys = {k for r in rows for k in r.options}
        varying |= {k for k in keys if len({canonical(r.options.get(k)) for r in rows}) > 1}
    varying -= fixed
    a_keys = {k for r in a_rows for k in r.options}
    b_keys = {k for r in b_rows for k in r.options}
    shared = varying & a_keys & b_keys
    return [
        (a, b)
        for a in a_rows
        for b in b_rows
        if a is not b
        and all(canonical(a.options.get(k)) == canonical(b.options.get(k)) for k in shared)
    ]


def metric_keys(a: Row, b: Row, base: str) -> list[str]:
    """The value keys of a metric both rows have: `few`; `overall@1`, `overall@4` (few-shot);
    `fid`, `fid[classifier:...]` (one per feature extractor)."""
    return sorted(k for k in set(a.values) & set(b.values) if base_metric(k) == base)


def base_metric(key: str) -> str:
    """`few` of `few`, `overall` of `overall@4`, `fid` of `fid[classifier:x]`."""
    return key.partition("@")[0].partition("[")[0]


def compare_specs(
    groups: Sequence[Group], a: RowSpec, b: RowSpec, metric: str, claim: Claim | None = None
) -> list[Comparison]:
    """Every pairing of A's and B's rows within each group, on `metric`."""
    fixed = set(a.settings) | set(b.settings)
    out = []
    for g in groups:
        for ra, rb in row_pairs(rows_for(g, a), rows_for(g, b), fixed):
            out += [compare_rows(g, ra, rb, k, claim) for k in metric_keys(ra, rb, metric)]
    return out


def claim_comparisons(
    groups: Sequence[Group], claims: Sequence[Claim], metric: str | None = None
) -> tuple[list[Comparison], list[Claim]]:
    """(comparisons of every claim with rows of both sides, the claims without), each claim on
    its own metric or on `metric` where one is given (then a claim whose comparisons an earlier
    claim already made, on another metric of the paper's, is not repeated)."""
    found: list[Comparison] = []
    missing = []
    seen = set()
    for claim in claims:
        comparisons = compare_specs(
            groups, claim.ours_better, claim.ours_worse, metric or claim.column, claim
        )
        if not comparisons:
            missing.append(claim)
        for c in comparisons:
            if (c.group.key, c.a.label, c.b.label, c.key) not in seen:
                seen.add((c.group.key, c.a.label, c.b.label, c.key))
                found.append(c)
    return found, missing


def check_claims(claims: Sequence[Claim], registered: set[str], path: str) -> None:
    """Each claim names registered bench methods and a published gap in its own direction
    (`better` better on the metric: higher, or lower for FID, KID, DP, EO, ...)."""
    lower = {c.key: c.lower_is_better for c in all_columns()}
    for claim in claims:
        for spec in (claim.ours_better, claim.ours_worse):
            if spec.method not in registered:
                raise PublishedDataError(
                    f"{path}:{claim.line}: claim {claim.text!r}: "
                    + unknown_name_message("method", spec.method, sorted(registered))
                )
        sign = -1 if lower.get(claim.column) else 1
        if sign * claim.gap <= 0:
            raise PublishedDataError(
                f"{path}:{claim.line}: claim {claim.text!r} says {claim.better.method!r} beats "
                f"{claim.worse.method!r} on {claim.better.metric}, but the paper's values "
                f"({claim.better.text} vs {claim.worse.text}) say otherwise; swap better and "
                "worse or fix the claim."
            )


def named_comparisons(
    groups: Sequence[Group], a: RowSpec, b: RowSpec, dataset: str, metric: str
) -> list[Comparison]:
    """`bench compare A B --dataset D`: A's rows against B's on D's tables; a clear error where
    either has no row there, or they have rows only in different tables (splits)."""
    on_dataset = [g for g in groups if g.dataset == dataset]
    if not on_dataset:
        names = sorted({g.dataset for g in groups})
        raise CompareError(
            f"no finished run on {dataset!r}; datasets with runs: {', '.join(names) or 'none'}."
        )
    for spec in (a, b):
        if not any(rows_for(g, spec) for g in on_dataset):
            methods = sorted({r.method for g in on_dataset for r in g.rows})
            raise CompareError(
                f"no finished run of {spec.text()} on {dataset}; methods with runs there: "
                f"{', '.join(methods)}."
            )
    shared = [g for g in on_dataset if rows_for(g, a) and rows_for(g, b)]
    if not shared:
        where = "; ".join(
            f"{s.text()}: " + ", ".join(g.label for g in on_dataset if rows_for(g, s))
            for s in (a, b)
        )
        raise CompareError(
            f"the two rows have runs only on different splits of {dataset} ({where}): a paired "
            "comparison needs the same test split."
        )
    known = {
        k.partition("@")[0].partition("[")[0] for g in shared for r in g.rows for k in r.values
    }
    if metric not in known:
        raise CompareError(unknown_name_message("metric", metric, sorted(known)))
    out = compare_specs(shared, a, b, metric)
    if not out:
        raise CompareError(
            f"{a.text()} and {b.text()} share no setting combination on {dataset} (their rows "
            "differ in a setting that tells rows apart); name the settings with --a / --b."
        )
    return out


def comparison_key(c: Comparison) -> str:
    return slug(f"{c.group.label}-{c.a.label}-{c.b.label}-{c.key}")
