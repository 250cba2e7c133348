"""The harness's classifier training loop: one recipe of stages for every method.

Stages run in order, each from the previous stage's weights. Training is seeded per stage,
epoch, step and sample (model init, batch draws, augmentation, Mixup), and its full state
(stage, epoch, model, optimiser, schedule, loss state) is checkpointed after every epoch, so a run
killed midway resumes in the right stage and epoch and ends with exactly the numbers an
uninterrupted run gives, whatever the number of loader processes.
"""

from __future__ import annotations

import copy
import dataclasses
import logging
import math
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from bench.data import ImageSplit, LoadedDataset
from bench.data.augment import RANDAUGMENT
from bench.data.torchdata import Concat, FileImages, torch_dataset
from bench.errors import ConfigError
from bench.io import atomic_write, seed_hash, set_aside, torch_writer
from bench.metrics.accuracy import mean_of, per_class_accuracy
from bench.progress import progress_bar
from bench.train import distributed
from bench.train.backbones import (
    Classifier,
    build_classifier,
    check_separable,
    reset_head,
    set_trainable,
    train_mode,
)
from bench.train.batchaug import partners
from bench.train.ddp import gather_batch, sync_batchnorm, wrap
from bench.train.losses import LossContext, make_loss
from bench.train.optim import lr_factor, make_optimizer
from bench.train.recipe import (
    BATCH_AUGS,
    FIRST_STAGE,
    SAMPLERS,
    Recipe,
    StageFields,
    stage_fields,
)
from bench.train.samplers import BatchPlan

log = logging.getLogger(__name__)
GROUPED = ("group-balanced-subsample",)


@dataclass
class TrainState:
    """Everything needed to continue training after the last finished epoch."""

    stage: int = 0  # the stage in progress (index into the plan)
    epoch: int = 0  # finished epochs of that stage
    best_epoch: int = -1
    best_score: float = -math.inf
    best_weights: dict[str, Any] | None = None
    history: list[dict[str, Any]] = field(default_factory=list)
    stages: list[dict[str, Any]] = field(default_factory=list)  # per-stage summaries


@dataclass
class TrainResult:
    last: Classifier
    best: Classifier
    best_epoch: int
    history: list[dict[str, Any]]
    steps_per_epoch: int
    stages: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class TrainData:
    """One stage's training data: the torch dataset, its batch plan and per-index facts."""

    dataset: Dataset
    plan: Any  # a BatchPlan, or a live sampler's own (bench.train.metasampler.MetaSampler)
    n_real: int
    classes: np.ndarray  # class of every index
    groups: np.ndarray  # group of every index (synthetic samples: an extra group)
    num_groups: int
    real_counts: np.ndarray
    synthetic_counts: np.ndarray | None


def pick_device(requested: str | None = None) -> str:
    """CUDA when present, else the CPU; a requested device is checked to exist here."""
    if not requested:
        return "cuda" if torch.cuda.is_available() else "cpu"
    try:
        device = torch.device(requested)
    except (RuntimeError, ValueError):
        raise ConfigError(
            f"--device {requested!r} is not a torch device; use cpu, cuda or cuda:N."
        ) from None
    if device.type == "cuda":
        n = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if (device.index is not None and device.index >= n) or n == 0:
            have = f"cuda:0..cuda:{n - 1}" if n else "none"
            raise ConfigError(
                f"--device {requested}: this machine has {n} CUDA device(s) ({have}); "
                "pick one of them or use --device cpu."
            )
    elif device.type != "cpu" and not (device.type == "mps" and torch.backends.mps.is_available()):
        raise ConfigError(f"--device {requested}: not available here; use cpu, cuda or cuda:N.")
    return requested


def steps_per_epoch(stage: StageFields, n_train: int) -> int:
    return stage.steps_per_epoch or max(1, math.ceil(n_train / stage.batch_size))


