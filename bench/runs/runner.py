"""One experiment end to end: data, generator, synthetic data, classifier, evaluation, record.

run(config, results) ->
  1. every pretrained artefact it and its dependencies load is on this machine (preflight)
  2. check everything else that can be checked before work (device, backbone)
  3. load the dataset; a finished run directory?  print where its result is and stop
  4. the runs it depends on (e.g. FG's feedback classifier): run first where missing
  5. fit the generator          (methods with synthetic data; cached, shared across methods)
  6. synthesise the set         (sharded store, resumable, fillable by many jobs; cached)
  7. train the classifier       (checkpointed each epoch, resumable)
  8. evaluate on the test split (best-val and last checkpoints)
  9. write result.json, then `done`
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from bench.data import LoadedDataset
from bench.data.check import load_checked
from bench.data.realkept import keep_real
from bench.errors import BenchError
from bench.io import atomic_write, open_no_follow, torch_writer
from bench.method import MethodContext
from bench.methods import METHODS
from bench.runs.config import RunConfig, run_command
from bench.runs.describe import generator_line, stages_line
from bench.runs.evaluate import evaluate
from bench.runs.models import load_classifier
from bench.runs.preflight import preflight
from bench.runs.records import RunRecord, cache_dir, is_done, run_dir_for, run_lock
from bench.synthesis.pipeline import Synthesis, describe
from bench.synthesis.store import shard_ranges
from bench.train import distributed

log = logging.getLogger("bench")
# A smoke run evaluates on the first images of each class only (val and test splits).
SMOKE_EVAL_PER_CLASS = 2


def run(
    config: RunConfig,
    results: Path,
    data_root: Path | None = None,
    device: str | None = None,
    progress: bool = True,
    deps: bool = True,
    rebuild_cache: bool = False,
) -> Path:
    """Run (or resume, or skip if finished) the experiment `config`; return its directory.

    Runs it depends on are run first (`deps=False`: an error naming the command instead).
    `rebuild_cache`: cached generators and synthetic shards that fail their checksums are
    deleted and made again instead of being an error.

    Launched as several processes (torchrun, `srun`, `bench run --nproc`), every process calls
    this: they train the classifier together (bench.train.distributed); rank 0 alone takes the
    lock, fits and synthesises (the others then read its cache), evaluates and writes.
    """

    results = Path(results)
    if results.exists() and not results.is_dir():
        raise BenchError(f"--results {results} is a file; it must name a directory.")
    preflight([config], dependencies=deps)  # weights on disk, before anything loads (or torch)

    world = distributed.init(device)
    progress = progress and world.is_main
    device = check_device_and_backbone(config, device, world)  # before the data loads
    with world.main_first():  # rank 0 fills the data cache, the others read it
        data, load_seconds = load_data(config, cache_dir(results), data_root, progress)
    config = with_fingerprint(config, data)
    run_dir = run_dir_for(results, config)
    if world.agree(is_done(run_dir)):
        log.info("already done: %s", run_dir / "result.json")
        return run_dir
    for name, dep in config.dependencies.items():
        if world.agree(is_done(run_dir_for(results, dep))):
            continue
        if not deps:
            raise BenchError(missing_dependency(config, name, dep, results))
        log.info("dependency %s: running %s first", name, dep.run_name)
        run(dep, results, data_root, device, progress, deps, rebuild_cache)
    if not world.is_main:  # trains along with rank 0, writes nothing
        if not world.agree(None):
            execute(config, Follower(run_dir), results, data, device, progress, rebuild_cache)
        world.barrier()
        return run_dir
    with run_lock(run_dir):
        if world.agree(is_done(run_dir)):  # finished by another process while we waited
            world.barrier()
            return run_dir
        record = open_record(run_dir, config, data, load_seconds, world)
        with log_to(run_dir / "log.txt"):
            log.info("run %s -> %s", config.run_name, run_dir)
            describe_start(config)
            execute(config, record, results, data, device, progress, rebuild_cache)
    world.barrier()
    log.info("done: %s", run_dir / "result.json")
    return run_dir


def with_fingerprint(config: RunConfig, data: Any) -> RunConfig:
    """`config` bound to the loaded data's fingerprint; an error where the run was configured
    on other data."""
    digest = data.info["fingerprint"]["digest"]
    if config.data_fingerprint not in (None, digest):
        raise BenchError(
            f"the data of {config.dataset} changed since this run was configured (fingerprint "
            f"{config.data_fingerprint}, now {digest}); resolve the run again."
        )
    return config.with_data(digest)


def missing_dependency(config: RunConfig, name: str, dep: RunConfig, results: Path) -> str:
    return (
        f"{config.method} needs its {name!r} run ({dep.method} on {dep.dataset}, seed "
        f"{dep.seed}), which is not finished in {results}. Run it first:\n  "
        + run_command(dep, results)
    )


def open_record(
    run_dir: Path, config: RunConfig, data: Any, load_seconds: float, world: Any
) -> RunRecord:
    """The run's record, opened, with what loading the data found."""
    record = RunRecord(run_dir, config)
    record.open()
    record.timings["load-data"] = load_seconds
    record.info["data"] = data.info["fingerprint"]
    if "real_kept" in data.info:
        record.info["real_kept"] = data.info["real_kept"]
    if world.distributed:
        record.info["distributed"] = distributed_info(world)
    return record


