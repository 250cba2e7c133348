"""What `bench leaderboard` does, given its parsed arguments (bench/cli.py only parses)."""

from __future__ import annotations

import argparse
from pathlib import Path

from bench.errors import BenchError


def leaderboard_command(args: argparse.Namespace) -> tuple[str, str | None]:
    """(text for stdout, or the path written)."""
    from bench.datasets import DATASETS
    from bench.io import atomic_write_text
    from bench.methods import METHODS
    from bench.registry import unknown_name_message
    from bench.report import published as published_data
    from bench.report.layout import collect
    from bench.report.records import load_records
    from bench.report.render import render

    if args.output and Path(args.output).is_dir():
        raise BenchError(f"--output {args.output} is a directory; name a file (or use --write).")
    results = Path(args.results)
    loaded = load_records(results, include_smoke=args.include_smoke)
    pub = None
    if args.published or args.write:
        directory = args.published_dir or published_data.default_directory()
        pub = published_data.load(Path(directory))
    known = set(DATASETS) | {r["config"]["dataset"] for r in loaded.records}
    if pub is not None:
        known |= {d.bench_dataset or d.dataset for d in pub.datasets}
    for name in args.dataset:
        if name not in known:
            raise BenchError(unknown_name_message("dataset", name, sorted(known)))
    report = collect(
        loaded.records,
        list(METHODS),
        ci=args.ci,
        mark_noise=args.mark_noise,
        skipped=len(loaded.skipped),
        smoke=loaded.smoke,
        published=pub,
        registered=set(METHODS),
        datasets=args.dataset or None,
    )
    if args.write:
        from bench.report.site import write_site

        return "", str(write_site(report, Path(args.write), results))
    text = render(report, args.format)
    if args.output:
        atomic_write_text(Path(args.output), text)
        return text, args.output
    return text, None
