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

import fcntl
import functools
import hashlib
import importlib.util
import json
import logging
import os
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
    open_no_follow,
    read_json,
    read_jsonl,
    stable_hash,
    tree_digests,
)
from bench.runs.config import RunConfig

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
    return Path(results) / "runs" / config.run_name


def is_done(run_dir: Path) -> bool:
    return (Path(run_dir) / "done").exists()


class RunRecord:
    """Writes one run's directory; every file is replaced atomically or appended line by line."""

    def __init__(self, run_dir: Path, config: RunConfig):
        self.dir = Path(run_dir)
        self.config = config
        self.timings: dict[str, float] = {}
        self.started = time.time()
        self.info: dict[str, Any] = {}

    def open(self) -> None:
        """Create the directory, or check that an existing one belongs to the same config."""
        self.dir.mkdir(parents=True, exist_ok=True)
        config_path = self.dir / "config.json"
        if config_path.exists():
            stored = RunConfig.from_json(read_record(config_path, "config"))
            if stored.identity() != self.config.identity():
                raise BenchError(
                    f"{self.dir} holds a run of another config (see its config.json). Move it "
                    "away or pass another --results directory; nothing was changed."
                )
        atomic_write_json(config_path, self.config.to_json())

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        """Time a pipeline stage (its wall seconds go into result.json)."""
        start = time.time()
        logging.getLogger("bench").info("stage %s ...", name)
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
        atomic_write_json(self.dir / "result.json", result)
        atomic_write_json(self.dir / "done", {"finished": result["finished"]})
        return result


@contextmanager
def run_lock(run_dir: Path) -> Iterator[None]:
    """Only one process works on a run directory at a time (e.g. a duplicated SLURM task)."""
    run_dir.mkdir(parents=True, exist_ok=True)
    with open_no_follow(run_dir / ".lock", "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise BenchError(f"{run_dir} is being run by another process right now.") from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"{socket.gethostname()} {os.getpid()}\n")
        handle.flush()
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


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
    import torch

    out: dict[str, Any] = {"name": device, "torch_threads": torch.get_num_threads()}
    if device.startswith("cuda") and torch.cuda.is_available():
        out["gpu"] = torch.cuda.get_device_name(torch.device(device))
        out["cuda"] = torch.version.cuda
    return out


def read_record(path: Path, which: str, config: dict[str, Any] | None = None) -> dict[str, Any]:
    """A run's config.json (`which="config"`) or result.json ("result", checked against its
    `config` too), validated against the record schema (bench.runs.schema); anything else is a
    BenchError naming the file and the problem."""
    from bench.runs.schema import config_problem, result_problem

    what = "damaged or not written by bench"
    try:
        obj = read_json(path)
    except IsADirectoryError:
        raise BenchError(f"{path} is a directory, not a run's JSON file ({what}).") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BenchError(
            f"{path} cannot be read ({type(exc).__name__}: {exc}): the file is {what}. Move the "
            "run directory away (or restore the file) and rerun the run to write it again."
        ) from None
    found = config_problem(obj) if which == "config" else result_problem(obj, config)
    if found:
        raise BenchError(
            f"{path} is not a valid bench run record ({found}): the file is {what}. Move the run "
            "directory away and rerun the run to write it again."
        )
    return obj


def load_run(run_dir: Path) -> dict[str, Any]:
    """A run directory's contents as one dict: config, status, result and epochs."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise BenchError(f"{run_dir} is not a directory; pass a run directory (results/runs/...).")
    if not (run_dir / "config.json").exists():
        raise BenchError(f"{run_dir} is not a run directory (it has no config.json).")
    config = read_record(run_dir / "config.json", "config")
    out: dict[str, Any] = {"dir": str(run_dir), "config": config, "done": is_done(run_dir)}
    if (run_dir / "result.json").exists():
        out["result"] = read_record(run_dir / "result.json", "result", config)
    if (run_dir / "metrics.jsonl").is_file():
        try:
            out["epochs"] = [
                r for r in read_jsonl(run_dir / "metrics.jsonl") if isinstance(r, dict)
            ]
        except (OSError, UnicodeDecodeError):
            out["epochs"] = []
    return out


def iter_finished_runs(results: Path) -> Iterator[dict[str, Any]]:
    """config + result of every finished run under results/runs (unfinished ones are skipped)."""
    runs = Path(results) / "runs"
    if not runs.is_dir():
        return
    for run_dir in sorted(runs.iterdir()):
        if is_done(run_dir) and (run_dir / "result.json").exists():
            try:
                yield {
                    "dir": str(run_dir),
                    "config": read_json(run_dir / "config.json"),
                    "result": read_json(run_dir / "result.json"),
                }
            except (OSError, json.JSONDecodeError) as exc:
                logging.getLogger(__name__).warning("skipping %s: %s", run_dir, exc)