class Follower:
    """A rank other than 0's stand-in for the run record: it keeps what it is told, writes
    nothing."""

    def __init__(self, run_dir: Path):
        self.dir, self.info, self.timings = run_dir, {}, {}

    @contextmanager
    def timed(self, name: str) -> Iterator[None]:
        yield

    def write_epochs(self, rows: list[dict[str, Any]]) -> None:
        pass


def distributed_info(world: Any) -> dict[str, Any]:
    # torch: heavy, imported where used (off the start-up path)
    import torch.distributed as dist

    return {"world_size": world.size, "backend": dist.get_backend()}


def describe_start(config: RunConfig) -> None:
    """What the run is about to do, in its log: smoke or not, its stages."""
    if config.smoke:
        log.info("smoke run: tiny settings, tiny random-weight pipelines; not a result")
    log.info("stages: %s", stages_line(config.to_json()))


def check_device_and_backbone(config: RunConfig, device: str | None, world: Any = None) -> str:
    """The run's device (in a distributed world on CUDA: this rank's local GPU)."""
    # torch: heavy, imported where used (off the start-up path)
    from bench.train.backbones import check_backbone, read_weights
    from bench.train.loop import pick_device

    recipe = config.recipe_settings
    check_backbone(recipe.backbone)
    if recipe.pretrained and recipe.pretrained not in ("hf-cache", "torch-hub"):
        read_weights(recipe.pretrained)  # a non-checkpoint fails here, before any work
    device = pick_device(device)
    if world is not None and world.distributed and device == "cuda":
        device = f"cuda:{world.local_rank}"
    return device


def load_data(
    config: RunConfig, cache: Path | None, data_root: Path | None, progress: bool = False
) -> tuple[LoadedDataset, float]:
    """The run's data, checked (bench.data.check.load_for_run) and fingerprinted, and the
    seconds it took: loaded before the run directory is known, since the data's fingerprint is
    part of the run's name. The option `real_kept` reduces the training split here, once, so
    the generator, the synthesis plan and the classifier all see the same reduced split (the
    fingerprint is the full data's; the option is part of the run's identity)."""

    start = time.time()
    data = load_checked(config.dataset, config.dataset_settings, data_root, cache, progress)
    data = keep_real(data, config.dataset_settings.real_kept, config.seed)
    return data, round(time.time() - start, 3)


def bind_data(config: RunConfig, data_root: Path | None = None) -> RunConfig:
    """`config` bound to the fingerprint of the data it reads: what names its run directory
    (e.g. to find a run's directory without running it)."""
    data, _ = load_data(config, None, data_root)
    return config.with_data(data.info["fingerprint"]["digest"])


