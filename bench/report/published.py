"""The papers' published numbers, as data, mapped to bench's methods, datasets and columns.

`results/published/` holds four CSV files (docs/leaderboard.md describes them):

- `published.csv`  every numeric result of the five papers (transcribed from their tables),
                   one value a line: paper, table, dataset, imbalance factor, backbone,
                   method, method_slug, n_synthetic, metric, value, std, setting, reported_by;
- `methods.csv`    method_slug (optionally per paper) -> bench method name, the issue that plans
                   it when it is not registered yet, and a note;
- `datasets.csv`   published dataset (+ imbalance factor) -> bench dataset and its options;
- `metrics.csv`    published metric (optionally per paper / table / dataset) -> leaderboard
                   column key, or none where bench does not measure it;
- `claims.csv`     the papers' headline claims ("FG-entropy > LDM (txt+img) on few-shot"): the
                   published table, metric and the two method slugs whose values make the
                   paper's gap, and the two bench rows that test it here.

Loading checks every line: an unknown metric, method slug or dataset, a non-numeric value or
std, a duplicated cell, or a claim whose slugs have no (or more than one) published value is an
error naming the file and line.
"""

from __future__ import annotations

import csv
import math
import shlex
from dataclasses import dataclass, field
from pathlib import Path

from tabulate import tabulate

from bench.errors import BenchError
from bench.hparams import split_assignment

PAPERS = {
    "fg": "FG",
    "augcond": "Aug-Cond",
    "fillup": "Fill-Up",
    "cbdm": "CBDM",
    "synaug": "SYNAuG",
}
PUBLISHED_COLUMNS = (
    "paper",
    "table",
    "dataset",
    "imbalance_factor",
    "backbone",
    "method",
    "method_slug",
    "n_synthetic",
    "metric",
    "value",
    "std",
    "setting",
    "reported_by",
)
# A cell is identified by every column but its value, std and provenance.
CELL_KEY = tuple(
    c for c in PUBLISHED_COLUMNS if c not in ("method_slug", "value", "std", "reported_by")
)


class PublishedDataError(BenchError):
    """A published-values or mapping file that cannot be used as it is."""


@dataclass(frozen=True)
class Value:
    """One published number, where it came from and what it maps to."""

    line: int
    paper: str
    table: str
    dataset: str
    imbalance_factor: str
    backbone: str
    method: str
    slug: str
    n_synthetic: int | None
    metric: str
    text: str  # the value exactly as printed
    value: float
    std: float | None
    std_text: str
    setting: str
    reported_by: str
    column: str | None  # leaderboard column key, None where bench does not measure it

    @property
    def source(self) -> str:
        cited = " (cited)" if self.reported_by == "cited" else ""
        return f"reported in {PAPERS.get(self.paper, self.paper)} {self.table}{cited}"

    @property
    def digits(self) -> int:
        _, _, decimals = self.text.partition(".")
        return len(decimals)


@dataclass(frozen=True)
class MethodMap:
    slug: str
    paper: str
    bench_method: str
    planned_in: str
    note: str
    # the bench settings of the published variant, `--set` keys -> value ("a|b": either);
    # our row must hold them (methods.csv's optional `settings` column, KEY=VALUE;KEY=VALUE)
    settings: dict[str, str] = field(default_factory=dict)

    def set_flags(self) -> str:
        """The settings as `--set` flags (the first choice of an either-or value)."""

        return "".join(
            f" --set {shlex.quote(f'{k}={first(k, v)}')}" for k, v in self.settings.items()
        )


def first(key: str, value: str) -> str:
    """The value a command gives for a mapping setting: the first of 'a|b'; `<key>` for '*'; a
    pattern's * as PATH/ (prompts=*t5-prompts.yaml -> prompts=PATH/t5-prompts.yaml)."""
    if value == "*":
        return f"<{key}>"
    return value.split("|")[0].replace("*", "PATH/")


@dataclass(frozen=True)
class DatasetMap:
    dataset: str
    imbalance_factor: str
    bench_dataset: str
    settings: dict[str, str]
    note: str