def stage_plan(recipe: Recipe, stages: Sequence[tuple[str, Any]] = ()) -> list[tuple[str, Any]]:
    """[(name, effective StageFields)]: the first stage, then the named later ones."""
    return [(FIRST_STAGE, stage_fields(recipe))] + [
        (name, stage_fields(recipe, stage)) for name, stage in stages
    ]


def check_stages(
    plan: list[tuple[str, StageFields]],
    recipe: Recipe,
    model: torch.nn.Module,
    data: LoadedDataset,
    has_synthetic: bool,
) -> None:
    """Bad stage lists fail here, before any training, naming the value and the choices."""
    if not any(st.epochs > 0 for _, st in plan):
        raise ConfigError(
            "recipe: the stage list trains nothing: every stage has epochs=0 "
            f"({', '.join(f'{n}: 0' for n, _ in plan)}). Give at least one stage epochs >= 1."
        )
    for name, st in plan:
        where = stage_where(name)
        check_separable(model, st.trains, where)
        by_group = SAMPLERS[st.sampler].by_group
        needs_groups = st.data in GROUPED or by_group or st.loss == "group-dro"
        if needs_groups and recipe.groups == "dataset" and data.train.groups is None:
            what = (
                f"data={st.data!r}"
                if st.data in GROUPED
                else f"sampler={st.sampler!r}"
                if by_group
                else f"loss={st.loss!r}"
            )
            raise ConfigError(
                f"{where}: {what} needs groups, but dataset {data.name} has none. Use groups=auto "
                "(the classes stand in for groups), a class-level choice (data: real / "
                "class-balanced-subsample; sampler: instance / class-balanced / sqrt), or a "
                "dataset with groups (colored-digits, waterbirds, nicopp, utkface)."
            )
        if st.mix_pairs == "real-synthetic" and not has_synthetic:
            log.warning(
                "%s: mix_pairs='real-synthetic' without synthetic data mixes nothing", where
            )


def stage_where(name: str) -> str:
    return "recipe" if name == FIRST_STAGE else f"stage.{name}"


@dataclass
class StageRun:
    """What every epoch of one training stage uses (run_epoch's inputs besides the epoch)."""

    net: Any  # the model, or its DistributedDataParallel wrapper
    loader: Any
    st: StageFields
    train: TrainData
    opt: torch.optim.Optimizer
    sched: Any
    loss_fn: Any
    seed: int
    device: str
    fast: bool
    progress: bool
    world: distributed.World = distributed.SINGLE
    params: Any = None  # the trainable parameters (the stage's summary counts them)


def train_classifier(
    recipe: Recipe,
    data: LoadedDataset,
    synthetic: Any,
    seed: int,
    device: str,
    state_path: Path,
    on_epoch: Callable[[list[dict[str, Any]]], None] = lambda rows: None,
    progress: bool = True,
    stages: Sequence[tuple[str, Any]] = (),
) -> TrainResult:
    """Train the stages in order on the real train split (+ synthetic data), validating after
    every epoch. `stages` are the (name, Stage) pairs after the first.

    `on_epoch` receives the whole history after each epoch's checkpoint is saved.

    In a distributed world (bench.train.distributed) every rank calls this: each trains on its
    share of every global batch, rank 0 alone writes the checkpoint and calls `on_epoch`.
    """
    world = distributed.current()
    torch.manual_seed(seed_hash(seed, "init"))
    model = build_classifier(
        recipe.backbone, data.num_classes, data.channels, recipe.pretrained, recipe.normed_head
    )
    plan = stage_plan(recipe, stages)
    check_stages(plan, recipe, model, data, synthetic is not None)
    check_world(plan, world)
    fast = use_fast_path(recipe, device)
    model = placed(model, device, fast, world)
    val_set = eval_dataset(recipe, data, data.splits["val"])
    state, blob = load_state(state_path, model, device, world)
    steps = 0
    for index, (name, st) in enumerate(plan):
        if index < state.stage or st.epochs == 0:
            continue
        resuming = blob is not None and state.stage == index and state.epoch > 0
        stage_seed = seed if index == 0 else seed_hash(seed, "stage", index)
        if not resuming:
            start_stage(model, st, state, index, stage_seed)
        run = stage_run(model, (name, st), (recipe, data, synthetic), stage_seed, device, fast)
        run = replace(run, progress=progress and world.is_main)
        if resuming:
            resume_stage(run, blob)
        steps = run.train.plan.steps
        summary = stage_summary(name, st, model, run.params, run.train)
        for epoch in range(state.epoch, st.epochs):
            run.loss_fn.set_epoch(epoch)
            row = run_epoch(run, epoch)
            row.update(validate(model, val_set, data, recipe, device, world))
            row.update(stage=name, stage_epoch=epoch + 1, epoch=len(state.history) + 1)
            end_epoch(state, model, row, (name, summary, st.epochs), recipe)
            if world.is_main:
                save_state(
                    state_path, state, model, run.opt, run.sched, run.loss_fn, run.train.plan
                )
                on_epoch(state.history)
        blob = None
    best = copy.deepcopy(model)
    best.load_state_dict(state.best_weights)
    return TrainResult(model, best, state.best_epoch, state.history, steps, state.stages)


