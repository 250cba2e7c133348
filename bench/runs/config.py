"""Resolving a run's configuration: defaults < config file < command line, checked up front.

A run has three settings sections, each a dataclass of `hp` fields:
- `method`: the method's hyperparameters (its own file; per-dataset paper values in
  `Method.DATASET_DEFAULTS`);
- `dataset`: the adapter's options (imbalance factor, image size, shot thresholds, ...);
- `recipe`: the harness's classifier recipe (its first stage and the run-wide settings), with
  defaults from the dataset's protocol and then the method's declared training tweaks;
- `stage.<name>`: each later stage named in `recipe.then` (a `Stage`; `--set stage.crt.lr=0.1`,
  or `stages: {crt: {lr: 0.1}}` in a config file), with the method's declared `STAGES` defaults.
Every value is checked (unknown key, type, range) before any work starts, and the source of
each one is kept so a run record says where every number came from.
"""

from __future__ import annotations

import copy
import dataclasses
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from bench import hparams
from bench.datasets import DATASETS
from bench.errors import ConfigError
from bench.io import path_digest, read_yaml, stable_hash
from bench.methods import METHODS
from bench.train.recipe import Recipe, Stage, check_data, stage_fields

SECTIONS = ("method", "dataset", "recipe")
TOP_LEVEL_KEYS = ("method", "dataset", "recipe", "stages", "seed", "data_root")
STAGE_PREFIX = "stage."


@dataclass(frozen=True)
class RunConfig:
    """A fully resolved run: what it hashes to is what it is.

    Resolved once (by `resolve`) and then handed around as is: to the runner, to a SLURM job
    (it pickles) and into the run record. The checked settings objects (`method_settings`,
    `dataset_settings`, `recipe_settings`) are built once here from the plain values, which
    are what the run's identity hashes.
    """

    method: str
    dataset: str
    seed: int
    hparams: dict[str, Any]
    data: dict[str, Any]
    recipe: dict[str, Any]
    method_version: int = 1
    dataset_version: int = 1
    # The later stages (recipe.then), each its resolved Stage values.
    stages: dict[str, dict[str, Any]] = field(default_factory=dict)
    # A `bench run --smoke` run: tiny settings, its own identity, left out of leaderboards.
    smoke: bool = False
    # The digest of the data the run reads (bench.data.fingerprint), set by the runner once the
    # dataset is loaded: a changed tree is a new run. None only before that.
    data_fingerprint: str | None = None
    # The content digest of every file or folder a setting names ("section.key" -> digest;
    # settings declared path=True, not at their default): an edited prompt list is a new run.
    files: dict[str, str] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict, compare=False)
    # Where this machine keeps the data (config file `data_root:`): not part of the experiment.
    data_root: str | None = field(default=None, compare=False)
    # Runs this one needs first (name -> resolved config); their ids are part of the identity.
    dependencies: dict[str, RunConfig] = field(default_factory=dict, compare=False)
    method_settings: Any = field(default=None, compare=False, repr=False)
    dataset_settings: Any = field(default=None, compare=False, repr=False)
    recipe_settings: Any = field(default=None, compare=False, repr=False)
    stage_settings: Any = field(default=None, compare=False, repr=False)

    IDENTITY = (
        "method",
        "dataset",
        "seed",
        "hparams",
        "data",
        "recipe",
        "stages",
        "method_version",
        "dataset_version",
    )

    def __post_init__(self) -> None:
        built = {
            "method_settings": (
                METHODS[self.method].Hparams,
                self.hparams,
                f"method {self.method}",
            ),
            "dataset_settings": (
                DATASETS[self.dataset].Options,
                self.data,
                f"dataset {self.dataset}",
            ),
            "recipe_settings": (Recipe, self.recipe, "recipe"),
        }
        for name, (schema, values, where) in built.items():
            if getattr(self, name) is None:
                object.__setattr__(self, name, hparams.build(schema, values, where))
        if self.stage_settings is None:
            object.__setattr__(
                self,
                "stage_settings",
                {
                    name: hparams.build(Stage, self.stages[name], f"{STAGE_PREFIX}{name}")
                    for name in self.recipe_settings.then
                },
            )

    def stage_list(self) -> list[tuple[str, Any]]:
        """The stages after the first, in order: [(name, Stage)]."""
        return [(name, self.stage_settings[name]) for name in self.recipe_settings.then]

    def identity(self) -> dict[str, Any]:
        """Everything that defines the experiment (sources and data_root are not identity)."""
        out = {name: copy.deepcopy(getattr(self, name)) for name in self.IDENTITY}
        # settings added later are absent at their default, so earlier ids stay what they were
        for name, settings in (
            ("hparams", self.method_settings),
            ("data", self.dataset_settings),
            ("recipe", self.recipe_settings),
        ):
            out[name] = hparams.keyed(type(settings), out[name])
        out["stages"] = {name: hparams.keyed(Stage, v) for name, v in out["stages"].items()}
        if self.smoke:  # absent when false, so the ids of earlier runs stay what they were
            out["smoke"] = True
        if self.dependencies:
            out["dependencies"] = {k: d.run_id for k, d in sorted(self.dependencies.items())}
        if self.data_fingerprint is not None:
            out["data_fingerprint"] = self.data_fingerprint
        if self.files:  # absent when no setting names a file, so earlier ids stay as they were
            out["files"] = dict(self.files)
        return out

    def with_data(self, fingerprint: str) -> RunConfig:
        """This config bound to the data it reads (the settings objects are kept, not rebuilt).

        Dependencies on the same dataset and options read the same data: they are bound too.
        """
        deps = {
            k: d.with_data(fingerprint) if (d.dataset, d.data) == (self.dataset, self.data) else d
            for k, d in self.dependencies.items()
        }
        return dataclasses.replace(self, data_fingerprint=fingerprint, dependencies=deps)

    @property
    def run_id(self) -> str:
        return stable_hash(self.identity())

    @property
    def run_name(self) -> str:
        smoke = "-smoke" if self.smoke else ""
        return f"{self.method}-{self.dataset}-s{self.seed}{smoke}-{self.run_id}"

    def to_json(self) -> dict[str, Any]:
        return {
            **self.identity(),
            "smoke": self.smoke,
            "run_id": self.run_id,
            "sources": self.sources,
        }

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> RunConfig:
        keep = (*cls.IDENTITY, "smoke", "data_fingerprint", "files", "sources", "data_root")
        deps = {k: cls.from_json(v) for k, v in obj.get("dependency_configs", {}).items()}
        return cls(**{k: v for k, v in obj.items() if k in keep}, dependencies=deps)


