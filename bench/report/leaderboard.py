"""Run records -> leaderboard tables (Markdown, CSV, LaTeX): pure functions of the records.

Rows are methods, grouped by dataset; each cell is the mean ± sample standard deviation
(ddof = 1) over seeds of one configuration, with the number of seeds in its own column. Runs of
the same method with different settings are separate rows, labelled with the settings in which
they differ; likewise datasets with different options are separate tables.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

METRICS = (("overall", "Overall"), ("many", "Many"), ("medium", "Medium"), ("few", "Few"))


@dataclass(frozen=True)
class Column:
    """A metric column: where its value sits in result.json, its scale and decimals."""

    key: str
    title: str
    path: tuple[str, ...]
    scale: float = 100.0
    digits: int = 1
    kind: str = "accuracy"  # accuracy | group | fairness | generation (picks the legend)


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
    Column(key, title, (*TEST, "fairness", key), 1.0, 4, "fairness")
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
    ("fid", "FID", 2),
    ("kid_mean", "KID", 4),
    ("is_mean", "IS", 2),
    ("precision", "Precision", 3),
    ("recall", "Recall", 3),
    ("density", "Density", 3),
    ("coverage", "Coverage", 3),
    ("f8", "F8", 3),
    ("f1_8", "F1/8", 3),
)
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


@dataclass
class Row:
    method: str
    label: str
    values: dict[str, list[float]] = field(default_factory=dict)
    seeds: list[int] = field(default_factory=list)


@dataclass
class Table:
    dataset: str
    label: str
    rows: list[Row]
    metrics: list[tuple[str, str]]
    digits: dict[str, int] = field(default_factory=dict)
    legend: list[str] = field(default_factory=list)


def collect(
    records: Iterable[dict[str, Any]], method_order: list[str] | None = None
) -> list[Table]:
    """Group finished runs (each {"config", "result"}) into one table per dataset setting."""
    by_dataset: dict[str, list[dict[str, Any]]] = {}
    for rec in records:
        cfg = rec["config"]
        by_dataset.setdefault(canonical({"d": cfg["dataset"], "o": cfg["data"]}), []).append(rec)
    dataset_labels = variant_labels(
        {k: (v[0]["config"]["dataset"], v[0]["config"]["data"]) for k, v in by_dataset.items()}
    )
    tables = [
        make_table(dataset_labels[k], recs, method_order or []) for k, recs in by_dataset.items()
    ]
    return sorted(tables, key=lambda t: t.label)


def make_table(label: str, records: list[dict[str, Any]], method_order: list[str]) -> Table:
    groups: dict[str, list[dict[str, Any]]] = {}
    for rec in records:
        cfg = rec["config"]
        key = canonical({"m": cfg["method"], "h": cfg["hparams"], "r": cfg["recipe"]})
        groups.setdefault(key, []).append(rec)
    labels = variant_labels(
        {
            k: (v[0]["config"]["method"], {**v[0]["config"]["hparams"], **prefixed(v[0]["config"])})
            for k, v in groups.items()
        }
    )
    columns = metric_columns(records)
    rows = [make_row(labels[k], recs, columns) for k, recs in groups.items()]
    order = {name: i for i, name in enumerate(method_order)}
    rows.sort(key=lambda r: (order.get(r.method, len(order)), r.label))
    present = [c for c in columns if any(r.values.get(c.key) for r in rows)]
    return Table(
        records[0]["config"]["dataset"],
        label,
        rows,
        [(c.key, c.title) for c in present],
        {c.key: c.digits for c in present},
        [LEGEND[kind] for kind in LEGEND if any(c.kind == kind for c in present)],
    )


def metric_columns(records: list[dict[str, Any]]) -> list[Column]:
    """Accuracy, group, fairness and (per extractor found) generation columns."""
    extractors = sorted(
        {name for rec in records for name in rec["result"].get("generation") or {}},
        key=lambda name: (name != "inception", name),
    )
    return [
        *ACCURACY_COLUMNS,
        *GROUP_COLUMNS,
        *FAIRNESS_COLUMNS,
        *(generation_column(name, *metric) for name in extractors for metric in GENERATION_METRICS),
    ]


def generation_column(extractor: str, key: str, title: str, digits: int) -> Column:
    suffix = "" if extractor == "inception" else f" ({extractor})"
    column_key = key if extractor == "inception" else f"{key}[{extractor}]"
    path = ("generation", extractor, key)
    return Column(column_key, title + suffix, path, 1.0, digits, "generation")


def prefixed(cfg: dict[str, Any]) -> dict[str, Any]:
    return {f"recipe.{k}": v for k, v in cfg["recipe"].items()}


def make_row(label: str, records: list[dict[str, Any]], columns: list[Column]) -> Row:
    row = Row(method=records[0]["config"]["method"], label=label)
    for rec in sorted(records, key=lambda r: r["config"]["seed"]):
        row.seeds.append(rec["config"]["seed"])
        for column in columns:
            value = lookup(rec["result"], column.path)
            if value is not None:
                row.values.setdefault(column.key, []).append(column.scale * value)
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
    out = {}
    for key, (name, settings) in variants.items():
        siblings = [s for n, s in variants.values() if n == name]
        differing = sorted(k for k in settings if len({canonical(s.get(k)) for s in siblings}) > 1)
        extra = ", ".join(f"{k}={format_setting(settings.get(k))}" for k in differing)
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


def cell(values: list[float], pm: str = "±", digits: int = 1, seeds: int | None = None) -> str:
    """mean ± std; "(n=k)" when only k of the row's seeds have the metric (e.g. FID measured
    with `bench eval-gen` on one seed's synthetic set)."""
    mean, std = mean_std(values)
    if mean is None:
        return "–"
    text = f"{mean:.{digits}f}" if std is None else f"{mean:.{digits}f} {pm} {std:.{digits}f}"
    return text if seeds is None or len(values) == seeds else f"{text} (n={len(values)})"


