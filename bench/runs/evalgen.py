"""`bench eval-gen`: generation metrics of a synthetic set against a real split.

    bench eval-gen --dataset D --synthetic PATH [--extractor NAME[:ARG]] [--n N] [--set KEY=V]
    bench eval-gen --run RUN_DIR [--synthetic PATH] ...

PATH is a synthetic set written by bench (manifest.json + shard-*.npz) or a folder of images.
With --run, the dataset and its options come from the run's config, PATH defaults to the
synthetic set the run trained on, and the metrics go into the run's result.json under
"generation" -> extractor name (the file is rewritten atomically; `done` is left alone).
Without --run the metrics are printed as JSON.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from bench import hparams
from bench.data.check import load_checked
from bench.datasets import DATASETS
from bench.errors import BenchError, ConfigError, DataError
from bench.io import inside
from bench.metrics import EXTRACTORS
from bench.metrics.featurecache import cached_features
from bench.metrics.generation import GenerationSettings, generation_metrics
from bench.metrics.imagesets import IMAGE_SUFFIXES, FileSource, choose, split_source
from bench.progress import progress_bar
from bench.runs.models import load_classifier
from bench.runs.records import load_run, read_finished, write_result
from bench.synthesis.store import SyntheticSet  # the store's one reader

log = logging.getLogger(__name__)
FEATURE_CACHE_VERSION = 1  # bump when the image pre-processing below changes


@dataclass(frozen=True)
class Target:
    """What to evaluate: a dataset (name + options), a synthetic set and, maybe, a run."""

    dataset: str
    options: dict[str, Any]
    synthetic: Path
    results: Path
    run_dir: Path | None = None


def eval_gen(
    dataset: str | None = None,
    synthetic: str | Path | None = None,
    run_dir: str | Path | None = None,
    sets: list[str] | tuple[str, ...] = (),
    results: str | Path | None = None,
    data_root: Path | None = None,
    device: str | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Compute the generation metrics; with a run, also store them in its result.json."""
    # torch, torch_fidelity: heavy, imported where used (off the start-up path)
    from bench.metrics.extractors import ExtractorContext, build_extractor
    from bench.train.loop import pick_device

    dataset_sets, metric_sets = split_sets(sets)
    settings = generation_settings(metric_sets)
    target = resolve_target(dataset, synthetic, run_dir, dataset_sets, results)
    fake_source = open_synthetic(target.synthetic)  # a wrong path fails before any work
    adapter_cls = DATASETS[target.dataset]
    options = hparams.build(adapter_cls.Options, target.options, f"dataset {target.dataset}")
    # every option, defaults included (settings added later only when not at their default)
    target = replace(target, options=hparams.keyed(adapter_cls.Options, asdict(options)))
    cache = inside(target.results, "cache")
    data = load_checked(target.dataset, options, data_root, cache, progress)
    device = pick_device(device)

    context = ExtractorContext(device, data.image_size, lambda run: load_classifier(run, device))
    extractor = build_extractor(settings.extractor, context)
    real, real_info = real_features(
        target, adapter_cls.VERSION, data, extractor, settings, progress
    )
    fake = synthetic_features(fake_source, extractor, settings, progress)
    record = measure(real, fake, settings, data.num_classes)
    record.update(
        extractor=extractor.name,
        extractor_identity=extractor.identity,
        dataset=target.dataset,
        split=settings.split,
        synthetic=str(target.synthetic),
        real_features=real_info,
        settings=asdict(settings),
        finished=datetime.now(UTC).isoformat(timespec="seconds"),
    )
    if target.run_dir is not None:
        write_generation(target.run_dir, extractor.name, record)
    return record


def split_sets(sets: list[str] | tuple[str, ...]) -> tuple[dict[str, str], dict[str, str]]:
    """`dataset.X=V` items go to the dataset options, the rest to GenerationSettings."""
    dataset_sets, metric_sets = {}, {}
    for key, value in hparams.parse_assignments(sets, "k=3"):
        section, dot, name = key.partition(".")
        if dot and section == "dataset":
            dataset_sets[name] = value
        elif dot:
            raise ConfigError(f"--set {key}: eval-gen takes dataset.X or a metric setting.")
        else:
            metric_sets[section] = value
    return dataset_sets, metric_sets


def generation_settings(values: dict[str, Any]) -> Any:
    settings = hparams.build(GenerationSettings, values, "eval-gen")
    EXTRACTORS.check(settings.extractor.partition(":")[0])
    return settings


