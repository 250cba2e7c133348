"""`bench synth export | preview`: resolve the set (and its dataset) from a run or a path."""

from __future__ import annotations

import argparse
from pathlib import Path

from bench.data import data_root_from_env
from bench.errors import BenchError, ConfigError
from bench.io import clip
from bench.runs.config import RunConfig
from bench.runs.evalgen import run_synthetic_set
from bench.runs.records import cache_dir, load_run
from bench.runs.runner import load_data
from bench.synthesis import export
from bench.synthesis.store import SyntheticSet


def run_command(args: argparse.Namespace) -> int:
    store_dir, run = locate(args)
    store = SyntheticSet(store_dir)
    if args.action == "export":
        if not (args.png or args.hf or args.parquet):
            raise ConfigError("bench synth export needs --png DIR, --hf DIR and/or --parquet FILE.")
        if args.png:
            n = export.export_png(store, Path(args.png), progress=not args.quiet)
            print(f"{n} images -> {args.png}")
        if args.hf:
            print(export.export_hf(store, Path(args.hf), progress=not args.quiet))
        if args.parquet:
            print(export.export_hf(store, Path(args.parquet), True, progress=not args.quiet))
        return 0
    if run is None:
        raise ConfigError("bench synth preview needs --run RUN_DIR (for the real images).")
    data = load_run_data(run, args.data_root, Path(args.run).resolve().parents[1])
    classes = parse_classes(args.classes, data.class_names) if args.classes else None
    print(export.preview(store, data, Path(args.output), args.per_class, classes))
    return 0


def parse_classes(text: str, names: list[str]) -> list[int]:
    """--classes "0,3,7": class indices of the dataset, each once."""
    out = []
    for item in text.split(","):
        item = item.strip()
        if not item.isdigit() or int(item) >= len(names):
            raise ConfigError(
                f"--classes {clip(text, 80)}: {clip(item, 20)!r} is not a class index of this "
                f"dataset (0..{len(names) - 1}, comma-separated)."
            )
        if int(item) not in out:
            out.append(int(item))
    return out


def locate(args: argparse.Namespace) -> tuple[Path, dict | None]:
    """The store directory, from --synthetic or from the run's record."""

    if args.run:
        run = load_run(Path(args.run))
        if not run["done"]:
            raise BenchError(f"{args.run} is not finished: finish the run first.")
        results = Path(args.run).resolve().parents[1]
        path = Path(args.synthetic) if args.synthetic else run_synthetic_set(run, results)
        return path, run
    if not args.synthetic:
        raise ConfigError("give --run RUN_DIR or --synthetic SET_DIR.")
    return Path(args.synthetic), None


def load_run_data(run: dict, data_root: str | None, results: Path):
    """The real images the run trained on (dataset option real_kept), loaded, checked and
    drawn as the runner does."""
    config = RunConfig.from_json(run["config"])
    return load_data(config, cache_dir(results), data_root_from_env(data_root))[0]
