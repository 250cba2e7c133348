"""Group fairness: demographic parity, equal opportunity, equalized odds, DEO-A / DEO-M.

Every gap is max - min across sensitive groups ("between_groups" in fairlearn).

Binary tasks (labels 0/1, positive class 1) follow fairlearn 0.15 exactly:
- dp = demographic_parity_difference: gap of the selection rate P(yhat=1 | a);
- eo = equal_opportunity_difference: gap of the true positive rate P(yhat=1 | y=1, a);
- ed = equalized_odds_difference (agg="worst_case"): max of the TPR gap and the FPR gap.

Multi-class tasks: each class c in turn is the positive class (one-vs-rest) and the worst
class counts: dp = max_c gap(P(yhat=c | a)), eo = max_c gap(TPR_c), ed = max_c max(gap(TPR_c),
gap(FPR_c)). For two classes this gives the binary numbers for dp; for eo it would also count
class 0's TPR (= 1 - FPR of class 1), so binary tasks keep the positive class only.

DEO-A / DEO-M (naver-ai/cgl_fairness `trainer_factory.py::evaluate`, the metric of the fairness
papers SYNAuG builds on): acc[g, l] = accuracy of group g on the samples of class l (TPR_l),
DEO_l = max_g acc[g, l] - min_g acc[g, l]; DEO-A is the mean over classes, DEO-M the max. For a
binary task DEO-M equals fairlearn's worst-case equalized odds and DEO-A its agg="mean" variant.

fairlearn silently scores a group with no positive samples as TPR 0; here that is an error
naming the group and the class, because a made-up rate would decide the gap.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from bench.metrics.checks import MetricInputError, check_labels, check_per_sample


def fairness(
    y_true: Any,
    y_pred: Any,
    sensitive: Any,
    num_classes: int | None = None,
    group_names: list[str] | None = None,
) -> dict[str, Any]:
    """dp, eo, ed, deo_a, deo_m (lower is fairer) and the per-group rates behind them.

    `sensitive` holds each sample's sensitive attribute (e.g. race on UTKFace). With
    `group_names` (one name per attribute value 0..G-1) every group must have samples.
    """
    y_true, y_pred = check_labels(y_true, y_pred)
    sensitive = check_per_sample(sensitive, len(y_true), "sensitive attributes")
    values, names = sensitive_groups(sensitive, group_names)
    classes = class_list(y_true, y_pred, num_classes)
    rates = group_rates(y_true, y_pred, sensitive, values, names, classes)
    binary = len(classes) == 2
    tpr_gap, fpr_gap, sel_gap = (gap(rates[k]) for k in ("tpr", "fpr", "selection_rate"))
    if binary:  # the positive class is 1, as fairlearn's default pos_label for 0/1 labels
        dp, eo, ed = sel_gap[1], tpr_gap[1], max(tpr_gap[1], fpr_gap[1])
    else:
        dp, eo, ed = sel_gap.max(), tpr_gap.max(), np.maximum(tpr_gap, fpr_gap).max()
    return {
        "dp": float(dp),
        "eo": float(eo),
        "ed": float(ed),
        "deo_a": float(tpr_gap.mean()),
        "deo_m": float(tpr_gap.max()),
        "task": "binary (positive class 1)" if binary else "one-vs-rest, worst class",
        "groups": names,
        "per_group": {
            name: {
                "n": int(np.sum(sensitive == value)),
                **{k: [float(x) for x in rates[k][i]] for k in ("selection_rate", "tpr", "fpr")},
            }
            for i, (value, name) in enumerate(zip(values, names, strict=True))
        },
    }


def sensitive_groups(
    sensitive: np.ndarray, group_names: list[str] | None
) -> tuple[list[Any], list[str]]:
    """The attribute values to compare and their display names."""
    if group_names:
        values = list(range(len(group_names)))
        unknown = sorted(set(np.unique(sensitive).tolist()) - set(values))
        if unknown:
            raise MetricInputError(
                f"sensitive attribute value {unknown[0]!r} has no name among the "
                f"{len(group_names)} group names {group_names}."
            )
        empty = [group_names[v] for v in values if not np.any(sensitive == v)]
        if empty:
            raise MetricInputError(
                f"sensitive group(s) {', '.join(map(repr, empty))} have no samples: fairness "
                "gaps across groups need every group evaluated."
            )
        names = list(group_names)
    else:
        values = np.unique(sensitive).tolist()
        names = [str(v) for v in values]
    if len(values) < 2:
        raise MetricInputError(
            f"fairness needs at least two sensitive groups; got {len(values)} ({names})."
        )
    return values, names


def class_list(y_true: np.ndarray, y_pred: np.ndarray, num_classes: int | None) -> list[int]:
    top = int(max(y_true.max(), y_pred.max()))
    if min(y_true.min(), y_pred.min()) < 0:
        raise MetricInputError("labels and predictions must be class indices >= 0.")
    if num_classes is None:
        return list(range(max(top + 1, 2)))
    if top >= num_classes:
        raise MetricInputError(f"class {top} is out of range for {num_classes} classes.")
    return list(range(num_classes))


def group_rates(
    y_true: np.ndarray,
    y_pred: np.ndarray,
    sensitive: np.ndarray,
    values: list[Any],
    names: list[str],
    classes: list[int],
) -> dict[str, np.ndarray]:
    """Selection rate, TPR and FPR of every (group, class), each a groups x classes array."""
    shape = (len(values), len(classes))
    out = {k: np.zeros(shape) for k in ("selection_rate", "tpr", "fpr")}
    for i, (value, name) in enumerate(zip(values, names, strict=True)):
        in_group = sensitive == value
        t, p = y_true[in_group], y_pred[in_group]
        check_every_class(t, classes, name)
        for j, c in enumerate(classes):
            out["selection_rate"][i, j] = np.mean(p == c)
            out["tpr"][i, j] = np.mean(p[t == c] == c)
            out["fpr"][i, j] = np.mean(p[t != c] == c)
    return out


def check_every_class(y_true: np.ndarray, classes: list[int], group: str) -> None:
    """TPR_c needs samples of class c in the group, FPR_c samples of another class."""
    missing = [c for c in classes if not np.any(y_true == c)]
    if missing:
        present = sorted(set(classes) - set(missing))
        raise MetricInputError(
            f"sensitive group {group!r} has no samples of class {', '.join(map(str, missing))} "
            f"(only of class {', '.join(map(str, present)) or 'none'}): its true positive rate "
            "there is undefined, so equal opportunity, equalized odds and DEO cannot be computed."
        )


def gap(per_group: np.ndarray) -> np.ndarray:
    """max over groups - min over groups, per class."""
    return per_group.max(axis=0) - per_group.min(axis=0)
