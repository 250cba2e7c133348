"""Sweep specs: methods x datasets x seeds x settings, from a YAML file.

    name: digits-small                 # optional; default: the file's stem
    methods: [erm, {name: ddpm-fill, set: [method.train_steps=3]}]
    datasets: [digits-lt]              # entries like methods: a name or {name, set}
    seeds: [0, 1, 2]
    set: [recipe.epochs=2]             # --set items for every run
    grid:                              # every combination of these values
      recipe.lr: [0.1, 0.01]
    search:                            # DomainBed-style seeded random search
      trials: 4                        # search seeds 0..3; seed 0 is the paper defaults
      ranges:
        recipe.lr: {low: 1.0e-4, high: 1.0e-1, log: true}
        recipe.batch_size: {choices: [16, 32, 64]}
    shards_per_task: 16                # synthesis: shards (of 256 images) per array task
    classes_per_task: 50               # a generator fit that splits per class (sd-ti): classes
                                       # per array task

Search seed t draws each setting from its own stream, seed_hash("search", t, key) (DomainBed's
`random_hparams` idea), so adding a range never changes the values drawn for another. Every run
is resolved (and so checked) like `bench run` before anything is submitted.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench import hparams
from bench.errors import BenchError, ConfigError
from bench.io import read_yaml, seed_hash
from bench.launch.units import CLASSES_PER_TASK, SHARDS_PER_TASK
from bench.runs.config import RunConfig, key_lines, resolve

TOP_LEVEL_KEYS = (
    "name", "methods", "datasets", "seeds", "set", "grid", "search", "data_root", "shards_per_task",
    "classes_per_task",
)  # fmt: skip
RANGE_KEYS = ("low", "high", "log", "choices")
# The most runs a sweep may ask for unless `bench sweep --max-runs N` allows more (docs/slurm.md):
# every run is resolved and planned before anything is submitted, in memory.
MAX_RUNS = 5000


@dataclass(frozen=True)
class Entry:
    """A method or a dataset of the sweep, with --set items only its runs get."""

    name: str
    sets: tuple[str, ...] = ()


@dataclass(frozen=True)
class Range:
    """A setting's search range: uniform (or log-uniform) in [low, high], or one of `choices`."""

    key: str
    low: float | None = None
    high: float | None = None
    log: bool = False
    choices: tuple[Any, ...] | None = None

    def draw(self, trial: int) -> str:
        """The value of search seed `trial`, as a --set string (checked later by resolve)."""
        import numpy as np

        rng = np.random.RandomState(seed_hash("search", trial, self.key))
        if self.choices is not None:
            return as_set_value(self.choices[rng.randint(len(self.choices))])
        assert self.low is not None and self.high is not None
        if self.log:
            return repr(float(10 ** rng.uniform(math.log10(self.low), math.log10(self.high))))
        if isinstance(self.low, int) and isinstance(self.high, int):
            return str(int(rng.randint(self.low, self.high + 1)))
        return repr(float(rng.uniform(self.low, self.high)))