@dataclass(frozen=True)
class MetricMap:
    metric: str
    paper: str
    table: str
    dataset: str
    column: str
    note: str

    def specificity(self) -> int:
        return sum(bool(x) for x in (self.paper, self.table, self.dataset))


@dataclass(frozen=True)
class RowSpec:
    """Our side of a claim: a bench method and the settings its rows must hold (`--set` keys,
    the values compared as bench.report.matching.same_value does)."""

    method: str
    settings: dict[str, str] = field(default_factory=dict)

    def text(self) -> str:
        flags = "; ".join(f"{k}={v}" for k, v in self.settings.items())
        return f"{self.method} ({flags})" if flags else self.method


CLAIM_COLUMNS = (
    "claim",
    "paper",
    "table",
    "dataset",
    "imbalance_factor",
    "metric",
    "better",
    "worse",
    "ours_better",
    "ours_better_settings",
    "ours_worse",
    "ours_worse_settings",
    "note",
)


@dataclass(frozen=True)
class Claim:
    """A paper's headline claim: `better` beats `worse` on `metric` in its table, by `gap`."""

    line: int
    text: str
    better: Value  # the paper's value of the method it says is better
    worse: Value
    ours_better: RowSpec
    ours_worse: RowSpec
    note: str

    @property
    def column(self) -> str:
        assert self.better.column is not None  # checked when loaded
        return self.better.column

    @property
    def gap(self) -> float:
        """The paper's difference, better - worse, at the paper's precision."""
        return round(self.better.value - self.worse.value, self.digits)

    @property
    def digits(self) -> int:
        return max(self.better.digits, self.worse.digits)

    @property
    def source(self) -> str:
        return f"{PAPERS.get(self.better.paper, self.better.paper)} {self.better.table}"


@dataclass
class Published:
    values: list[Value]
    methods: list[MethodMap]
    datasets: list[DatasetMap]
    metrics: list[MetricMap]
    directory: str = ""
    columns: set[str] = field(default_factory=set)
    claims: list[Claim] = field(default_factory=list)

    def method_for(self, paper: str, slug: str) -> MethodMap:
        return next(m for m in self.methods if m.slug == slug and m.paper in ("", paper))

    def dataset_for(self, dataset: str, imbalance_factor: str) -> DatasetMap:
        return next(
            d
            for d in self.datasets
            if d.dataset == dataset and d.imbalance_factor in ("", imbalance_factor)
        )


