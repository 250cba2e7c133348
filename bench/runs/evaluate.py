"""Evaluation of a trained classifier: what goes into a run's `metrics`.

Test-split accuracy (overall / many / medium / few / per class) of the best-validation and the
last checkpoints, plus group and fairness metrics where the split has groups or attributes, and
the selected checkpoint's prediction for every test image (`test_predictions`).
"""

from __future__ import annotations

from typing import Any

from bench.data import LoadedDataset
from bench.metrics.accuracy import shot_accuracy
from bench.metrics.subgroups import subgroup_metrics


def evaluate(
    trained: Any, data: LoadedDataset, recipe: Any, device: str, synthetic: Any
) -> dict[str, Any]:
    """Test-split accuracy of the best-validation and the last checkpoints (plus group and
    fairness metrics where the split has groups / attributes). `best` is the last stage's epoch
    with the best `recipe.selection_metric` (the benchmark's model-selection rule, recorded)."""
    # torch: heavy, imported where used (off the start-up path)
    from bench.train.loop import eval_dataset, eval_workers, predict

    test = data.splits["test"]
    test_set = eval_dataset(recipe, data, test)
    counts = data.train_counts()
    scores, predicted = {}, {}
    for name, model in (("best", trained.best), ("last", trained.last)):
        preds = predict(
            model, test_set, recipe.eval_batch_size, device, eval_workers(recipe, test_set)
        )
        predicted[name] = preds
        scores[name] = shot_accuracy(
            test.targets, preds, counts, data.many_threshold, data.few_threshold
        )
        scores[name].update(subgroup_metrics(data, test, preds))
    selected = "best" if recipe.selection == "best-val" else "last"
    chosen = trained.history[trained.best_epoch - 1 if selected == "best" else -1]
    return {
        "test": scores[selected],
        "test_best": scores["best"],
        "test_last": scores["last"],
        "selection": recipe.selection,
        "selection_metric": recipe.selection_metric,
        "best_epoch": trained.best_epoch,
        "epochs": len(trained.history),
        "steps_per_epoch": trained.steps_per_epoch,
        "stages": trained.stages,
        "val_balanced": chosen["val_balanced"],
        "val_score": chosen[recipe.selection_metric],
        "train_counts": [int(n) for n in counts],
        "synthetic_counts": None
        if synthetic is None
        else [int(n) for n in synthetic.class_counts(data.num_classes)],
        "shot_buckets": data.shot_buckets(),
        # per test image, in split order: what `bench compare` bootstraps over
        "test_predictions": {
            "labels": [int(y) for y in test.targets],
            "predicted": [int(p) for p in predicted[selected]],
        },
    }