@dataclass
class Layer:
    """One layer of settings (e.g. the config file), per section, with a label for provenance."""

    label: str
    values: dict[str, dict[str, Any]] = field(default_factory=lambda: {s: {} for s in SECTIONS})
    # Built-in layers may declare stages a later layer drops from recipe.then; user layers may not.
    builtin: bool = False
    lines: dict[str, int] = field(default_factory=dict)  # "section.key" -> line in a file
    notes: dict[str, str] = field(default_factory=dict)  # "section.key" -> why (paper source)

    def declare(self, section: str, declared: dict[str, tuple[Any, str]]) -> None:
        """Add built-in (value, source) pairs, e.g. a method's RECIPE."""
        for key, (value, note) in declared.items():
            self.values.setdefault(section, {})[key] = value
            self.notes[f"{section}.{key}"] = note

    def source(self, section: str, key: str) -> str:
        note = self.notes.get(f"{section}.{key}")
        return f"{self.label}: {note}" if note else self.label


def resolve(
    method: str | None = None,
    dataset: str | None = None,
    seed: int | None = None,
    config_file: str | Path | None = None,
    sets: list[str] | tuple[str, ...] = (),
    smoke: bool = False,
    required_by: Layer | None = None,
) -> RunConfig:
    """Build the RunConfig for a method and dataset from defaults, a config file and --set.

    `smoke` adds the smoke layer (the method's TINY settings, a tiny recipe and small images)
    above the built-in defaults, so a config file and --set still win over it. `required_by`:
    for a dependency run, what the method needing it declares for it (above its own defaults).
    """

    file_layer, file_top = load_config_file(Path(config_file)) if config_file else (None, {})
    method, dataset = method_and_dataset(method, dataset, file_top)
    method_cls, dataset_cls = METHODS[method], DATASETS[dataset]
    schemas = {"method": method_cls.Hparams, "dataset": dataset_cls.Options, "recipe": Recipe}

    cli_layer, cli_seed, dep_sets = parse_sets(sets, schemas, list(method_cls.DEPENDENCIES))
    builtin = [*default_layers(method, dataset, method_cls, dataset_cls), required_by]
    builtin = [layer for layer in builtin if layer is not None]
    if smoke:
        defaults = merge_layers(builtin, {"recipe": Recipe}, method, dataset)[1]["recipe"]
        builtin.append(smoke_settings(method_cls, dataset_cls, defaults))
    layers = [*builtin, file_layer, cli_layer]
    layers = [layer for layer in layers if layer is not None]
    resolved, built, sources = merge_layers(layers, schemas, method, dataset)
    stage_schemas = stage_sections(layers, built["recipe"].then)
    stage_values, stage_built, stage_sources = merge_layers(layers, stage_schemas, method, dataset)
    sources.update(stage_sources)
    synthetic = method_cls.uses_synthetic_data()
    refuse_unused(layers, built["recipe"], stage_built, synthetic, method)
    check_data(built["recipe"], stage_built, synthetic, method)
    final_seed = first_not_none(cli_seed, seed, file_top.get("seed"), 0)
    final_seed = hparams.check_value(hparams.Spec("seed", int, 0, "", low=0), final_seed, "seed")
    config = RunConfig(
        method=method,
        dataset=dataset,
        seed=final_seed,
        hparams=resolved["method"],
        data=resolved["dataset"],
        recipe=resolved["recipe"],
        stages={s[len(STAGE_PREFIX) :]: v for s, v in stage_values.items()},
        method_version=method_cls.VERSION,
        dataset_version=dataset_cls.VERSION,
        smoke=smoke,
        files=file_digests({**built, **stage_built}),
        sources=sources,
        data_root=file_top.get("data_root"),
        dependencies={},
        method_settings=built["method"],
        dataset_settings=built["dataset"],
        recipe_settings=built["recipe"],
        stage_settings={s[len(STAGE_PREFIX) :]: v for s, v in stage_built.items()},
    )
    return dataclasses.replace(config, dependencies=resolve_dependencies(config, dep_sets))