# Renderers --------------------------------------------------------------------------------------


def to_markdown(tables: list[Table]) -> str:
    if not tables:
        return "No finished runs.\n"
    parts = []
    for t in tables:
        head = ["Method", *(title for _, title in t.metrics), "Seeds"]
        lines = [
            f"## {t.label}",
            "",
            "| " + " | ".join(head) + " |",
            "|" + "|".join(["---"] + ["---:"] * (len(head) - 1)) + "|",
        ]
        for r in t.rows:
            cells = [
                r.label,
                *(
                    cell(r.values.get(k, []), digits=t.digits.get(k, 1), seeds=len(r.seeds))
                    for k, _ in t.metrics
                ),
                str(len(r.seeds)),
            ]
            lines.append("| " + " | ".join(cells) + " |")
        parts.append("\n".join(lines))
    note = "Top-1 accuracy (%) on the test split, mean ± std over seeds."
    legend = [text for t in tables for text in t.legend]
    notes = [note, *dict.fromkeys(legend)]
    return "\n\n".join([*parts, *notes]) + "\n"


def to_csv(tables: list[Table]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["dataset", "method", "variant", "metric", "mean", "std", "n_seeds", "seeds"])
    for t in tables:
        for r in t.rows:
            for key, _ in t.metrics:
                mean, std = mean_std(r.values.get(key, []))
                writer.writerow(
                    [
                        t.label,
                        r.method,
                        r.label,
                        key,
                        fmt_number(mean),
                        fmt_number(std),
                        len(r.values.get(key, [])),  # seeds that have this metric
                        " ".join(map(str, r.seeds)),
                    ]
                )
    return buf.getvalue()


def fmt_number(x: float | None) -> str:
    return "" if x is None else f"{x:.4f}"


def to_latex(tables: list[Table]) -> str:
    parts = []
    for t in tables:
        cols = "l" + "c" * len(t.metrics) + "r"
        head = " & ".join(["Method", *(title for _, title in t.metrics), "Seeds"])
        body = [
            " & ".join(
                [
                    latex_escape(r.label),
                    *(
                        cell(r.values.get(k, []), r"$\pm$", t.digits.get(k, 1), len(r.seeds))
                        for k, _ in t.metrics
                    ),
                    str(len(r.seeds)),
                ]
            )
            + r" \\"
            for r in t.rows
        ]
        parts.append(
            "\n".join(
                [
                    r"\begin{table}[t]",
                    r"\centering",
                    rf"\caption{{{latex_escape(t.label)}: top-1 accuracy (\%), "
                    r"mean $\pm$ std over seeds."
                    + "".join(" " + latex_escape(text) for text in t.legend)
                    + "}",
                    rf"\begin{{tabular}}{{{cols}}}",
                    r"\toprule",
                    head + r" \\",
                    r"\midrule",
                    *body,
                    r"\bottomrule",
                    r"\end{tabular}",
                    r"\end{table}",
                ]
            )
        )
    return "\n\n".join(parts) + "\n"


LATEX_SPECIAL = {
    "\\": r"\textbackslash{}",
    "_": r"\_",
    "%": r"\%",
    "&": r"\&",
    "#": r"\#",
    "$": r"\$",
    "{": r"\{",
    "}": r"\}",
    "–": "--",
}


def latex_escape(text: str) -> str:
    return "".join(LATEX_SPECIAL.get(ch, ch) for ch in text)


RENDERERS = {"md": to_markdown, "csv": to_csv, "latex": to_latex}


def render(tables: list[Table], fmt: str) -> str:
    return RENDERERS[fmt](tables)
