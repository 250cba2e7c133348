"""Launchers: how a stage's units become jobs. One interface, a registry line each.

- `slurm`: one submitit job array per stage (`AutoExecutor`), capped by the profile's
  array_parallelism, waiting on earlier arrays through `afterok`; returns at once.
- `local`: processes on this machine, at most `concurrency` at a time, stage after stage.
- `debug`: every unit in this process, one after the other (for tests and pdb).

`local` and `debug` wait for their units and record each outcome; SLURM states come from its
accounting (sacct) when asked. No user string ever goes through a shell: sbatch and scancel get
argument lists, and profile strings are checked before submitit writes them into a script.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import shlex
import shutil
import subprocess
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import submitit

from bench.errors import BenchError, ConfigError
from bench.launch.profiles import load_profile
from bench.launch.task import UnitTask
from bench.registry import Registry

log = logging.getLogger("bench")

LAUNCHERS = Registry(
    "launcher",
    {
        "slurm": "bench.launch.launchers:SlurmLauncher",
        "local": "bench.launch.launchers:LocalLauncher",
        "debug": "bench.launch.launchers:DebugLauncher",
    },
)

ACTIVE = {
    "PENDING", "RUNNING", "REQUEUED", "COMPLETING", "CONFIGURING", "RESIZING", "SUSPENDED",
    "REQUEUE_HOLD", "REQUEUE_FED", "PREEMPTED", "SIGNALING", "STAGE_OUT", "READY", "UNKNOWN",
}  # fmt: skip
FAILED = {"FAILED", "TIMEOUT", "OUT_OF_MEMORY", "NODE_FAIL", "BOOT_FAIL", "DEADLINE", "COMPLETED"}


def classify(state: str) -> str:
    """A scheduler state as pending / running / failed / cancelled, for a unit not done on disk
    (so a COMPLETED job whose unit has no `done` marker counts as failed)."""
    state = state.split()[0].upper() if state else "UNKNOWN"
    if state == "RUNNING" or state == "COMPLETING":
        return "running"
    if state in ACTIVE:
        return "pending"
    if state.startswith("CANCELLED"):
        return "cancelled"
    return "failed"


class Launcher:
    name = ""
    waits = True  # returns only when its units have finished

    def __init__(self, log_folder: Path, options: dict[str, Any]):
        self.log_folder = Path(log_folder)
        self.options = options

    def check(self, stages: list[str]) -> None:
        """Everything that can fail before a job is submitted."""

    def submit(self, stage: str, tasks: list[UnitTask], after: list[str]) -> list[dict[str, Any]]:
        """Start (or queue) one stage's tasks after the jobs `after`; one job record per task."""
        raise NotImplementedError

    def states(self, jobs: list[dict[str, Any]]) -> list[str]:
        """The scheduler state of each job record (from the record for waiting launchers)."""
        return [job.get("state", "UNKNOWN") for job in jobs]

    def cancel(self, jobs: list[dict[str, Any]]) -> None:
        raise BenchError(f"the {self.name} launcher runs in the foreground: press Ctrl-C.")


class DebugLauncher(Launcher):
    name = "debug"

    def submit(self, stage: str, tasks: list[UnitTask], after: list[str]) -> list[dict[str, Any]]:
        records = []
        for i, task in enumerate(tasks):
            path = self.log_folder / f"debug-{stage}-{i}.log"
            path.unlink(missing_ok=True)  # an earlier launch's: this task's failure goes there
            task.log = path
            try:
                task()
                state = "COMPLETED"
            except Exception as exc:  # the task wrote its traceback to its log
                log.error("%s failed: %s (see %s)", task.unit.key, exc, path)
                state = "FAILED"
            records.append({"id": f"debug-{stage}-{i}", "log": str(path), "state": state})
        return records


def run_logged(task: UnitTask, path: str) -> None:
    """Run a task in a worker process with its stdout and stderr going to `path`."""
    with open(path, "a", encoding="utf-8") as out:
        os.dup2(out.fileno(), 1)
        os.dup2(out.fileno(), 2)
        sys.stdout = sys.stderr = open(path, "a", buffering=1, encoding="utf-8")  # noqa: SIM115
        logging.basicConfig(level=logging.INFO, stream=sys.stderr, force=True)
        task()