@dataclass(frozen=True)
class SweepSpec:
    name: str
    path: Path
    methods: tuple[Entry, ...]
    datasets: tuple[Entry, ...]
    seeds: tuple[int, ...] = (0,)
    sets: tuple[str, ...] = ()
    grid: dict[str, tuple[Any, ...]] = field(default_factory=dict)
    trials: int = 1
    ranges: tuple[Range, ...] = ()
    data_root: str | None = None
    shards_per_task: int = SHARDS_PER_TASK
    classes_per_task: int = CLASSES_PER_TASK

    def run_sets(self) -> Iterator[tuple[str, ...]]:
        """The --set items of each settings point, one at a time: grid combinations x search
        seeds."""
        keys = list(self.grid)
        for combo in itertools.product(*(self.grid[k] for k in keys)):
            grid_items = tuple(f"{k}={as_set_value(v)}" for k, v in zip(keys, combo, strict=True))
            for trial in range(self.trials):
                drawn = () if trial == 0 else tuple(f"{r.key}={r.draw(trial)}" for r in self.ranges)
                yield grid_items + drawn

    def points(self) -> Iterator[tuple[Entry, Entry, tuple[str, ...], int]]:
        """(method, dataset, settings point, seed) of every run, in order, one at a time (the
        grid is never listed whole)."""
        for method, dataset in itertools.product(self.methods, self.datasets):
            for point in self.run_sets():
                for seed in self.seeds:
                    yield method, dataset, point, seed

    def size(self) -> int:
        """How many runs the spec asks for (before duplicates are removed), counted, not listed."""
        points = math.prod(len(values) for values in self.grid.values()) * self.trials
        return len(self.methods) * len(self.datasets) * points * len(self.seeds)

    def configs(
        self, extra_sets: tuple[str, ...] = (), max_runs: int = MAX_RUNS, smoke: bool = False
    ) -> list[RunConfig]:
        """Every run of the sweep, resolved and checked (duplicates removed, order kept); a
        spec asking for more than `max_runs` runs is refused before any is resolved. `smoke`:
        each run as `bench run --smoke` resolves it (its dependencies shrunk with it)."""
        if self.size() > max_runs:
            raise ConfigError(
                f"sweep spec {self.path} asks for {self.size():,} runs ({len(self.methods)} "
                f"method(s) x {len(self.datasets)} dataset(s) x {len(self.seeds)} seed(s) x "
                f"{self.size() // (len(self.methods) * len(self.datasets) * len(self.seeds)):,} "
                f"settings point(s)), more than --max-runs {max_runs:,}. Shrink the grid, or pass "
                f"--max-runs {self.size()} if you mean it."
            )
        out: dict[str, RunConfig] = {}
        for method, dataset, point, seed in self.points():
            sets = [*self.sets, *method.sets, *dataset.sets, *point, *extra_sets]
            try:
                config = resolve(method.name, dataset.name, seed, None, sets, smoke=smoke)
            except BenchError as exc:
                raise type(exc)(
                    f"sweep {self.path}: {method.name} on {dataset.name}: {exc}"
                ) from None
            if self.data_root is not None:
                config = dataclasses.replace(config, data_root=self.data_root)
            out.setdefault(config.run_id, config)
        return list(out.values())


