"""Group robustness: worst-group, mean-group and train-weighted accuracy.

Groups are (class, attribute) cells such as Waterbirds' (bird, background) or NICO++'s
(class, context). Three averages are in use and tables must say which one they show:
- `mean`: the plain mean of the group accuracies (SubpopBench's `adjusted_accuracy`);
- `weighted`: group accuracies weighted by the *training* group proportions (WILDS Waterbirds
  `adj_acc_avg`, GroupDRO and JTT's "average accuracy"; JTT issue #2);
- `worst`: the smallest group accuracy, whatever the group's size (SubpopBench `min_group`).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from bench.metrics.checks import MetricInputError, check_labels, check_per_sample


def group_accuracy(
    y_true: Any,
    y_pred: Any,
    groups: Any,
    train_groups: Any = None,
    group_names: list[str] | None = None,
    skip_empty: bool = False,
) -> dict[str, Any]:
    """Worst, mean and (with `train_groups`) train-weighted group accuracy, and each group's.

    `groups` holds the group index of each evaluated sample; `train_groups` the group index of
    each *training* sample, whose proportions weight `weighted` (None without it). With
    `group_names`, every named group must have evaluation samples, or the error names the empty
    ones; `skip_empty=True` leaves them out (SubpopBench: the worst group is taken over the test
    groups present) and lists them under `empty_groups`.
    """
    y_true, y_pred = check_labels(y_true, y_pred)
    groups = check_group_indices(check_per_sample(groups, len(y_true), "groups"), group_names)
    ids = list(range(len(group_names))) if group_names else [int(g) for g in np.unique(groups)]
    names = {g: group_names[g] if group_names else str(g) for g in ids}
    sizes = {g: int(np.sum(groups == g)) for g in ids}
    empty = [g for g in ids if sizes[g] == 0]
    if empty and not skip_empty:
        listed = ", ".join(repr(names[g]) for g in empty)
        raise MetricInputError(
            f"{len(empty)} of {len(ids)} groups have no evaluation samples: {listed}. Evaluate "
            "on a split that has every group, or pass skip_empty=True to leave them out."
        )
    present = [g for g in ids if sizes[g] > 0]
    acc = {g: float(np.mean(y_pred[groups == g] == y_true[groups == g])) for g in present}
    worst = min(present, key=lambda g: acc[g])
    result: dict[str, Any] = {
        "worst": acc[worst],
        "worst_group": names[worst],
        "mean": float(np.mean([acc[g] for g in present])),
        "weighted": None,
        "per_group": {names[g]: acc[g] for g in present},
        "group_sizes": {names[g]: sizes[g] for g in present},
        "empty_groups": [names[g] for g in empty],
    }
    if train_groups is not None:
        train_counts = train_group_counts(train_groups, group_names, ids)
        result["weighted"] = train_weighted(acc, train_counts, names)
        result["train_group_sizes"] = {names[g]: train_counts[g] for g in ids}
    return result


def check_group_indices(groups: np.ndarray, group_names: list[str] | None) -> np.ndarray:
    if not np.issubdtype(groups.dtype, np.integer):
        raise MetricInputError(f"groups must be integer group indices, got {groups.dtype}.")
    if len(groups) and groups.min() < 0:
        raise MetricInputError(f"group index {int(groups.min())} is negative.")
    if group_names and len(groups) and groups.max() >= len(group_names):
        raise MetricInputError(
            f"group index {int(groups.max())} is out of range for {len(group_names)} group names."
        )
    return groups.astype(np.int64)


def train_group_counts(
    train_groups: Any, group_names: list[str] | None, ids: list[int]
) -> dict[int, int]:
    train = np.asarray(train_groups)
    if train.ndim != 1 or len(train) == 0:
        raise MetricInputError(
            f"train_groups must be the group index of each training sample, got shape "
            f"{train.shape}."
        )
    train = check_group_indices(train, group_names)
    return {g: int(np.sum(train == g)) for g in ids}


def train_weighted(
    acc: dict[int, float], train_counts: dict[int, int], names: dict[int, str]
) -> float:
    """sum_g n_train(g) acc(g) / sum_g n_train(g) over the groups that have test samples."""
    total = sum(train_counts[g] for g in acc)
    if total == 0:
        listed = ", ".join(repr(names[g]) for g in acc)
        raise MetricInputError(
            f"no training samples in any evaluated group ({listed}): the train-weighted "
            "accuracy is undefined."
        )
    return float(sum(train_counts[g] * acc[g] for g in acc) / total)
