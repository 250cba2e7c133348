"""`bench leaderboard --write DIR`: LEADERBOARD.md, leaderboard.tex (every table, float barriers
between them) and tables/<table>.tex (one `\\input`-able file per table), leaderboard.csv, the
plots (PNG + SVG) and a self-contained index.html, every file written atomically with the mode the
umask gives (docs/security.md), never through a symbolic link planted in the folder."""

from __future__ import annotations

import base64
from pathlib import Path

from bench.errors import BenchError
from bench.io import atomic_write, atomic_write_text, inside
from bench.report.latex import table_file
from bench.report.layout import Report
from bench.report.plots import make_plots
from bench.report.render import render

FILES = {"md": "LEADERBOARD.md", "latex": "leaderboard.tex", "csv": "leaderboard.csv"}


def write_site(report: Report, directory: Path, results: Path | None = None) -> Path:
    directory = Path(directory)
    if directory.exists() and not directory.is_dir():
        raise BenchError(f"--write {directory} is a file; pass a directory to write into.")
    if results is not None:
        root, target = Path(results).resolve(), directory.resolve()
        if target == root or any(target.is_relative_to(root / d) for d in ("runs", "cache")):
            raise BenchError(
                f"--write {directory} would write among the run records; pass a folder of its "
                "own (e.g. results/leaderboard)."
            )
    for fmt, name in FILES.items():
        atomic_write_text(directory / name, render(report, fmt))
    for t in report.tables:
        atomic_write_text(inside(directory, "tables", f"{t.key}.tex"), table_file(t))
    inline = []
    for fig in make_plots(report):
        for ext, data in (("png", fig.png), ("svg", fig.svg)):
            path = inside(directory, "plots", f"{fig.name}.{ext}")
            atomic_write(path, lambda tmp, data=data: tmp.write_bytes(data))
        uri = "data:image/png;base64," + base64.b64encode(fig.png).decode("ascii")
        inline.append((fig.name, fig.caption, uri))
    atomic_write_text(directory / "index.html", render(report, "html", plots=inline))
    return directory / "index.html"
