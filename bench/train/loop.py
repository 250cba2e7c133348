"""The harness's classifier training loop: one recipe for every method.

Training is seeded per epoch (model init, batch draws, augmentation), and its full state is
checkpointed after every epoch, so a run killed midway resumes and ends with exactly the
numbers an uninterrupted run gives.
"""

from __future__ import annotations

import copy
import dataclasses
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from bench.data import ImageSplit, LoadedDataset
from bench.errors import ConfigError
from bench.io import atomic_write, seed_hash
from bench.metrics.accuracy import mean_of, per_class_accuracy
from bench.progress import progress_bar
from bench.train.backbones import Classifier, build_classifier
from bench.train.losses import make_loss, prior_counts
from bench.train.recipe import Recipe
from bench.train.samplers import BatchPlan

log = logging.getLogger(__name__)


@dataclass
class TrainState:
    """Everything needed to continue training after the last finished epoch."""

    epoch: int = 0
    best_epoch: int = -1
    best_score: float = -math.inf
    best_weights: dict[str, Any] | None = None
    history: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class TrainResult:
    last: Classifier
    best: Classifier
    best_epoch: int
    history: list[dict[str, Any]]
    steps_per_epoch: int


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


def steps_per_epoch(recipe: Recipe, n_train: int) -> int:
    return recipe.steps_per_epoch or max(1, math.ceil(n_train / recipe.batch_size))


def train_classifier(
    recipe: Recipe,
    data: LoadedDataset,
    synthetic: Any | None,
    seed: int,
    device: str,
    state_path: Path,
    on_epoch: Callable[[list[dict[str, Any]]], None] = lambda rows: None,
    progress: bool = True,
) -> TrainResult:
    """Train on the real train split (+ synthetic data), validating after every epoch.

    `on_epoch` receives the whole history after each epoch's checkpoint is saved.
    """
    torch.manual_seed(seed_hash(seed, "init"))
    model = build_classifier(recipe.backbone, data.num_classes, data.channels, recipe.pretrained)
    model.to(device)
    train_set, plan = training_data(recipe, data, synthetic, seed)
    from bench.data.torchdata import collate

    loader = DataLoader(
        train_set,
        batch_sampler=plan,
        collate_fn=collate,
        num_workers=recipe.num_workers,
        pin_memory=device.startswith("cuda"),
    )
    val_set = eval_dataset(recipe, data, data.splits["val"])
    opt = make_optimizer(recipe, model)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_factor(recipe, plan.steps))
    counts = prior_counts(
        recipe.prior,
        data.train_counts(),
        None if synthetic is None else synthetic.class_counts(data.num_classes),
    )
    loss_fn = make_loss(recipe.loss, counts)
    state = load_state(state_path, model, opt, sched, device)
    for epoch in range(state.epoch, recipe.epochs):
        row = run_epoch(model, loader, plan, opt, sched, loss_fn, epoch, seed, device, progress)
        row.update(validate(model, val_set, data.num_classes, recipe, device))
        keep_best(state, model, row)
        state.epoch = epoch + 1
        state.history.append(row)
        save_state(state_path, state, model, opt, sched)
        on_epoch(state.history)
        log.info(
            "epoch %d/%d  loss %.4f  val %.4f",
            epoch + 1,
            recipe.epochs,
            row["train_loss"],
            row["val_balanced"],
        )
    best = copy.deepcopy(model)
    best.load_state_dict(state.best_weights)
    return TrainResult(model, best, state.best_epoch, state.history, plan.steps)


def training_data(
    recipe: Recipe, data: LoadedDataset, synthetic: ImageSplit | None, seed: int
) -> tuple[Dataset, BatchPlan]:
    """The (real + synthetic) torch dataset and the batch plan that draws from it."""
    real = torch_split(recipe, data, data.train, recipe.augment)
    parts = (
        [real]
        if synthetic is None
        else [real, torch_split(recipe, data, synthetic, recipe.augment)]
    )
    n_total = sum(len(p) for p in parts)
    plan = BatchPlan(
        data.train.targets,
        None if synthetic is None else synthetic.targets,
        recipe.batch_size,
        steps_per_epoch(recipe, n_total),
        recipe.sampler,
        recipe.real_fraction,
        seed,
    )
    from bench.data.torchdata import Concat

    return (parts[0] if len(parts) == 1 else Concat(parts)), plan


def torch_split(recipe: Recipe, data: LoadedDataset, split: Any, augment: str) -> Dataset:
    """The one place a real split or a synthetic set becomes a torch Dataset; synthetic images
    get the transforms of the dataset's real images."""
    from bench.data.torchdata import torch_dataset

    like = "array" if data.train.images is not None else "file"
    return torch_dataset(split, data.image_size, data.channels, recipe.normalize, augment, like)