def as_set_value(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        return ",".join(map(str, value))
    return str(value)


def load_spec(path: str | Path) -> SweepSpec:
    """Read and check a sweep spec; errors name the file, the line and what to write instead."""
    path = Path(path)
    data, text = read_yaml(path, "sweep spec")
    data = data or {}
    try:
        lines = key_lines(text)
    except ConfigError as exc:
        raise ConfigError(f"sweep spec {path}, {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"sweep spec {path}: expected a mapping with keys {TOP_LEVEL_KEYS}.")

    def where(key: str) -> str:
        return f"sweep spec {path}, line {lines.get(key, '?')}"

    for key in data:
        if key not in TOP_LEVEL_KEYS:
            raise ConfigError(
                hparams.unknown_key_message(where(str(key)), str(key), [*TOP_LEVEL_KEYS])
            )
    for key in ("methods", "datasets"):
        if not data.get(key):
            raise ConfigError(
                f"sweep spec {path}: `{key}:` is missing or empty; list at least one."
            )
    search = data.get("search") or {}
    trials, ranges = parse_search(search, where("search"))
    return SweepSpec(
        name=sweep_name(data.get("name"), path, where("name")),
        path=path,
        methods=parse_entries(data["methods"], "method", where("methods")),
        datasets=parse_entries(data["datasets"], "dataset", where("datasets")),
        seeds=parse_seeds(data.get("seeds", [0]), where("seeds")),
        sets=parse_sets(data.get("set", []), where("set")),
        grid=parse_grid(data.get("grid") or {}, where("grid")),
        trials=trials,
        ranges=ranges,
        data_root=data.get("data_root"),
        shards_per_task=hparams.check_value(
            hparams.Spec("shards_per_task", int, SHARDS_PER_TASK, "", low=1),
            data.get("shards_per_task", SHARDS_PER_TASK),
            where("shards_per_task"),
        ),
        classes_per_task=hparams.check_value(
            hparams.Spec("classes_per_task", int, CLASSES_PER_TASK, "", low=1),
            data.get("classes_per_task", CLASSES_PER_TASK),
            where("classes_per_task"),
        ),
    )


SWEEP_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")


def sweep_name(value: Any, path: Path, where: str) -> str:
    """The sweep's name (default: the spec file's stem): one plain folder name, since its state,
    lock and logs live in <results>/sweeps/<name>."""
    name = path.stem if value is None else value
    if isinstance(name, str) and SWEEP_NAME.fullmatch(name) and name != "..":
        return name
    given = f"name {name!r:.80}" if value is not None else f"the file's stem {name!r:.80}"
    stem_hint = "" if value is not None else " (give the spec a `name:`)"
    raise ConfigError(
        f"{where}: {given} is not a plain folder name{stem_hint}: up to 100 letters, digits, "
        "'.', '_' or '-', starting with a letter or digit (no '/', no '..'); the sweep's state "
        "lives in <results>/sweeps/<name>."
    )


def parse_entries(value: Any, kind: str, where: str) -> tuple[Entry, ...]:
    from bench.datasets import DATASETS
    from bench.methods import METHODS

    registry = METHODS if kind == "method" else DATASETS
    entries = []
    for item in value if isinstance(value, list) else [value]:
        if isinstance(item, str):
            item = {"name": item}
        if not isinstance(item, dict) or set(item) - {"name", "set"} or "name" not in item:
            raise ConfigError(
                f"{where}: each {kind} is a name or {{name: ..., set: [...]}}, got {item!r}."
            )
        try:
            registry.check(item["name"])
        except BenchError as exc:
            raise ConfigError(f"{where}: {exc}") from None
        entries.append(Entry(item["name"], parse_sets(item.get("set", []), where)))
    return tuple(entries)


def parse_seeds(value: Any, where: str) -> tuple[int, ...]:
    seeds = value if isinstance(value, list) else [value]
    spec = hparams.Spec("seeds", int, 0, "", low=0)
    return tuple(hparams.check_value(spec, s, where) for s in seeds)


def parse_sets(value: Any, where: str) -> tuple[str, ...]:
    items = value if isinstance(value, list) else [value]
    for item in items:
        if not isinstance(item, str) or "=" not in item:
            raise ConfigError(
                f"{where}: --set items are strings like recipe.epochs=2, got {item!r}."
            )
    return tuple(items)


def parse_grid(value: Any, where: str) -> dict[str, tuple[Any, ...]]:
    if not isinstance(value, dict):
        raise ConfigError(f"{where}: grid is a mapping of setting -> list of values.")
    grid = {}
    for key, values in value.items():
        values = values if isinstance(values, list) else [values]
        if not values:
            raise ConfigError(f"{where}: grid {key} has no values.")
        grid[str(key)] = tuple(values)
    return grid


def parse_search(value: Any, where: str) -> tuple[int, tuple[Range, ...]]:
    if not isinstance(value, dict) or set(value) - {"trials", "ranges"}:
        raise ConfigError(f"{where}: search has `trials: N` and `ranges: {{setting: range}}`.")
    trials = hparams.check_value(
        hparams.Spec("trials", int, 1, "", low=1), value.get("trials", 1), f"{where}: search"
    )
    ranges = value.get("ranges") or {}
    if trials > 1 and not ranges:
        raise ConfigError(f"{where}: search.trials={trials} but no ranges to search over.")
    return trials, tuple(parse_range(str(k), r, where) for k, r in ranges.items())


def parse_range(key: str, value: Any, where: str) -> Range:
    if not isinstance(value, dict):
        raise ConfigError(f"{where}: range {key} is {{low, high[, log]}} or {{choices: [...]}}.")
    for name in value:
        if name not in RANGE_KEYS:
            raise ConfigError(
                hparams.unknown_key_message(f"{where}: range {key}", name, [*RANGE_KEYS])
            )
    if "choices" in value:
        choices = value["choices"]
        if not isinstance(choices, list) or not choices:
            raise ConfigError(f"{where}: range {key}: choices must be a non-empty list.")
        return Range(key, choices=tuple(choices))
    low, high = value.get("low"), value.get("high")
    for name, bound in (("low", low), ("high", high)):
        if isinstance(bound, bool) or not isinstance(bound, (int, float)):
            raise ConfigError(f"{where}: range {key}: {name} must be a number, got {bound!r}.")
    if low > high:
        raise ConfigError(f"{where}: range {key}: low {low} is above high {high}; swap them.")
    log = bool(value.get("log", False))
    if log and low <= 0:
        raise ConfigError(f"{where}: range {key}: a log range needs low > 0, got {low}.")
    return Range(key, low=low, high=high, log=log)