def placed(model: Classifier, device: str, fast: bool, world: distributed.World) -> Classifier:
    """The model on its device (BatchNorm synchronised across ranks; channels_last when fast)."""
    model.to(device)
    if world.distributed:
        model = sync_batchnorm(model, device)
    if fast:
        model.to(memory_format=torch.channels_last)
    return model


def start_stage(model: Classifier, st: StageFields, state: Any, index: int, seed: int) -> None:
    """A stage starting afresh: its head reset if it asks, its best-checkpoint record cleared."""
    if st.reset_head:
        torch.manual_seed(seed_hash(seed, "reset-head"))
        reset_head(model)
    state.stage, state.epoch = index, 0
    state.best_epoch, state.best_score, state.best_weights = -1, -math.inf, None


def stage_run(
    model: Classifier, stage: tuple[str, StageFields], inputs: tuple, seed: int, device: str,
    fast: bool,
) -> StageRun:  # fmt: skip
    """The stage's trainable parameters, data, loader, optimiser, schedule and loss."""
    (name, st), (recipe, data, synthetic) = stage, inputs
    world = distributed.current()
    params = set_trainable(model, st.trains, stage_where(name))
    net = wrap(model, device) if world.distributed else model
    train = training_data(st, recipe, data, synthetic, seed)
    loader = make_loader(train, recipe, device, world)
    opt = make_optimizer(st, params)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_factor(st, train.plan.steps))
    loss_fn = make_loss(st, loss_context(st, train, data))
    return StageRun(
        net, loader, st, train, opt, sched, loss_fn, seed, device, fast, False, world, params
    )


def resume_stage(run: StageRun, blob: dict[str, Any]) -> None:
    run.opt.load_state_dict(blob["opt"])
    run.sched.load_state_dict(blob["sched"])
    run.loss_fn.load_state_dict(blob["loss"])
    run.train.plan.load_state_dict(blob.get("sampler", {}))  # none before the Meta Sampler


def end_epoch(
    state: Any, model: Classifier, row: dict[str, Any], stage: tuple[str, dict, int], recipe: Recipe
) -> None:
    """Record the epoch: the best checkpoint so far, the history, the stage's summary, a log
    line. `stage`: its name, summary and number of epochs."""
    name, summary, epochs = stage
    keep_best(state, model, row, recipe.selection_metric)
    state.epoch = row["stage_epoch"]
    state.history.append(row)
    state.stages = [s for s in state.stages if s["name"] != name] + [
        {**summary, "epochs_done": state.epoch, "best_epoch": state.best_epoch}
    ]
    log.info(
        "stage %s epoch %d/%d  loss %.4f  %s %.4f  %.0f images/s",
        name,
        row["stage_epoch"],
        epochs,
        row["train_loss"],
        recipe.selection_metric,
        row[recipe.selection_metric],
        row["images_per_s"],
    )


