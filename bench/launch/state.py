"""A sweep's own record: which job ran each unit, in `results/sweeps/<name>/state.json`.

Written atomically after every submitted stage, so a crash between two arrays loses nothing
already submitted; a lock stops two `bench sweep` processes from launching the same sweep.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.errors import BenchError
from bench.io import atomic_write_json, file_lock, inside, read_json


class SweepState:
    def __init__(self, results: Path, name: str):
        self.dir = inside(results, "sweeps", name)
        self.path = self.dir / "state.json"
        self.data: dict[str, Any] = {"name": name, "units": {}}
        if self.path.exists():
            self.data = read_state(self.path)

    @property
    def log_folder(self) -> Path:
        return inside(self.dir, "logs")

    def jobs(self, key: str) -> list[dict[str, Any]]:
        return self.data["units"].get(key, {}).get("jobs", [])

    def last_job(self, key: str) -> dict[str, Any] | None:
        jobs = self.jobs(key)
        return jobs[-1] if jobs else None

    def add_job(self, key: str, stage: str, job: dict[str, Any]) -> None:
        unit = self.data["units"].setdefault(key, {"stage": stage, "jobs": []})
        unit["jobs"].append({**job, "submitted": datetime.now(UTC).isoformat(timespec="seconds")})

    def set_job_state(self, key: str, state: str) -> None:
        """For launchers that know the outcome themselves (local, debug)."""
        self.jobs(key)[-1]["state"] = state

    def save(self) -> None:
        atomic_write_json(self.path, self.data)

    @contextmanager
    def lock(self) -> Iterator[None]:
        with file_lock(self.dir / ".lock", blocking=False) as got:
            if not got:
                raise BenchError(
                    f"another `bench sweep` is launching this sweep right now ({self.dir})."
                )
            yield


def read_state(path: Path) -> dict[str, Any]:
    """A sweep's state.json, checked to be one bench wrote; a BenchError naming it otherwise."""
    try:
        data = read_json(path)
    except (OSError, ValueError) as exc:
        problem = f"cannot be read ({type(exc).__name__}: {exc})"
    else:
        units = data.get("units") if isinstance(data, dict) else None
        if isinstance(units, dict) and all(
            isinstance(u, dict) and isinstance(u.get("jobs"), list) for u in units.values()
        ):
            return data
        problem = "is not a sweep state bench wrote (no units -> jobs mapping)"
    raise BenchError(
        f"{path} {problem}. Move it away to launch the sweep afresh (units already done on disk "
        "are not run again)."
    )
