"""Run records -> leaderboard tables in each benchmark's shape: pure functions (records in,
tables out; rendering is bench.report.render).

Each cell is the mean ± sample standard deviation (ddof = 1) over the seeds of one
configuration (for few-shot datasets: over trials x seeds, one row per method and a column per
k), with a 95% Student-t confidence interval on request. Runs never average across method,
hyperparameter, recipe, method_version, dataset options or dataset_version: those become
separate rows (labelled with the settings in which they differ) or separate tables. Table
shapes follow the papers:

- long-tail (ImageNet-LT, Places-LT, iNat, CIFAR-LT, ImageNet100-LT, digits-lt): number of
  synthetic images, overall / many / medium / few;
- groups (Waterbirds, NICO++): overall (average), worst-group, mean-group, train-weighted;
- fairness (UTKFace): accuracy, DP, EO, ED (DEO-A, DEO-M);
- generation (any dataset whose runs have `bench eval-gen` metrics): FID, KID, IS, precision,
  recall, density, coverage, F8, F1/8, per feature extractor;
- few-shot (Caltech101, Flowers102, Pascal VOC, COCO): accuracy per k.

Within-noise marking (`mark_noise=True`): in each column the row with the best mean gets a
"†", and so does every row whose paired t-test against it over their common seeds (and
trials) gives a two-sided p >= 0.05: the difference is within seed noise. Rows sharing fewer
than 2 seeds with the best row are not tested (no mark).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from bench.report.published import (
    PAPERS,
    DatasetMap,
    MethodMap,
    Published,
    Value,
    counterpart_status,
)

METRICS = (("overall", "Overall"), ("many", "Many"), ("medium", "Medium"), ("few", "Few"))
NOISE_P = 0.05
NOISE_MARK = "†"


@dataclass(frozen=True)
class Column:
    """A metric column: where its value sits in result.json, its scale and decimals."""

    key: str
    title: str
    path: tuple[str, ...]
    scale: float = 100.0
    digits: int = 1
    kind: str = "accuracy"  # accuracy | group | fairness | generation (picks the legend)
    lower_is_better: bool = False


TEST = ("metrics", "test")
ACCURACY_COLUMNS = tuple(Column(key, title, (*TEST, key)) for key, title in METRICS)
# Group robustness (%); the averages are labelled because papers mean different ones by "avg".
GROUP_COLUMNS = (
    Column("group_worst", "Worst-group", (*TEST, "group", "worst"), kind="group"),
    Column("group_mean", "Mean-group", (*TEST, "group", "mean"), kind="group"),
    Column("group_weighted", "Train-weighted avg", (*TEST, "group", "weighted"), kind="group"),
)
# Fairness gaps, unscaled and with 4 decimals as SYNAuG Table 3 prints them.
FAIRNESS_COLUMNS = tuple(
    Column(key, title, (*TEST, "fairness", key), 1.0, 4, "fairness", True)
    for key, title in (
        ("dp", "DP"),
        ("eo", "EO"),
        ("ed", "ED"),
        ("deo_a", "DEO-A"),
        ("deo_m", "DEO-M"),
    )
)
# Written by `bench eval-gen` under result["generation"][extractor].
GENERATION_METRICS = (
    ("fid", "FID", 2, True),
    ("kid_mean", "KID", 4, True),
    ("is_mean", "IS", 2, False),
    ("precision", "Precision", 3, False),
    ("recall", "Recall", 3, False),
    ("density", "Density", 3, False),
    ("coverage", "Coverage", 3, False),
    ("f8", "F8", 3, False),
    ("f1_8", "F1/8", 3, False),
    # SYNAuG Fig. 3a's real-vs-synthetic domain-classifier accuracy; 50% = no domain gap
    ("domain_cls_acc", "Domain cls acc", 1, True),
)
# Generation metrics recorded as a share and shown in % (as their papers print them).
GENERATION_PERCENT = ("domain_cls_acc",)
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
# Which paper shape a dataset's table takes; other datasets show every column their runs have.
SHAPES = {
    **dict.fromkeys(
        (
            "digits-lt",
            "imagenet-lt",
            "places-lt",
            "inat2018",
            "cifar10-lt",
            "cifar100-lt",
            "imagenet100-lt",
        ),
        "long-tail",
    ),
    "waterbirds": "groups",
    "nicopp": "groups",
    "utkface": "fairness",
    **dict.fromkeys(("caltech101", "flowers102", "pascal-voc", "coco"), "few-shot"),
}
SHAPE_COLUMNS = {
    "long-tail": ACCURACY_COLUMNS,
    "groups": (ACCURACY_COLUMNS[0], *GROUP_COLUMNS),
    "fairness": (ACCURACY_COLUMNS[0], *FAIRNESS_COLUMNS),
    "generic": (*ACCURACY_COLUMNS, *GROUP_COLUMNS, *FAIRNESS_COLUMNS),
}
FEW_SHOT_OPTIONS = ("shots", "trial")
SELECTION = {
    "best-val": "the checkpoint of the best validation epoch (recipe.selection=best-val)",
    "last": "the last epoch's checkpoint (recipe.selection=last)",
}


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


@dataclass
class Row:
    """One configuration of ours: the values of each column over its runs."""

    method: str
    label: str
    values: dict[str, dict[tuple[int, int], float]] = field(default_factory=dict)
    seeds: list[int] = field(default_factory=list)
    runs: int = 0
    synthetic: list[int] = field(default_factory=list)
    selection: set[str] = field(default_factory=set)
    options: dict[str, Any] = field(default_factory=dict)  # method settings, for matching
    noise: set[str] = field(default_factory=set)  # columns where the row is marked
    per_class: list[tuple[list[int], list[float]]] = field(default_factory=list)  # for plots
    _stats: dict[str, Stat] = field(default_factory=dict, repr=False)

    def stat(self, key: str) -> Stat:
        if key not in self._stats:  # rows are complete once built; stats are asked for often
            self._stats[key] = Stat.of(list(self.values.get(key, {}).values()))
        return self._stats[key]


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
class Group:
    """Our runs on one dataset setting, aggregated into rows."""

    key: str
    label: str
    dataset: str
    options: dict[str, Any]
    shape: str
    rows: list[Row]
    columns: list[Column]
    shots: list[int] = field(default_factory=list)

    @property
    def key_slug(self) -> str:
        return slug(self.label)


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


def aggregate(records: Iterable[dict[str, Any]], method_order: list[str]) -> list[Group]:
    by_dataset: dict[str, list[dict[str, Any]]] = {}
    identity: dict[str, tuple[str, dict[str, Any]]] = {}
    for rec in records:
        cfg = rec["config"]
        data = dataset_options(cfg)
        key = canonical({"d": cfg["dataset"], "o": data})
        by_dataset.setdefault(key, []).append(rec)
        identity[key] = (cfg["dataset"], data)
    labels = variant_labels(identity)
    groups = [
        make_group(k, labels[k], identity[k], recs, method_order) for k, recs in by_dataset.items()
    ]
    return sorted(groups, key=lambda g: g.label)


def dataset_options(cfg: dict[str, Any]) -> dict[str, Any]:
    """The dataset setting a table stands for: options (minus the few-shot k and trial, which
    are aggregated) and the dataset version."""
    data = dict(cfg.get("data") or {})
    if SHAPES.get(cfg["dataset"]) == "few-shot":
        for option in FEW_SHOT_OPTIONS:
            data.pop(option, None)
    version = cfg.get("dataset_version", 1)
    return {**data, "dataset_version": version} if version != 1 else data


def method_settings(cfg: dict[str, Any]) -> dict[str, Any]:
    out = {**(cfg.get("hparams") or {}), **{f"recipe.{k}": v for k, v in cfg["recipe"].items()}}
    for stage, values in (cfg.get("stages") or {}).items():
        out.update({f"stage.{stage}.{k}": v for k, v in (values or {}).items()})
    if cfg.get("method_version", 1) != 1:
        out["method_version"] = cfg["method_version"]
    if cfg.get("smoke"):
        out["smoke"] = True
    return out


def make_group(
    key: str,
    label: str,
    ident: tuple[str, dict[str, Any]],
    records: list[dict[str, Any]],
    method_order: list[str],
) -> Group:
    dataset, options = ident
    shape = SHAPES.get(dataset, "generic")
    by_variant: dict[str, list[dict[str, Any]]] = {}
    settings: dict[str, tuple[str, dict[str, Any]]] = {}
    for rec in records:
        cfg = rec["config"]
        s = method_settings(cfg)
        vkey = canonical({"m": cfg["method"], "s": s})
        by_variant.setdefault(vkey, []).append(rec)
        settings[vkey] = (cfg["method"], s)
    labels = variant_labels(settings)
    columns = metric_columns(records, shape)
    rows = [
        make_row(labels[k], settings[k][1], recs, columns, shape) for k, recs in by_variant.items()
    ]
    order = {name: i for i, name in enumerate(method_order)}
    rows.sort(key=lambda r: (order.get(r.method, len(order)), r.label))
    present = [c for c in columns if any(r.values.get(c.key) for r in rows)]
    shots = sorted({int(rec["config"]["data"].get("shots", 0)) for rec in records})
    return Group(key, label, dataset, options, shape, rows, present, shots)


def metric_columns(records: list[dict[str, Any]], shape: str = "generic") -> list[Column]:
    """The shape's columns, then generation columns per extractor found."""
    extractors = sorted(
        {name for rec in records for name in rec["result"].get("generation") or {}},
        key=lambda name: (name != "inception", name),
    )
    base = SHAPE_COLUMNS.get(shape, ACCURACY_COLUMNS[:1])
    return [
        *base,
        *(generation_column(name, *metric) for name in extractors for metric in GENERATION_METRICS),
    ]


