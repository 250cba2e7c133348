"""`bench data check | download | prepare | preview` (bench/cli.py reads the arguments)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from bench.data import LoadedDataset, preview
from bench.data.check import check, format_report, options_from_sets
from bench.data.fingerprint import load_dataset
from bench.datasets import DATASETS
from bench.errors import DataError


@dataclass(frozen=True)
class CheckRequest:
    """`bench data check`: what to check and how to print it."""

    dataset: str
    root: Path | None
    sets: tuple[str, ...] = ()
    strict: bool = False
    decode: bool = True
    progress: bool = True
    as_json: bool = False


@dataclass(frozen=True)
class PreviewRequest:
    """`bench data preview`: the dataset (with its `sets`) above each of `compare`."""

    dataset: str
    root: Path | None
    output: Path
    sets: tuple[str, ...] = ()
    compare: tuple[str, ...] = ()
    per_class: int = 8
    split: str = "train"


def fetch_command(action: str, dataset: str, root: Path | None, sets: tuple[str, ...]) -> int:
    """`bench data download | prepare` (into `root`)."""
    if root is None:
        raise DataError(f"bench data {action}: pass --root DIR or set BENCH_DATA_ROOT.")
    cls = DATASETS[dataset]
    adapter = cls(options_from_sets(cls.Options, sets, dataset), root)
    if action == "download":
        adapter.download()
        print(
            f"downloaded {dataset} into {root}; now run: bench data check "
            f"--dataset {dataset} --root {root}"
        )
    else:
        for path in adapter.prepare():
            print(path)
    return 0


def preview_command(request: PreviewRequest) -> int:
    """`bench data preview`: the dataset (with its --set options) above each --compare one."""
    r = request

    def load(name: str, sets: tuple[str, ...]) -> LoadedDataset:
        cls = DATASETS[name]
        return load_dataset(cls(options_from_sets(cls.Options, sets, name), r.root))

    loaded = [
        load(name, sets) for name, sets in [(r.dataset, r.sets), *((c, ()) for c in r.compare)]
    ]
    for data in loaded:
        if r.split not in data.splits:
            raise DataError(
                f"{data.name} has no split {r.split!r} (it has {', '.join(data.splits)})."
            )
    print(preview.compare(loaded, r.output, r.per_class, split=r.split))
    return 0


def check_command(request: CheckRequest) -> int:
    """Print the report (text or JSON); any error makes it a DataError (exit status 2)."""
    r = request
    report = check(r.dataset, r.root, r.sets, r.strict, r.decode, progress=r.progress)
    print(json.dumps(report, indent=2, default=str) if r.as_json else format_report(report))
    if report["errors"]:
        hint = DATASETS[r.dataset].download_hint
        raise DataError(f"{r.dataset}: the check found {len(report['errors'])} error(s). {hint}")
    return 0