def eval_dataset(recipe: Recipe, data: LoadedDataset, split: ImageSplit) -> Dataset:
    return torch_split(recipe, data, split, "none")


def make_optimizer(recipe: Recipe, model: torch.nn.Module) -> torch.optim.Optimizer:
    if recipe.optimizer == "sgd":
        return torch.optim.SGD(
            model.parameters(),
            lr=recipe.lr,
            momentum=recipe.momentum,
            weight_decay=recipe.weight_decay,
        )
    return torch.optim.Adam(model.parameters(), lr=recipe.lr, weight_decay=recipe.weight_decay)


def lr_factor(recipe: Recipe, steps: int) -> Callable[[int], float]:
    """Per-step LR multiplier: linear warm-up, then cosine decay to zero (or constant)."""
    total, warmup = recipe.epochs * steps, recipe.warmup_epochs * steps

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        if recipe.schedule == "constant":
            return 1.0
        return 0.5 * (1.0 + math.cos(math.pi * (step - warmup) / max(1, total - warmup)))

    return factor


def run_epoch(
    model: Classifier,
    loader: DataLoader,
    plan: BatchPlan,
    opt: torch.optim.Optimizer,
    sched: Any,
    loss_fn: Callable,
    epoch: int,
    seed: int,
    device: str,
    progress: bool,
) -> dict[str, Any]:
    """One epoch of training; returns its loss, accuracy and timing."""
    torch.manual_seed(seed_hash(seed, "epoch", epoch))  # augmentation and dropout stream
    plan.set_epoch(epoch)
    model.train()
    start, losses, correct, seen = time.time(), [], 0, 0
    for x, y in progress_bar(loader, progress, desc=f"epoch {epoch + 1}"):
        x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
        logits = model(x)
        loss = loss_fn(logits, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        losses.append(float(loss.detach()))
        correct += int((logits.argmax(1) == y).sum())
        seen += len(y)
    return {
        "epoch": epoch + 1,
        "train_loss": float(np.mean(losses)),
        "train_acc": correct / seen,
        "lr": opt.param_groups[0]["lr"],
        "seconds": round(time.time() - start, 3),
    }


@torch.no_grad()
def predict(
    model: torch.nn.Module, dataset: Dataset, batch_size: int, device: str, num_workers: int = 0
) -> np.ndarray:
    """Predicted labels (argmax of the plain logits) for every sample, in order."""
    model.eval()
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False, num_workers=num_workers)
    preds = [model(x.to(device)).argmax(1).cpu() for x, _ in loader]
    return torch.cat(preds).numpy()


def validate(
    model: Classifier, val_set: Dataset, num_classes: int, recipe: Recipe, device: str
) -> dict[str, float]:
    preds = predict(model, val_set, recipe.eval_batch_size, device, recipe.num_workers)
    targets = val_set.targets.numpy()
    return {
        "val_acc": float(np.mean(preds == targets)),
        "val_balanced": mean_of(per_class_accuracy(targets, preds, num_classes)),
    }


def keep_best(state: TrainState, model: Classifier, row: dict[str, Any]) -> None:
    """Remember the weights of the epoch with the best balanced validation accuracy."""
    if row["val_balanced"] > state.best_score:
        state.best_score, state.best_epoch = row["val_balanced"], row["epoch"]
        state.best_weights = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}


def save_state(path: Path, state: TrainState, model: Classifier, opt: Any, sched: Any) -> None:
    blob = {  # plain containers and tensors only: read back with torch.load(weights_only=True)
        "state": dataclasses.asdict(state),
        "model": model.state_dict(),
        "opt": opt.state_dict(),
        "sched": sched.state_dict(),
    }
    atomic_write(path, lambda tmp: torch.save(blob, tmp))


def load_state(path: Path, model: Classifier, opt: Any, sched: Any, device: str) -> TrainState:
    """Resume from a checkpoint after the last finished epoch, or start fresh."""
    if not path.exists():
        return TrainState()
    try:
        blob = torch.load(path, map_location=device, weights_only=True)
        state = TrainState(**blob["state"])
        model.load_state_dict(blob["model"])
        opt.load_state_dict(blob["opt"])
        sched.load_state_dict(blob["sched"])
    except Exception as exc:  # a torn or incompatible checkpoint: keep it, start afresh
        keep = path.parent / "attempts" / f"{path.stem}-{int(time.time())}{path.suffix}"
        keep.parent.mkdir(exist_ok=True)
        path.rename(keep)
        log.warning("checkpoint %s cannot be resumed (%s); moved to %s", path, exc, keep)
        return TrainState()
    log.info("resuming classifier training after epoch %d", state.epoch)
    return state
