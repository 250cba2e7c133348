"""One experiment end to end: data, generator, synthetic data, classifier, evaluation, record.

run(config, results) ->
  1. a finished run directory?  print where its result is and stop
  2. check everything that can be checked before work (settings, backbone, budgets)
  3. load the dataset
  4. fit the generator          (methods with synthetic data; cached)
  5. synthesise the fill-up set (sharded, resumable, cached)
  6. train the classifier       (checkpointed each epoch, resumable)
  7. evaluate on the test split (best-val and last checkpoints)
  8. write result.json, then `done`
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bench.data import LoadedDataset
from bench.errors import BenchError
from bench.runs.config import RunConfig
from bench.runs.records import RunRecord, is_done, run_dir_for, run_lock

log = logging.getLogger("bench")
# A smoke run evaluates on the first images of each class only (val and test splits).
SMOKE_EVAL_PER_CLASS = 2


def run(
    config: RunConfig,
    results: Path,
    data_root: Path | None = None,
    device: str | None = None,
    progress: bool = True,
) -> Path:
    """Run (or resume, or skip if finished) the experiment `config`; return its directory."""
    results = Path(results)
    if results.exists() and not results.is_dir():
        raise BenchError(f"--results {results} is a file; it must name a directory.")
    device = check_device_and_backbone(config, device)  # before the data loads
    data, load_seconds = load_data(config, results / "cache", data_root, progress)
    fingerprint = data.info["fingerprint"]
    if config.data_fingerprint not in (None, fingerprint["digest"]):
        raise BenchError(
            f"the data of {config.dataset} changed since this run was configured (fingerprint "
            f"{config.data_fingerprint}, now {fingerprint['digest']}); resolve the run again."
        )
    config = config.with_data(fingerprint["digest"])
    run_dir = run_dir_for(results, config)
    if is_done(run_dir):
        log.info("already done: %s", run_dir / "result.json")
        return run_dir
    with run_lock(run_dir):
        if is_done(run_dir):  # finished by another process while we waited
            return run_dir
        record = RunRecord(run_dir, config)
        record.open()
        record.timings["load-data"] = load_seconds
        record.info["data"] = fingerprint
        with log_to(run_dir / "log.txt"):
            log.info("run %s -> %s", config.run_name, run_dir)
            execute(config, record, results / "cache", data, device, progress)
    log.info("done: %s", run_dir / "result.json")
    return run_dir


def check_device_and_backbone(config: RunConfig, device: str | None) -> str:
    from bench.train.backbones import check_backbone, read_weights
    from bench.train.loop import pick_device

    recipe = config.recipe_settings
    check_backbone(recipe.backbone)
    if recipe.pretrained and recipe.pretrained != "hf-cache":
        read_weights(recipe.pretrained)  # a non-checkpoint fails here, before any work
    return pick_device(device)


def load_data(
    config: RunConfig, cache: Path | None, data_root: Path | None, progress: bool = False
) -> tuple[LoadedDataset, float]:
    """The run's data, checked (bench.data.check.load_for_run) and fingerprinted, and the
    seconds it took: loaded before the run directory is known, since the data's fingerprint is
    part of the run's name."""
    import time

    from bench.data.check import load_for_run
    from bench.datasets import DATASETS

    start = time.time()
    adapter = DATASETS[config.dataset](config.dataset_settings, data_root)
    data = load_for_run(adapter, cache, progress)
    return data, round(time.time() - start, 3)


def bind_data(config: RunConfig, data_root: Path | None = None) -> RunConfig:
    """`config` bound to the fingerprint of the data it reads: what names its run directory
    (e.g. to find a run's directory without running it)."""
    data, _ = load_data(config, None, data_root)
    return config.with_data(data.info["fingerprint"]["digest"])


def execute(
    config: RunConfig,
    record: RunRecord,
    cache: Path,
    data: LoadedDataset,
    device: str,
    progress: bool,
) -> dict[str, Any]:
    from bench.method import MethodContext
    from bench.methods import METHODS

    method_cls = METHODS[config.method]
    hparams, recipe = config.method_settings, config.recipe_settings
    if config.smoke:
        data = data.with_eval_limit(SMOKE_EVAL_PER_CLASS)
    method = method_cls(hparams, MethodContext(data, config.seed, device, progress))
    synthetic = None
    if method_cls.uses_synthetic_data:
        synthetic = synthetic_data(config, method, data, record, cache, progress)
    with record.stage("train-classifier"):
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
        )
    with record.stage("evaluate"):
        from bench.runs.evaluate import evaluate

        metrics = evaluate(trained, data, recipe, device, synthetic)
    save_models(trained, record.dir)
    return record.finish(metrics, device)


def synthetic_data(
    config: RunConfig,
    method: Any,
    data: LoadedDataset,
    record: RunRecord,
    cache: Path,
    progress: bool,
):
    """Stages 4-5: the fill-up plan, the (cached) generator and the (cached) synthetic set."""
    from bench.synthesis.store import (
        cached_generator,
        cached_synthesis,
        fill_plan,
        generator_key,
        synthesis_key,
    )

    counts = data.train_counts()
    plan = fill_plan(counts, method.fill_target(counts))  # checked before the generator trains
    record.info["synthetic_plan"] = [int(n) for n in plan]
    if plan.sum() == 0:
        log.info("every class already has %d images: nothing to synthesise", counts.max())
        return None
    method_cls = type(method)
    with record.stage("fit-generator"):
        gen_dir, record.info["generator"] = cached_generator(
            method, generator_key(config, method_cls), cache
        )
    with record.stage("synthesise"):
        method.load_generator(gen_dir)
        split, record.info["synthesis"] = cached_synthesis(
            method, synthesis_key(config, method_cls, plan), plan, config.seed, cache, progress
        )
    return split


def save_models(trained: Any, run_dir: Path) -> None:
    """Keep both classifiers (FG's feedback classifier is an ERM run's); drop the checkpoint."""
    import torch

    from bench.io import atomic_write

    for name, model in (("model_best.pt", trained.best), ("model_last.pt", trained.last)):
        state = model.state_dict()
        atomic_write(run_dir / name, lambda tmp, s=state: torch.save(s, tmp))
    (run_dir / "train_state.pt").unlink(missing_ok=True)


@contextmanager
def log_to(path: Path) -> Iterator[None]:
    """Copy the bench log into the run directory (appending across relaunches)."""
    from bench.io import open_no_follow

    handler = logging.StreamHandler(open_no_follow(path, "a"))  # never through a planted link
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger("bench")
    root.addHandler(handler)
    level = root.level
    root.setLevel(logging.INFO)  # the file gets INFO even when the terminal shows warnings only
    try:
        yield
    except BaseException as exc:
        if not isinstance(exc, BenchError | KeyboardInterrupt):
            log.exception("run failed")
        raise
    finally:
        root.setLevel(level)
        root.removeHandler(handler)
        handler.close()
        handler.stream.close()
