"""Run directories: self-describing, atomic, safe to relaunch.

    results/runs/<method>-<dataset>-s<seed>-<hash>/
      config.json     the resolved config (+ where every value came from)
      metrics.jsonl   one line per epoch, appended as training goes
      result.json     final metrics, seed, versions, code (git commit, uncommitted changes),
                      host, device, stage timings
      log.txt         the run's log
      model_best.pt, model_last.pt
      done            written last; a directory without it is an unfinished run

A finished run is never touched again. An unfinished one (killed, preempted) resumes from its
last finished epoch; a checkpoint that cannot be resumed is moved to `attempts/`, never deleted.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import json
import logging
import platform
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from bench.errors import BenchError
from bench.io import (
    atomic_write_json,
    atomic_write_text,
    file_digest,
    file_lock,
    inside,
    read_json,
    read_jsonl,
    set_aside,
    stable_hash,
    tree_digests,
)
from bench.runs.config import RunConfig, run_command
from bench.runs.schema import config_problem, result_problem

PACKAGES = (
    "torch",
    "torchvision",
    "numpy",
    "diffusers",
    "transformers",
    "timm",
    "scikit-learn",
    "torch-fidelity",
    "submitit",
)


def run_dir_for(results: Path, config: RunConfig) -> Path:
    """results/runs/<run name>, checked to stay under `results` (no planted link in its place)."""
    return inside(results, "runs", config.run_name)


def cache_dir(results: Path) -> Path:
    """results/cache (generators, synthetic sets, data checks, features), checked as run_dir_for."""
    return inside(results, "cache")


def is_done(run_dir: Path) -> bool:
    """A finished run: `done` written and both records present and valid (read_finished)."""
    return (Path(run_dir) / "done").exists() and finished_problem(run_dir) is None


class RunRecord:
    """Writes one run's directory; every file is replaced atomically or appended line by line."""

    def __init__(self, run_dir: Path, config: RunConfig):
        self.dir = Path(run_dir)
        self.config = config
        self.timings: dict[str, float] = {}
        self.started = time.time()
        self.info: dict[str, Any] = {}

    def open(self) -> None:
        """Create the directory, or check that an existing one belongs to the same config. A
        run marked `done` whose result is lost (missing, truncated, failing the schema) is
        recomputed: its result.json and `done` are moved to attempts/, never deleted."""

        self.dir.mkdir(parents=True, exist_ok=True)
        config_path = self.dir / "config.json"
        if config_path.exists():
            stored = RunConfig.from_json(read_record(config_path, "config"))
            if stored.identity() != self.config.identity():
                raise BenchError(
                    f"{self.dir} holds a run of another config (see its config.json). Move it "
                    "away or pass another --results directory; nothing was changed."
                )
        lost = finished_problem(self.dir)
        if lost is not None:
            logging.getLogger("bench").warning(
                "%s %s, but `done` says the run finished: recomputing it (the old files are "
                "kept in %s)",
                lost.path,
                lost.problem,
                self.dir / "attempts",
            )
            for name in ("result.json", "done"):
                if (self.dir / name).exists() or (self.dir / name).is_symlink():
                    set_aside(self.dir / name)
        record = self.config.to_json()
        found = config_problem(record)
        if found:
            raise BenchError(f"refusing to write {config_path}: {found}.")
        atomic_write_json(config_path, record)

    @contextmanager
    def timed(self, name: str) -> Iterator[None]:
        """Time a step of the run (fit-generator, synthesise, train-classifier, evaluate): its
        wall seconds go into result.json's timings."""
        start = time.time()
        logging.getLogger("bench").info("step %s ...", name)
        try:
            yield
        finally:
            self.timings[name] = round(time.time() - start, 3)

    def write_epochs(self, rows: list[dict[str, Any]]) -> None:
        """Rewrite metrics.jsonl from the training history (consistent with the checkpoint)."""
        text = "".join(json.dumps(row, sort_keys=True) + "\n" for row in rows)
        atomic_write_text(self.dir / "metrics.jsonl", text)

    def finish(self, metrics: dict[str, Any], device: str) -> dict[str, Any]:
        """Write result.json, then `done` (last, so `done` implies a complete record)."""
        self.timings["total"] = round(time.time() - self.started, 3)
        result = {
            "run_id": self.config.run_id,
            "method": self.config.method,
            "dataset": self.config.dataset,
            "seed": self.config.seed,
            "metrics": metrics,
            "timings": self.timings,
            "info": self.info,
            "environment": environment(device),
            "finished": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        write_result(self.dir, result, self.config.to_json())
        atomic_write_json(self.dir / "done", {"finished": result["finished"]})
        return result


@contextmanager
def run_lock(run_dir: Path) -> Iterator[None]:
    """Only one process works on a run directory at a time (e.g. a duplicated SLURM task)."""
    with file_lock(Path(run_dir) / ".lock", blocking=False) as got:
        if not got:
            raise BenchError(f"{run_dir} is being run by another process right now.")
        yield


def environment(device: str) -> dict[str, Any]:
    """Versions, code, host and device: what a reader needs to reproduce the run."""
    code = code_version()
    return {
        "python": sys.version.split()[0],
        "packages": package_versions(),
        "git": {key: code[key] for key in ("commit", "dirty", "changes")},
        "code": {key: code[key] for key in ("digest", "path")},
        "host": socket.gethostname(),
        "platform": platform.platform(),
        "device": device_description(device),
        "argv": sys.argv,
    }


def package_versions() -> dict[str, str | None]:
    out: dict[str, str | None] = {"bench": package_version("bench")}
    out.update({name: package_version(name) for name in PACKAGES})
    return out


def package_version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


# The packages bench installs as (pyproject.toml's package-dir): in a checkout, the folders
# bench/, methods/ and datasets/; installed from a wheel, bench/ with the other two inside it.
CODE_PACKAGES = ("bench", "bench.methods", "bench.datasets")


@functools.cache
def code_folders() -> dict[str, Path]:
    """Where this process imports each of CODE_PACKAGES from (without importing the two
    subpackages: only their locations are looked up)."""
    out = {}
    for name in CODE_PACKAGES:
        spec = importlib.util.find_spec(name)
        if spec is None or not spec.submodule_search_locations:
            raise BenchError(f"package {name} cannot be found: is bench installed?")
        out[name] = Path(next(iter(spec.submodule_search_locations))).resolve()
    return out


@functools.cache
def code_version() -> dict[str, Any]:
    """The code this process runs, computed once (a process runs what it imported).

    digest: of every file of bench's packages (by module path, so a checkout and a wheel of
    the same code agree; no git needed). path: the `bench` package's folder. commit: HEAD of
    the git checkout holding it (None outside one). changes: a digest of its uncommitted
    changes to those packages (`git diff HEAD` of tracked files and the untracked files'
    contents), None when there are none; dirty: whether there are."""
    folders = code_folders()
    files = {}
    for name, folder in folders.items():
        for rel, digest in tree_digests(folder).items():
            if "__pycache__" not in rel.split("/"):
                files[f"{name.replace('.', '/')}/{rel}"] = digest
    return {
        "digest": stable_hash(files, 16),
        "path": str(folders["bench"]),
        **git_state(list(folders.values())),
    }


def git_state(folders: list[Path]) -> dict[str, Any]:
    """The commit of the checkout holding `folders` and a digest of their uncommitted changes."""

    def git(*args: str) -> bytes | None:
        try:
            out = subprocess.run(
                ["git", "-C", str(folders[0]), *args], capture_output=True, timeout=30, check=True
            )
        except (OSError, subprocess.SubprocessError):
            return None
        return out.stdout

    commit = git("rev-parse", "HEAD")
    if commit is None or git("check-ignore", "-q", str(folders[0])) is not None:
        # not in a checkout, or installed into an ignored folder of one (a venv inside it)
        return {"commit": None, "dirty": None, "changes": None}
    paths = ["--", *(str(f) for f in folders)]
    diff = git("diff", "HEAD", "--binary", *paths) or b""
    untracked = (
        git("ls-files", "-z", "--others", "--exclude-standard", "--full-name", *paths) or b""
    )
    root = Path((git("rev-parse", "--show-toplevel") or b"").decode().strip())
    new = {name: file_digest(root / name) for name in untracked.decode().split("\0") if name}
    changes = None
    if diff or new:
        changes = stable_hash({"diff": hashlib.sha256(diff).hexdigest(), "untracked": new}, 16)
    return {"commit": commit.decode().strip(), "dirty": changes is not None, "changes": changes}


def code_label(code: dict[str, Any]) -> str:
    """A code version for people: its commit and uncommitted changes, digest and folder."""
    if code.get("commit"):
        what = f"commit {code['commit'][:12]}"
        what += f" + uncommitted changes {code['changes']}" if code.get("changes") else ""
    else:
        what = "no git checkout"
    return f"{what} (code digest {code.get('digest')}, bench at {code.get('path')})"


def device_description(device: str) -> dict[str, Any]:
    # torch: heavy, imported where used (off the start-up path)
    import torch

    out: dict[str, Any] = {"name": device, "torch_threads": torch.get_num_threads()}
    if device.startswith("cuda") and torch.cuda.is_available():
        out["gpu"] = torch.cuda.get_device_name(torch.device(device))
        out["cuda"] = torch.version.cuda
    return out


class InvalidRecord(BenchError):
    """A run record (config.json or result.json) that is missing, cannot be read or fails the
    record schema: `path` and `problem` say which and why."""

    def __init__(self, path: Path, problem: str, description: str):
        super().__init__(f"{description}. {RECORD_FIX}")
        self.path, self.problem, self.description = Path(path), problem, description


RECORD_FIX = (
    "Move the run directory away (or restore the file) and rerun the run to write it again."
)


def read_record(path: Path, which: str, config: dict[str, Any] | None = None) -> dict[str, Any]:
    """A run's config.json (`which="config"`) or result.json ("result", checked against its
    `config` too), validated against the record schema (bench.runs.schema): the one reader of
    run records. Anything else is an InvalidRecord naming the file and the problem."""

    what = "the file is damaged or not written by bench"
    try:
        obj = read_json(path)
    except FileNotFoundError:
        raise InvalidRecord(path, "missing", f"{path} is missing") from None
    except IsADirectoryError:
        problem = "is a directory, not a run's JSON file"
        raise InvalidRecord(path, problem, f"{path} {problem} ({what})") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        problem = f"cannot be read ({type(exc).__name__}: {exc})"
        raise InvalidRecord(path, problem, f"{path} {problem}: {what}") from None
    found = config_problem(obj) if which == "config" else result_problem(obj, config)
    if found:
        description = f"{path} is not a valid bench run record ({found}): {what}"
        raise InvalidRecord(path, found, description)
    return obj


def read_finished(run_dir: Path) -> dict[str, Any]:
    """A finished run's record ({"dir", "config", "result"}), both files valid; an InvalidRecord
    otherwise (a result.json gone or damaged after `done` was written included)."""
    run_dir = Path(run_dir)
    config = read_record(run_dir / "config.json", "config")
    result = read_record(run_dir / "result.json", "result", config)
    return {"dir": str(run_dir), "config": config, "result": result}


def finished_problem(run_dir: Path) -> InvalidRecord | None:
    """Why a run marked `done` is not finished after all (its record vanished, was truncated or
    fails the schema); None for a valid finished run and for a run without `done`."""
    if not (Path(run_dir) / "done").exists():
        return None
    try:
        read_finished(run_dir)
    except InvalidRecord as exc:
        return exc
    return None


def write_result(run_dir: Path, result: dict[str, Any], config: dict[str, Any]) -> None:
    """Write a run's result.json, validated first: bench never writes a record it would refuse
    to read."""

    found = result_problem(result, config)
    if found:
        raise BenchError(f"refusing to write {Path(run_dir) / 'result.json'}: {found}.")
    atomic_write_json(Path(run_dir) / "result.json", result)


def load_run(run_dir: Path) -> dict[str, Any]:
    """A run directory's contents as one dict: config, status, result and epochs. A run marked
    `done` whose result.json is missing or invalid is an error giving the command that
    recomputes it."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise BenchError(f"{run_dir} is not a directory; pass a run directory (results/runs/...).")
    if not (run_dir / "config.json").exists():
        raise BenchError(f"{run_dir} is not a run directory (it has no config.json).")
    config = read_record(run_dir / "config.json", "config")
    out: dict[str, Any] = {"dir": str(run_dir), "config": config, "done": is_done(run_dir)}
    if (run_dir / "done").exists():
        try:
            out["result"] = read_record(run_dir / "result.json", "result", config)
        except InvalidRecord as exc:
            raise BenchError(lost_result(run_dir, config, exc)) from None
    elif (run_dir / "result.json").exists():
        out["result"] = read_record(run_dir / "result.json", "result", config)
    if (run_dir / "metrics.jsonl").is_file():
        try:
            out["epochs"] = [
                r for r in read_jsonl(run_dir / "metrics.jsonl") if isinstance(r, dict)
            ]
        except (OSError, UnicodeDecodeError):
            out["epochs"] = []
    return out


def lost_result(run_dir: Path, config: dict[str, Any], exc: InvalidRecord) -> str:
    """The message for a run marked `done` whose result is gone: what, and the command that
    recomputes it."""

    command = run_command(RunConfig.from_json(config), Path(run_dir).parent.parent)
    return (
        f"{exc.description}; but `done` says the run finished: its result is lost. `bench run` "
        "recomputes it (the damaged file is kept in attempts/):\n  " + command
    )


def finished_runs(
    results: Path, skipped: list[tuple[str, str]] | None = None
) -> Iterator[dict[str, Any]]:
    """The record of every finished run under results/runs (read_finished); runs without `done`
    are left out. A run marked `done` whose record is invalid raises InvalidRecord, or, given a
    `skipped` list, is appended to it as (file, problem) with a warning."""
    runs = Path(results) / "runs"
    if not runs.is_dir():
        return
    for run_dir in sorted(runs.iterdir()):
        if not (run_dir / "done").exists():
            continue
        try:
            record = read_finished(run_dir)
        except InvalidRecord as exc:
            if skipped is None:
                raise
            logging.getLogger(__name__).warning("skipping %s: %s", exc.path, exc.problem)
            skipped.append((str(exc.path), exc.problem))
            continue
        yield record