def generation_column(extractor: str, key: str, title: str, digits: int, lower: bool) -> Column:
    suffix = "" if extractor == "inception" else f" ({extractor})"
    column_key = key if extractor == "inception" else f"{key}[{extractor}]"
    path = ("generation", extractor, key)
    scale = 100.0 if key in GENERATION_PERCENT else 1.0
    return Column(column_key, title + suffix, path, scale, digits, "generation", lower)


def make_row(
    label: str,
    settings: dict[str, Any],
    records: list[dict[str, Any]],
    columns: list[Column],
    shape: str,
) -> Row:
    row = Row(method=records[0]["config"]["method"], label=label, options=settings)
    for rec in sorted(
        records, key=lambda r: (r["config"]["seed"], r["config"]["data"].get("trial", 0))
    ):
        cfg, result = rec["config"], rec["result"]
        pair = (cfg["seed"], int(cfg["data"].get("trial", 0)))
        row.runs += 1
        if cfg["seed"] not in row.seeds:
            row.seeds.append(cfg["seed"])
        metrics = result.get("metrics") or {}
        row.selection.add(str(metrics.get("selection", "best-val")))
        row.synthetic.append(sum(metrics.get("synthetic_counts") or []))
        per_class = (metrics.get("test") or {}).get("per_class")
        if isinstance(per_class, list) and isinstance(metrics.get("train_counts"), list):
            row.per_class.append((metrics["train_counts"], per_class))
        suffix = f"@{int(cfg['data'].get('shots', 0))}" if shape == "few-shot" else ""
        for column in columns:
            value = lookup(result, column.path)
            if value is not None:
                row.values.setdefault(column.key + suffix, {})[pair] = column.scale * value
    return row


