"""`bench synth export | preview`: resolve the set (and its dataset) from a run or a path."""

from __future__ import annotations

from dataclasses import dataclass
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


@dataclass(frozen=True)
class ExportRequest:
    """`bench synth export`: where to write the set (at least one of png, hf, parquet)."""

    png: str | None = None  # as given: the messages name them so
    hf: str | None = None
    parquet: str | None = None
    progress: bool = True


@dataclass(frozen=True)
class PreviewRequest:
    """`bench synth preview`: real and synthetic rows per class into `output`."""

    output: Path
    per_class: int = 8
    classes: str | None = None  # "0,3,7" (default: every class)
    data_root: str | None = None


def export_command(run: str | None, synthetic: str | None, request: ExportRequest) -> int:
    store = SyntheticSet(locate(run, synthetic)[0])
    r = request
    if not (r.png or r.hf or r.parquet):
        raise ConfigError("bench synth export needs --png DIR, --hf DIR and/or --parquet FILE.")
    if r.png:
        n = export.export_png(store, Path(r.png), progress=r.progress)
        print(f"{n} images -> {r.png}")
    if r.hf:
        print(export.export_hf(store, Path(r.hf), progress=r.progress))
    if r.parquet:
        print(export.export_hf(store, Path(r.parquet), True, progress=r.progress))
    return 0


def preview_command(run: str | None, synthetic: str | None, request: PreviewRequest) -> int:
    store_dir, record = locate(run, synthetic)
    store = SyntheticSet(store_dir)
    if run is None or record is None:
        raise ConfigError("bench synth preview needs --run RUN_DIR (for the real images).")
    r = request
    data = load_run_data(record, r.data_root, Path(run).resolve().parents[1])
    classes = parse_classes(r.classes, data.class_names) if r.classes else None
    print(export.preview(store, data, r.output, r.per_class, classes))
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


def locate(run: str | None, synthetic: str | None) -> tuple[Path, dict | None]:
    """The store directory (from `synthetic`, or from the record of the run in folder `run`)
    and that run's record (None without `run`)."""

    if run:
        record = load_run(Path(run))
        if not record["done"]:
            raise BenchError(f"{run} is not finished: finish the run first.")
        results = Path(run).resolve().parents[1]
        path = Path(synthetic) if synthetic else run_synthetic_set(record, results)
        return path, record
    if not synthetic:
        raise ConfigError("give --run RUN_DIR or --synthetic SET_DIR.")
    return Path(synthetic), None


def load_run_data(run: dict, data_root: str | None, results: Path):
    """The real images the run trained on (dataset option real_kept), loaded, checked and
    drawn as the runner does."""
    config = RunConfig.from_json(run["config"])
    return load_data(config, cache_dir(results), data_root_from_env(data_root))[0]
