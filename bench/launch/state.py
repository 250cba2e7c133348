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
from bench.io import atomic_write_json, file_lock, read_json


class SweepState:
    def __init__(self, results: Path, name: str):
        self.dir = Path(results) / "sweeps" / name
        self.path = self.dir / "state.json"
        self.data: dict[str, Any] = (
            read_json(self.path) if self.path.exists() else {"name": name, "units": {}}
        )

    @property
    def log_folder(self) -> Path:
        return self.dir / "logs"

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