def method_and_dataset(method: str | None, dataset: str | None, file_top: dict) -> tuple[str, str]:
    """The run's method and dataset: the arguments, else the config file's; both registered."""
    method = method or file_top.get("method")
    dataset = dataset or file_top.get("dataset")
    if not method or not dataset:
        raise ConfigError("a run needs --method and --dataset (or both in the --config file).")
    METHODS.check(method)
    DATASETS.check(dataset)
    return method, dataset


def resolve_dependencies(config: RunConfig, dep_sets: dict[str, list[str]]) -> dict:
    """The RunConfig of each run `config`'s method depends on: the same dataset (settings) and
    seed, what the method declares for it, and the `dep.<name>.` items of --set."""
    method_cls = METHODS[config.method]
    declared = dataset_sections(method_cls, config.dataset)
    return {
        name: resolve(
            dep.method,
            config.dataset,
            config.seed,
            sets=[*as_sets("dataset", config.data), *dep_sets.get(name, [])],
            smoke=config.smoke,
            required_by=dependency_layer(
                config.method, dep, declared.get(f"{DEP_PREFIX}{name}", {}), config.dataset
            ),
        )
        for name, dep in method_cls.DEPENDENCIES.items()
    }


def file_digests(built: dict[str, Any]) -> dict[str, str]:
    """ "section.key" -> the content digest (bench.io.path_digest) of each setting declared
    `path=True` whose value, not its default, names an existing file or folder."""
    out = {}
    for section, settings in built.items():
        for key, spec in hparams.specs(type(settings)).items():
            value = getattr(settings, key)
            named = spec.path and isinstance(value, str) and value != spec.default
            if named and Path(value).exists():
                out[f"{section}.{key}"] = path_digest(Path(value))
    return out