def execute(
    config: RunConfig,
    record: RunRecord,
    results: Path,
    data: LoadedDataset,
    device: str,
    progress: bool,
    rebuild_cache: bool = False,
) -> dict[str, Any]:
    world = distributed.current()
    method = prepare(config, results, data, device, progress)
    method_cls, recipe = type(method), config.recipe_settings
    data = method.context.data
    synthetic = None
    if method_cls.uses_synthetic_data():
        cache = cache_dir(results)
        with world.main_first():  # rank 0 fits and synthesises, the others read the cache
            synthetic = synthetic_data(config, method, data, record, cache, device, rebuild_cache)
    with record.timed("train-classifier"):
        # torch: heavy, imported where used (off the start-up path)
        from bench.train.loop import train_classifier

        trained = train_classifier(
            recipe,
            data,
            synthetic,
            config.seed,
            device,
            record.dir / "train_state.pt",
            record.write_epochs,
            progress,
            stages=config.stage_list(),
        )
    if not world.is_main:
        return {}
    with record.timed("evaluate"):
        metrics = evaluate(trained, data, recipe, device, synthetic)
    save_models(trained, record.dir)
    return record.finish(metrics, device)


def prepare(
    config: RunConfig,
    results: Path,
    data: LoadedDataset,
    device: str,
    progress: bool,
    dependencies: bool = True,
) -> Any:
    """The method, with its context: the data (evaluation-limited for a smoke run) and its
    loaded dependencies (`dependencies=False`: none, for work that needs none of them, e.g. a
    generator fit or a plan)."""

    if config.smoke:
        data = data.with_eval_limit(SMOKE_EVAL_PER_CLASS)
    loaded = load_dependencies(config, data, results, device) if dependencies else {}
    context = MethodContext(data, config.seed, device, progress, loaded)
    return METHODS[config.method](config.method_settings, context)


def open_synthesis(
    config: RunConfig,
    data: LoadedDataset,
    results: Path,
    device: str,
    progress: bool,
    dependencies: bool = True,
    rebuild_cache: bool = False,
) -> Any:
    """The synthesis of a run (bench.synthesis.pipeline.Synthesis: plan, generator and set
    keys, requests, store), its method prepared on `data`; a BenchError if it has none."""

    config = config.with_data(data.info["fingerprint"]["digest"])
    method = prepare(config, results, data, device, progress, dependencies)
    if not type(method).uses_synthetic_data():
        raise BenchError(f"{config.method} synthesises nothing.")
    cache = cache_dir(results)
    return Synthesis(config, method, method.context.data, cache, progress, rebuild_cache)


def synthesise_shards(
    config: RunConfig,
    results: Path,
    shards: list[int] | None = None,
    data_root: Path | None = None,
    device: str | None = None,
    progress: bool = True,
    rebuild_cache: bool = False,
) -> dict[str, Any]:
    """Fill some shards of a run's synthetic set (a SLURM array task's share of the work).

    The dependencies must be finished. Returns what was done; the task that completes the set
    writes its `done`.
    """
    results = Path(results)
    device = check_device_and_backbone(config, device)
    data, _ = load_data(config, cache_dir(results), data_root, progress)
    synthesis = open_synthesis(config, data, results, device, progress, rebuild_cache=rebuild_cache)
    sink = SimpleNamespace(info={})  # what Synthesis.run reports into (a record's `info`)
    complete = synthesis.run(device, shards, record=sink) is not None
    return {"key": synthesis.key, "complete": complete, **sink.info.get("synthesis", {})}


def fit_generator(
    config: RunConfig,
    results: Path,
    data_root: Path | None = None,
    device: str | None = None,
    progress: bool = True,
    rebuild_cache: bool = False,
    parts: Sequence[int] | None = None,
) -> dict[str, Any]:
    """Fit the generator a run's synthesis needs into the cache, and nothing else (a sweep's
    generator task): runs sharing the generator find it there. Needs none of the run's
    dependencies. `parts`: only these parts of a fit that splits (Synthesis.fit). Returns what
    was done (key, directory, cached or seconds)."""
    # torch: heavy, imported where used (off the start-up path)
    from bench.train.loop import pick_device

    results = Path(results)
    device = pick_device(device)
    data, _ = load_data(config, cache_dir(results), data_root, progress)
    synthesis = open_synthesis(config, data, results, device, progress, False, rebuild_cache)
    if not synthesis.backend.trains:
        raise BenchError(
            f"{config.method}'s generator ({synthesis.backend.name}) is pretrained: nothing to fit."
        )
    return synthesis.fit(device, parts)


