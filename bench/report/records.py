"""Reading run records for reports: read-only, and a bad record is skipped, never counted.

A record is a finished run directory (`done` present) with `config.json` and `result.json`. One
that cannot be read (half-written or foreign JSON) or fails validation (no dataset, a
non-numeric accuracy, ...) is skipped with a warning naming the file; reports footnote how many
were skipped. Smoke runs (`"smoke": true` in config.json) are left out unless asked for.
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.errors import BenchError

log = logging.getLogger(__name__)

ACCURACY_KEYS = ("overall", "many", "medium", "few")


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
    docs = {}
    for name in ("config", "result"):
        path = run_dir / f"{name}.json"
        try:
            docs[name] = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}, (str(path), "missing")
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            return {}, (str(path), f"not readable JSON ({exc})")
        problem = (validate_config if name == "config" else validate_result)(docs[name])
        if problem:
            return {}, (str(path), problem)
    return {"dir": str(run_dir), **docs}, None


def validate_config(cfg: Any) -> str | None:
    if not isinstance(cfg, dict):
        return "not a bench config (a JSON object is expected)"
    for key in ("method", "dataset"):
        if not isinstance(cfg.get(key), str) or not cfg[key]:
            return f"no {key!r} name"
    seed = cfg.get("seed")
    if not isinstance(seed, int) or isinstance(seed, bool):
        return f"seed {seed!r} is not an integer"
    for key in ("hparams", "data", "recipe"):
        if not isinstance(cfg.get(key, {}), dict):
            return f"{key!r} is not a mapping"
    return None


def validate_result(result: Any) -> str | None:
    test = result.get("metrics", {}).get("test") if isinstance(result, dict) else None
    if not isinstance(test, dict):
        return "no metrics.test section (not a bench result)"
    for key in ACCURACY_KEYS:
        value = test.get(key)
        if key == "overall" or value is not None:
            if isinstance(value, bool) or not isinstance(value, int | float):
                return f"metrics.test.{key} = {value!r} is not a number"
            if math.isfinite(value) and not 0.0 <= value <= 1.0:
                return f"metrics.test.{key} = {value!r} is not an accuracy in [0, 1]"
    return None
