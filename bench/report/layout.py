"""Aggregated rows -> display-ready tables in each benchmark's shape, and the published rows
beside ours: pure functions (records in, tables out; rendering is bench.report.render).

Each cell is the mean ± sample standard deviation (ddof = 1) over the seeds of one
configuration (for few-shot datasets: over trials x seeds, one row per method and a column per
k), with a 95% Student-t confidence interval on request (bench.report.stats). Rows and groups
come from bench.report.aggregate; published rows are matched to ours by
bench.report.matching.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from typing import Any

from bench.report.aggregate import (
    Column,
    Group,
    Row,
    aggregate,
    all_columns,
    slug,
)
from bench.report.compare import Comparison, claim_comparisons
from bench.report.matching import matching_groups, matching_row, ours_text
from bench.report.published import PAPERS, Claim, DatasetMap, MethodMap, Published, Value
from bench.report.stats import NOISE_P, WITHIN_NOISE, Stat, mark_within_noise

EMPTY = "No finished runs."
# The parts of the page, in order: our tables (each followed by the published tables with a row
# of it), the papers' claims on our runs, the published tables without any run of ours.
OURS, BESIDE, CLAIMS, PUBLISHED_ONLY = "ours", "published", "claims", "published-only"
SECTIONS = {
    OURS: "Our results",
    CLAIMS: "The papers' claims on our runs",
    PUBLISHED_ONLY: "Published tables without a run of ours",
}

LEGEND = {
    "group": "Worst-group / Mean-group: smallest and plain mean of the test group accuracies "
    "(%); Train-weighted avg: group accuracies weighted by the training group sizes (WILDS "
    "adj_acc_avg).",
    "fairness": "DP / EO / ED: demographic parity, equal opportunity and equalized odds gaps "
    "(max - min across sensitive groups, lower is fairer); DEO-A / DEO-M: mean / max over "
    "classes of the accuracy gap across groups (docs/metrics.md).",
    "generation": "FID ... F1/8: the synthetic set against real images (bench eval-gen), "
    "Inception features unless the column names another extractor.",
}


SELECTION = {
    "best-val": "the checkpoint of the best validation epoch (recipe.selection=best-val)",
    "last": "the last epoch's checkpoint (recipe.selection=last)",
}


NOISE_MARK = "†"


@dataclass
class Cell:
    text: str
    sort: float | None = None  # the number the HTML page sorts by


@dataclass
class Table:
    """A display-ready table: headers, cells, notes, and a long numeric form for CSV."""

    key: str
    title: str
    dataset: str
    shape: str
    headers: list[str]
    rows: list[list[Cell]]
    methods: list[str]
    notes: list[str] = field(default_factory=list)
    long: list[dict[str, Any]] = field(default_factory=list)
    numeric: list[bool] = field(default_factory=list)  # per column: right-aligned
    section: str = OURS  # which part of the page it belongs to (SECTIONS)
    row_datasets: list[str] = field(default_factory=list)  # per row, where rows differ in it
    matched: str = ""  # a published table: the key of our group with a row it matches


@dataclass
class Report:
    tables: list[Table]
    notes: list[str] = field(default_factory=list)
    groups: list[Group] = field(default_factory=list)  # our aggregated rows (for plots)
    lead: list[str] = field(default_factory=list)  # said first (e.g. an empty results folder)


@dataclass(frozen=True)
class Options:
    """What a report shows: method order, statistics, and the filters (empty: everything)."""

    method_order: tuple[str, ...] = ()
    ci: bool = False
    mark_noise: bool = False
    datasets: tuple[str, ...] = ()
    methods: tuple[str, ...] = ()
    papers: tuple[str, ...] = ()  # keys of bench.report.published.PAPERS
    all_published: bool = False  # also the published tables no run of ours matches
    registered: frozenset[str] = frozenset()  # bench methods that exist (for "not run yet")
    metric: str = ""  # evaluate every claim on this metric instead of the paper's


def collect(
    records: Iterable[dict[str, Any]],
    options: Options | None = None,
    *,
    published: Published | None = None,
    skipped: int = 0,
    smoke: int = 0,
) -> Report:
    """Records (each {"config", "result"}) -> a Report: our tables first, each followed by the
    published tables with a row it matches; then the papers' claims on our runs; the published
    tables no run of ours matches only with `all_published` (at the end)."""
    o = options or Options()
    every = aggregate(records, list(o.method_order))
    groups = select_groups(every, o)
    for g in groups if o.mark_noise else []:
        mark_within_noise(g)
    tables = []
    if published is not None:
        beside = published_tables(published, groups, o)
        unfiltered = select_groups(every, replace(o, methods=()))
        chosen = selected_claims(published, o)
        claims, untested = claim_comparisons(unfiltered, chosen, o.metric or None)
    else:
        beside, claims, untested = [], [], []
    for g in groups:
        tables += group_tables(g, o.ci, o.mark_noise)
        tables += [t for t in beside if t.matched == g.key]
    if claims:
        tables.append(claims_table(claims))
    folded = [t for t in beside if not t.matched]
    if o.all_published:
        tables += [replace(t, section=PUBLISHED_ONLY) for t in folded]
    unique_keys(tables)
    lead = [] if every else [EMPTY]
    notes = report_notes(groups, o, skipped, smoke)
    if published is not None:
        notes += published_notes(folded, untested, o.all_published)
    return Report(tables, notes, groups, lead)


def select_groups(groups: list[Group], o: Options) -> list[Group]:
    """The groups of the selected datasets, each with the rows of the selected methods only."""
    out = []
    for g in groups:
        rows = [r for r in g.rows if not o.methods or r.method in o.methods]
        if rows and (not o.datasets or g.dataset in o.datasets):
            out.append(replace(g, rows=rows) if len(rows) < len(g.rows) else g)
    return out


def selected_claims(pub: Published, o: Options) -> list[Claim]:
    sides = ("ours_better", "ours_worse")
    return [
        c
        for c in pub.claims
        if (not o.papers or c.better.paper in o.papers)
        and (not o.methods or any(getattr(c, s).method in o.methods for s in sides))
    ]


def unique_keys(tables: list[Table]) -> None:
    """Make table keys unique (HTML ids, LaTeX labels)."""
    seen: dict[str, int] = {}
    for t in tables:
        seen[t.key] = seen.get(t.key, 0) + 1
        if seen[t.key] > 1:
            t.key = f"{t.key}-{seen[t.key]}"


def report_notes(groups: list[Group], o: Options, skipped: int, smoke: int) -> list[str]:
    notes = []
    if groups:
        notes.append(
            "Top-1 accuracy (%) on the test split unless a column says otherwise; mean ± "
            "sample std (ddof 1) over seeds" + (", [95% Student-t CI]" if o.ci else "") + "."
        )
    if skipped:
        notes.append(
            f"{skipped} run record(s) could not be read or failed validation and were skipped "
            "(the warnings name them); they are not counted as seeds."
        )
    if smoke:
        notes.append(f"{smoke} smoke run(s) left out (--include-smoke shows them).")
    return notes


def published_notes(folded: list[Table], untested: list[Claim], shown: bool) -> list[str]:
    notes = []
    if folded and not shown:
        notes.append(
            f"{len(folded)} published table(s) have no row a run of ours matches; "
            "--all-published lists them after ours."
        )
    if untested:
        names = "; ".join(c.text for c in untested)
        notes.append(f"Claims without runs of both sides here: {names} (bench compare --claims).")
    return notes


def format_stat(
    stat: Stat, digits: int = 1, ci: bool = False, n_expected: int | None = None
) -> str:
    """mean ± std [lo, hi]; "(n=k)" when only k of the row's runs have the metric (e.g. FID
    measured with `bench eval-gen` on one seed's synthetic set)."""
    if stat.mean is None:
        return "–"
    text = f"{stat.mean:.{digits}f}"
    if stat.std is not None:
        text += f" ± {stat.std:.{digits}f}"
    if ci and stat.ci is not None:
        text += f" [{stat.mean - stat.ci:.{digits}f}, {stat.mean + stat.ci:.{digits}f}]"
    return text if n_expected is None or stat.n == n_expected else f"{text} (n={stat.n})"