def synthesis_layout(
    config: RunConfig, data: LoadedDataset, results: Path
) -> dict[str, Any] | None:
    """What a run's synthesis consists of, computed without doing any of it (the sweep
    planner's view): the generator key (None for a pretrained backend: nothing to fit), the set
    key and its number of shards, and how many parts the fit splits into; None if the run
    synthesises nothing."""

    if not METHODS[config.method].uses_synthetic_data():
        return None
    synthesis = open_synthesis(config, data, results, "cpu", False, dependencies=False)
    if synthesis.plan.total == 0:
        return None
    trains = synthesis.backend.trains
    return {
        "generator": synthesis.generator_key if trains else None,
        # independent parts of the generator's fit (0: it fits whole)
        "generator_parts": synthesis.backend.fit_parts(synthesis.settings, data) if trains else 0,
        "set": synthesis.key,
        "num_shards": len(shard_ranges(synthesis.plan.total)),
    }


def synthetic_data(
    config: RunConfig,
    method: Any,
    data: LoadedDataset,
    record: RunRecord,
    cache: Path,
    device: str,
    rebuild_cache: bool = False,
) -> Any:
    """Stages 5-6: the plan and requests (checked first), the generator and the stored set."""

    synthesis = Synthesis(config, method, data, cache, method.context.progress, rebuild_cache)
    record.info["synthetic_plan"] = describe(synthesis)
    log.info("generator: %s", generator_line(record.info["synthetic_plan"]))
    log.info("synthesis: plan %s, %d images", synthesis.plan.spec, synthesis.plan.total)
    if synthesis.plan.total == 0:
        return None
    if (synthesis.store_dir / "done").exists():  # the whole set is cached: no generator needed
        record.info["generator"] = {"key": synthesis.generator_key, "cached": True, "loaded": False}
        record.info["synthesis"] = {"key": synthesis.key, "generated_shards": 0, "cached": True}
    else:
        with record.timed("fit-generator"):
            record.info["generator"] = synthesis.generator(device)[1]
    with record.timed("synthesise"):
        synthetic = synthesis.run(device, record=record)
    return synthetic


def load_dependencies(
    config: RunConfig, data: LoadedDataset, results: Path, device: str
) -> dict[str, Any]:
    """The finished runs a method depends on, loaded (their classifiers) and checked."""

    out = {}
    for name, dep in config.dependencies.items():
        loaded = load_classifier(run_dir_for(results, dep), device)
        if loaded.dataset != data.name or loaded.num_classes != data.num_classes:
            raise BenchError(
                f"the {name!r} run {loaded.run_dir} was trained on {loaded.dataset} with "
                f"{loaded.num_classes} classes, but this run uses {data.name} with "
                f"{data.num_classes}: it cannot give feedback here."
            )
        out[name] = loaded
    return out


def save_models(trained: Any, run_dir: Path) -> None:
    """Keep both classifiers (FG's feedback classifier is an ERM run's); drop the checkpoint."""

    for name, model in (("model_best.pt", trained.best), ("model_last.pt", trained.last)):
        atomic_write(run_dir / name, torch_writer(model.state_dict()))
    (run_dir / "train_state.pt").unlink(missing_ok=True)


@contextmanager
def log_to(path: Path) -> Iterator[None]:
    """Copy the bench log into the run directory (appending across relaunches)."""

    handler = logging.StreamHandler(open_no_follow(path, "a"))  # never through a planted link
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger("bench")
    root.addHandler(handler)
    level = root.level
    root.setLevel(logging.INFO)  # the file gets INFO even when the terminal shows warnings only
    try:
        yield
    except BaseException as exc:
        if isinstance(exc, KeyboardInterrupt):  # Ctrl-C, or SIGTERM (bench.errors.Interrupted)
            log.warning("interrupted (%s); the next launch resumes", type(exc).__name__)
        elif not isinstance(exc, BenchError):
            log.exception("run failed")
        raise
    finally:
        root.setLevel(level)
        root.removeHandler(handler)
        handler.close()
        handler.stream.close()
