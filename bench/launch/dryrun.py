"""`bench sweep SPEC --dry-run`: what a sweep would run and what it needs, before anything is
submitted or loaded onto a GPU: the runs and their dependencies, the data (present / missing,
by each dataset adapter's own checks) and pretrained weights (present / missing, the weights
manifest via bench.runs.preflight) they need, the cost per stage (bench.launch.estimate, every
number labelled an estimate), whether the reproduced table is covered, and, with a reachable
cluster, whether SLURM accepts each stage's array (`sbatch --test-only`).
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass, field
from typing import Any

from bench.datasets import DATASETS
from bench.errors import BenchError
from bench.generators import capabilities
from bench.launch import estimate as est
from bench.launch.profiles import load_profile
from bench.launch.units import Env, loaded_data
from bench.report import published
from bench.report.coverage import coverage_problems, table_coverage
from bench.runs.preflight import check_weights, generator_of
from bench.runs.runner import open_synthesis


@dataclass
class DataInfo:
    """What a dry-run knows of one dataset setting: present or why not; its counts."""

    present: bool
    detail: str
    classes: int | None = None
    train: int | None = None
    image_size: int | None = None
    data: Any = None  # the LoadedDataset where present
    largest: int | None = None  # the official largest class (fill:max), where missing


def data_info(config: Any, env: Env) -> DataInfo:
    """The dataset adapter's own checks: its root, then loading it (the data is small or
    already needed by the sweep); the official counts (EXPECTED) where it is missing."""

    adapter_cls = DATASETS[config.dataset]
    expected = adapter_cls.expected(config.dataset_settings)
    train = (expected.get("splits") or {}).get("train")
    largest = (expected.get("train_counts") or {}).get("max")
    info = DataInfo(False, "", expected.get("num_classes"), train, largest=largest)
    try:
        if adapter_cls.needs_root:
            adapter_cls(config.dataset_settings, env.data_root_for(config)).require_root()
        data = loaded_data(config, env)
    except BenchError as exc:
        info.detail = str(exc).splitlines()[0][:300]
        return info
    return DataInfo(True, "present", data.num_classes, len(data.train), data.image_size, data)


def image_size_of(config: Any, data: DataInfo, settings: Any = None) -> int:
    """The run's synthetic (or training) image size: the generator's resolution, the recipe's,
    the data's; 32 for CIFAR and 224 otherwise where the data is missing (an assumption)."""
    for value in (
        getattr(settings, "resolution", None),
        getattr(settings, "image_size", None),
        config.recipe.get("image_size"),
        data.image_size,
    ):
        if value:
            return int(value)
    return 32 if config.dataset.startswith("cifar") else 224


def synthetic_images(config: Any, data: DataInfo, env: Env) -> tuple[int | None, str]:
    """The run's synthetic images: its synthesis plan on the data where present (exact),
    else from the dataset's official counts (estimate.plan_images)."""

    if data.present:
        try:
            plan = open_synthesis(config, data.data, env.results, "cpu", False, False).plan
            return plan.total, f"{plan.spec} on the data"
        except BenchError as exc:
            return None, f"unknown ({str(exc)[:120]})"
    plan = str(config.hparams.get("plan", ""))
    if data.classes is None or data.train is None:
        return None, f"{plan}: unknown (data missing, no official counts)"
    return est.plan_images(plan, data.classes, data.train, data.largest)


def run_costs(config: Any, data: DataInfo, env: Env, f: dict[str, est.Figure]) -> RunCost:
    """The cost of one run's own stages: generator fit, synthesis, classifier training."""

    found = generator_of(config)
    images, how = (0, "none") if found is None else synthetic_images(config, data, env)
    costs = []
    if found is not None:
        backend, settings = found
        size = image_size_of(config, data, settings)
        channels = tuple(config.hparams.get("unet_channels") or (128, 256, 256, 256))
        if backend.trains:
            costs.append(est.fit_cost(fit_of(config, backend.name, size, data, channels), f))
        sampling = est.Sampling(
            images, backend.name, size, int(config.hparams.get("sampling_steps", 50)),
            float(config.hparams.get("guidance_scale", 1.0)),
            "feedback_scale" in config.hparams, channels,
        )  # fmt: skip
        costs.append(est.sampling_cost(sampling, f))
    costs.append(est.training_cost(training_of(config, data, images), "classifier", f))
    return RunCost(config, images, how, costs)


@dataclass
class RunCost:
    config: Any
    images: int | None
    how: str
    costs: list[est.Cost] = field(default_factory=list)


def fit_of(config: Any, backend: str, size: int, data: DataInfo, channels: tuple) -> est.Fit:
    """A generator fit's work: a DDPM's steps x batch; a textual inversion's classes x steps
    per class (steps_per_image x the mean images per class, within its min and max)."""
    h = config.hparams
    if capabilities(backend).inversion == "text-token" and data.classes and data.train:
        per_class = h["ti_steps_per_image"] * data.train / data.classes
        steps = int(min(max(per_class, h["ti_min_steps"]), h["ti_max_steps"]))
        return est.Fit(backend, size, steps, int(h["ti_batch_size"]), data.classes, channels)
    return est.Fit(backend, size, int(h.get("train_steps", 0)), int(h.get("batch_size", 1)), 0,
                   channels)  # fmt: skip