def check_world(plan: list[tuple[str, StageFields]], world: distributed.World) -> None:
    """Every global batch splits into equal per-rank shares; the Meta Sampler runs in one."""
    for name, st in plan:
        if st.epochs and st.sampler == "meta" and world.distributed:
            raise ConfigError(
                f"{stage_where(name)}: sampler='meta' trains in one process only (each batch "
                "is drawn from the weights its meta step just updated; ranks would each need "
                f"the whole batch), and this run has {world.size}. Run it with one process "
                "(no --nproc / torchrun), or use another sampler."
            )
        if st.epochs and st.batch_size % world.size:
            raise ConfigError(
                f"{stage_where(name)}: batch_size={st.batch_size} does not split over "
                f"{world.size} processes (each takes batch_size / processes samples of every "
                f"batch); use a batch_size divisible by {world.size} or another process count."
            )


def stage_summary(
    name: str, st: StageFields, model: torch.nn.Module, params: list, train: TrainData
) -> dict[str, Any]:
    """What a stage trained and on what, for the run record."""
    return {
        "name": name,
        "trains": st.trains,
        "trainable_parameters": int(sum(p.numel() for p in params)),
        "total_parameters": int(sum(p.numel() for p in model.parameters())),
        "data": st.data,
        "train_samples": len(train.dataset),
        "sampler": st.sampler,
        "loss": st.loss,
        "batch_aug": st.batch_aug,
        "epochs": st.epochs,
        "steps_per_epoch": train.plan.steps,
    }


def use_fast_path(recipe: Recipe, device: str) -> bool:
    """bf16 autocast + channels_last: on GPU by default, never on the CPU."""
    if recipe.precision == "fp32":
        return False
    return device.startswith("cuda") or recipe.precision == "bf16"


def loss_context(st: StageFields, train: TrainData, data: LoadedDataset) -> LossContext:
    return LossContext(
        num_classes=data.num_classes,
        real_counts=train.real_counts,
        synthetic_counts=train.synthetic_counts,
        batch_frequencies=train.plan.class_frequencies(train.classes, data.num_classes),
        num_groups=train.num_groups,
        epochs=st.epochs,
    )


def training_data(st: StageFields, recipe: Recipe, data: LoadedDataset, synthetic: Any, seed: int):
    """The one place where the real split and the synthetic set become a torch Dataset for
    training, with the batch plan that draws from it (per the stage's data and sampler)."""
    augment = st.augment + (RANDAUGMENT if st.randaugment else "")
    augments = st.augment != "none" or st.randaugment
    if st.data == "synthetic":
        return synthetic_only(st, recipe, data, synthetic, seed, augment, augments)
    real_split = real_subset(st.data, recipe, data, seed)
    use_synthetic = st.data == "real+synthetic" and synthetic is not None and len(synthetic) > 0
    parts = [torch_split(recipe, data, real_split, augment)]
    if use_synthetic:
        parts.append(torch_split(recipe, data, synthetic, augment))
    n_real = len(real_split)
    classes = real_split.targets
    real_groups, num_groups = group_labels(real_split, recipe, data)
    groups = real_groups
    if use_synthetic:
        synth_targets = np.asarray(synthetic.targets, dtype=np.int64)
        classes = np.concatenate([classes, synth_targets])
        groups = np.concatenate([real_groups, np.full(len(synth_targets), num_groups)])
        num_groups += 1  # synthetic samples have no group label: one group of their own
    steps, kind = steps_per_epoch(st, sum(len(p) for p in parts)), SAMPLERS[st.sampler]
    strata = None
    if kind.by_group:
        strata = (groups[:n_real], groups[n_real:] if use_synthetic else None)
    if kind.live:  # data=real (recipe.check_meta): the real split alone
        meta = meta_set(st, recipe, data, seed, steps, augment)
        plan = kind(classes, data.num_classes, st.batch_size, steps, seed, st, meta)
    else:
        plan = BatchPlan(
            real_split.targets,
            classes[n_real:] if use_synthetic else None,
            st.batch_size,
            steps,
            st.sampler,
            st.real_fraction,
            seed,
            strata=strata,
        )
    dataset = parts[0] if len(parts) == 1 else Concat(parts)
    return TrainData(
        dataset=Indexed(dataset, augments),
        plan=plan,
        n_real=n_real,
        classes=classes,
        groups=groups,
        num_groups=num_groups,
        real_counts=real_split.class_counts(data.num_classes),
        synthetic_counts=synthetic.class_counts(data.num_classes) if use_synthetic else None,
    )