def group_tables(g: Group, ci: bool, mark_noise: bool) -> list[Table]:
    main = [c for c in g.columns if c.kind != "generation"]
    generation = [c for c in g.columns if c.kind == "generation"]
    tables = []
    if g.shape == "few-shot":
        tables.append(few_shot_table(g, ci))
    elif main:
        tables.append(metric_table(g, main, g.shape, ci))
    if generation:
        tables.append(metric_table(g, generation, "generation", ci, key="generation"))
    notes = metadata_notes(g, ci, mark_noise)
    for t in tables:
        t.notes = notes + t.notes
    return tables


def metric_table(g: Group, columns: list[Column], shape: str, ci: bool, key: str = "") -> Table:
    show_synthetic = shape == "long-tail"
    headers = ["Method", *(["Synthetic"] if show_synthetic else []), *(c.title for c in columns)]
    headers.append("Seeds")
    title = g.label if not key else f"{g.label}: {key}"
    rows, long = [], []
    for r in g.rows:
        cells = [Cell(r.label)]
        if show_synthetic:
            n = synthetic_count(r)
            cells.append(Cell("–" if n is None else f"{n:,}", n))
        for c in columns:
            stat = r.stat(c.key)
            text = format_stat(stat, c.digits, ci, r.runs)
            if c.key in r.noise:
                text += " " + NOISE_MARK
            cells.append(Cell(text, stat.mean))
            long.append(long_row(g, title, r, c.key, stat, c.key in r.noise))
        cells.append(Cell(str(len(r.seeds)), len(r.seeds)))
        rows.append(cells)
    legend = [LEGEND[kind] for kind in LEGEND if any(c.kind == kind for c in columns)]
    if shape == "generation":
        legend.append("Lower is better for FID and KID; higher for the rest.")
    return Table(
        slug(title),
        title,
        g.dataset,
        shape,
        headers,
        rows,
        [r.method for r in g.rows],
        legend,
        long,
        [False] + [True] * (len(headers) - 1),
    )