def refuse_unused(
    layers: list[Layer], recipe: Any, stages: dict[str, Any], synthetic: bool, method: str
) -> None:
    """Refuse a setting the user gave (config file or --set) where no stage of the run uses it,
    e.g. `erm --set recipe.real_fraction=0.5` or a loss's parameter with another loss: it would
    only give the run a new id with the same numbers (a duplicate leaderboard row). Settings at
    their default and the built-in layers' values are left alone."""

    given = {
        (section, key): layer_place(layer, section, key, section)
        for layer in layers
        if not layer.builtin
        for section, values in layer.values.items()
        for key in values
    }
    every_stage = [stage_fields(recipe), *(stage_fields(recipe, st) for st in stages.values())]
    sections = {"recipe": (recipe, every_stage)}
    sections.update({name: (st, [stage_fields(recipe, st)]) for name, st in stages.items()})
    for section, (settings, effective) in sections.items():
        for key, spec in hparams.specs(type(settings)).items():
            value = getattr(settings, key)
            if spec.applies is None or (section, key) not in given or value == spec.default:
                continue
            when, test = spec.applies
            if not any(test(st, synthetic) for st in effective):
                raise ConfigError(
                    f"{given[(section, key)]}: {key}={value!r} does not apply to {method}: it "
                    f"matters only when {when}, and no stage of this run does. Drop it (it would "
                    "only give the run a new id with the same numbers)."
                )


def stage_sections(layers: list[Layer], then: tuple[str, ...]) -> dict[str, type]:
    """The schema of every stage in `then`; settings of a stage not there fail (user layers)."""
    for layer in layers:
        for section, values in layer.values.items():
            if not section.startswith(STAGE_PREFIX) or not values or layer.builtin:
                continue
            name = section[len(STAGE_PREFIX) :]
            if name not in then:
                listed = ", ".join(then) if then else "none"
                raise ConfigError(
                    f"{layer.label}: settings for stage {name!r}, which recipe.then does not list "
                    f"(its stages: {listed}). Add it there, e.g. --set recipe.then={name}."
                )
    return {f"{STAGE_PREFIX}{name}": Stage for name in then}


# The smallest classifier recipe that still runs train -> validate -> checkpoint -> resume ->
# test: two epochs of two small steps.
SMOKE_RECIPE = {"epochs": 2, "steps_per_epoch": 2, "batch_size": 8, "warmup_epochs": 0}
SMOKE_IMAGE_SIZE = 32


def smoke_settings(method_cls: Any, dataset_cls: Any, defaults: Recipe) -> Layer:
    """`bench run --smoke`: every code path of a method on a dataset, in seconds on a CPU.

    The method's TINY settings (the same the registry tests use: tiny random-weight pipelines
    of its protocol's backend class, `model_dir=tiny`), a two-epoch recipe on a tiny backbone of
    the protocol's family without weights, one epoch of every later stage and, for datasets
    whose image size is free, 32 px images. `defaults` is the recipe the run has without the
    smoke layer. The harness also caps synthesis and the evaluation splits of a smoke run
    (bench.runs.runner); the run is recorded as a smoke run.
    """
    layer = Layer("smoke", builtin=True)
    note = "bench run --smoke"
    layer.declare("method", {k: (v, note) for k, v in method_cls.TINY.items()})
    layer.declare("recipe", {k: (v, note) for k, v in SMOKE_RECIPE.items()})
    tiny = tiny_backbone(defaults.backbone)
    layer.declare("recipe", {"backbone": (tiny, f"{note}: {defaults.backbone}'s family, tiny")})
    layer.declare("recipe", {"pretrained": (None, f"{note}: a tiny backbone, no weights")})
    for name in defaults.then:
        layer.declare(f"{STAGE_PREFIX}{name}", {"epochs": (1, note), "warmup_epochs": (0, note)})
    size = hparams.specs(dataset_cls.Options).get("image_size")
    if size is not None and size.choices is None and size.default > SMOKE_IMAGE_SIZE:
        layer.declare("dataset", {"image_size": (SMOKE_IMAGE_SIZE, note)})
    return layer