def meta_set(
    st: StageFields, recipe: Recipe, data: LoadedDataset, seed: int, steps: int, augment: str
) -> tuple[Dataset, BatchPlan]:
    """The Meta Sampler's meta batches, one per step: class-balanced draws (BALMS's
    ClassAwareSampler) from the training split, augmented as the stage's data, or from the val
    split, unaugmented (BALMS's ImageNet-LT / Places-LT meta set)."""
    split = data.splits[st.meta_set]
    if st.meta_set != "train":
        augment = "none"
    plan = BatchPlan(
        split.targets,
        None,
        st.meta_batch_size,
        steps,
        "class-balanced",
        None,
        seed_hash(seed, "meta-set"),
    )
    return Indexed(torch_split(recipe, data, split, augment), augment != "none"), plan


def synthetic_only(
    st: StageFields,
    recipe: Recipe,
    data: LoadedDataset,
    synthetic: Any,
    seed: int,
    augment: str,
    augments: bool,
) -> TrainData:
    """`data=synthetic`: the synthetic set alone (Fill-Up Table 1 / Table 5); no real image is
    counted (real_counts are zeros) and every sample's group is its class."""
    if synthetic is None or len(synthetic) == 0:
        raise ConfigError(
            f"data='synthetic': the run has no synthetic images to train on (the plan made "
            f"none for {data.name}). Use a plan that makes some (e.g. plan=add:N), or data=real."
        )
    targets = np.asarray(synthetic.targets, dtype=np.int64)
    plan = BatchPlan(
        targets, None, st.batch_size, steps_per_epoch(st, len(targets)), st.sampler, None, seed
    )
    return TrainData(
        dataset=Indexed(torch_split(recipe, data, synthetic, augment), augments),
        plan=plan,
        n_real=0,
        classes=targets,
        groups=targets,
        num_groups=data.num_classes,
        real_counts=np.zeros(data.num_classes, dtype=np.int64),
        synthetic_counts=synthetic.class_counts(data.num_classes),
    )


def group_labels(split: ImageSplit, recipe: Recipe, data: LoadedDataset) -> tuple[np.ndarray, int]:
    """Group per sample: the dataset's groups, or (groups=auto, none there) the classes."""
    if split.groups is not None:
        n = len(data.group_names) if data.group_names else int(split.groups.max()) + 1
        return np.asarray(split.groups, dtype=np.int64), n
    return np.asarray(split.targets, dtype=np.int64), data.num_classes


def real_subset(kind: str, recipe: Recipe, data: LoadedDataset, seed: int) -> ImageSplit:
    """The real training split, or a class- / group-balanced random subsample of it: every
    class (group) present keeps as many samples as the smallest one has (SYNAuG Alg. 1 step 3;
    DFR's balanced retraining set)."""
    train = data.train
    if kind not in ("class-balanced-subsample", "group-balanced-subsample"):
        return train
    strata = (
        train.targets
        if kind == "class-balanced-subsample"
        else group_labels(train, recipe, data)[0]
    )
    present, counts = np.unique(strata, return_counts=True)
    n = int(counts.min())
    rng = np.random.default_rng(seed_hash(seed, "subsample", kind))
    keep = np.concatenate(
        [rng.choice(np.flatnonzero(strata == s), n, replace=False) for s in present]
    )
    return train.subset(np.sort(keep))