def read_rows(path: Path, columns: tuple[str, ...]) -> list[tuple[int, dict[str, str]]]:
    """(line number, row) of a CSV file whose header must hold `columns`."""
    try:
        with open(path, newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            missing = [c for c in columns if c not in (reader.fieldnames or [])]
            if missing:
                raise PublishedDataError(
                    f"{path}: line 1 lacks the column(s) {', '.join(missing)}; the header must "
                    f"name {', '.join(columns)}."
                )
            return [
                (reader.line_num, {k: (v or "").strip() for k, v in row.items() if k})
                for row in reader
            ]
    except OSError as exc:
        raise PublishedDataError(f"cannot read {path}: {exc.strerror or exc}.") from None
    except (csv.Error, UnicodeDecodeError) as exc:
        raise PublishedDataError(f"{path} is not a readable CSV file: {exc}.") from None


def number(path: Path, line: int, name: str, text: str, required: bool) -> float | None:
    if not text and not required:
        return None
    try:
        out = float(text)
    except ValueError:
        out = math.nan
    if not math.isfinite(out):
        raise PublishedDataError(
            f"{path}:{line}: {name} {text!r} is not a number; write it as printed in the paper "
            "(digits and a decimal point)."
        )
    return out


def parse_settings(path: Path, line: int, text: str) -> dict[str, str]:
    out = {}
    for item in text.split(";") if text else []:
        pair = split_assignment(item.strip())
        if pair is None:
            raise PublishedDataError(f"{path}:{line}: setting {item!r} is not KEY=VALUE.")
        out[pair[0]] = pair[1].strip()
    return out


def load(directory: Path) -> Published:
    """Read and check the four files of `directory` (default: the repository's
    results/published)."""
    directory = Path(directory)
    if not directory.is_dir():
        raise PublishedDataError(
            f"{directory} is not a directory of published values; pass --published-dir with "
            "the folder holding published.csv, methods.csv, datasets.csv and metrics.csv."
        )
    methods_path, datasets_path, metrics_path = (
        directory / f"{name}.csv" for name in ("methods", "datasets", "metrics")
    )
    methods = [
        MethodMap(
            r["method_slug"],
            r["paper"],
            r["bench_method"],
            r["planned_in"],
            r["note"],
            parse_settings(methods_path, line, r.get("settings", "")),
        )
        for line, r in read_rows(
            methods_path, ("method_slug", "paper", "bench_method", "planned_in", "note")
        )
    ]
    datasets = [
        DatasetMap(
            r["dataset"],
            r["imbalance_factor"],
            r["bench_dataset"],
            parse_settings(datasets_path, line, r["settings"]),
            r["note"],
        )
        for line, r in read_rows(
            datasets_path, ("dataset", "imbalance_factor", "bench_dataset", "settings", "note")
        )
    ]
    metrics = sorted(
        (
            MetricMap(r["metric"], r["paper"], r["table"], r["dataset"], r["column"], r["note"])
            for _, r in read_rows(
                metrics_path, ("metric", "paper", "table", "dataset", "column", "note")
            )
        ),
        key=lambda m: -m.specificity(),
    )
    out = Published([], methods, datasets, metrics, str(directory))
    path = directory / "published.csv"
    seen: dict[tuple[str, ...], int] = {}
    for line, row in read_rows(path, PUBLISHED_COLUMNS):
        out.values.append(check_value(out, path, line, row, seen))
    claims_path = directory / "claims.csv"
    out.claims = [
        check_claim(out, claims_path, line, row)
        for line, row in read_rows(claims_path, CLAIM_COLUMNS)
    ]
    return out


def check_claim(pub: Published, path: Path, line: int, row: dict[str, str]) -> Claim:
    """A claims.csv line with its two published values: each slug must have exactly one value
    in the named table, for a metric bench measures."""
    better, worse = (claim_value(pub, path, line, row, side) for side in ("better", "worse"))
    if better.column is None:
        raise PublishedDataError(
            f"{path}:{line}: claim {row['claim']!r} is on {row['metric']!r}, which bench does not "
            "measure (metrics.csv maps it to no column); name a metric with a column."
        )
    ours = [
        RowSpec(row[f"ours_{side}"], parse_settings(path, line, row[f"ours_{side}_settings"]))
        for side in ("better", "worse")
    ]
    if not all(spec.method for spec in ours):
        raise PublishedDataError(
            f"{path}:{line}: claim {row['claim']!r} needs the bench method of both sides "
            "(ours_better, ours_worse)."
        )
    return Claim(line, row["claim"], better, worse, ours[0], ours[1], row["note"])


def claim_value(pub: Published, path: Path, line: int, row: dict[str, str], side: str) -> Value:
    keys = ("paper", "table", "dataset", "imbalance_factor", "metric")
    where = ", ".join(f"{k} {row[k]!r}" for k in keys if row[k])
    table = [v for v in pub.values if all(getattr(v, k) == row[k] for k in keys[:4])]
    if not table:
        raise PublishedDataError(
            f"{path}:{line}: claim {row['claim']!r} names a table with no published row "
            f"({where}); name a paper, table, dataset and imbalance factor of published.csv."
        )
    slug, _, printed = row[side].partition(" [")  # "slug [method as printed]" picks one row
    found = [
        v
        for v in table
        if v.slug == slug and v.metric == row["metric"] and printed[:-1] in ("", v.method)
    ]
    if len(found) != 1:
        slugs = sorted({v.slug for v in table if v.metric == row["metric"]})
        what = "no published row" if not found else f"{len(found)} published rows (ambiguous)"
        raise PublishedDataError(
            f"{path}:{line}: claim {row['claim']!r}: {side} method {row[side]!r} has {what} "
            f"in {where}. Slugs with a value there: {', '.join(slugs) or 'none'}; where a slug "
            "has several rows, name one as 'slug [method as printed]'."
        )
    return found[0]


def check_value(
    pub: Published, path: Path, line: int, row: dict[str, str], seen: dict[tuple[str, ...], int]
) -> Value:
    where = f"{path}:{line}"
    metric = row_metric(pub, row, where)
    check_names(pub, row, where)
    key = tuple(row[k] for k in CELL_KEY)
    if key in seen:
        raise PublishedDataError(
            f"{where} repeats the cell of line {seen[key]} ({row['paper']} {row['table']}, "
            f"{row['dataset']}, {row['method']!r}, {row['metric']}): one value per cell; remove "
            "one or tell them apart in the setting column."
        )
    seen[key] = line
    value = number(path, line, "value", row["value"], True)
    std = number(path, line, "std", row["std"], False)
    n_syn = number(path, line, "n_synthetic", row["n_synthetic"], False)
    assert value is not None
    return Value(
        line,
        row["paper"],
        row["table"],
        row["dataset"],
        row["imbalance_factor"],
        row["backbone"],
        row["method"],
        row["method_slug"],
        None if n_syn is None else int(n_syn),
        row["metric"],
        row["value"],
        value,
        std,
        row["std"],
        row["setting"],
        row["reported_by"],
        metric.column or None,
    )


def row_metric(pub: Published, row: dict[str, str], where: str) -> MetricMap:
    """The metrics.csv line a values.csv row's metric maps to (paper, table, dataset or any)."""
    metric = next(
        (
            m
            for m in pub.metrics
            if m.metric == row["metric"]
            and m.paper in ("", row["paper"])
            and m.table in ("", row["table"])
            and m.dataset in ("", row["dataset"])
        ),
        None,
    )
    if metric is None:
        known = sorted({m.metric for m in pub.metrics})
        raise PublishedDataError(
            f"{where}: unknown metric {row['metric']!r}. Known metrics: {', '.join(known)}; "
            "add a line to metrics.csv to map a new one."
        )
    return metric


def check_names(pub: Published, row: dict[str, str], where: str) -> None:
    """A values.csv row's method and dataset each have their line in methods.csv and
    datasets.csv."""
    if not any(m.slug == row["method_slug"] and m.paper in ("", row["paper"]) for m in pub.methods):
        raise PublishedDataError(
            f"{where}: method_slug {row['method_slug']!r} has no line in methods.csv; add one "
            "(bench_method empty where bench has no counterpart)."
        )
    if not any(
        d.dataset == row["dataset"] and d.imbalance_factor in ("", row["imbalance_factor"])
        for d in pub.datasets
    ):
        raise PublishedDataError(
            f"{where}: dataset {row['dataset']!r} (imbalance factor "
            f"{row['imbalance_factor'] or 'blank'}) has no line in datasets.csv; add one."
        )


def default_directory() -> Path:
    """The repository's results/published (next to the bench package in a checkout)."""
    return Path(__file__).resolve().parents[2] / "results" / "published"


def counterpart_status(m: MethodMap, registered: set[str]) -> str:
    if m.bench_method and m.bench_method in registered:
        return "counterpart"
    if m.bench_method:
        return f"no counterpart yet (planned in {m.planned_in})" if m.planned_in else "missing"
    return "no counterpart"


def mapping_markdown(pub: Published) -> str:
    """The docs table: each (paper, method slug) with its bench method or why there is none."""

    rows: dict[tuple[str, str], list[str]] = {}
    for v in pub.values:
        if (v.paper, v.slug) not in rows:
            m = pub.method_for(v.paper, v.slug)
            bench = f"`{m.bench_method}`" if m.bench_method else "no counterpart"
            flags = f"`{m.set_flags().strip()}`" if m.settings else ""
            planned = f"planned in {m.planned_in}" if m.planned_in else ""
            note = "; ".join(x for x in (planned, m.note) if x)
            rows[(v.paper, v.slug)] = [
                PAPERS.get(v.paper, v.paper),
                v.slug,
                bench,
                flags,
                "0",
                note,
            ]
        rows[(v.paper, v.slug)][4] = str(int(rows[(v.paper, v.slug)][4]) + 1)
    headers = ["paper", "published slug", "bench method", "settings", "values", "note"]
    body = sorted(rows.values(), key=lambda r: (r[0], r[1]))
    return tabulate(body, headers, tablefmt="pipe", disable_numparse=True) + "\n"