def lookup(result: dict[str, Any], path: tuple[str, ...]) -> float | None:
    """The number at `path`, or None where it is missing (or recorded as an error)."""
    value: Any = result
    for key in path:
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    is_number = isinstance(value, int | float) and not isinstance(value, bool)
    return float(value) if is_number and math.isfinite(value) else None


def variant_labels(variants: dict[str, tuple[str, dict[str, Any]]]) -> dict[str, str]:
    """Name each (name, settings) variant; settings appear only where same-named ones differ."""
    by_name: dict[str, list[dict[str, Any]]] = {}
    for name, settings in variants.values():
        by_name.setdefault(name, []).append(settings)
    differing: dict[str, list[str]] = {}
    for name, siblings in by_name.items():
        keys = sorted({k for s in siblings for k in s})
        differing[name] = [k for k in keys if len({canonical(s.get(k)) for s in siblings}) > 1]
    out = {}
    for key, (name, settings) in variants.items():
        # a key a variant lacks (e.g. smoke, method_version at their defaults) is not named
        extra = ", ".join(
            f"{k}={format_setting(settings[k])}" for k in differing[name] if k in settings
        )
        out[key] = f"{name} ({extra})" if extra else name
    return out


def format_setting(value: Any) -> str:
    if isinstance(value, list):
        return ",".join(str(v) for v in value)
    return f"{value:g}" if isinstance(value, float) else str(value)


def canonical(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, default=str)


def mean_std(values: list[float]) -> tuple[float | None, float | None]:
    if not values:
        return None, None
    mean = sum(values) / len(values)
    if len(values) < 2:
        return mean, None
    var = sum((v - mean) ** 2 for v in values) / (len(values) - 1)
    return mean, math.sqrt(var)


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


@dataclass
class Report:
    tables: list[Table]
    notes: list[str] = field(default_factory=list)
    groups: list[Group] = field(default_factory=list)  # our aggregated rows (for plots)


# Within-noise marking ---------------------------------------------------------------------------


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