def resolve_target(
    dataset: str | None,
    synthetic: str | Path | None,
    run_dir: str | Path | None,
    dataset_sets: dict[str, str],
    results: str | Path | None,
) -> Target:
    if run_dir is None:
        if not dataset:
            raise ConfigError("eval-gen needs --dataset D (or --run RUN_DIR).")
        if synthetic is None:
            raise ConfigError("eval-gen needs --synthetic PATH (or --run RUN_DIR).")
        DATASETS.check(dataset)
        return Target(dataset, dict(dataset_sets), Path(synthetic), Path(results or "results"))
    run_dir = Path(run_dir)

    run = load_run(run_dir)
    if not run["done"] or "result" not in run:
        raise BenchError(not_finished(run_dir))
    config = run["config"]
    if dataset and dataset != config["dataset"]:
        raise ConfigError(
            f"--dataset {dataset} disagrees with the run's dataset {config['dataset']} "
            f"({run_dir / 'config.json'}); leave --dataset out."
        )
    if dataset_sets:
        raise ConfigError("--set dataset.X cannot change the options of a run's dataset.")
    results = Path(results) if results else run_dir.resolve().parents[1]
    return Target(
        config["dataset"],
        dict(config["data"]),
        Path(synthetic) if synthetic else run_synthetic_set(run, results),
        results,
        run_dir,
    )


def run_synthetic_set(run: dict[str, Any], results: Path) -> Path:
    """The synthetic set a finished run trained on (results/cache/synthetic/<key>)."""
    key = ((run.get("result") or {}).get("info") or {}).get("synthesis", {}).get("key")
    if not key:
        raise ConfigError(
            f"{run['dir']} has no synthetic set (its method uses none, or it is unfinished): "
            "give --synthetic PATH."
        )
    store = inside(results, "cache", "synthetic", key)
    if not store.is_dir():
        raise BenchError(
            f"the run's synthetic set {store} is gone (cache cleaned?); give --synthetic PATH or "
            "rerun the run's synthesis."
        )
    return store


def real_features(
    target: Target, dataset_version: int, data: Any, extractor: Any, settings: Any, progress: bool
) -> tuple[np.ndarray, dict[str, Any]]:
    """Features of the real split, from the cache when nothing they depend on has changed."""

    if settings.split not in data.splits:
        raise ConfigError(f"dataset {target.dataset} has no {settings.split!r} split.")
    split = data.splits[settings.split]
    source = split_source(split, data.image_size, f"{target.dataset} {settings.split}")
    index = choose(len(source), settings.n, settings.seed)
    key = {
        "version": FEATURE_CACHE_VERSION,
        "dataset": target.dataset,
        "dataset_version": dataset_version,
        "options": target.options,
        "split": settings.split,
        "extractor": extractor.identity,
        "image_size": data.image_size,
        "n": len(index),
        "seed": settings.seed if len(index) < len(source) else None,
    }
    features, info = cached_features(
        inside(target.results, "cache"),
        key,
        lambda: extract(source, index, extractor, settings.batch_size, progress)["features"],
    )
    return features, info


def synthetic_features(
    source: Any, extractor: Any, settings: Any, progress: bool
) -> dict[str, np.ndarray]:
    index = choose(len(source), settings.n, settings.seed + 1)
    return extract(source, index, extractor, settings.batch_size, progress)


def extract(
    source: Any, index: np.ndarray, extractor: Any, batch_size: int, progress: bool
) -> dict[str, np.ndarray]:
    """Run the extractor over the chosen images, batch by batch."""

    parts: dict[str, list[np.ndarray]] = {}
    with progress_bar(total=len(index), enabled=progress, desc="features", unit="img") as bar:
        for batch in source.batches(index, batch_size):
            for name, values in extractor(batch).items():
                parts.setdefault(name, []).append(values)
            bar.update(len(batch))
    return {name: np.concatenate(values) for name, values in parts.items()}


def measure(
    real: np.ndarray, fake: dict[str, np.ndarray], settings: Any, num_classes: int
) -> dict[str, Any]:
    return generation_metrics(real, fake["features"], fake.get("logits"), settings, num_classes)


def write_generation(run_dir: Path, extractor: str, record: dict[str, Any]) -> None:
    """Add the metrics to a finished run's result.json (read and written validated, atomically;
    `done` untouched)."""

    if not (run_dir / "done").exists():
        raise BenchError(not_finished(run_dir))
    run = read_finished(run_dir)
    run["result"].setdefault("generation", {})[extractor] = record
    write_result(run_dir, run["result"], run["config"])
    log.info("generation metrics (%s) -> %s", extractor, run_dir / "result.json")


def not_finished(run_dir: Path) -> str:
    return (
        f"{run_dir} is not finished (no done / result.json): finish the run first, or leave out "
        "--run to print the metrics."
    )


def open_synthetic(path: Path) -> Any:
    """A bench synthetic set directory, or a folder of image files (searched recursively)."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"synthetic set {path} does not exist.")
    if (path / "manifest.json").is_file():
        return SyntheticSet(path)
    if path.is_dir():
        files = sorted(
            str(p) for p in path.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()
        )
        if not files:
            raise DataError(
                f"{path} holds no images ({', '.join(IMAGE_SUFFIXES)}) and no manifest.json of a "
                "bench synthetic set."
            )
        return FileSource(files)
    raise DataError(
        f"{path} is a file: give a bench synthetic set directory or a folder of images."
    )
