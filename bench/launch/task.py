"""The callable every job runs: one unit of work, checkpointable, with its failure on disk.

It carries the code version the sweep was submitted with and refuses, before any work, to run
under other code (bench.runs.records.code_version: a digest of bench's files, the git commit and
uncommitted changes).

On SLURM's time-limit or preemption signal submitit calls `checkpoint()`, which resubmits the
same unit (Checkpointable's default); the work itself resumes from what is on disk (the
classifier's per-epoch checkpoint, the synthetic set's finished shards), which is also what a
bare `scontrol requeue` without a signal relies on.
"""

from __future__ import annotations

import logging
import sys
import traceback
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import submitit

from bench.errors import BenchError
from bench.io import atomic_write_json
from bench.launch.units import Env, Unit, kind_of
from bench.runs.records import code_label, code_version

FAILURE_FILE = "failure.json"
TAIL_LINES = 40


class UnitTask(submitit.helpers.Checkpointable):
    def __init__(self, unit: Unit, env: Env, code: dict[str, Any], log: Path | None = None):
        self.unit = unit
        self.env = env
        self.code = code  # the code version the sweep was submitted with (records.code_version)
        self.log = log  # None on SLURM: the job's own stderr file

    def __call__(self) -> str:
        env = job_environment()
        log = self.log or (env.paths.stderr if env else None)
        try:
            check_code(getattr(self, "code", None))  # None: pickled by a bench that had no check
        except BenchError:
            log_traceback(self.unit, log, self.log is not None)
            raise
        kind = kind_of(self.unit)
        workdir = kind.workdir(self.unit, self.env)
        try:
            kind.execute(self.unit, self.env)
        except Exception as exc:
            log_traceback(self.unit, log, self.log is not None)
            record_failure(workdir, self.unit, exc, log, env.job_id if env else None)
            raise
        (workdir / FAILURE_FILE).unlink(missing_ok=True)
        return str(workdir)


def log_traceback(unit: Unit, log: Path | None, own_file: bool) -> None:
    """The exception being handled, into the job's log, so the failure record's log tail ends
    with it: appended to the task's own log file (local, debug), or written to stderr, which is
    the log on SLURM (submitit writes its own copy only after the task has returned)."""
    text = f"bench: unit {unit.key} failed:\n{traceback.format_exc()}"
    if own_file and log is not None:
        try:
            Path(log).parent.mkdir(parents=True, exist_ok=True)
            with open(log, "a", encoding="utf-8") as out:
                out.write(text)
        except OSError as exc:
            logging.getLogger("bench").error("cannot write %s: %s", log, exc)
    else:
        sys.stderr.write(text)
        sys.stderr.flush()


def check_code(submitted: dict[str, Any] | None) -> None:
    """Refuse to run other code than the sweep was submitted with (an edit, a commit, another
    checkout or install that this job imports bench from)."""
    running = code_version()
    if submitted is None or running["digest"] != submitted["digest"]:
        then = code_label(submitted) if submitted else "a bench that records no code version"
        raise BenchError(
            "this job would run other code than its sweep was submitted with, so it runs "
            f"nothing.\n  submitted with: {then}\n  this job has:   "
            f"{code_label(running)}\nA job imports the bench installed in the Python "
            "environment the sweep was submitted from; that code changed since, or PYTHONPATH "
            "puts another copy first. Resubmit with the code you mean: `bench sweep SPEC "
            "--retry-failed` from that environment."
        )


def job_environment() -> Any:
    """submitit's view of the job this runs in (None outside a submitit job)."""
    try:
        return submitit.JobEnvironment()
    except RuntimeError:
        return None


def record_failure(
    workdir: Path, unit: Unit, exc: BaseException, log: Path | None, job_id: str | None
) -> None:
    """The error, its traceback, the log path and the log's tail, in the unit's directory."""
    failure: dict[str, Any] = {
        "unit": unit.key,
        "error": f"{type(exc).__name__}: {exc}",
        "traceback": traceback.format_exc(),
        "job_id": job_id,
        "log": str(log) if log else None,
        "log_tail": tail(log) if log else [],
        "run_log_tail": tail(workdir / "log.txt"),
        "time": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    try:
        atomic_write_json(workdir / FAILURE_FILE, failure)
    except OSError as write_error:  # e.g. the cause of the failure is the directory itself
        logging.getLogger("bench").error("cannot write %s: %s", workdir / FAILURE_FILE, write_error)


def tail(path: Path, lines: int = TAIL_LINES) -> list[str]:
    try:
        return Path(path).read_text(encoding="utf-8", errors="replace").splitlines()[-lines:]
    except OSError:
        return []