def tiny_backbone(name: str) -> str:
    """The tiny member of a backbone's family (ResNet, ResNeXt); small ones stay themselves."""
    lower = name.lower()
    if "resnext" in lower:
        return "tiny-resnext"
    if "resnet" in lower and name != "resnet32":
        return "tiny-resnet"
    return name


def dependency_layer(
    method: str, dep: Any, declared: dict[str, tuple[Any, str]], dataset: str
) -> Layer:
    """What `method` declares for a dependency run: the Dependency's own settings, then its
    per-dataset ones (`dep.NAME.SECTION.KEY` in DATASET_DEFAULTS), as a built-in layer."""
    layer = Layer(f"{method} needs it", builtin=True)
    for key, value in hparams.parse_assignments(dep.sets, "recipe.lr=0.1"):
        section, _, name = key.rpartition(".")
        if not section:
            raise ConfigError(f"{method}: dependency setting {key!r} needs its section (recipe.)")
        layer.declare(section, {name: (value, dep.source)})
    for key, pair in declared.items():
        section, _, name = key.rpartition(".")
        layer.declare(section, {name: pair})
    return layer


def first_not_none(*values: Any) -> Any:
    return next(v for v in values if v is not None)


def default_layers(method: str, dataset: str, method_cls: Any, dataset_cls: Any) -> list[Layer]:
    """The built-in layers, lowest precedence first: the dataset's protocol, the method's
    tweaks, then the method's values for this dataset (its paper's protocol there)."""
    dataset_recipe = Layer(f"{dataset} default", builtin=True)
    dataset_recipe.declare("recipe", dataset_cls.RECIPE)
    method_tweaks = Layer(f"{method} default", builtin=True)
    method_tweaks.declare("recipe", method_cls.RECIPE)
    for name, declared in method_cls.STAGES.items():
        method_tweaks.declare(f"{STAGE_PREFIX}{name}", declared)
    protocol = Layer(f"{method} on {dataset}", builtin=True)
    for section, declared in dataset_sections(method_cls, dataset).items():
        if not section.startswith(DEP_PREFIX):
            protocol.declare(section, declared)
    return [dataset_recipe, method_tweaks, protocol]


DEP_PREFIX = "dep."


def dataset_sections(method_cls: Any, dataset: str) -> dict[str, dict[str, tuple[Any, str]]]:
    """A method's `DATASET_DEFAULTS[dataset]` by section: a bare key is a method setting,
    `recipe.KEY` the recipe's, `stage.NAME.KEY` a later stage's and `dep.NAME.SECTION.KEY` a
    dependency run's (e.g. FG's feedback classifier on ImageNet-LT)."""
    out: dict[str, dict[str, tuple[Any, str]]] = {}
    for key, pair in method_cls.DATASET_DEFAULTS.get(dataset, {}).items():
        head, _, rest = key.rpartition(".")
        section = head or "method"
        if head.startswith(DEP_PREFIX):  # dep.NAME -> {SECTION.KEY: ...}
            name, _, inner = head.removeprefix(DEP_PREFIX).partition(".")
            section, rest = f"{DEP_PREFIX}{name}", f"{inner}.{rest}" if inner else rest
        out.setdefault(section, {})[rest] = pair
    return out


def merge_layers(
    layers: list[Layer], schemas: dict[str, type], method: str, dataset: str
) -> tuple[dict[str, dict[str, Any]], dict[str, Any], dict[str, str]]:
    """Apply layers over the schema defaults, check every value, and record where each came from.

    Returns the plain values per section, the built settings object per section and the source
    of every value.
    """
    where = {"method": f"method {method}", "dataset": f"dataset {dataset}", "recipe": "recipe"}
    where.update({s: s for s in schemas if s.startswith(STAGE_PREFIX)})
    resolved: dict[str, dict[str, Any]] = {}
    objects: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for section, schema in schemas.items():
        specs = hparams.specs(schema)
        values = {name: spec.default for name, spec in specs.items()}
        sources.update({f"{section}.{n}": f"default: {s.source}" for n, s in specs.items()})
        for layer in layers:
            for key, raw in layer.values.get(section, {}).items():
                place = layer_place(layer, section, key, where[section])
                if key not in specs:
                    raise ConfigError(hparams.unknown_key_message(place, key, list(specs)))
                values[key] = hparams.check_value(specs[key], raw, place)
                sources[f"{section}.{key}"] = layer.source(section, key)
        built = hparams.build(schema, values, where[section])  # cross-field checks (__post_init__)
        values = {name: getattr(built, name) for name in values}  # e.g. imb_factor=0.01 -> IF 100
        resolved[section] = {k: list(v) if isinstance(v, tuple) else v for k, v in values.items()}
        objects[section] = built
    return resolved, objects, sources


