"""Units of work and the planner that turns a sweep's runs into a DAG of them.

A unit has a kind (a name in UNIT_KINDS), a stable key (a unit that several runs need is planned
once: the key is what dedupes it), a stage and the keys of the units it depends on. Stages run
in STAGES order; on SLURM each stage is one job array that waits (`afterok`) on the arrays its
units depend on.

A run is a `run` unit (`runner.run` on one resolved config) in the `classifier` stage; the runs
it depends on (FG's `erm` feedback classifier) are `dependency` units, in the `dependency` stage,
shared by every run that needs the same one. The `generator` and `synthesis` stages are where
generator fits and synthesis shard ranges go as they get their own unit kinds
(`runner.synthesise_shards` is the entry point for the latter); `evaluation` is for `bench
eval-gen`. A new kind is a UnitKind subclass plus a line in UNIT_KINDS (kinds are planned in
registry order: a unit may only depend on units of kinds listed before its own).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.errors import BenchError
from bench.registry import Registry

STAGES = ("dependency", "generator", "synthesis", "classifier", "evaluation")

UNIT_KINDS = Registry(
    "unit kind",
    {
        "dependency": "bench.launch.units:DependencyKind",
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


class UnitKind:
    """What a kind of unit is: which units a run needs, when one is done, how to execute it."""

    name = ""

    def units(self, config: Any, earlier: list[Unit]) -> list[Unit]:
        """The units of this kind that `config` needs; `earlier` are those planned for it by
        kinds registered before this one (what the new units may depend on)."""
        raise NotImplementedError

    def is_done(self, unit: Unit, env: Env) -> bool:
        raise NotImplementedError

    def execute(self, unit: Unit, env: Env) -> None:
        raise NotImplementedError

    def workdir(self, unit: Unit, env: Env) -> Path:
        """Where the unit's outputs (and, if it fails, its error and log tail) are written."""
        raise NotImplementedError


# unit key -> its run directory (binding a config to its data loads the dataset's files)
BOUND: dict[tuple[str, str], Path] = {}


class RunKind(UnitKind):
    """A whole `bench run`: resumes a killed run, skips a finished one by its `done` marker."""

    name = "run"

    def units(self, config: Any, earlier: list[Unit]) -> list[Unit]:
        deps = tuple(u.key for u in earlier)
        return [Unit("run", config.run_name, "classifier", config, deps)]

    def is_done(self, unit: Unit, env: Env) -> bool:
        from bench.runs.records import is_done

        return is_done(self.workdir(unit, env))

    def execute(self, unit: Unit, env: Env) -> None:
        from bench.data import data_root_from_env
        from bench.runs.runner import run

        config = unit.payload
        data_root = data_root_from_env(
            str(env.data_root) if env.data_root else None, config.data_root
        )
        rebuild = env.rebuild_cache
        run(config, env.results, data_root, env.device, progress=False, rebuild_cache=rebuild)

    def workdir(self, unit: Unit, env: Env) -> Path:
        """The run's directory, whose name includes the fingerprint of the data it reads
        (bench.runs.runner.bind_data; computed once per unit)."""
        from bench.data import data_root_from_env
        from bench.runs.records import run_dir_for
        from bench.runs.runner import bind_data

        key = (unit.key, str(env.results))
        if key not in BOUND:
            config = unit.payload
            if config.data_fingerprint is None:
                root = data_root_from_env(
                    str(env.data_root) if env.data_root else None, config.data_root
                )
                config = bind_data(config, root)
            BOUND[key] = run_dir_for(env.results, config)
        return BOUND[key]


class DependencyKind(RunKind):
    """A run that other runs need first (a method's DEPENDENCIES, e.g. FG's feedback classifier):
    its own unit in the `dependency` stage, so the runs needing it wait on its job (`afterok`)
    and run with it finished; runs of several methods or seeds that need the same run (the same
    resolved config, hence the same run name) share one unit. A dependency's own dependencies,
    if it has any, run inside its job first (runner.run)."""

    name = "dependency"

    def units(self, config: Any, earlier: list[Unit]) -> list[Unit]:
        return [
            Unit("dependency", dep.run_name, "dependency", dep)
            for _, dep in sorted(config.dependencies.items())
        ]


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


def plan(configs: list[Any]) -> Plan:
    """The DAG of units for these runs: shared units once, dependencies in earlier stages."""
    units: dict[str, Unit] = {}
    for config in configs:
        earlier: list[Unit] = []
        for name in UNIT_KINDS:
            for unit in UNIT_KINDS[name]().units(config, earlier):
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
