"""The runner's evaluation adds group and fairness metrics where the test split has groups or
attributes, with values checked by hand, and records an uncomputable one instead of failing."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from bench.data import ImageSplit, LoadedDataset
from bench.runs.config import resolve
from bench.runs.evaluate import evaluate
from bench.train.loop import TrainResult


class BrightnessClassifier(nn.Module):
    """Predicts class c for images of brightness 40 c: its predictions are known by design."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        brightness = (x.mean(dim=(1, 2, 3)) * 0.5 + 0.5) * 255  # undo the "half" normalisation
        centres = torch.arange(2, dtype=torch.float32) * 40
        return -((brightness[:, None] - centres[None, :]) ** 2)


def images_showing(classes: list[int]) -> np.ndarray:
    return np.stack([np.full((8, 8, 1), 40 * c, dtype=np.uint8) for c in classes])


def dataset(test: ImageSplit, train_groups: list[int]) -> LoadedDataset:
    train_targets = [g // 2 for g in train_groups]  # group = 2 * y + a
    train = ImageSplit(
        "train",
        np.array(train_targets),
        images=images_showing(train_targets),
        groups=np.array(train_groups),
        attributes=np.array(train_groups) % 2,
    )
    return LoadedDataset(
        name="toy-groups",
        class_names=["landbird", "waterbird"],
        splits={"train": train, "val": train, "test": test},
        image_size=8,
        channels=1,
        group_names=["landbird/land", "landbird/water", "waterbird/land", "waterbird/water"],
        attribute_names=["land", "water"],
    )


def test_validation_worst_group_is_the_smallest_group_accuracy() -> None:
    """Model selection by val_worst_group takes the worst group's accuracy (SubpopBench), not
    the mean over groups: one misread group of four gives 0, not 0.75."""
    from bench.train.loop import eval_dataset, validate

    labels, groups, shown = [0, 0, 1, 1], [0, 1, 2, 3], [0, 0, 1, 0]  # group 3 looks like 0
    val = ImageSplit("val", np.array(labels), images=images_showing(shown), groups=np.array(groups))
    data = dataset(val, [0, 1, 2, 3])
    data.splits["val"] = val
    recipe = resolve("erm", "digits-lt").recipe_settings
    out = validate(BrightnessClassifier(), eval_dataset(recipe, data, val), data, recipe, "cpu")
    assert out["val_worst_group"] == 0.0 and out["val_acc"] == 0.75


def run_evaluate(data: LoadedDataset) -> dict:
    model = BrightnessClassifier()
    trained = TrainResult(model, model, 1, [{"val_balanced": 1.0}], 1)
    recipe = resolve("erm", "digits-lt").recipe_settings  # normalize = "half"
    return evaluate(trained, data, recipe, "cpu", None)


def test_group_and_fairness_metrics_are_recorded() -> None:
    y = [0, 0, 0, 0, 0, 0, 1, 1, 1, 1]
    shown = [0, 0, 0, 1, 0, 1, 0, 0, 1, 1]  # what the classifier will predict
    groups = [0, 0, 0, 0, 1, 1, 2, 2, 3, 3]
    test = ImageSplit(
        "test",
        np.array(y),
        images=images_showing(shown),
        groups=np.array(groups),
        attributes=np.array(groups) % 2,
    )
    data = dataset(test, train_groups=[0] * 6 + [1] * 2 + [2] * 1 + [3] * 3)
    metrics = run_evaluate(data)["test"]
    group = metrics["group"]
    assert group["per_group"] == {
        "landbird/land": 0.75,
        "landbird/water": 0.5,
        "waterbird/land": 0.0,
        "waterbird/water": 1.0,
    }
    assert group["worst"] == 0.0 and group["mean"] == pytest.approx(2.25 / 4)
    assert group["weighted"] == pytest.approx((6 * 0.75 + 2 * 0.5 + 1 * 0.0 + 3 * 1.0) / 12)
    fair = metrics["fairness"]
    # land (a=0): y=[0,0,0,0,1,1] yhat=[0,0,0,1,0,0]: TPR 0, FPR 1/4, selection 1/6
    # water (a=1): y=[0,0,1,1] yhat=[0,1,1,1]: TPR 1, FPR 1/2, selection 3/4
    assert fair["groups"] == ["land", "water"]
    assert fair["eo"] == 1.0 and fair["dp"] == pytest.approx(3 / 4 - 1 / 6)
    assert fair["ed"] == 1.0 and fair["deo_a"] == pytest.approx((1 + 0.25) / 2)
    assert metrics["overall"] == pytest.approx(0.6)


def test_uncomputable_fairness_is_recorded_not_raised() -> None:
    # The water group has no waterbird in the test split: its TPR is undefined.
    test = ImageSplit(
        "test",
        np.array([0, 1, 0]),
        images=images_showing([0, 1, 0]),
        groups=np.array([0, 2, 1]),
        attributes=np.array([0, 0, 1]),
    )
    metrics = run_evaluate(dataset(test, train_groups=[0, 1, 2, 3]))["test"]
    assert "'water' has no samples of class 1" in metrics["fairness"]["error"]
    assert metrics["group"]["empty_groups"] == ["waterbird/water"]
    assert metrics["group"]["worst"] == 1.0


def test_split_without_groups_gets_no_group_metrics() -> None:
    test = ImageSplit("test", np.array([0, 1]), images=images_showing([0, 1]))
    data = dataset(test, train_groups=[0, 3])
    metrics = run_evaluate(data)["test"]
    assert "group" not in metrics and "fairness" not in metrics