def synthetic_count(r: Row) -> int | None:
    counts = sorted(set(r.synthetic))
    return counts[0] if len(counts) == 1 else None


def few_shot_table(g: Group, ci: bool) -> Table:
    headers = ["Method", *(f"k={k}" for k in g.shots), "Runs"]
    rows, long = [], []
    for r in g.rows:
        cells = [Cell(r.label)]
        for k in g.shots:
            stat = r.stat(f"overall@{k}")
            text = format_stat(stat, 1, ci)
            if stat.mean is not None:
                text += f" (n={stat.n})"
            if f"overall@{k}" in r.noise:
                text += " " + NOISE_MARK
            cells.append(Cell(text, stat.mean))
            long.append(long_row(g, g.label, r, f"overall@{k}", stat, f"overall@{k}" in r.noise))
        cells.append(Cell(str(r.runs), r.runs))
        rows.append(cells)
    note = (
        "Few-shot: top-1 accuracy (%) per k training images per class, mean ± std over every "
        "trial and seed (n = trials x seeds per cell; Runs = all runs of the row)."
    )
    return Table(
        slug(g.label),
        g.label,
        g.dataset,
        "few-shot",
        headers,
        rows,
        [r.method for r in g.rows],
        [note],
        long,
        [False] + [True] * (len(headers) - 1),
    )


def metadata_notes(g: Group, ci: bool, mark_noise: bool) -> list[str]:
    selections = sorted({s for r in g.rows for s in r.selection})
    if len(selections) == 1:
        rule = SELECTION.get(selections[0], f"recipe.selection={selections[0]}")
        selection = f"Model selection: {rule}."
    else:
        selection = f"Model selection differs between rows: {', '.join(selections)}."
    counts = sorted({len(r.seeds) for r in g.rows})
    seeds = sorted({s for r in g.rows for s in r.seeds})
    n = str(counts[0]) if len(counts) == 1 else f"{counts[0]}-{counts[-1]}"
    statistic = "mean ± sample std (ddof 1)" + (
        ", [95% Student-t confidence interval]" if ci else ""
    )
    notes = [selection, f"Seeds: {n} per row (seeds {', '.join(map(str, seeds))}); {statistic}."]
    if mark_noise:
        notes.append(
            f"{NOISE_MARK}: best mean of its column, or within noise of it (paired t-test over "
            f"common seeds, two-sided p >= {NOISE_P})."
        )
    return notes


def long_row(g: Group, title: str, r: Row, key: str, stat: Stat, marked: bool) -> dict[str, Any]:
    return {
        "table": title,
        "dataset": g.dataset,
        "method": r.method,
        "variant": r.label,
        "source": "ours",
        "metric": key,
        "mean": stat.mean,
        "std": stat.std,
        "ci95": stat.ci,
        "n": stat.n,
        "seeds": " ".join(map(str, r.seeds)),
        "within_noise": marked,
        "published": None,
        "difference": None,
    }


