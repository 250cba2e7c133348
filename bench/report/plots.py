"""Leaderboard plots (matplotlib, PNG and SVG), each with a caption saying what it shows: pure,
a Report in, figures out.

- per table of ours, per-class test accuracy against the class's training-set size, one line
  per row, the shot buckets shaded and each bucket's mean marked (Fill-Up Fig. A6);
- overall accuracy against the number of synthetic images, where rows differ in it (FG
  Fig. 12);
- FID against overall accuracy, for rows with both;
- per published table with rows of ours, ours against the paper's value, one point per row,
  with the diagonal (on it: ours equals the paper).

Legends sit outside the axes, to the right, so they never cover the data.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any

import numpy as np

from bench.report.aggregate import Group, Row, all_columns
from bench.report.escape import svg_text
from bench.report.layout import Report, Table

BUCKETS = (("few", "#fde0dd"), ("medium", "#fff7bc"), ("many", "#e5f5e0"))


@dataclass(frozen=True)
class Figure:
    name: str
    caption: str
    png: bytes
    svg: bytes


def make_plots(report: Report) -> list[Figure]:
    """Every plot the report has data for, ours first (in table order), then ours vs paper."""
    # matplotlib: heavy, imported where used (off the start-up path)
    import matplotlib

    matplotlib.use("Agg")
    matplotlib.rcParams["svg.hashsalt"] = "bench"  # stable SVG ids
    out: list[Figure] = []
    for g in report.groups:
        if any(r.per_class for r in g.rows):
            out.append(save(f"per-class-{g.key_slug}", *per_class_figure(g)))
        rows = [r for r in g.rows if r.stat("overall").mean is not None]
        if len({n for r in rows for n in r.synthetic}) > 1:
            out.append(save(f"synthetic-{g.key_slug}", *synthetic_figure(g, rows)))
        with_fid = [r for r in rows if r.stat("fid").mean is not None]
        if with_fid:
            out.append(save(f"fid-{g.key_slug}", *fid_figure(g, with_fid)))
    for t in report.tables:
        points = published_points(t)
        if t.section == "published" and points:
            out.append(save(f"vs-paper-{t.key}", *versus_paper_figure(t, points)))
    return out


def per_class_figure(g: Group) -> tuple[Any, str]:
    # matplotlib: heavy, imported where used (off the start-up path)
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.5, 4))
    many = int(g.options.get("many_threshold", 100))
    few = int(g.options.get("few_threshold", 20))
    shade = g.shape == "long-tail"
    sizes = []
    for r in g.rows:
        if not r.per_class:
            continue
        counts = np.asarray(r.per_class[0][0], dtype=float)
        acc = np.array([[np.nan if a is None else a for a in pc] for _, pc in r.per_class])
        mean = 100 * np.nanmean(acc, axis=0)
        order = np.argsort(counts, kind="stable")
        (line,) = ax.plot(
            counts[order], mean[order], marker="o", markersize=3, label=svg_text(r.label)
        )
        sizes += [counts.min(), counts.max()]
        if shade:
            bucket_means(ax, counts, mean, many, few, line.get_color())
    ax.set_xscale("log")
    ax.set_xlim(max(min(sizes), 1) / 1.5, max(sizes) * 1.5)
    if shade:
        shade_buckets(ax, many, few)
    ax.set_xlabel("training images of the class (log scale)")
    ax.set_ylabel("test accuracy of the class (%)")
    ax.set_title(svg_text(f"{g.label}: per-class accuracy vs class size"))
    legend_outside(ax)
    caption = (
        f"{g.label}: test accuracy of each class (mean over seeds) against its number of "
        "training images, one line per row of the table"
    )
    if shade:
        caption += (
            f"; shaded: the shot buckets (few < {few}, medium {few}-{many}, many > {many} "
            "training images), thick segments: each bucket's mean over its classes"
        )
    return fig, caption + "."


def shade_buckets(ax: Any, many: int, few: int) -> None:
    """The visible part of each shot bucket shaded and named at the top of the axes."""
    low, high = ax.get_xlim()
    edges = {"few": (low, few - 0.5), "medium": (few - 0.5, many + 0.5), "many": (many + 0.5, high)}
    for name, colour in BUCKETS:
        start, end = max(edges[name][0], low), min(edges[name][1], high)
        if start >= end:
            continue
        ax.axvspan(start, end, color=colour, zorder=0, lw=0)
        ax.text((start * end) ** 0.5, 0.98, name, transform=ax.get_xaxis_transform(),
                fontsize=8, ha="center", va="top")  # fmt: skip
    ax.set_xlim(low, high)


def bucket_means(ax: Any, counts: Any, mean: Any, many: int, few: int, colour: str) -> None:
    """A thick horizontal segment per bucket at its mean class accuracy."""

    masks = {
        "few": counts < few,
        "medium": (counts >= few) & (counts <= many),
        "many": counts > many,
    }
    for mask in masks.values():
        if mask.any() and not np.isnan(mean[mask]).all():
            xs = counts[mask]
            ax.hlines(np.nanmean(mean[mask]), xs.min(), xs.max(), colors=colour, lw=4, alpha=0.5)


def synthetic_figure(g: Group, rows: list[Row]) -> tuple[Any, str]:
    fig = points_figure(
        [(r.label, sum(r.synthetic) / len(r.synthetic), None, r.stat("overall")) for r in rows],
        "synthetic training images",
        f"{g.label}: accuracy vs number of synthetic images",
    )
    return fig, (
        f"{g.label}: overall test accuracy (mean ± std over seeds) against the number of "
        "synthetic images each row trained on, one point per row."
    )


def fid_figure(g: Group, rows: list[Row]) -> tuple[Any, str]:
    fig = points_figure(
        [(r.label, r.stat("fid").mean, r.stat("fid").std, r.stat("overall")) for r in rows],
        "FID of the synthetic set (lower is better)",
        f"{g.label}: FID vs downstream accuracy",
    )
    return fig, (
        f"{g.label}: FID of each row's synthetic set against the overall test accuracy of the "
        "classifier trained with it (mean ± std over seeds), one point per row."
    )


def points_figure(points: list[tuple[str, Any, Any, Any]], xlabel: str, title: str) -> Any:
    """One point per row (label, x, x error, accuracy Stat) with error bars."""
    # matplotlib: heavy, imported where used (off the start-up path)
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.5, 4))
    for label, x, xerr, acc in points:
        ax.errorbar(
            [x],
            [acc.mean],
            xerr=None if xerr is None else [xerr],
            yerr=[acc.std or 0.0],
            marker="o",
            capsize=3,
            label=svg_text(label),
        )
    ax.set_xlabel(xlabel)
    ax.set_ylabel("overall test accuracy (%)")
    ax.set_title(svg_text(title))
    legend_outside(ax)
    return fig


def published_points(t: Table) -> list[tuple[str, float, float]]:
    """(row, paper's value, our mean) of a published table's first metric with any of ours."""
    metrics = list(dict.fromkeys(row["metric"] for row in t.long))
    for metric in metrics:
        points = [
            (row["variant"], row["published"], row["mean"])
            for row in t.long
            if row["metric"] == metric and row["mean"] is not None
        ]
        if points:
            return points
    return []


def versus_paper_figure(t: Table, points: list[tuple[str, float, float]]) -> tuple[Any, str]:
    # matplotlib: heavy, imported where used (off the start-up path)
    import matplotlib.pyplot as plt

    key = next(row["metric"] for row in t.long if row["mean"] is not None)
    metric = next((c.title for c in all_columns() if c.key == key), key)
    fig, ax = plt.subplots(figsize=(7.5, 4))
    for label, paper, ours in points:
        ax.plot([paper], [ours], marker="o", linestyle="none", label=svg_text(label))
    values = [v for _, p, o in points for v in (p, o)]
    low, high = min(values), max(values)
    pad = max(1e-6, 0.05 * (high - low) or 0.05 * abs(high) or 1.0)
    span = (low - pad, high + pad)
    ax.plot(span, span, color="grey", lw=1, ls="--", label="ours = paper")
    ax.set_xlim(span)
    ax.set_ylim(span)
    ax.set_aspect("equal", adjustable="box")
    ax.set_xlabel(svg_text(f"{metric}: the paper's value"))
    ax.set_ylabel(svg_text(f"{metric}: ours (mean over seeds)"))
    ax.set_title(svg_text(t.title))
    legend_outside(ax)
    caption = (
        f"{t.title}: our value of {metric} (mean over seeds) against the paper's, one point per "
        "published row we have runs for; on the dashed diagonal ours equals the paper's."
    )
    return fig, caption


def legend_outside(ax: Any) -> None:
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0)


def save(name: str, fig: Any, caption: str) -> Figure:
    # matplotlib: heavy, imported where used (off the start-up path)
    import matplotlib.pyplot as plt

    out = {}
    for fmt in ("png", "svg"):
        buf = io.BytesIO()
        # Fixed metadata so the same records give the same bytes.
        meta = {"Software": None} if fmt == "png" else {"Date": None, "Creator": None}
        fig.savefig(buf, format=fmt, dpi=100, bbox_inches="tight", metadata=meta)
        out[fmt] = buf.getvalue()
    plt.close(fig)
    return Figure(name, caption, out["png"], out["svg"])
