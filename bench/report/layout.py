"""Aggregated rows -> display-ready tables in each benchmark's shape, and the published rows
beside ours: pure functions (records in, tables out; rendering is bench.report.render).

Each cell is the mean ± sample standard deviation (ddof = 1) over the seeds of one
configuration (for few-shot datasets: over trials x seeds, one row per method and a column per
k), with a 95% Student-t confidence interval on request (bench.report.stats). Rows and groups
come from bench.report.aggregate; published rows are matched to ours by
bench.report.matching.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from bench.report.aggregate import (
    Column,
    Group,
    Row,
    aggregate,
    all_columns,
    slug,
)
from bench.report.matching import matching_groups, matching_row, ours_text
from bench.report.published import PAPERS, DatasetMap, Published, Value
from bench.report.stats import NOISE_P, Stat, mark_within_noise

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


@dataclass
class Report:
    tables: list[Table]
    notes: list[str] = field(default_factory=list)
    groups: list[Group] = field(default_factory=list)  # our aggregated rows (for plots)


def collect(
    records: Iterable[dict[str, Any]],
    method_order: list[str] | None = None,
    *,
    ci: bool = False,
    mark_noise: bool = False,
    skipped: int = 0,
    smoke: int = 0,
    published: Published | None = None,
    registered: set[str] | None = None,
    datasets: list[str] | None = None,
) -> Report:
    """Records (each {"config", "result"}) -> a Report of tables. `published` adds the papers'
    rows beside ours; `datasets` keeps only those datasets' tables."""
    groups = aggregate(records, method_order or [])
    if mark_noise:
        for g in groups:
            mark_within_noise(g)
    tables = []
    for g in groups:
        if datasets and g.dataset not in datasets:
            continue
        tables.extend(group_tables(g, ci, mark_noise))
    notes = [] if groups else ["No finished runs."]
    if tables and groups:
        notes.append(
            "Top-1 accuracy (%) on the test split unless a column says otherwise; mean ± "
            "sample std (ddof 1) over seeds" + (", [95% Student-t CI]" if ci else "") + "."
        )
    if published is not None:
        tables.extend(published_tables(published, groups, registered or set(), datasets))
    if skipped:
        notes.append(
            f"{skipped} run record(s) could not be read or failed validation and were skipped "
            "(the warnings name them); they are not counted as seeds."
        )
    if smoke:
        notes.append(f"{smoke} smoke run(s) left out (--include-smoke shows them).")
    seen: dict[str, int] = {}
    for t in tables:  # unique keys (HTML ids, LaTeX labels)
        seen[t.key] = seen.get(t.key, 0) + 1
        if seen[t.key] > 1:
            t.key = f"{t.key}-{seen[t.key]}"
    return Report(tables, notes, [g for g in groups if not datasets or g.dataset in datasets])


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


def published_tables(
    pub: Published, groups: list[Group], registered: set[str], datasets: list[str] | None
) -> list[Table]:
    """One table per (paper, table, dataset, imbalance factor) of published values, each row a
    published configuration with our matching row's mean ± std and the difference."""
    blocks: dict[tuple[str, ...], list[Value]] = {}
    for v in pub.values:
        blocks.setdefault((v.paper, v.table, v.dataset, v.imbalance_factor), []).append(v)
    tables = []
    for (paper, table, dataset, imb), values in blocks.items():
        dmap = pub.dataset_for(dataset, imb)
        name = dmap.bench_dataset or dataset
        if datasets and name not in datasets:
            continue
        tables.append(published_table(pub, paper, table, dmap, values, groups, registered))
    return tables


def published_table(
    pub: Published,
    paper: str,
    table: str,
    dmap: DatasetMap,
    values: list[Value],
    groups: list[Group],
    registered: set[str],
) -> Table:
    metrics = list(dict.fromkeys(v.metric for v in values))
    columns = {v.metric: v.column for v in values}
    titles = {c.key: c.title for c in all_columns()}
    by_row: dict[tuple[str, ...], dict[str, Value]] = {}
    for v in values:
        key = (v.method, v.slug, v.backbone, str(v.n_synthetic), v.setting)
        by_row.setdefault(key, {})[v.metric] = v
    settings = list(dict.fromkeys(v.setting for v in values))
    show_syn = any(v.n_synthetic is not None for v in values)
    headers = ["Method", "Reported in", *(["Synthetic"] if show_syn else [])]
    for m in metrics:
        title = titles.get(columns[m] or "", m)
        headers += [f"{title} (paper)"] + ([f"{title} ours", f"Δ {title}"] if columns[m] else [])
    headers.append("Ours")
    dataset_label = dmap.bench_dataset or dmap.dataset
    label = dataset_label + (
        f" (IF {values[0].imbalance_factor})" if values[0].imbalance_factor else ""
    )
    title = f"{label}: {PAPERS.get(paper, paper)} {table} (published)"
    candidates = matching_groups(groups, dmap)
    rows, long, methods = [], [], []
    siblings = [pub.method_for(paper, slug_) for slug_ in dict.fromkeys(v.slug for v in values)]
    for (method, slug_, _, _, setting), cells_by_metric in by_row.items():
        first = next(iter(cells_by_metric.values()))
        mmap = pub.method_for(paper, slug_)
        ours = next(filter(None, (matching_row(g, mmap, siblings) for g in candidates)), None)
        marker = f" [{settings.index(setting) + 1}]" if len(settings) > 1 else ""
        cells = [Cell(method), Cell(first.source + marker)]
        if show_syn:
            n = first.n_synthetic
            cells.append(Cell("–" if n is None else f"{n:,}", n))
        for m in metrics:
            v = cells_by_metric.get(m)
            cells.append(
                Cell("–" if v is None else published_text(v), None if v is None else v.value)
            )
            if not columns[m]:
                continue
            stat = ours.stat(columns[m]) if ours else Stat(None, None, 0)
            digits = max(v.digits if v else 1, 1)
            cells.append(Cell(format_stat(stat, digits), stat.mean))
            diff = None if v is None or stat.mean is None else stat.mean - v.value
            cells.append(Cell("–" if diff is None else f"{diff:+.{digits}f}", diff))
            if v is not None:
                long.append(
                    {
                        "table": title,
                        "dataset": dataset_label,
                        "method": mmap.bench_method or slug_,
                        "variant": method,
                        "source": v.source,
                        "metric": columns[m],
                        "mean": stat.mean,
                        "std": stat.std,
                        "ci95": stat.ci,
                        "n": stat.n,
                        "seeds": " ".join(map(str, ours.seeds)) if ours else "",
                        "within_noise": False,
                        "published": v.value,
                        "difference": diff,
                    }
                )
        cells.append(Cell(ours_text(ours, mmap, dmap, registered)))
        rows.append(cells)
        methods.append(mmap.bench_method or slug_)
    notes = [
        f"Setting{f' [{i + 1}]' if len(settings) > 1 else ''}: {s}"
        for i, s in enumerate(settings)
        if s
    ]
    notes += [
        "Paper values as printed (± the paper's std where it gives one); ours: mean ± std over "
        "seeds; Δ = ours - paper.",
        *(f"{m}: {note}" for m, note in metric_notes(pub, values)),
    ]
    if dmap.note:
        notes.append(f"Dataset: {dmap.note}.")
    return Table(
        slug(title),
        title,
        dataset_label,
        "published",
        headers,
        rows,
        methods,
        notes,
        long,
        [False, False] + [True] * (len(headers) - 3) + [False],
    )


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