class Indexed(Dataset):
    """(image, label, index) for keys (index, sample seed): each sample's augmentation is seeded
    by its own seed, so it is the same in the main process and in any loader worker."""

    def __init__(self, base: Dataset, augments: bool):
        self.base, self.augments = base, augments

    def __len__(self) -> int:
        return len(self.base)

    def __getitems__(self, keys: list[tuple[int, int]]) -> list[Any]:
        """A batch of keys: whole-batch reads where the data offers them (the store)."""
        getter = getattr(self.base, "getitems_seeded", None)
        if getter is None:
            return [self[key] for key in keys]
        return getter(keys, self.augments)

    def __getitem__(self, key: tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor, int]:
        index, sample_seed = key
        if self.augments:  # the CPU generator only: torch.manual_seed costs ~1000x more
            torch.default_generator.manual_seed(sample_seed)
        x, y = self.base[index]
        return x, y, index


class SeededBatches:
    """The batch plan's index lists, each index paired with its sample seed; in a distributed
    world, this rank's share of each (every world.size-th key, so each rank's share mixes real
    and synthetic samples as the whole batch does)."""

    def __init__(self, plan: BatchPlan, world: distributed.World = distributed.SINGLE):
        self.plan, self.world = plan, world

    def __len__(self) -> int:
        return len(self.plan)

    def __iter__(self):
        base = seed_hash(self.plan.seed, "augment", self.plan.epoch) * 2**20
        for step, batch in enumerate(self.plan):
            start = base + step * len(batch)
            keys = [(i, start + j) for j, i in enumerate(batch)]
            yield keys[self.world.rank :: self.world.size]


def default_workers(dataset: Dataset) -> int:
    """0 for in-memory arrays (decoding costs nothing); else one per core up to 8, one core
    left to the training process."""

    bases = dataset.parts if isinstance(dataset, Concat) else [dataset]
    if not any(isinstance(b, FileImages) for b in bases):
        return 0
    return max(1, min(8, (os.cpu_count() or 1) - 1))


def make_loader(
    train: TrainData, recipe: Recipe, device: str, world: distributed.World = distributed.SINGLE
) -> DataLoader:
    workers = recipe.num_workers
    if workers is None:
        workers = default_workers(train.dataset.base)
    if train.plan.live:  # each batch drawn when it is needed: no worker may fetch ahead
        train.plan.bind(batch_loader(*train.plan.meta_set, workers, device), device)
        workers = 0
    return batch_loader(train.dataset, train.plan, workers, device, world)


def batch_loader(
    dataset: Dataset,
    plan: Any,
    workers: int,
    device: str,
    world: distributed.World = distributed.SINGLE,
) -> DataLoader:
    return DataLoader(
        dataset,
        batch_sampler=SeededBatches(plan, world),
        num_workers=workers,
        pin_memory=device.startswith("cuda"),
        persistent_workers=workers > 0,
    )


def torch_split(recipe: Recipe, data: LoadedDataset, split: Any, augment: str) -> Dataset:
    """The one place a real split or a synthetic set becomes a torch Dataset; synthetic images
    get the transforms of the dataset's real images."""

    like = "array" if data.train.images is not None else "file"
    return torch_dataset(
        split, data.image_size, data.channels, recipe.normalize, augment, like, recipe.resize
    )


def eval_dataset(recipe: Recipe, data: LoadedDataset, split: ImageSplit) -> Dataset:
    return torch_split(recipe, data, split, "none")


