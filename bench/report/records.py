"""Reading run records for reports: read-only, and a bad record is skipped, never counted.

A record is a finished run directory (`done` present) with `config.json` and `result.json`. One
that cannot be read (half-written or foreign JSON) or fails the record schema
(bench.runs.schema: no dataset, a non-numeric accuracy, a result of another run, ...) is skipped
with a warning naming the file; reports footnote how many were skipped. Smoke runs
(`"smoke": true` in config.json) are left out unless asked for.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.errors import BenchError

log = logging.getLogger(__name__)


@dataclass
class Loaded:
    records: list[dict[str, Any]] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (file, reason)
    smoke: int = 0  # smoke runs left out


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
    """Every valid finished run under `results`/runs; reads only, writes nothing."""
    out = Loaded()
    runs = check_results_dir(results) / "runs"
    if not runs.is_dir():
        return out
    for run_dir in sorted(runs.iterdir()):
        if not (run_dir / "done").exists():
            continue
        record, problem = read_record(run_dir)
        if problem:
            log.warning("skipping %s", problem[0] + ": " + problem[1])
            out.skipped.append(problem)
        elif is_smoke(record) and not include_smoke:
            out.smoke += 1
        else:
            out.records.append(record)
    return out


def is_smoke(record: dict[str, Any]) -> bool:
    return bool(record["config"].get("smoke", False))


def read_record(run_dir: Path) -> tuple[dict[str, Any], tuple[str, str] | None]:
    """A finished run's config and result, checked against the record schema
    (bench.runs.schema); otherwise the file and its problem."""
    from bench.runs.schema import config_problem, result_problem

    docs: dict[str, Any] = {}
    for name in ("config", "result"):
        path = run_dir / f"{name}.json"
        try:
            docs[name] = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}, (str(path), "missing")
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            return {}, (str(path), f"not readable JSON ({exc})")
        if name == "config":
            found = config_problem(docs[name])
        else:
            found = result_problem(docs[name], docs["config"])
        if found:
            return {}, (str(path), found)
    return {"dir": str(run_dir), **docs}, None
