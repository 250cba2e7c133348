"""Leaderboard plots (matplotlib, PNG and SVG) from the aggregated rows: pure figures in,
bytes out.

- per-class accuracy against the class's training-set size, one line per method (Fill-Up
  Fig. A6);
- overall accuracy against the number of synthetic images (FG Fig. 12);
- FID against overall accuracy, for rows that have both.
"""

from __future__ import annotations

import io
from typing import Any

from bench.report.aggregate import Group, Row


def make_plots(groups: list[Group]) -> dict[str, dict[str, bytes]]:
    """name -> {"png": bytes, "svg": bytes} for every plot the rows have data for."""
    import matplotlib

    matplotlib.use("Agg")
    matplotlib.rcParams["svg.hashsalt"] = "bench"  # stable SVG ids
    out: dict[str, dict[str, bytes]] = {}
    for g in groups:
        if any(r.per_class for r in g.rows):
            out[f"per-class-{g.key_slug}"] = save(per_class_figure(g))
        rows = [r for r in g.rows if r.stat("overall").mean is not None]
        if len({n for r in rows for n in r.synthetic}) > 1:
            out[f"synthetic-{g.key_slug}"] = save(synthetic_figure(g, rows))
        with_fid = [r for r in rows if r.stat("fid").mean is not None]
        if with_fid:
            out[f"fid-{g.key_slug}"] = save(fid_figure(g, with_fid))
    return out


def per_class_figure(g: Group) -> Any:
    import matplotlib.pyplot as plt
    import numpy as np

    fig, ax = plt.subplots(figsize=(6, 4))
    for r in g.rows:
        if not r.per_class:
            continue
        counts = np.asarray(r.per_class[0][0], dtype=float)
        acc = np.array([[np.nan if a is None else a for a in pc] for _, pc in r.per_class])
        mean = 100 * np.nanmean(acc, axis=0)
        order = np.argsort(counts, kind="stable")
        ax.plot(counts[order], mean[order], marker="o", markersize=3, label=r.label)
    ax.set_xscale("log")
    ax.set_xlabel("training images of the class (log scale)")
    ax.set_ylabel("test accuracy of the class (%), mean over seeds")
    ax.set_title(f"{g.label}: per-class accuracy vs class size")
    ax.legend(fontsize=7)
    return fig


def synthetic_figure(g: Group, rows: list[Row]) -> Any:
    return points_figure(
        [(r.label, sum(r.synthetic) / len(r.synthetic), None, r.stat("overall")) for r in rows],
        "synthetic training images",
        f"{g.label}: accuracy vs number of synthetic images",
    )


def fid_figure(g: Group, rows: list[Row]) -> Any:
    return points_figure(
        [(r.label, r.stat("fid").mean, r.stat("fid").std, r.stat("overall")) for r in rows],
        "FID of the synthetic set (lower is better)",
        f"{g.label}: FID vs downstream accuracy",
    )


def points_figure(points: list[tuple[str, Any, Any, Any]], xlabel: str, title: str) -> Any:
    """One point per row (label, x, x error, accuracy Stat) with error bars."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for label, x, xerr, acc in points:
        ax.errorbar(
            [x],
            [acc.mean],
            xerr=None if xerr is None else [xerr],
            yerr=[acc.std or 0.0],
            marker="o",
            capsize=3,
            label=label,
        )
    ax.set_xlabel(xlabel)
    ax.set_ylabel("overall test accuracy (%)")
    ax.set_title(title)
    ax.legend(fontsize=7)
    return fig


def save(fig: Any) -> dict[str, bytes]:
    import matplotlib.pyplot as plt

    out = {}
    for fmt in ("png", "svg"):
        buf = io.BytesIO()
        # Fixed metadata so the same records give the same bytes.
        meta = {"Software": None} if fmt == "png" else {"Date": None, "Creator": None}
        fig.savefig(buf, format=fmt, dpi=100, bbox_inches="tight", metadata=meta)
        out[fmt] = buf.getvalue()
    plt.close(fig)
    return out