def published_tables(pub: Published, groups: list[Group], o: Options) -> list[Table]:
    """One table per (paper, table, dataset, imbalance factor) of published values, each row a
    published configuration with our matching row's mean ± std and the difference; `matched`
    names our group with a matching row (none: the table has no run of ours)."""

    def keep(v: Value) -> bool:
        if o.papers and v.paper not in o.papers:
            return False
        return not o.methods or pub.method_for(v.paper, v.slug).bench_method in o.methods

    tables = []
    for block in blocks_of(pub, keep):
        if o.datasets and block.bench_dataset not in o.datasets:
            continue
        tables.append(published_table(block, groups, o.registered))
    return tables


@dataclass
class Block:
    """The published values of one (paper, table, dataset, imbalance factor)."""

    pub: Published
    paper: str
    table: str
    dmap: DatasetMap
    values: list[Value]

    @property
    def bench_dataset(self) -> str:
        return self.dmap.bench_dataset or self.dmap.dataset

    @property
    def title(self) -> str:
        imb = self.values[0].imbalance_factor
        label = self.bench_dataset + (f" (IF {imb})" if imb else "")
        return f"{label}: {PAPERS.get(self.paper, self.paper)} {self.table} (published)"

    @property
    def metrics(self) -> dict[str, str | None]:
        """Published metric -> our column key (None: bench does not measure it), in order."""
        return {v.metric: v.column for v in self.values}

    @property
    def settings(self) -> list[str]:
        return list(dict.fromkeys(v.setting for v in self.values))

    def rows(self) -> dict[tuple[str, ...], dict[str, Value]]:
        out: dict[tuple[str, ...], dict[str, Value]] = {}
        for v in self.values:
            key = (v.method, v.slug, v.backbone, str(v.n_synthetic), v.setting)
            out.setdefault(key, {})[v.metric] = v
        return out


def blocks_of(pub: Published, keep: Callable[[Value], bool] = lambda v: True) -> list[Block]:
    """The published values `keep` accepts, one block per (paper, table, dataset, imbalance
    factor), in the order of published.csv."""
    blocks: dict[tuple[str, ...], list[Value]] = {}
    for v in pub.values:
        if keep(v):
            blocks.setdefault((v.paper, v.table, v.dataset, v.imbalance_factor), []).append(v)
    return [
        Block(pub, paper, table, pub.dataset_for(dataset, imb), values)
        for (paper, table, dataset, imb), values in blocks.items()
    ]


@dataclass(frozen=True)
class Match:
    """A published row (its values by metric) and our row standing for it, if any."""

    by_metric: dict[str, Value]
    mmap: MethodMap
    group: Group | None
    ours: Row | None

    @property
    def value(self) -> Value:
        return next(iter(self.by_metric.values()))


def block_matches(block: Block, groups: list[Group]) -> list[Match]:
    """Each published row of `block` with our matching row among `groups` (the first group of
    the mapped dataset setting that has one; bench.report.matching)."""
    candidates = matching_groups(groups, block.dmap)
    slugs = dict.fromkeys(v.slug for v in block.values)
    siblings = [block.pub.method_for(block.paper, s) for s in slugs]
    out = []
    for (_, slug_, _, _, _), by_metric in block.rows().items():
        mmap = block.pub.method_for(block.paper, slug_)
        found = [(g, matching_row(g, mmap, siblings)) for g in candidates]
        group, ours = next(((g, r) for g, r in found if r is not None), (None, None))
        out.append(Match(by_metric, mmap, group, ours))
    return out