def training_of(config: Any, data: DataInfo, images: int | None) -> est.Training:
    """Images a classifier sees: epochs x its data per stage (real, synthetic or both)."""
    real = data.train

    def count(kind: str) -> int | None:
        if kind == "synthetic":
            return images
        if kind == "real+synthetic":
            return None if real is None or images is None else real + images
        return real  # real, and the samplers and subsets of it

    seen: int | None = 0
    parts = [(config.recipe["epochs"], config.recipe.get("data", "real+synthetic"))]
    parts += [(s.get("epochs") or 0, s.get("data") or "real") for s in config.stages.values()]
    for epochs, kind in parts:
        n = count(str(kind))
        seen = None if seen is None or n is None else seen + int(epochs) * n
    size = image_size_of(config, data)
    decoded = not (data.present and data.data.train.images is not None) and size > 64
    return est.Training(str(config.recipe["backbone"]), size, seen, decoded)


def sweep_costs(configs: list[Any], env: Env, f: dict[str, est.Figure]) -> dict[str, Any]:
    """Per run and dependency: the data it reads and its cost; shared work counted once (a
    dependency by its run, a generator fit or synthetic set by the settings that make it)."""
    data: dict[tuple[str, ...], DataInfo] = {}
    stages: dict[str, list[est.Cost]] = {s: [] for s in STAGE_ORDER}
    seen: set[tuple[str, ...]] = set()
    runs: list[RunCost] = []
    deps: dict[str, Any] = {}
    for config in configs:
        for dep in config.dependencies.values():
            deps.setdefault(dep.run_name, dep)
    for role, config in [
        *(("dependency", d) for d in deps.values()),
        *(("run", c) for c in configs),
    ]:
        key = (config.dataset, repr(sorted(config.data.items())), str(env.data_root_for(config)))
        if key not in data:
            data[key] = data_info(config, env)
        cost = run_costs(config, data[key], env, f)
        if role == "run":
            runs.append(cost)
        shared = (
            config.dataset,
            repr(sorted(config.data.items())),
            repr(sorted(config.hparams.items())),
            str(config.seed),
        )
        for part in cost.costs:
            stage = "dependency" if role == "dependency" else part.stage
            if part.stage in ("generator fit", "synthesis"):
                if (part.stage, *shared) in seen:
                    continue
                seen.add((part.stage, *shared))
            stages[stage].append(part)
    return {"data": data, "stages": stages, "runs": runs, "deps": deps}


STAGE_ORDER = ("dependency", "generator fit", "synthesis", "classifier")


def hours(value: float | None) -> str:
    return "unknown" if value is None else f"{value:,.2f}"


def size_text(n: int | None) -> str:
    if n is None:
        return "unknown"
    for unit, scale in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("KB", 1e3)):
        if n >= scale:
            return f"{n / scale:,.1f} {unit}"
    return f"{n} B"


def runs_lines(costs: dict[str, Any], limit: int = 200) -> list[str]:
    """Each run with its synthetic images and the runs it waits on; each dependency run."""
    out = [f"dependency runs ({len(costs['deps'])}):"]
    out += [f"  {name}" for name in costs["deps"]]
    out.append(f"runs ({len(costs['runs'])}):")
    for run in costs["runs"][:limit]:
        c = run.config
        waits = ", ".join(d.run_name for d in c.dependencies.values())
        syn = "no synthetic images" if run.images == 0 else f"synthetic: {run.how}"
        out.append(f"  {c.run_name}: {syn}" + (f"; waits on {waits}" if waits else ""))
    if len(costs["runs"]) > limit:
        out.append(f"  ... and {len(costs['runs']) - limit:,} more")
    return out


def data_lines(costs: dict[str, Any]) -> list[str]:
    out = ["data (the dataset adapters' own checks):"]
    for (dataset, options, root), info in costs["data"].items():
        where = "" if root == "None" else f" under {root}"
        state = "present" if info.present else f"MISSING: {info.detail}"
        out.append(f"  {dataset} {options}{where}: {state}")
    return out


def weights_lines(configs: list[Any]) -> list[str]:

    checked = check_weights(configs)
    out = [f"pretrained weights ({len(checked)}; the weights manifest, bench weights check):"]
    for status, users in checked:
        req = status.requirement
        state = "present" if status.ok else f"MISSING ({status.state})"
        out.append(f"  {req.what} [{req.source}]: {state}, needed by {len(users)} run(s)")
    return out


