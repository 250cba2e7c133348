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
    run_dir = run_dir_for(results, config)
    if is_done(run_dir):
        log.info("already done: %s", run_dir / "result.json")
        return run_dir
    with run_lock(run_dir):
        if is_done(run_dir):  # finished by another process while we waited
            return run_dir
        record = RunRecord(run_dir, config)
        record.open()
        with log_to(run_dir / "log.txt"):
            log.info("run %s -> %s", config.run_name, run_dir)
            execute(config, record, results / "cache", data_root, device, progress)
    log.info("done: %s", run_dir / "result.json")
    return run_dir


def execute(
    config: RunConfig,
    record: RunRecord,
    cache: Path,
    data_root: Path | None,
    device: str | None,
    progress: bool,
) -> dict[str, Any]:
    from bench.datasets import DATASETS
    from bench.method import MethodContext
    from bench.methods import METHODS
    from bench.train.backbones import check_backbone
    from bench.train.loop import pick_device

    method_cls, dataset_cls = METHODS[config.method], DATASETS[config.dataset]
    hparams, options, recipe = (
        config.method_settings,
        config.dataset_settings,
        config.recipe_settings,
    )
    check_backbone(recipe.backbone)
    device = pick_device(device)
    with record.stage("load-data"):
        data = dataset_cls(options, data_root).load()
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
            stages=config.stage_list(),
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
    handler = logging.FileHandler(path, encoding="utf-8")
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