def run_epoch(run: StageRun, epoch: int) -> dict[str, Any]:
    """One epoch of training; returns its loss, accuracy, timing and throughput.

    Distributed: the loss is reduced over the global batch (every rank's per-sample values
    gathered), so it and its gradient are those of the single-process step."""
    world, train = run.world, run.train
    rank = (world.rank,) if world.distributed else ()  # each rank its own random streams
    torch.manual_seed(seed_hash(run.seed, "epoch", epoch, *rank))  # dropout stream
    train.plan.set_epoch(epoch)
    train_mode(getattr(run.net, "module", run.net), run.st.trains)  # the module inside DDP
    groups_of = torch.as_tensor(train.groups)
    autocast = torch.autocast(
        device_type="cuda" if run.device.startswith("cuda") else "cpu",
        dtype=torch.bfloat16,
        enabled=run.fast,
    )
    start, losses, correct, seen = time.time(), [], 0, 0
    bar = progress_bar(
        run.loader,
        run.progress,
        desc=f"epoch {epoch + 1}",
        unit="img",
        unit_scale=train.plan.batch_size,
    )  # counts batches, shows images (and images/s)
    for step, (x, y, idx) in enumerate(bar):
        loss, hits, n = train_step(run, (x, y, idx, groups_of[idx]), (epoch, step, *rank), autocast)
        losses.append(loss.detach())
        correct, seen = correct + hits, seen + n
    seconds = time.time() - start
    if world.distributed:
        counts = torch.tensor([correct, seen], dtype=torch.float64)
        torch.distributed.all_reduce(counts)
        correct, seen = int(counts[0]), int(counts[1])
    return {
        "train_loss": float(torch.stack(losses).mean()),
        "train_acc": correct / seen,
        "lr": run.opt.param_groups[0]["lr"],
        "seconds": round(seconds, 3),
        "images_per_s": round(seen / max(seconds, 1e-9), 1),
    }


def train_step(run: StageRun, batch: tuple, key: tuple, autocast: Any) -> tuple[Any, int, int]:
    """One optimisation step on `batch` (x, y, indices, groups); `key` (epoch, step, rank...)
    seeds the batch augmentation. Returns the loss, the correct predictions and the batch size."""
    (x, y, idx, groups), st, model, loss_fn = batch, run.st, run.net, run.loss_fn
    partner = None
    if st.batch_aug != "none":
        torch.default_generator.manual_seed(seed_hash(run.seed, "mix", *key))
        partner = partners(idx < run.train.n_real, st.mix_pairs)
        x, lam = BATCH_AUGS[st.batch_aug](x, partner, st.mix_alpha)
    x, y = x.to(run.device, non_blocking=True), y.to(run.device, non_blocking=True)
    if run.fast:
        x = x.contiguous(memory_format=torch.channels_last)
    run.train.plan.before_step(model, x, y, run.opt, loss_fn, autocast)  # the Meta Sampler's
    with autocast:
        logits = model(x)
    logits = logits.float()
    values, weights = loss_fn.per_sample(logits, y)
    if partner is not None and lam < 1.0:
        other, other_w = loss_fn.per_sample(logits, y[partner.to(run.device)])
        values, weights = lam * values + (1 - lam) * other, lam * weights + (1 - lam) * other_w
    groups = groups.to(run.device)
    if run.world.distributed:
        values, weights, groups = gather_batch(values), gather_batch(weights), gather_batch(groups)
    loss = loss_fn.reduce(values, weights, groups)
    run.opt.zero_grad(set_to_none=True)
    loss.backward()
    run.opt.step()
    run.sched.step()
    return loss, int((logits.argmax(1) == y).sum()), len(y)


@torch.no_grad()
def predict(
    model: torch.nn.Module, dataset: Dataset, batch_size: int, device: str, num_workers: int = 0
) -> np.ndarray:
    """Predicted labels (argmax of the plain logits) for every sample, in order."""
    model.eval()
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False, num_workers=num_workers)
    preds = [model(x.to(device)).argmax(1).cpu() for x, _ in loader]
    return torch.cat(preds).numpy()