def published_table(block: Block, groups: list[Group], registered: frozenset[str]) -> Table:
    show_syn = any(v.n_synthetic is not None for v in block.values)
    titles = {c.key: c.title for c in all_columns()}
    headers = ["Method", "Reported in", *(["Synthetic"] if show_syn else [])]
    for m, column in block.metrics.items():
        title = titles.get(column or "", m)
        headers += [f"{title} (paper)"] + ([f"{title} ours", f"Δ {title}"] if column else [])
    headers.append("Ours")
    out = Table(slug(block.title), block.title, block.bench_dataset, "published", headers, [], [],
                section=BESIDE)  # fmt: skip
    for match in block_matches(block, groups):
        by_metric, mmap, group, ours = match.by_metric, match.mmap, match.group, match.ours
        setting, slug_ = match.value.setting, match.value.slug
        out.matched = out.matched or (group.key if group else "")
        marker = f" [{block.settings.index(setting) + 1}]" if len(block.settings) > 1 else ""
        cells = published_cells(block, by_metric, ours, marker, show_syn)
        out.rows.append([*cells, Cell(ours_text(ours, mmap, block.dmap, set(registered)))])
        out.methods.append(mmap.bench_method or slug_)
        out.long += published_long(block, mmap, by_metric, ours)
    out.notes = published_table_notes(block)
    out.numeric = [False, False] + [True] * (len(headers) - 3) + [False]
    return out


def published_cells(
    block: Block, by_metric: dict[str, Value], ours: Row | None, marker: str, show_syn: bool
) -> list[Cell]:
    """Method, where it was reported, synthetic count, and per metric: the paper's value, ours
    and the difference."""
    first = next(iter(by_metric.values()))
    cells = [Cell(first.method), Cell(first.source + marker)]
    if show_syn:
        n = first.n_synthetic
        cells.append(Cell("–" if n is None else f"{n:,}", n))
    for m, column in block.metrics.items():
        v = by_metric.get(m)
        cells.append(Cell("–" if v is None else published_text(v), None if v is None else v.value))
        if not column:
            continue
        stat = ours.stat(column) if ours else Stat(None, None, 0)
        digits = max(v.digits if v else 1, 1)
        cells.append(Cell(format_stat(stat, digits), stat.mean))
        diff = None if v is None or stat.mean is None else stat.mean - v.value
        cells.append(Cell("–" if diff is None else f"{diff:+.{digits}f}", diff))
    return cells


def published_long(
    block: Block, mmap: MethodMap, by_metric: dict[str, Value], ours: Row | None
) -> list[dict[str, Any]]:
    """The CSV rows of one published row: one per metric bench measures."""
    out = []
    for v in by_metric.values():
        if not v.column:
            continue
        stat = ours.stat(v.column) if ours else Stat(None, None, 0)
        out.append(
            {
                "table": block.title,
                "dataset": block.bench_dataset,
                "method": mmap.bench_method or v.slug,
                "variant": v.method,
                "source": v.source,
                "metric": v.column,
                "mean": stat.mean,
                "std": stat.std,
                "ci95": stat.ci,
                "n": stat.n,
                "seeds": " ".join(map(str, ours.seeds)) if ours else "",
                "within_noise": False,
                "published": v.value,
                "difference": None if stat.mean is None else stat.mean - v.value,
            }
        )
    return out


def published_table_notes(block: Block) -> list[str]:
    many = len(block.settings) > 1
    notes = [
        f"Setting{f' [{i + 1}]' if many else ''}: {s}" for i, s in enumerate(block.settings) if s
    ]
    notes += [
        "Paper values as printed (± the paper's std where it gives one); ours: mean ± std over "
        "seeds; Δ = ours - paper.",
        *(f"{m}: {note}" for m, note in metric_notes(block.pub, block.values)),
    ]
    if block.dmap.note:
        notes.append(f"Dataset: {block.dmap.note}.")
    return notes


# The papers' claims and `bench compare` ---------------------------------------------------------

COMPARISON_HEADERS = [
    "Claim",
    "Table",
    "A vs B (ours)",
    "Metric",
    "Paper: A - B",
    "Ours per seed: A - B",
    "Mean [95% CI over seeds]",
    "95% CI over test images",
    "Verdict",
]
CLAIM_ONLY = ("Claim", "Paper: A - B")
TEXT_COLUMNS = ("Claim", "Table", "A vs B (ours)", "Metric", "Verdict")


