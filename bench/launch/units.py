"""Units of work and the planner that turns a sweep's runs into a DAG of them.

A unit has a kind (a name in UNIT_KINDS), a stable key (a unit that several runs need is planned
once: the key is what dedupes it), a stage and the keys of the units it depends on. Stages run
in STAGES order; on SLURM each stage is one job array that waits (`afterok`) on the arrays its
units depend on.

    dependency   the runs a run depends on (FG's `erm` feedback classifier)      DependencyKind
    generator    one fit per distinct fitted generator (keyed by its cache key),   GeneratorKind
                 or one task per range of `classes_per_task` parts of a fit that
                 splits (sd-ti: one textual-inversion token per class)
    synthesis    one task per range of `shards_per_task` shards of each set       SynthesisKind
    classifier   the run itself, which finds its set complete in the cache         RunKind
    evaluation   `bench eval-gen` (no kind yet)

A generator fit needs none of the run's dependencies, so the generator array starts at once;
a synthesis task waits on its generator and on the run's dependencies (FG's guidance reads the
feedback classifier), a run on its dependencies and on every synthesis task of its set. Two runs
that share a generator (or a whole set: e.g. the same ddpm-fill set under two recipes) share its
units. A new kind is a UnitKind subclass plus a line in UNIT_KINDS (kinds are planned in
registry order: a unit may only depend on units of kinds listed before its own).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.data import data_root_from_env
from bench.errors import BenchError
from bench.io import inside
from bench.registry import Registry
from bench.runs.records import finished_problem, is_done, run_dir_for
from bench.runs.runner import fit_generator, load_data, run, synthesis_layout, synthesise_shards
from bench.synthesis.pipeline import part_done
from bench.synthesis.store import shard_complete

STAGES = ("dependency", "generator", "synthesis", "classifier", "evaluation")
# Shards (of bench.synthesis.store.SHARD_SIZE images) per synthesis task unless the spec says.
SHARDS_PER_TASK = 16
# Parts (classes) of a generator fit that splits, per generator task unless the spec says: a
# Fill-Up class is 2,000-10,000 inversion steps, so 50 keep a task to hours, not days.
CLASSES_PER_TASK = 50

UNIT_KINDS = Registry(
    "unit kind",
    {
        "dependency": "bench.launch.units:DependencyKind",
        "generator": "bench.launch.units:GeneratorKind",
        "synthesis": "bench.launch.units:SynthesisKind",
        "run": "bench.launch.units:RunKind",
    },
)


@dataclass(frozen=True)
class Unit:
    """One schedulable piece of work. `payload` must pickle (it travels to the SLURM job)."""

    kind: str
    key: str
    stage: str
    payload: Any = field(compare=False)
    deps: tuple[str, ...] = ()


@dataclass(frozen=True)
class Env:
    """Where and how units execute (the same for every unit of a launch)."""

    results: Path
    data_root: Path | None = None
    device: str | None = None
    rebuild_cache: bool = False  # bench run --rebuild-cache for every run

    def data_root_for(self, config: Any) -> Path | None:
        return data_root_from_env(str(self.data_root) if self.data_root else None, config.data_root)


@dataclass(frozen=True)
class Planning:
    """What the planner needs besides the runs: where they execute, how to split sets."""

    env: Env = field(default_factory=lambda: Env(Path("results")))
    shards_per_task: int = SHARDS_PER_TASK
    classes_per_task: int = CLASSES_PER_TASK


class UnitKind:
    """What a kind of unit is: which units a run needs, when one is done, how to execute it."""

    name = ""

    def units(self, config: Any, earlier: list[Unit], planning: Planning) -> list[Unit]:
        """The units of this kind that `config` needs; `earlier` are those planned for it by
        kinds registered before this one (what the new units may depend on)."""
        raise NotImplementedError

    def is_done(self, unit: Unit, env: Env) -> bool:
        raise NotImplementedError

    def lost(self, unit: Unit, env: Env) -> str | None:
        """Why a unit marked done is not done after all (a run's result vanished), if so: the
        next launch submits it again."""
        return None

    def execute(self, unit: Unit, env: Env) -> None:
        raise NotImplementedError

    def workdir(self, unit: Unit, env: Env) -> Path:
        """Where the unit's outputs (and, if it fails, its error and log tail) are written."""
        raise NotImplementedError


# Memos of what planning reads from the data: a run unit's directory (its name holds the data's
# fingerprint), a run's synthesis layout, the data itself.
BOUND: dict[tuple[str, str], Path] = {}
LAYOUTS: dict[tuple[str, str, str], dict[str, Any] | None] = {}
DATA: dict[tuple[str, str, str], Any] = {}


class RunKind(UnitKind):
    """A whole `bench run`: resumes a killed run, skips a finished one by its `done` marker."""

    name = "run"

    def units(self, config: Any, earlier: list[Unit], planning: Planning) -> list[Unit]:
        deps = tuple(u.key for u in earlier if u.kind != "generator")  # synthesis waits on it
        return [Unit("run", config.run_name, "classifier", config, deps)]

    def is_done(self, unit: Unit, env: Env) -> bool:
        return is_done(self.workdir(unit, env))

    def lost(self, unit: Unit, env: Env) -> str | None:
        problem = finished_problem(self.workdir(unit, env))
        return None if problem is None else f"{problem.path} {problem.problem}"

    def execute(self, unit: Unit, env: Env) -> None:
        config = unit.payload
        run(
            config,
            env.results,
            env.data_root_for(config),
            env.device,
            progress=False,
            rebuild_cache=env.rebuild_cache,
        )

    def workdir(self, unit: Unit, env: Env) -> Path:
        """The run's directory, whose name includes the fingerprint of the data it reads
        (bench.runs.runner.bind_data; computed once per unit)."""

        key = (unit.key, str(env.results))
        if key not in BOUND:
            config = unit.payload
            if config.data_fingerprint is None:
                config = config.with_data(loaded_data(config, env).info["fingerprint"]["digest"])
            BOUND[key] = run_dir_for(env.results, config)
        return BOUND[key]


class DependencyKind(RunKind):
    """A run that other runs need first (a method's DEPENDENCIES, e.g. FG's feedback classifier):
    its own unit in the `dependency` stage, so the runs needing it wait on its job (`afterok`)
    and run with it finished; runs of several methods or seeds that need the same run (the same
    resolved config, hence the same run name) share one unit. A dependency's own dependencies,
    if it has any, run inside its job first (runner.run)."""

    name = "dependency"

    def units(self, config: Any, earlier: list[Unit], planning: Planning) -> list[Unit]:
        return [
            Unit("dependency", dep.run_name, "dependency", dep)
            for _, dep in sorted(config.dependencies.items())
        ]


@dataclass(frozen=True)
class SynthesisWork:
    """A generator fit (`shards` None; `parts` [first, stop) of a fit that splits, or None for
    all of it) or a shard range [first, stop) of a set, for the run `config` (the first run
    planned that needs it; every run sharing it has the same keys)."""

    config: Any
    key: str  # the generator's or the set's cache key
    shards: tuple[int, int] | None = None
    parts: tuple[int, int] | None = None


def layout(config: Any, env: Env) -> dict[str, Any] | None:
    """bench.runs.runner.synthesis_layout of a run, computed once per run and results folder."""

    key = (config.run_id, str(env.results), str(env.data_root))
    if key not in LAYOUTS:
        LAYOUTS[key] = synthesis_layout(config, loaded_data(config, env), env.results)
    return LAYOUTS[key]


def loaded_data(config: Any, env: Env) -> Any:
    """The data a run reads, loaded once per dataset, options and root while planning."""

    root = env.data_root_for(config)
    key = (config.dataset, repr(sorted(config.data.items())), str(root))
    if config.dataset_settings.real_kept != "all":  # the run's seed draws the kept images
        key += (config.seed,)
    if key not in DATA:
        DATA.clear()  # one dataset held at a time: sweeps list runs dataset by dataset
        DATA[key] = load_data(config, None, root)[0]
    return DATA[key]


class GeneratorKind(UnitKind):
    """The fit of a generator a run's synthesis needs (none for a pretrained backend), shared
    by every run with the same generator key; done when the generator's cache has `done`.

    A fit that splits into parts (`Generator.fit_parts`: sd-ti's classes) is one unit per range
    of `classes_per_task` parts, done when each part's marker is written (or the generator's
    `done`); the synthesis units wait on every range, and the range task that finds every part
    done writes the generator's `done` (or, if it died first, the first synthesis task does).
    """

    name = "generator"

    def units(self, config: Any, earlier: list[Unit], planning: Planning) -> list[Unit]:
        shape = layout(config, planning.env)
        if shape is None or shape["generator"] is None:
            return []
        key, n = shape["generator"], shape["generator_parts"]
        if not n:
            return [Unit("generator", f"generator-{key}", "generator", SynthesisWork(config, key))]
        step = planning.classes_per_task
        out = []
        for first in range(0, n, step):
            stop = min(first + step, n)
            work = SynthesisWork(config, key, parts=(first, stop))
            out.append(Unit("generator", f"generator-{key}-{first}-{stop}", "generator", work))
        return out

    def is_done(self, unit: Unit, env: Env) -> bool:
        gen = self.generator_dir(unit, env)
        if (gen / "done").exists():
            return True
        parts = unit.payload.parts
        return parts is not None and all(part_done(gen, p) for p in range(*parts))

    def execute(self, unit: Unit, env: Env) -> None:
        config, parts = unit.payload.config, unit.payload.parts
        root = env.data_root_for(config)
        fit_generator(
            config,
            env.results,
            root,
            env.device,
            False,
            env.rebuild_cache,
            None if parts is None else range(*parts),
        )

    def generator_dir(self, unit: Unit, env: Env) -> Path:
        return inside(env.results, "cache", "generators", unit.payload.key)

    def workdir(self, unit: Unit, env: Env) -> Path:
        parts = unit.payload.parts
        if parts is None:
            return self.generator_dir(unit, env)
        return self.generator_dir(unit, env) / "tasks" / f"classes-{parts[0]:05d}-{parts[1]:05d}"


class SynthesisKind(UnitKind):
    """A range of `shards_per_task` shards of a run's synthetic set (runner.synthesise_shards),
    waiting on its generator's fit and on the run's dependencies; done when every shard of the
    range is complete in the store (or the whole set is)."""

    name = "synthesis"

    def units(self, config: Any, earlier: list[Unit], planning: Planning) -> list[Unit]:
        shape = layout(config, planning.env)
        if shape is None:
            return []
        deps = tuple(u.key for u in earlier)  # the generator fit and the run's dependencies
        step, n = planning.shards_per_task, shape["num_shards"]
        out = []
        for first in range(0, n, step):
            stop = min(first + step, n)
            work = SynthesisWork(config, shape["set"], (first, stop))
            out.append(
                Unit("synthesis", f"synthesis-{work.key}-{first}-{stop}", "synthesis", work, deps)
            )
        return out

    def is_done(self, unit: Unit, env: Env) -> bool:
        store = self.store(unit, env)
        first, stop = unit.payload.shards
        return (store / "done").exists() or all(
            shard_complete(store, i) for i in range(first, stop)
        )

    def execute(self, unit: Unit, env: Env) -> None:
        config, (first, stop) = unit.payload.config, unit.payload.shards
        root = env.data_root_for(config)
        shards = list(range(first, stop))
        synthesise_shards(config, env.results, shards, root, env.device, False, env.rebuild_cache)

    def store(self, unit: Unit, env: Env) -> Path:
        return inside(env.results, "cache", "synthetic", unit.payload.key)

    def workdir(self, unit: Unit, env: Env) -> Path:
        first, stop = unit.payload.shards
        return self.store(unit, env) / "tasks" / f"shards-{first:05d}-{stop:05d}"


def kind_of(unit: Unit) -> UnitKind:
    return UNIT_KINDS[unit.kind]()


@dataclass
class Plan:
    """The units of a sweep by key, and the stages (in order) that group them."""

    units: dict[str, Unit]

    def stages(self) -> list[tuple[str, list[Unit]]]:
        by_stage: dict[str, list[Unit]] = {s: [] for s in STAGES}
        for unit in self.units.values():
            by_stage[unit.stage].append(unit)
        return [(s, units) for s, units in by_stage.items() if units]

    def dependents(self, keys: set[str]) -> set[str]:
        """Every unit that (transitively) waits on one of `keys`."""
        out: set[str] = set()
        for unit in self.units.values():  # units are in dependency order
            if any(d in keys or d in out for d in unit.deps):
                out.add(unit.key)
        return out


def plan(configs: list[Any], planning: Planning | None = None) -> Plan:
    """The DAG of units for these runs: shared units once, dependencies in earlier stages."""
    planning = planning or Planning()
    LAYOUTS.clear()  # what is read from the data is read again for each plan
    DATA.clear()
    units: dict[str, Unit] = {}
    for config in configs:
        earlier: list[Unit] = []
        for name in UNIT_KINDS:
            for unit in UNIT_KINDS[name]().units(config, earlier, planning):
                add_unit(units, unit)
                earlier.append(unit)
    return Plan(units)


def add_unit(units: dict[str, Unit], unit: Unit) -> None:
    if unit.stage not in STAGES:
        raise ValueError(f"unit {unit.key}: unknown stage {unit.stage!r}; stages: {STAGES}")
    for dep in unit.deps:
        if dep not in units:
            raise BenchError(f"unit {unit.key} depends on {dep}, which is not planned before it.")
        if STAGES.index(units[dep].stage) >= STAGES.index(unit.stage):
            raise BenchError(
                f"unit {unit.key} ({unit.stage}) depends on {dep} ({units[dep].stage}): a unit "
                "can only wait on units of an earlier stage."
            )
    known = units.get(unit.key)
    if known is not None and {known.kind, unit.kind} == {"run", "dependency"}:
        # A run the sweep asks for that another run also needs (erm beside fg-entropy on the
        # same seed): one unit, in the dependency stage, so the other can wait on it.
        promoted = known if known.kind == "dependency" else unit
        if known.deps or unit.deps:
            raise BenchError(
                f"{unit.key} is both a run of the sweep and a dependency of another run, and has "
                "dependencies of its own: sweep it separately first."
            )
        units[unit.key] = promoted
    elif known is None:
        units[unit.key] = unit
    elif (known.kind, known.stage, known.deps) != (unit.kind, unit.stage, unit.deps):
        raise BenchError(f"two different units share the key {unit.key}.")
