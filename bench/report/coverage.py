"""Which published rows of a table a set of planned runs would stand for, before any has run.

The planned runs are aggregated as the leaderboard aggregates finished ones (their config as a
record with no result yet), and each published row of the table is matched as the leaderboard
matches it (bench.report.layout.block_matches, bench.report.matching): a spec that `reproduces`
a table covers it when every row maps to runs of the spec or is listed as published-only.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from bench.report.aggregate import Group, aggregate
from bench.report.layout import Match, block_matches, blocks_of
from bench.report.published import Published


def planned_groups(configs: Iterable[Any]) -> list[Group]:
    """Our groups and rows as the leaderboard would show the runs of `configs` (RunConfigs)
    once they finish (every value still missing)."""
    return aggregate([{"config": c.to_json(), "result": {}} for c in configs], [])


@dataclass(frozen=True)
class Coverage:
    """A reproduced table's published rows: those our runs stand for and those they do not."""

    paper: str
    table: str
    matched: list[Match]
    unmatched: list[Match]

    def unmatched_slugs(self) -> list[str]:
        return list(dict.fromkeys(m.value.slug for m in self.unmatched))


def table_coverage(pub: Published, paper: str, table: str, configs: Iterable[Any]) -> Coverage:
    """Each published row of (paper, table), matched against the runs of `configs`."""
    groups = planned_groups(configs)
    matches = [
        match
        for block in blocks_of(pub, lambda v: (v.paper, v.table) == (paper, table))
        for match in block_matches(block, groups)
    ]
    return Coverage(
        paper,
        table,
        [m for m in matches if m.ours is not None],
        [m for m in matches if m.ours is None],
    )


def describe(match: Match) -> str:
    """`LDM-FG (Entropy) [fg-entropy] on places-lt`: a published row, for messages."""
    v = match.value
    imb = f" (IF {v.imbalance_factor})" if v.imbalance_factor else ""
    setting = f", {v.setting}" if v.setting else ""
    return f"{v.method} [{v.slug}] on {v.dataset}{imb}{setting}"


def coverage_problems(coverage: Coverage, published_only: dict[str, str]) -> list[str]:
    """What keeps a spec from reproducing its table: a published row no run stands for whose
    method is not listed as published-only, and a listed method every row of which is run."""
    out = [
        f"{describe(m)}: no run of the spec stands for it; add "
        + (f"method {m.mmap.bench_method}" if m.mmap.bench_method else "the method")
        + f" with the published settings, or list {m.value.slug!r} under published_only with "
        "the reason"
        for m in coverage.unmatched
        if m.value.slug not in published_only
    ]
    unmatched = coverage.unmatched_slugs()
    out += [
        f"published_only lists {slug!r}, but the spec runs every row of it in {coverage.table}: "
        "remove it from published_only"
        for slug in published_only
        if slug not in unmatched
    ]
    return out