def eval_workers(recipe: Recipe, dataset: Dataset) -> int:
    return default_workers(dataset) if recipe.num_workers is None else recipe.num_workers


def validate(
    model: Classifier,
    val_set: Dataset,
    data: LoadedDataset,
    recipe: Recipe,
    device: str,
    world: distributed.World = distributed.SINGLE,
) -> dict[str, float]:
    """Validation accuracy, balanced accuracy and (where val has groups) worst-group accuracy.
    Distributed: each rank predicts its share of the split, all ranks get all predictions."""
    part = val_set
    if world.distributed:
        part = torch.utils.data.Subset(val_set, list(world.shard(len(val_set))))
    preds = np.zeros(0, np.int64)
    if len(part):
        preds = predict(model, part, recipe.eval_batch_size, device, eval_workers(recipe, val_set))
    preds = np.concatenate(world.gather(preds))
    targets = val_set.targets.numpy()
    out = {
        "val_acc": float(np.mean(preds == targets)),
        "val_balanced": mean_of(per_class_accuracy(targets, preds, data.num_classes)),
    }
    groups = data.splits["val"].groups
    if groups is not None:
        out["val_worst_group"] = min(
            float(np.mean(preds[groups == g] == targets[groups == g])) for g in np.unique(groups)
        )
    elif recipe.selection_metric == "val_worst_group":
        raise ConfigError(
            f"selection_metric='val_worst_group' needs groups in the val split of {data.name}; "
            "use val_balanced or val_acc."
        )
    return out


def keep_best(state: TrainState, model: Classifier, row: dict[str, Any], metric: str) -> None:
    """Remember the weights of the stage's epoch with the best validation score."""
    if row[metric] > state.best_score:
        state.best_score, state.best_epoch = row[metric], row["epoch"]
        state.best_weights = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}


def save_state(
    path: Path,
    state: TrainState,
    model: Classifier,
    opt: Any,
    sched: Any,
    loss_fn: Any,
    sampler: Any = None,
) -> None:
    blob = {  # plain containers and tensors only: read back with torch.load(weights_only=True)
        "state": dataclasses.asdict(state),
        "model": model.state_dict(),
        "opt": opt.state_dict(),
        "sched": sched.state_dict(),
        "loss": loss_fn.state_dict(),
        "sampler": sampler.state_dict() if sampler is not None else {},
    }
    atomic_write(path, torch_writer(blob))


def load_state(
    path: Path, model: Classifier, device: str, world: distributed.World = distributed.SINGLE
) -> tuple[TrainState, dict | None]:
    """Resume from a checkpoint after the last finished epoch, or start fresh. Distributed:
    rank 0 decides (setting a bad checkpoint aside), then the others read what it resumed."""
    if not world.is_main:
        if not world.agree(None):
            return TrainState(), None
        blob = torch.load(path, map_location=device, weights_only=True)
        model.load_state_dict(blob["model"])
        return TrainState(**blob["state"]), blob
    state, blob = read_state(path, model, device)
    world.agree(blob is not None)
    return state, blob


def read_state(path: Path, model: Classifier, device: str) -> tuple[TrainState, dict | None]:
    if not path.exists():
        return TrainState(), None
    try:
        blob = torch.load(path, map_location=device, weights_only=True)
        state = TrainState(**blob["state"])  # a checkpoint of an older layout fails here
        model.load_state_dict(blob["model"])
    except Exception as exc:  # a torn or incompatible checkpoint: keep it, start afresh
        keep = set_aside(path)
        log.warning("checkpoint %s cannot be resumed (%s); moved to %s", path, exc, keep)
        return TrainState(), None
    log.info("resuming classifier training in stage %d after epoch %d", state.stage, state.epoch)
    return state, blob
