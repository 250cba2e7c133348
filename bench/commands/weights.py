"""`bench weights list | check | download`: the manifest (bench/weights.yaml), what this machine
has of it, and fetching it on a machine with network.

`--method M --dataset D` (with `--set` / `--config` / `--seed`, as `bench run` takes them)
restricts `check` and `download` to what that run and its dependencies load.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from bench import weights
from bench.datasets import DATASETS
from bench.errors import BenchError
from bench.methods import METHODS
from bench.runs.config import RunConfig, resolve
from bench.runs.preflight import Needed, check_weights, needed_weights


@dataclass(frozen=True)
class RunSelection:
    """The run `--method/--dataset` (with `--seed`, `--config`, `--set`) name, as `bench run`
    takes them; nothing named is the whole manifest."""

    method: str | None = None
    dataset: str | None = None
    seed: int | None = None
    config: str | None = None
    sets: tuple[str, ...] = ()


def run_config(selection: RunSelection) -> RunConfig | None:
    """The run the selection names, or None for the whole manifest."""
    s = selection
    if not (s.method or s.dataset or s.config):
        if s.sets:
            raise BenchError("--set applies to a run: give --method and --dataset too.")
        return None
    return resolve(s.method, s.dataset, s.seed, s.config, list(s.sets))


# list ------------------------------------------------------------------------------------------


def artefact_usage() -> dict[str, dict[str, list[str]]]:
    """For each manifest entry: dataset -> the methods whose default settings on it load it
    (every registered method x dataset resolved, dependencies included)."""

    usage: dict[str, dict[str, list[str]]] = {}
    for dataset in DATASETS:
        for method in METHODS:
            try:
                config = resolve(method, dataset)
                needs = needed_weights(config)
            except BenchError:  # a method that refuses a dataset loads nothing there
                continue
            for need in needs:
                if need.requirement.artefact is not None:
                    users = usage.setdefault(need.requirement.artefact.name, {})
                    users.setdefault(dataset, [])
                    if method not in users[dataset]:
                        users[dataset].append(method)
    return usage


def list_command(as_json: bool) -> int:
    usage = artefact_usage()
    if as_json:
        out = {name: {**vars(e), "used_by_default": usage.get(name, {})}
               for name, e in weights.manifest().items()}  # fmt: skip
        print(json.dumps(out, indent=2, sort_keys=True))
        return 0
    every = len(METHODS)
    for name, entry in weights.manifest().items():
        print(f"{name}  {entry.title}")
        print(f"    source     {entry.source} ({files_summary(entry)})")
        print(f"    selected   {entry.used_by}")
        users = usage.get(name, {})
        on = "; ".join(
            f"{d}: {'every method' if len(m) == every else ', '.join(m)}" for d, m in users.items()
        )
        print(f"    defaults   {on or 'no default loads it (one setting away)'}")
        if entry.unconfirmed and entry.unconfirmed != "none":
            print(f"    unconfirmed offline: {entry.unconfirmed}")
    return 0


UNITS = {"B": 1, "kB": 1e3, "MB": 1e6, "GB": 1e9}


def files_summary(entry: weights.Artefact) -> str:
    """ "N files, about X GB" from the listed sizes (and how many are unconfirmed)."""
    sizes = [size.split() for size in entry.files.values() if size]
    total = sum(float(value) * UNITS[unit] for value, unit in sizes)
    unknown = len(entry.files) - len(sizes)
    text = f"{len(entry.files)} file{'s' if len(entry.files) != 1 else ''}"
    text += f", about {total / 1e9:.2f} GB" if total >= 1e8 else f", about {total / 1e6:.1f} MB"
    return text + (f" + {unknown} size(s) unconfirmed" if unknown else "")


# check -----------------------------------------------------------------------------------------


def statuses(config: RunConfig | None) -> list[tuple[weights.Status, list[Needed]]]:
    if config is None:
        return [
            (weights.check(weights.artefact_requirement(e)), [])
            for e in weights.manifest().values()
        ]
    return check_weights([config])


def check_command(selection: RunSelection, as_json: bool) -> int:
    config = run_config(selection)
    found = statuses(config)
    if as_json:
        rows = [status_json(status, users) for status, users in found]
        print(json.dumps(rows, indent=2, sort_keys=True))
    else:
        for status, users in found:
            print(status.line())
            for need in users:
                print(f"           needed as {need.role} of {need.run}")
        if config is not None and not found:
            print(f"{config.method} on {config.dataset} loads no pretrained weights.")
    return 0 if all(status.ok for status, _ in found) else 1


def status_json(status: weights.Status, users: list[Needed]) -> dict[str, Any]:
    req = status.requirement
    return {
        "artefact": req.artefact.name if req.artefact else None,
        "what": req.what,
        "source": req.source,
        "state": status.state,
        "where": str(status.where) if status.where else None,
        "missing": status.missing,
        "detail": status.detail,
        "needed_by": [f"{n.role} of {n.run}" for n in users],
    }


# download --------------------------------------------------------------------------------------


def download_command(selection: RunSelection, names: tuple[str, ...], every: bool) -> int:
    """Fetch exactly the manifest's files of the entries `names`, of what the selected run
    needs, or (`every`) of the whole manifest."""
    config = run_config(selection)
    if names and config is not None:
        raise BenchError("name manifest entries, or give --method/--dataset; not both.")
    entries = [weights.artefact(name) for name in names]
    if config is not None:
        for status, _ in statuses(config):
            req = status.requirement
            if req.artefact is None:
                print(f"not in the manifest, fetch it yourself: {req.what} [{req.source}]")
            elif not (status.ok or req.path):
                entries.append(req.artefact)
    elif every:
        entries = list(weights.manifest().values())
    if not entries and config is None:
        raise BenchError(
            "name the entries to download (bench weights list), --all, or a run's "
            "--method/--dataset."
        )
    for entry in {e.name: e for e in entries}.values():
        print(f"{entry.name}: {weights.download(entry)}")
    return 0