def layer_place(layer: Layer, section: str, key: str, where: str) -> str:
    line = layer.lines.get(f"{section}.{key}")
    return f"{layer.label}, line {line}: {where}" if line else f"{layer.label}: {where}"


def parse_sets(
    sets: list[str] | tuple[str, ...], schemas: dict[str, type], deps: list[str] = ()
) -> tuple[Layer, Any, dict[str, list[str]]]:
    """Turn `--set key=value` items into a layer; a bare key goes to the one section that has it.

    `dep.NAME.KEY=V` items go to the dependency run NAME (e.g. FG's feedback classifier).
    """
    layer = Layer("command line")
    seed = None
    dep_sets: dict[str, list[str]] = {}
    names = {section: list(hparams.specs(schema)) for section, schema in schemas.items()}
    for key, value in hparams.parse_assignments(sets, "recipe.epochs=5"):
        if key == "seed":
            seed = value
            continue
        if key.startswith("dep."):
            name, dot, rest = key.removeprefix("dep.").partition(".")
            if name not in deps or not dot:
                hint = f"its dependencies: {', '.join(deps)}" if deps else "it has none"
                raise ConfigError(
                    f"--set {key}: write dep.NAME.KEY=VALUE for a dependency run NAME ({hint})."
                )
            dep_sets.setdefault(name, []).append(f"{rest}={value}")
            continue
        if key.startswith(("stage.", "stages.")):
            section, name = stage_key(key)
        else:
            section, name = locate_key(key, names)
        layer.values.setdefault(section, {})[name] = value
    return layer, seed, dep_sets


def run_command(config: RunConfig, results: Path) -> str:
    """The `bench run` command that makes the run `config` exactly (its settings that differ
    from the defaults as --set items), e.g. for a dependency run or a run to recompute."""

    base = resolve(config.method, config.dataset, config.seed, smoke=config.smoke)
    sets = []
    sections = [("method", config.hparams, base.hparams), ("dataset", config.data, base.data)]
    sections.append(("recipe", config.recipe, base.recipe))
    for name, values in config.stages.items():
        sections.append((f"{STAGE_PREFIX}{name}", values, base.stages.get(name, {})))
    for section, ours, theirs in sections:
        sets += as_sets(section, {k: v for k, v in ours.items() if theirs.get(k) != v})
    words = ["bench", "run", "--method", config.method, "--dataset", config.dataset]
    words += ["--seed", str(config.seed), "--results", str(results)]
    words += ["--smoke"] if config.smoke else []
    for item in sets:
        words += ["--set", item]
    return " ".join(shlex.quote(w) for w in words)


def as_sets(section: str, values: dict[str, Any]) -> list[str]:
    """Resolved values back as `--set section.key=value` items (for a dependency run)."""
    out = []
    for key, value in values.items():
        if isinstance(value, list | tuple):
            text = ",".join(str(v) for v in value)
        elif value is None:
            text = "none"
        else:
            text = str(value)
        out.append(f"{section}.{key}={text}")
    return out


def stage_key(key: str) -> tuple[str, str]:
    """("stage.crt", "lr") for "stage.crt.lr" (or "stages.crt.lr"); fields are checked later."""
    parts = key.split(".")
    valid = hparams.specs(Stage)
    if len(parts) != 3 or not parts[1]:
        raise ConfigError(
            f"--set {key}: a stage setting is stage.<name>.<field>, e.g. stage.crt.lr=0.1 "
            f"(fields: {', '.join(valid)})."
        )
    if parts[2] not in valid:
        raise ConfigError(
            hparams.unknown_key_message(f"--set stage.{parts[1]}", parts[2], list(valid))
        )
    return f"{STAGE_PREFIX}{parts[1]}", parts[2]


