"""Reading run records for reports: read-only, and a bad record is skipped, never counted.

A record is a finished run directory (`done` present) with `config.json` and `result.json`. One
that cannot be read (half-written or foreign JSON) or fails the record schema
(bench.runs.schema: no dataset, a non-numeric accuracy, a result of another run, ...) is skipped
with a warning naming the file; reports footnote how many were skipped. Smoke runs
(`"smoke": true` in config.json) are left out unless asked for.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.errors import BenchError
from bench.io import stable_hash
from bench.runs.records import finished_runs

log = logging.getLogger(__name__)


@dataclass
class Loaded:
    records: list[dict[str, Any]] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (file, reason)
    smoke: int = 0  # smoke runs left out
    # records of one config and seed found twice (a copied run folder): (counted, left out)
    duplicates: list[tuple[str, str]] = field(default_factory=list)


def check_results_dir(results: Path) -> Path:
    results = Path(results)
    if results.is_file():
        raise BenchError(
            f"--results {results} is a file; pass the results directory (the one holding runs/)."
        )
    if not results.is_dir():
        raise BenchError(
            f"--results {results} does not exist; pass the directory `bench run --results` "
            "wrote to (default: results)."
        )
    return results


def load_records(results: Path, include_smoke: bool = False) -> Loaded:
    """Every valid finished run under `results`/runs (bench.runs.records.finished_runs, invalid
    ones skipped and listed); reads only, writes nothing."""

    out = Loaded()
    kept: dict[str, dict[str, Any]] = {}
    for record in finished_runs(check_results_dir(results), skipped=out.skipped):
        if is_smoke(record) and not include_smoke:
            out.smoke += 1
            continue
        key = stable_hash({k: v for k, v in record["config"].items() if k not in NOT_IDENTITY})
        first = kept.setdefault(key, record)
        if first is not record:  # count the one in the folder its config names, else the first
            if own_folder(record) and not own_folder(first):
                kept[key], (first, record) = record, (record, first)
            out.duplicates.append((first["dir"], record["dir"]))
            log.warning(
                "%s and %s hold one config and seed: counting the first", *out.duplicates[-1]
            )
    out.records = list(kept.values())
    return out


# Fields of a config.json that do not tell two experiments apart.
NOT_IDENTITY = ("sources", "run_id", "data_root")


def own_folder(record: dict[str, Any]) -> bool:
    """Whether a record lies in the folder its config names (<method>-<dataset>-s<seed>-<id>)."""
    cfg = record["config"]
    smoke = "-smoke" if cfg.get("smoke") else ""
    name = f"{cfg['method']}-{cfg['dataset']}-s{cfg['seed']}{smoke}-{cfg.get('run_id')}"
    return Path(record["dir"]).name == name


def duplicate_notes(duplicates: list[tuple[str, str]]) -> list[str]:
    """The report's note naming every duplicate record and the one counted instead."""
    return [
        f"{left_out} holds the same config and seed as {counted}: one record of a run counts "
        "once, so only the latter is counted (remove the copy, or rerun it under another seed)."
        for counted, left_out in duplicates
    ]


def is_smoke(record: dict[str, Any]) -> bool:
    return bool(record["config"].get("smoke", False))