def cost_lines(costs: dict[str, Any], f: dict[str, est.Figure]) -> list[str]:
    """The per-stage table, every number labelled an estimate, and the figures behind it."""
    out = ["cost per stage (ESTIMATES from bench/launch/throughput.yaml, not measurements):"]
    out.append(f"  {'stage':<16}{'GPU-h (est.)':>15}{'CPU-h (est.)':>15}{'disk (est.)':>14}")
    totals = []
    for stage in STAGE_ORDER:
        t = est.total(costs["stages"][stage], stage)
        totals.append(t)
        out.append(
            f"  {stage:<16}{hours(t.gpu_h):>15}{hours(t.cpu_h):>15}{size_text(t.disk_bytes):>14}"
        )
    t = est.total(totals)
    out.append(
        f"  {'total':<16}{hours(t.gpu_h):>15}{hours(t.cpu_h):>15}{size_text(t.disk_bytes):>14}"
    )
    if any(v is None for v in (t.gpu_h, t.cpu_h, t.disk_bytes)):
        out.append("  unknown: a plan needs each class's count and the data is missing here")
    out.append("  figures (measured ones from benchmarks/gpu_check.sh override these):")
    for name in t.figures:
        fig = f[name]
        label = "measured" if fig.measured else "estimate"
        out.append(f"    {name} = {fig.value} {fig.unit} ({label}: {fig.source})")
    return out


def coverage_lines(spec: Any, configs: list[Any]) -> list[str]:
    """Whether the runs cover the published table the spec reproduces (the leaderboard's
    matching: bench.report.coverage)."""
    if spec.reproduces is None:
        return []

    paper, table = spec.reproduces
    cov = table_coverage(published.load(published.default_directory()), paper, table, configs)
    n = len(cov.matched) + len(cov.unmatched)
    out = [f"reproduces {paper} {table}: {len(cov.matched)} of {n} published rows map to runs"]
    out += [f"  published only: {slug} ({why})" for slug, why in spec.published_only.items()]
    out += [f"  GAP: {p}" for p in coverage_problems(cov, spec.published_only)]
    return out


def cluster_reachable() -> str | None:
    """Why no cluster can validate the arrays (None: sbatch is on PATH and sinfo answers)."""
    if shutil.which("sbatch") is None or shutil.which("sinfo") is None:
        return "sbatch / sinfo not on PATH"
    try:
        out = subprocess.run(["sinfo", "-h"], capture_output=True, text=True, timeout=15)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"sinfo did not answer ({exc})"
    return None if out.returncode == 0 else f"sinfo failed: {out.stderr.strip()[:200]}"


def array_checks(profile: Any, arrays: dict[str, int]) -> list[tuple[str, str | None]]:
    """(stage, SLURM's rejection or None) of `sbatch --test-only` for each stage's array."""
    out = []
    for stage, n in arrays.items():
        opts = [*profile.stages[stage].sbatch_options(), f"--array=0-{max(n - 1, 0)}"]
        run = subprocess.run(
            ["sbatch", "--test-only", *opts],
            input="#!/bin/sh\ntrue\n",
            capture_output=True,
            text=True,
            timeout=60,
        )
        out.append((stage, None if run.returncode == 0 else run.stderr.strip()[:300]))
    return out


def cluster_lines(launcher: str, options: dict[str, Any], costs: dict[str, Any]) -> list[str]:
    """With a reachable cluster, each stage's array through `sbatch --test-only` (a rejection
    is a ConfigError after the report); without one, that it was skipped and why."""
    if launcher != "slurm":
        return [f"cluster check: skipped (--launcher {launcher})"]
    why = cluster_reachable()
    if why is not None:
        return [f"cluster check: skipped, no reachable cluster ({why}); nothing was validated"]

    profile = load_profile(options.get("profile") or "local", options.get("sets") or [])
    runs = len(costs["runs"])
    arrays = {"dependency": len(costs["deps"]), "classifier": runs}
    arrays = {stage: n for stage, n in arrays.items() if n}
    lines, rejected = ["cluster check (sbatch --test-only, one per stage's array):"], []
    for stage, problem in array_checks(profile, arrays):
        lines.append(f"  {stage} (array of {arrays[stage]}): " + (problem or "accepted"))
        if problem:
            rejected.append(f"{stage}: {problem}")
    return lines + [f"REJECTED {r}" for r in rejected]


def dry_run(spec: Any, configs: list[Any], env: Env, launcher: str, options: dict[str, Any]) -> str:
    """The whole dry-run report; a ConfigError (after printing it) if SLURM rejects an array."""
    f = est.load_figures()
    costs = sweep_costs(configs, env, f)
    lines = [
        f"sweep {spec.name} (dry run: nothing submitted, no weights loaded): {len(configs)} "
        f"run(s), {len(costs['deps'])} dependency run(s)",
        *runs_lines(costs),
        *data_lines(costs),
        *weights_lines(configs),
        *cost_lines(costs, f),
        *coverage_lines(spec, configs),
        *cluster_lines(launcher, options, costs),
    ]
    return "\n".join(lines)
