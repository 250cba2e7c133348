"""Launching, watching and steering a sweep.

launch: spec -> resolved runs -> plan (units by stage) -> what still needs a job -> checks
(sbatch, partitions) -> one submission per stage, each recorded in the sweep's state file
before the next. A unit is submitted when it is not done on disk and has no job pending or
running; a unit whose last job failed waits for `--retry-failed` (so a bug does not burn the
cluster twice), and so does every unit that waits on it (a job waiting `afterok` on a failed
job would only be cancelled by SLURM); everything that depends on a unit being submitted is
submitted with it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.errors import BenchError
from bench.io import read_json
from bench.launch.launchers import LAUNCHERS, Launcher, classify
from bench.launch.spec import MAX_RUNS, SweepSpec, load_spec
from bench.launch.state import SweepState
from bench.launch.task import FAILURE_FILE, UnitTask, tail
from bench.launch.units import Env, Plan, Planning, Unit, kind_of, plan
from bench.runs.preflight import preflight
from bench.runs.records import code_version

log = logging.getLogger("bench")
COLUMNS = ("done", "pending", "running", "failed", "cancelled", "not submitted")


@dataclass
class Sweep:
    spec: SweepSpec
    plan: Plan
    env: Env
    state: SweepState
    launcher: Launcher

    def status(self) -> dict[str, str]:
        """Every unit's status: done (on disk), pending / running / failed / cancelled (its
        last job, from the scheduler), or not submitted."""
        out: dict[str, str] = {}
        jobs: dict[str, dict[str, Any]] = {}
        for key, unit in self.plan.units.items():
            if kind_of(unit).is_done(unit, self.env):
                out[key] = "done"
            elif lost := kind_of(unit).lost(unit, self.env):
                log.warning(
                    "%s: %s, but `done` says it finished: relaunch to recompute it", key, lost
                )
                out[key] = "not submitted"
            elif (job := self.state.last_job(key)) is None:
                out[key] = "not submitted"
            else:
                jobs[key] = job
        for name in {job.get("launcher", self.launcher.name) for job in jobs.values()}:
            keys = [k for k, job in jobs.items() if job.get("launcher", self.launcher.name) == name]
            states = self.launcher_named(name).states([jobs[k] for k in keys])
            out.update({key: classify(s) for key, s in zip(keys, states, strict=True)})
        return out

    def launcher_named(self, name: str) -> Launcher:
        """The launcher that ran a job (a sweep may have been launched with several)."""
        if name == self.launcher.name:
            return self.launcher
        return LAUNCHERS[name](self.state.log_folder, self.launcher.options)


# How a launch counts the units it holds back because they wait on a failed unit.
HELD = "waiting on a failure"
# Lines of a failed unit's log shown by the failure report.
REPORT_TAIL = 8


@dataclass
class Submitted:
    per_stage: dict[str, int] = field(default_factory=dict)
    skipped: dict[str, int] = field(default_factory=dict)  # status (or HELD) -> units left alone
    status: dict[str, str] = field(default_factory=dict)  # every unit's, as the launch began
    held: list[str] = field(default_factory=list)  # not submitted: they wait on a failed unit


def open_sweep(
    spec_path: str | Path,
    launcher: str,
    options: dict[str, Any],
    run_sets: tuple[str, ...],
    env: Env,
    check_weights: bool = True,
) -> Sweep:
    """The sweep of a spec: its runs resolved, their pretrained weights checked (unless
    `check_weights` is False: --status and --cancel need none), the units planned.
    `options["smoke"]`: every run, and so every dependency, generator fit and synthesis task
    planned for it, resolved as `bench run --smoke` resolves it (recorded as smoke runs)."""
    spec = load_spec(spec_path)
    max_runs = options.get("max_runs") or MAX_RUNS
    configs = spec.configs(run_sets, max_runs, smoke=bool(options.get("smoke")))
    if check_weights:
        preflight(configs)  # before planning reads any data
    state = SweepState(env.results, spec.name)
    instance = LAUNCHERS[launcher](state.log_folder, options)
    return Sweep(
        spec,
        plan(configs, Planning(env, spec.shards_per_task, spec.classes_per_task)),
        env,
        state,
        instance,
    )


def choose(plan: Plan, status: dict[str, str], retry_failed: bool) -> tuple[set[str], set[str]]:
    """The units a launch submits, and those it holds back because they wait (directly or
    through others) on a failed unit: they would be doomed, SLURM cancelling them at once.
    With `retry_failed` the failed units are submitted again, and so is what waits on them."""
    wanted = {"not submitted", "cancelled"} | ({"failed"} if retry_failed else set())
    chosen = {k for k, s in status.items() if s in wanted}
    chosen |= {k for k in plan.dependents(chosen) if status[k] != "done"}
    if retry_failed:
        return chosen, set()
    doomed = plan.dependents({k for k, s in status.items() if s == "failed"})
    return chosen - doomed, chosen & doomed


def launch(sweep: Sweep, retry_failed: bool = False, dry_run: bool = False) -> Submitted:
    """Submit what is not done (a dry run writes nothing, not even the sweep's lock)."""
    with nullcontext() if dry_run else sweep.state.lock():
        status = sweep.status()
        chosen, held = choose(sweep.plan, status, retry_failed)
        result = Submitted(status=dict(status), held=sorted(held))
        for key, s in status.items():
            if key not in chosen:
                label = HELD if key in held else s
                result.skipped[label] = result.skipped.get(label, 0) + 1
        stages = [(st, [u for u in units if u.key in chosen]) for st, units in sweep.plan.stages()]
        stages = [(st, units) for st, units in stages if units]
        if dry_run or not stages:
            result.per_stage = {st: len(units) for st, units in stages}
            return result
        sweep.launcher.check([st for st, _ in stages])
        for stage, units in stages:
            submit_stage(sweep, stage, units, status)
            result.per_stage[stage] = len(units)
        return result


def submit_stage(sweep: Sweep, stage: str, units: list[Unit], status: dict[str, str]) -> None:
    """One submission for a stage, after the jobs of its dependencies that are not done.

    A launcher that waits (local, debug) already knows which dependencies failed: the units
    waiting on them are recorded cancelled without running, as SLURM's `afterok` with
    `--kill-on-invalid-dep` does, and are submitted again by the next launch.
    """
    blocked = []
    if sweep.launcher.waits:
        broken = {"failed", "cancelled"}
        blocked = [u for u in units if any(status.get(d) in broken for d in u.deps)]
        units = [u for u in units if u not in blocked]
    for unit in blocked:
        failed = [d for d in unit.deps if status.get(d) in ("failed", "cancelled")]
        log.error("%s not run: it waits on %s, which did not finish", unit.key, ", ".join(failed))
        record = {"id": f"{sweep.launcher.name}-{stage}-never-run", "log": None}
        record.update(state="CANCELLED (dependency)", launcher=sweep.launcher.name)
        sweep.state.add_job(unit.key, stage, record)
        status[unit.key] = "cancelled"
    after = sorted(
        {
            sweep.state.last_job(dep)["id"]
            for unit in units
            for dep in unit.deps
            if status.get(dep) != "done" and sweep.state.last_job(dep)
        }
    )
    records = []
    code = code_version()
    if units:
        tasks = [UnitTask(unit, sweep.env, code) for unit in units]
        records = sweep.launcher.submit(stage, tasks, after)
        sweep.state.data["code"] = code  # the version of the latest submission
    for unit, record in zip(units, records, strict=True):
        job = {**record, "launcher": sweep.launcher.name, "code": code["digest"]}
        sweep.state.add_job(unit.key, stage, job)
        state = record.get("state", "PENDING")
        finished = state == "COMPLETED" and kind_of(unit).is_done(unit, sweep.env)
        status[unit.key] = "done" if finished else classify(state)
    sweep.state.save()
    log.info("%s: %d unit(s) -> %s", stage, len(units), ", ".join(r["id"] for r in records[:3]))


def cancel(sweep: Sweep) -> int:
    """Cancel every pending or running job of the sweep; returns how many."""
    status = sweep.status()
    active = [sweep.state.last_job(k) for k, s in status.items() if s in ("pending", "running")]
    sweep.launcher.cancel([job for job in active if job])
    return len(active)


def wait(sweep: Sweep, poll_s: float = 5.0, timeout_s: float | None = None) -> dict[str, str]:
    """Poll until no unit is pending or running (SLURM); returns the final statuses."""
    start = time.time()
    while True:
        status = sweep.status()
        if not any(s in ("pending", "running") for s in status.values()):
            return status
        if timeout_s is not None and time.time() - start > timeout_s:
            raise BenchError(f"sweep {sweep.spec.name} still has jobs after {timeout_s:.0f} s.")
        time.sleep(poll_s)


def status_table(sweep: Sweep, status: dict[str, str], held: Sequence[str] = ()) -> str:
    """Per stage counts, then every failed unit with its job, log and failure record (and
    `held`, the units a launch held back because they wait on one)."""
    lines = [f"sweep {sweep.spec.name}: {len(status)} unit(s), state {sweep.state.path}"]
    header = f"{'stage':<12}{'units':>6}" + "".join(f"{c:>15}" for c in COLUMNS)
    lines.append(header)
    for stage, units in sweep.plan.stages():
        counts = [sum(status[u.key] == c for u in units) for c in COLUMNS]
        lines.append(f"{stage:<12}{len(units):>6}" + "".join(f"{n:>15}" for n in counts))
    report = failure_report(sweep, status, held)
    return "\n".join(lines + ([report] if report else []))


def failure_report(sweep: Sweep, status: dict[str, str], held: Sequence[str] = ()) -> str:
    """Every failed unit: its job, its log, its error and the end of its log (from its failure
    record, or from the job's log when the job died without writing one); then the units held
    back because they wait on one. Empty when nothing failed."""
    failed = [u for u in sweep.plan.units.values() if status.get(u.key) == "failed"]
    if not failed:
        return ""
    lines = [f"failed: {len(failed)} unit(s) (rerun with --retry-failed once the cause is fixed):"]
    for unit in failed:
        lines += failed_unit_lines(sweep, unit)
    if held:
        lines.append(
            f"not submitted: {len(held)} unit(s) wait on these failures (SLURM would cancel "
            f"them at once): {', '.join(held[:5])}" + (" ..." if len(held) > 5 else "")
        )
    return "\n".join(lines)


def failed_unit_lines(sweep: Sweep, unit: Unit) -> list[str]:
    job = sweep.state.last_job(unit.key) or {}
    lines = [f"  {unit.key}  job {job.get('id')}  log {job.get('log')}"]
    path = kind_of(unit).workdir(unit, sweep.env) / FAILURE_FILE
    record = read_failure(path)
    if record is not None and record.get("job_id") in (None, job.get("id")):
        lines += [f"    error: {record.get('error')}", f"    error record: {path}"]
        log_tail = list(record.get("log_tail") or [])
    else:  # killed (memory, time limit, node), or refused before its work began
        lines.append(
            "    no error record from this job (killed, out of memory or time, or it refused "
            "to start); its log ends:"
        )
        log_tail = tail(Path(job["log"])) if job.get("log") else []
    lines += [f"    | {line}" for line in log_tail[-REPORT_TAIL:]] or ["    (its log is empty)"]
    return lines


def read_failure(path: Path) -> dict[str, Any] | None:
    """A unit's failure record, or None when there is none (or it cannot be read)."""
    try:
        record = read_json(path)
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) else None