# Tables of ours ---------------------------------------------------------------------------------


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


def slug(text: str) -> str:
    out = "".join(ch if ch.isalnum() else "-" for ch in text.lower())
    return "-".join(part for part in out.split("-") if part)


# Published rows beside ours ---------------------------------------------------------------------


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


def all_columns() -> list[Column]:
    gen = [generation_column("inception", *m) for m in GENERATION_METRICS]
    return [*ACCURACY_COLUMNS, *GROUP_COLUMNS, *FAIRNESS_COLUMNS, *gen]


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


def matching_groups(groups: list[Group], dmap: DatasetMap) -> list[Group]:
    """Our tables of the mapped dataset whose options include the mapped settings."""
    if not dmap.bench_dataset:
        return []
    return [
        g
        for g in groups
        if g.dataset == dmap.bench_dataset
        and all(same_value(g.options.get(k), v) for k, v in dmap.settings.items())
    ]


def same_value(ours: Any, text: str) -> bool:
    """Whether a recorded value is the one a settings text stands for (1 = 1.0, true = True,
    a list = its comma-separated items, * = any value that is set, a text with * a pattern)."""
    if text == "*":  # any value that is set
        return ours not in (None, "", [], ())
    if "*" in text and isinstance(ours, str):  # a pattern: prompts=*t5-prompts.yaml
        from fnmatch import fnmatchcase

        return fnmatchcase(ours, text)
    if ours is None:
        return False
    if isinstance(ours, bool):
        return text.strip().lower() in (("true", "1", "yes") if ours else ("false", "0", "no"))
    if isinstance(ours, list | tuple):
        return ",".join(map(str, ours)) == text.replace(" ", "")
    try:
        return float(ours) == float(text)
    except (TypeError, ValueError):
        return str(ours) == text


def matching_row(group: Group, mmap: MethodMap, siblings: Sequence[MethodMap] = ()) -> Row | None:
    """Our row for a published one in `group`: its bench method with the mapping's settings (the
    row with most seeds); `dataset.` settings must hold in the group's options (SYNAuG's
    replacement test: dataset.real_kept=uniform:0.01). A mapping without settings takes none of
    the rows (or tables) a sibling mapping claims: another variant of the same bench method in
    the same published table (Stage I only, synthetic only, ...)."""
    own_data, own = split_settings(mmap.settings)
    claims = [
        split_settings(m.settings)
        for m in siblings
        if m.settings and m.bench_method == mmap.bench_method and m is not mmap
    ]
    if not holds(group.options, own_data):
        return None
    if not own_data and any(d and holds(group.options, d) for d, _ in claims):
        return None  # a table a sibling's dataset settings make (a replacement test)
    rows = [r for r in group.rows if r.method == mmap.bench_method and not r.options.get("smoke")]
    rows = [r for r in rows if holds(r.options, own)]
    if not own:
        claimed = [c for d, c in claims if c and holds(group.options, d)]
        rows = [r for r in rows if not any(holds(r.options, c) for c in claimed)]
    return max(rows, key=lambda r: len(r.seeds), default=None)


def split_settings(settings: dict[str, str]) -> tuple[dict[str, str], dict[str, str]]:
    """(dataset options, the row's own settings) of a mapping's `--set` settings."""
    data = {k.removeprefix("dataset."): v for k, v in settings.items() if k.startswith("dataset.")}
    return data, {k: v for k, v in settings.items() if not k.startswith("dataset.")}


def holds(options: dict[str, Any], settings: dict[str, str]) -> bool:
    """Whether a row's settings hold every `--set` KEY=VALUE ('a|b': either; `method.` keys are
    the method's own settings), compared as the values they stand for (`same_value`)."""
    for key, text in settings.items():
        key = key.removeprefix("method.")
        if key not in options or not any(same_value(options[key], t) for t in text.split("|")):
            return False
    return True


def ours_text(ours: Row | None, mmap: MethodMap, dmap: DatasetMap, registered: set[str]) -> str:
    if ours is not None:
        return f"{ours.label}, {len(ours.seeds)} seed(s)"
    status = counterpart_status(mmap, registered)
    if status != "counterpart":
        return status + (f": {mmap.bench_method}" if mmap.bench_method else "")
    if not dmap.bench_dataset:
        return "no counterpart (dataset)"
    sets = "".join(f" --set {k}={v}" for k, v in dmap.settings.items()) + mmap.set_flags()
    return (
        f"not run yet: bench run --method {mmap.bench_method} --dataset {dmap.bench_dataset}{sets}"
    )