class LocalLauncher(Launcher):
    name = "local"

    def submit(self, stage: str, tasks: list[UnitTask], after: list[str]) -> list[dict[str, Any]]:
        self.log_folder.mkdir(parents=True, exist_ok=True)
        paths = []
        for i, task in enumerate(tasks):
            paths.append(self.log_folder / f"local-{stage}-{os.getpid()}-{i}.log")
            task.log = paths[-1]
        workers = min(int(self.options.get("concurrency") or 1), len(tasks))
        context = multiprocessing.get_context("spawn")  # fresh interpreters: no forked torch
        with ProcessPoolExecutor(workers, mp_context=context, max_tasks_per_child=1) as pool:
            futures = [
                pool.submit(run_logged, t, str(p)) for t, p in zip(tasks, paths, strict=True)
            ]
            records = []
            for task, path, future in zip(tasks, paths, futures, strict=True):
                try:
                    future.result()
                    state = "COMPLETED"
                except Exception as exc:
                    log.error("%s failed: %s (log: %s)", task.unit.key, exc, path)
                    state = "FAILED"
                records.append({"id": f"local-{path.stem}", "log": str(path), "state": state})
        return records


class SlurmLauncher(Launcher):
    name = "slurm"
    waits = False

    def __init__(self, log_folder: Path, options: dict[str, Any]):
        super().__init__(log_folder, options)

        self.profile = load_profile(options.get("profile") or "local", options.get("sets", ()))

    def check(self, stages: list[str]) -> None:
        sbatch = shutil.which("sbatch")
        if sbatch is None:
            raise BenchError(
                "sbatch is not on PATH: this machine cannot submit SLURM jobs. Run the sweep "
                "from a SLURM login node, use --launcher local, or start a local cluster with "
                "slurm/local/start."
            )
        tried: set[tuple[str, ...]] = set()
        for stage in stages:
            opts = tuple(self.profile.stages[stage].sbatch_options())
            if opts in tried:
                continue
            tried.add(opts)
            out = subprocess.run(
                [sbatch, "--test-only", *opts],
                input="#!/bin/sh\ntrue\n",
                capture_output=True,
                text=True,
                timeout=60,
            )
            if out.returncode != 0:
                raise ConfigError(
                    f"SLURM rejects the {stage} stage's request of profile "
                    f"{self.profile.name!r} ({' '.join(opts)}): {out.stderr.strip()}; nothing "
                    "was submitted."
                )

    def executor(self, stage: str, after: list[str]) -> Any:
        resources = self.profile.stages[stage]
        # `python -P`: `-m submitit.core._submit` would put the job's working directory (where
        # the sweep was submitted from) first on sys.path, so a `bench/` folder there would be
        # imported instead of the installed package (an editable install is its checkout).
        executor = submitit.AutoExecutor(
            folder=self.log_folder,
            cluster="slurm",
            slurm_max_num_timeout=resources.max_requeues,
            slurm_python=f"{shlex.quote(sys.executable)} -P",
        )
        # a failed dependency cancels what waits on it; a requeued task appends to its log
        extra: dict[str, str] = {"kill_on_invalid_dep": "yes", "open_mode": "append"}
        if after:
            extra["dependency"] = "afterok:" + ":".join(after)
        executor.update_parameters(
            name=f"bench-{stage}",
            slurm_additional_parameters=extra,
            **resources.executor_parameters(),
        )
        return executor

    def submit(self, stage: str, tasks: list[UnitTask], after: list[str]) -> list[dict[str, Any]]:
        jobs = self.executor(stage, after).submit_array(tasks)
        return [{"id": job.job_id, "log": str(job.paths.stderr)} for job in jobs]

    def states(self, jobs: list[dict[str, Any]]) -> list[str]:
        handles = [submitit.SlurmJob(self.log_folder, job["id"]) for job in jobs]
        if not handles:
            return []
        handles[0].get_info(mode="force")  # one sacct call for every registered job
        return [h.get_info(mode="cache").get("State") or "UNKNOWN" for h in handles]

    def cancel(self, jobs: list[dict[str, Any]]) -> None:
        if jobs:
            subprocess.run(["scancel", *[job["id"] for job in jobs]], check=True, timeout=60)
