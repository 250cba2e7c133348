"""The group and fairness metrics of one evaluated split, as the runner stores them.

A split with `groups` gets group robustness (worst / mean / train-weighted group accuracy); one
with `attributes` gets the fairness gaps across attribute values. A metric that cannot be
computed on this split (say, a sensitive group without samples of some class) is recorded as
{"error": why} and logged, rather than failing a run whose training has finished.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from bench.data import ImageSplit, LoadedDataset
from bench.metrics.checks import MetricInputError
from bench.metrics.fairness import fairness
from bench.metrics.group import group_accuracy

log = logging.getLogger(__name__)


def subgroup_metrics(data: LoadedDataset, split: ImageSplit, preds: np.ndarray) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if split.groups is not None:
        out["group"] = guarded(
            "group accuracy",
            lambda: group_accuracy(
                split.targets,
                preds,
                split.groups,
                train_groups=data.train.groups,
                group_names=names_for(data.group_names, split.groups, data.train.groups),
                skip_empty=True,
            ),
        )
    if split.attributes is not None:
        out["fairness"] = guarded(
            "fairness",
            lambda: fairness(
                split.targets,
                preds,
                split.attributes,
                num_classes=data.num_classes,
                group_names=names_for(data.attribute_names, split.attributes),
            ),
        )
    return out


def names_for(names: list[str] | None, *indices: np.ndarray | None) -> list[str] | None:
    """The names, if there is one for every index used; else None (indices name themselves)."""
    used = [np.asarray(i) for i in indices if i is not None and len(i)]
    if not names or not used or not all(np.issubdtype(i.dtype, np.integer) for i in used):
        return None
    return list(names) if max(int(i.max()) for i in used) < len(names) else None


def guarded(what: str, compute: Any) -> dict[str, Any]:
    try:
        return compute()
    except MetricInputError as exc:
        log.warning("%s not computed: %s", what, exc)
        return {"error": str(exc)}
