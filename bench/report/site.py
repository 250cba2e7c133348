"""`bench leaderboard --write DIR`: LEADERBOARD.md, leaderboard.tex, leaderboard.csv, the plots
(PNG + SVG) and a self-contained index.html, every file written atomically with the mode the
umask gives (docs/security.md), never through a symbolic link planted in the folder."""

from __future__ import annotations

import base64
from pathlib import Path

from bench.errors import BenchError
from bench.io import atomic_write, atomic_write_text, inside
from bench.report.leaderboard import Report
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
    plots = make_plots(report.groups)
    for fmt, name in FILES.items():
        atomic_write_text(directory / name, render(report, fmt))
    inline = {}
    for name, images in plots.items():
        for ext, data in images.items():
            path = inside(directory, "plots", f"{name}.{ext}")
            atomic_write(path, lambda tmp, data=data: tmp.write_bytes(data))
        uri = "data:image/png;base64," + base64.b64encode(images["png"]).decode("ascii")
        inline[name] = uri
    atomic_write_text(directory / "index.html", render(report, "html", plots=inline))
    return directory / "index.html"