def claims_table(comparisons: list[Comparison], title: str = "") -> Table:
    """One row per comparison: the claim and the paper's gap (where it is a claim), our rows,
    the per-seed differences, their mean with the seed interval, the bootstrap interval over
    test images and the verdict."""
    title = title or "Claims of the papers, tested on our runs"
    with_claims = any(c.claim is not None for c in comparisons)
    headers = (
        COMPARISON_HEADERS
        if with_claims
        else [COMPARISON_HEADERS[1], *COMPARISON_HEADERS[2:4], *COMPARISON_HEADERS[5:]]
    )
    out = Table(slug(title), title, "", "claims", list(headers), [], [], section=CLAIMS)
    for c in comparisons:
        cells = comparison_cells(c)
        out.rows.append(cells if with_claims else [cells[1], *cells[2:4], *cells[5:]])
        out.methods.append(f"{c.a.method} {c.b.method}")
        out.row_datasets.append(c.group.dataset)
        out.long.append(comparison_long(c))
    datasets = sorted({c.group.dataset for c in comparisons})
    out.dataset = datasets[0] if len(datasets) == 1 else ""
    out.notes = comparison_notes(comparisons)
    out.numeric = [
        h not in ("Claim", "Table", "A vs B (ours)", "Metric", "Verdict") for h in headers
    ]
    return out


def comparison_cells(c: Comparison) -> list[Cell]:
    d = c.column.digits
    paper = "–"
    if c.claim is not None:
        gap = f"{c.claim.gap:+.{c.claim.digits}f}"
        same = c.claim.column == c.column.key.partition("@")[0].partition("[")[0]
        metric = "" if same else f" {c.claim.better.metric}"
        paper = f"{gap}{metric} ({c.claim.source})"
    seeds = " / ".join(f"{x:+.{d}f}" for x in c.diffs) or "–"
    mean = "–" if c.mean is None else f"{c.mean:+.{d}f}"
    if c.seed_ci is not None:
        mean += f" [{c.seed_ci.low:+.{d}f}, {c.seed_ci.high:+.{d}f}]"
    boot = "–" if c.boot is None else f"[{c.boot.low:+.{d}f}, {c.boot.high:+.{d}f}]"
    return [
        Cell(c.claim.text if c.claim else "–"),
        Cell(c.group.label),
        Cell(f"{c.a.label} vs {c.b.label}"),
        Cell(c.column.title),
        Cell(paper, c.claim.gap if c.claim else None),
        Cell(seeds),
        Cell(mean, c.mean),
        Cell(boot, c.boot.low if c.boot else None),
        Cell(c.verdict),
    ]


def comparison_notes(comparisons: list[Comparison]) -> list[str]:
    seeds = sorted({p[0] for c in comparisons for p in c.pairs})
    notes = [
        "A - B per seed (seeds " + ", ".join(map(str, seeds)) + "; the seeds both rows ran), in "
        "points of accuracy (the metric's own unit for FID, DP, ...); the mean with the 95% "
        "paired Student-t interval over seeds; the 95% percentile bootstrap interval over test "
        "images (2,000 resamples of the test split, the same images for A and B).",
        "Verdict on A better than B (lower is better for FID, KID, DP, EO, ED): holds on every "
        "seed; holds on average (the seed interval excludes 0); within noise; reversed (on "
        "every seed, or the seed interval excludes 0 on the other side).",
    ]
    notes += sorted({c.boot_note for c in comparisons if c.boot_note})
    return notes


def comparison_long(c: Comparison) -> dict[str, Any]:
    half = None if c.seed_ci is None else (c.seed_ci.high - c.seed_ci.low) / 2
    return {
        "table": c.claim.text if c.claim else "compare",
        "dataset": c.group.dataset,
        "method": c.a.method,
        "variant": f"{c.a.label} vs {c.b.label}",
        "source": f"claim: {c.claim.source}" if c.claim else "ours",
        "metric": c.key,
        "mean": c.mean,
        "std": statistics.stdev(c.diffs) if len(c.diffs) > 1 else None,
        "ci95": half,
        "n": len(c.diffs),
        "seeds": " ".join(str(p[0]) for p in c.pairs),
        "within_noise": c.verdict == WITHIN_NOISE,
        "published": c.claim.gap if c.claim else None,
        "difference": None if c.claim is None or c.mean is None else c.mean - c.claim.gap,
    }


def published_text(v: Value) -> str:
    return v.text if v.std is None else f"{v.text} ± {v.std_text}"


def metric_notes(pub: Published, values: list[Value]) -> list[tuple[str, str]]:
    out = {}
    for v in values:
        m = next(
            m
            for m in pub.metrics
            if m.metric == v.metric
            and m.paper in ("", v.paper)
            and m.table in ("", v.table)
            and m.dataset in ("", v.dataset)
        )
        if m.note and (not m.column or m.specificity()):
            out[v.metric] = m.note
    return list(out.items())
