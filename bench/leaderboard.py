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
    rows = [make_row(labels[k], recs) for k, recs in groups.items()]
    order = {name: i for i, name in enumerate(method_order)}
    rows.sort(key=lambda r: (order.get(r.method, len(order)), r.label))
    present = [(key, title) for key, title in METRICS if any(r.values.get(key) for r in rows)]
    return Table(records[0]["config"]["dataset"], label, rows, present)


def prefixed(cfg: dict[str, Any]) -> dict[str, Any]:
    return {f"recipe.{k}": v for k, v in cfg["recipe"].items()}


def make_row(label: str, records: list[dict[str, Any]]) -> Row:
    row = Row(method=records[0]["config"]["method"], label=label)
    for rec in sorted(records, key=lambda r: r["config"]["seed"]):
        row.seeds.append(rec["config"]["seed"])
        test = rec["result"]["metrics"]["test"]
        for key, _ in METRICS:
            if test.get(key) is not None:
                row.values.setdefault(key, []).append(100.0 * test[key])
    return row


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


def cell(values: list[float], pm: str = "±") -> str:
    mean, std = mean_std(values)
    if mean is None:
        return "–"
    return f"{mean:.1f}" if std is None else f"{mean:.1f} {pm} {std:.1f}"


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
            cells = [r.label, *(cell(r.values.get(k, [])) for k, _ in t.metrics), str(len(r.seeds))]
            lines.append("| " + " | ".join(cells) + " |")
        parts.append("\n".join(lines))
    note = "Top-1 accuracy (%) on the test split, mean ± std over seeds."
    return "\n\n".join(parts) + f"\n\n{note}\n"


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
                        len(r.seeds),
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
                    *(cell(r.values.get(k, []), r"$\pm$") for k, _ in t.metrics),
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
                    r"mean $\pm$ std over seeds.}",
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
