"""Sweep specs: methods x datasets x seeds x settings, from a YAML file.

    name: digits-small                 # optional; default: the file's stem
    reproduces: {paper: fg, table: "Table 2"}   # optional: the published table it reproduces
    published_only:                    # that table's method slugs bench has no run for, and why
      mislas: "MiSLAS (Zhong et al., 2021): no bench method"
    methods: [erm, {name: ddpm-fill, set: [method.train_steps=3], datasets: [if100]}]
    datasets:                          # a name, or {name, id, set}: `id` (default: the name)
      - digits-lt                      # tells apart two entries of one dataset
      - {name: cifar10-lt, id: if100, set: [dataset.imbalance_factor=100]}
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
    data_root: ../data                 # where the datasets live; relative to this file's folder;
                                       # --data-root and BENCH_DATA_ROOT win over it

A method entry's `datasets:` (dataset ids) restricts it to those datasets of the spec. Every key
is checked: an unknown one is an error naming the file, the line and the keys it may be.

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

import numpy as np

from bench import hparams
from bench.datasets import DATASETS
from bench.errors import BenchError, ConfigError
from bench.io import read_yaml, seed_hash
from bench.launch.units import CLASSES_PER_TASK, SHARDS_PER_TASK
from bench.methods import METHODS
from bench.registry import unknown_name_message
from bench.report import published
from bench.runs.config import RunConfig, key_lines, resolve

TOP_LEVEL_KEYS = (
    "name", "reproduces", "published_only", "methods", "datasets", "seeds", "set", "grid",
    "search", "data_root", "shards_per_task", "classes_per_task",
)  # fmt: skip
ENTRY_KEYS = {"method": ("name", "set", "datasets"), "dataset": ("name", "id", "set")}
REPRODUCES_KEYS = ("paper", "table")
SEARCH_KEYS = ("trials", "ranges")
RANGE_KEYS = ("low", "high", "log", "choices")
# The most runs a sweep may ask for unless `bench sweep --max-runs N` allows more (docs/slurm.md):
# every run is resolved and planned before anything is submitted, in memory.
MAX_RUNS = 5000


@dataclass(frozen=True)
class Entry:
    """A method or a dataset of the sweep, with --set items only its runs get."""

    name: str
    sets: tuple[str, ...] = ()
    id: str = ""  # a dataset's id in the spec (default: its name)
    datasets: tuple[str, ...] | None = None  # a method's datasets (ids); None: all of them

    def runs_on(self, dataset: Entry) -> bool:
        return self.datasets is None or (dataset.id or dataset.name) in self.datasets


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
    data_root: str | None = None  # absolute (a relative one is read from the spec's folder)
    shards_per_task: int = SHARDS_PER_TASK
    classes_per_task: int = CLASSES_PER_TASK
    reproduces: tuple[str, str] | None = None  # (paper, table) of results/published
    published_only: dict[str, str] = field(default_factory=dict)  # method slug -> why

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
        for method, dataset in self.pairs():
            for point in self.run_sets():
                for seed in self.seeds:
                    yield method, dataset, point, seed

    def pairs(self) -> list[tuple[Entry, Entry]]:
        """(method, dataset) of every method entry on each dataset it runs on."""
        return [(m, d) for m, d in itertools.product(self.methods, self.datasets) if m.runs_on(d)]

    def points_per_pair(self) -> int:
        return math.prod(len(values) for values in self.grid.values()) * self.trials

    def size(self) -> int:
        """How many runs the spec asks for (before duplicates are removed), counted, not listed."""
        return len(self.pairs()) * self.points_per_pair() * len(self.seeds)

    def configs(
        self, extra_sets: tuple[str, ...] = (), max_runs: int = MAX_RUNS, smoke: bool = False
    ) -> list[RunConfig]:
        """Every run of the sweep, resolved and checked (duplicates removed, order kept); a
        spec asking for more than `max_runs` runs is refused before any is resolved. `smoke`:
        each run as `bench run --smoke` resolves it (its dependencies shrunk with it)."""
        if self.size() > max_runs:
            raise ConfigError(
                f"sweep spec {self.path} asks for {self.size():,} runs ({len(self.pairs())} "
                f"(method, dataset) pair(s) x {len(self.seeds)} seed(s) x "
                f"{self.points_per_pair():,} settings point(s)), more than --max-runs "
                f"{max_runs:,}. Shrink the grid, or pass --max-runs {self.size()} if you mean it "
                "(bench's confirmation of a large sweep: docs/slurm.md#how-big-a-sweep-can-be)."
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
                config = with_data_root(config, self.data_root)
            out.setdefault(config.run_id, config)
        return list(out.values())


def with_data_root(config: RunConfig, root: str) -> RunConfig:
    """`config` and every run it depends on reading their data under `root` (where no
    --data-root or BENCH_DATA_ROOT says otherwise: bench.data.data_root_from_env)."""
    deps = {name: with_data_root(dep, root) for name, dep in config.dependencies.items()}
    return dataclasses.replace(config, data_root=root, dependencies=deps)


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

    check_keys(data, TOP_LEVEL_KEYS, where, f"sweep spec {path}")
    for key in ("methods", "datasets"):
        if not data.get(key):
            raise ConfigError(
                f"sweep spec {path}: `{key}:` is missing or empty; list at least one."
            )
    datasets = parse_entries(data["datasets"], "dataset", where("datasets"))
    methods = parse_entries(data["methods"], "method", where("methods"), datasets)
    trials, ranges = parse_search(data.get("search") or {}, where("search"))
    reproduces = parse_reproduces(data.get("reproduces"), where("reproduces"))
    spec = SweepSpec(
        name=sweep_name(data.get("name"), path, where("name")),
        path=path,
        methods=methods,
        datasets=datasets,
        seeds=parse_seeds(data.get("seeds", [0]), where("seeds")),
        sets=parse_sets(data.get("set", []), where("set")),
        grid=parse_grid(data["grid"], where("grid")) if "grid" in data else {},
        trials=trials,
        ranges=ranges,
        data_root=parse_data_root(data.get("data_root"), path, where("data_root")),
        shards_per_task=per_task(data, "shards_per_task", SHARDS_PER_TASK, where),
        classes_per_task=per_task(data, "classes_per_task", CLASSES_PER_TASK, where),
        reproduces=reproduces,
        published_only=parse_published_only(
            data.get("published_only"), reproduces, where("published_only")
        ),
    )
    if spec.size() == 0:
        raise ConfigError(f"sweep spec {path}: it asks for no run; give it at least one.")
    return spec


def check_keys(data: dict[Any, Any], known: tuple[str, ...], where: Any, what: str) -> None:
    """An unknown key is an error naming `what` (where(key) locates it) and the known keys."""
    for key in data:
        if key not in known:
            place = where(str(key)) if callable(where) else where
            raise ConfigError(hparams.unknown_key_message(f"{place} ({what})", str(key), [*known]))


def per_task(data: dict[str, Any], key: str, default: int, where: Any) -> int:
    spec = hparams.Spec(key, int, default, "", low=1)
    return hparams.check_value(spec, data.get(key, default), where(key))


def parse_data_root(value: Any, path: Path, where: str) -> str | None:
    """The spec's `data_root:`, absolute: `~` expanded, a relative one read from the spec's
    folder (not the folder the sweep is launched from)."""
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{where}: data_root is a folder path, got {value!r}.")
    root = Path(value).expanduser()
    return str(root if root.is_absolute() else (path.parent / root).resolve())


def parse_reproduces(value: Any, where: str) -> tuple[str, str] | None:
    """`reproduces: {paper, table}`, which must name a table of results/published."""
    if value is None:
        return None
    if not isinstance(value, dict):
        raise ConfigError(f"{where}: reproduces is {{paper: ..., table: ...}}, got {value!r}.")
    check_keys(value, REPRODUCES_KEYS, where, "reproduces")
    paper, table = (str(value.get(k, "")) for k in REPRODUCES_KEYS)
    tables = published_tables()
    if (paper, table) in tables:
        return paper, table
    known = sorted(t for p, t in tables if p == paper)
    hint = (
        f"published tables of {paper}: {', '.join(known)}"
        if known
        else f"published papers: {', '.join(sorted({p for p, _ in tables}))}"
    )
    raise ConfigError(
        f"{where}: reproduces paper {paper!r} table {table!r}, a row that names no published "
        f"table ({hint}; results/published/published.csv)."
    )


def published_tables() -> set[tuple[str, str]]:
    """(paper, table) of every published value (bench.report.published)."""

    return {(v.paper, v.table) for v in published.load(published.default_directory()).values}


def parse_published_only(
    value: Any, reproduces: tuple[str, str] | None, where: str
) -> dict[str, str]:
    """`published_only: {method_slug: reason}`: the reproduced table's rows bench has no run
    for, each with why; only in a spec that `reproduces` a table."""
    if value is None:
        return {}
    if reproduces is None:
        raise ConfigError(f"{where}: published_only needs `reproduces:` (the table it is of).")
    if not isinstance(value, dict):
        raise ConfigError(f"{where}: published_only is {{method_slug: reason}}, got {value!r}.")

    slugs = sorted(
        {
            v.slug
            for v in published.load(published.default_directory()).values
            if (v.paper, v.table) == reproduces
        }
    )
    check_keys(value, tuple(slugs), where, f"published_only: method slugs of {reproduces[1]}")
    for slug, reason in value.items():
        if not isinstance(reason, str) or not reason.strip():
            raise ConfigError(f"{where}: published_only {slug}: give the reason as a text.")
    return {str(k): v for k, v in value.items()}


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


def parse_entries(
    value: Any, kind: str, where: str, datasets: tuple[Entry, ...] = ()
) -> tuple[Entry, ...]:
    """Methods or datasets: each a name or a mapping of ENTRY_KEYS[kind]; a method's
    `datasets:` must name dataset ids of the spec, and dataset ids must differ."""
    registry = METHODS if kind == "method" else DATASETS
    entries = []
    for item in value if isinstance(value, list) else [value]:
        item = {"name": item} if isinstance(item, str) else item
        if not isinstance(item, dict) or "name" not in item:
            raise ConfigError(
                f"{where}: each {kind} is a name or {{{', '.join(ENTRY_KEYS[kind])}}}, got "
                f"{item!r}."
            )
        check_keys(item, ENTRY_KEYS[kind], where, f"{kind} {item['name']}")
        try:
            registry.check(item["name"])
        except BenchError as exc:
            raise ConfigError(f"{where}: {exc}") from None
        sets = parse_sets(item.get("set", []), where)
        if kind == "dataset":
            entries.append(Entry(item["name"], sets, id=str(item.get("id", item["name"]))))
        else:
            only = entry_datasets(item, datasets, where)
            entries.append(Entry(item["name"], sets, datasets=only))
    ids = [e.id for e in entries if kind == "dataset"]
    if len(set(ids)) != len(ids):
        twice = sorted({i for i in ids if ids.count(i) > 1})
        raise ConfigError(f"{where}: dataset id(s) {', '.join(twice)} given twice; give each "
                          "entry its own `id:`.")  # fmt: skip
    return tuple(entries)


def entry_datasets(
    item: dict[str, Any], datasets: tuple[Entry, ...], where: str
) -> tuple[str, ...] | None:
    """A method entry's `datasets:` (ids of the spec's datasets), or None for all of them."""
    if "datasets" not in item:
        return None
    value = item["datasets"]
    names = value if isinstance(value, list) else [value]
    ids = [d.id for d in datasets]
    if not names:
        raise ConfigError(f"{where}: method {item['name']}: `datasets:` is empty; list ids.")
    for name in names:
        if name not in ids:
            raise ConfigError(
                f"{where}: method {item['name']}: "
                + unknown_name_message("dataset id of this spec", str(name), ids)
            )
    return tuple(map(str, names))


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
    """`grid:` given: a non-empty mapping of setting -> values (an empty one is an error)."""
    if not isinstance(value, dict):
        raise ConfigError(f"{where}: grid is a mapping of setting -> list of values.")
    if not value:
        raise ConfigError(
            f"{where}: the grid is empty; give it a setting and its values, or remove `grid:`."
        )
    grid = {}
    for key, values in value.items():
        values = values if isinstance(values, list) else [values]
        if not values:
            raise ConfigError(f"{where}: grid {key} has no values.")
        grid[str(key)] = tuple(values)
    return grid


def parse_search(value: Any, where: str) -> tuple[int, tuple[Range, ...]]:
    if not isinstance(value, dict):
        raise ConfigError(f"{where}: search has `trials: N` and `ranges: {{setting: range}}`.")
    check_keys(value, SEARCH_KEYS, where, "search")
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
    check_keys(value, RANGE_KEYS, f"{where}: range {key}", "search range")
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