def locate_key(key: str, names: dict[str, list[str]]) -> tuple[str, str]:
    """("recipe", "lr") for "recipe.lr" or for a bare "lr" that only one section has."""
    section, dot, name = key.partition(".")
    if dot:
        if section not in names:
            raise ConfigError(
                f"--set {key}: unknown section {section!r}; use one of {', '.join(SECTIONS)}."
            )
        if name not in names[section]:
            raise ConfigError(hparams.unknown_key_message(f"--set {section}", name, names[section]))
        return section, name
    owners = [s for s in SECTIONS if key in names[s]]
    if len(owners) == 1:
        return owners[0], key
    if len(owners) > 1:
        options = " or ".join(f"{s}.{key}" for s in owners)
        raise ConfigError(f"--set {key}: ambiguous setting; write {options}.")
    everything = [f"{s}.{n}" for s in SECTIONS for n in names[s]]
    raise ConfigError(hparams.unknown_key_message("--set", key, everything))


def load_config_file(path: Path) -> tuple[Layer, dict[str, Any]]:
    """Read a YAML (or JSON) run config; errors name the file and line."""
    data, text = read_yaml(path, "config file")
    try:
        lines = key_lines(text)
    except ConfigError as exc:
        raise ConfigError(f"config file {path}, {exc}") from None
    data = data or {}
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path}: expected a mapping with keys {TOP_LEVEL_KEYS}.")
    layer = Layer(f"config file {path}", lines=lines)
    top: dict[str, Any] = {}
    for key, value in data.items():
        if key not in TOP_LEVEL_KEYS:
            place = f"config file {path}, line {lines.get(str(key), '?')}"
            raise ConfigError(hparams.unknown_key_message(place, str(key), list(TOP_LEVEL_KEYS)))
        if key == "seed":
            top["seed"] = value
        elif key == "stages":
            read_stages(path, value, lines, layer)
        elif isinstance(value, str) and key != "recipe":
            top[key] = value
        elif isinstance(value, dict):
            section = dict(value)
            if key != "recipe" and "name" in section:
                top[key] = section.pop("name")
            layer.values[key] = section
        else:
            raise ConfigError(
                f"config file {path}, line {lines.get(key, '?')}: {key} must be a name or a "
                f"mapping of settings, got {value!r}."
            )
    return layer, top


def read_stages(path: Path, value: Any, lines: dict[str, int], layer: Layer) -> None:
    """`stages: {name: {field: value}}` of a config file into the layer's stage sections."""
    if not isinstance(value, dict) or not all(isinstance(v, dict) for v in value.values()):
        raise ConfigError(
            f"config file {path}, line {lines.get('stages', '?')}: stages must map each stage "
            f"name to its settings, e.g. stages: {{crt: {{lr: 0.1}}}}; got {value!r}."
        )
    for name, settings in value.items():
        layer.values[f"{STAGE_PREFIX}{name}"] = dict(settings)
        for key in settings:
            line = lines.get(f"stages.{name}.{key}")
            if line:
                layer.lines[f"{STAGE_PREFIX}{name}.{key}"] = line


def key_lines(text: str) -> dict[str, int]:
    """Line numbers of the top-level keys and of the keys one level below them ("recipe.lr")."""
    root = yaml.compose(text)
    out: dict[str, int] = {}
    if not isinstance(root, yaml.MappingNode):
        return out

    def add(key: str, node: yaml.Node) -> None:
        line = node.start_mark.line + 1
        if key in out:  # YAML keeps the last silently; a config file must say one thing
            raise ConfigError(
                f"line {line}: {key} is given twice (lines {out[key]} and {line}); "
                "keep one of them."
            )
        out[key] = line

    for key_node, value_node in root.value:
        add(str(key_node.value), key_node)
        if isinstance(value_node, yaml.MappingNode):
            for sub_key, sub_value in value_node.value:
                add(f"{key_node.value}.{sub_key.value}", sub_key)
                if isinstance(sub_value, yaml.MappingNode):  # stages: {name: {field: ...}}
                    for leaf, _ in sub_value.value:
                        add(f"{key_node.value}.{sub_key.value}.{leaf.value}", leaf)
    return out
