"""The written schema of a run record: what `config.json` and `result.json` must hold.

Every reader checks a record against it: `bench show` and a relaunch refuse one that fails (an
error naming the file and the field), `bench leaderboard` skips it with a warning and a
footnote and never counts it as a seed. The same schema is listed in docs/leaderboard.md ("Run
records"); tests/test_record_schema.py keeps the two in step.

Fields not listed are allowed (metrics grow with the method: group metrics, eval-gen); listed
ones must have their type, and the fields a result shares with its config (method, dataset,
seed, run_id) must agree, so a result copied from another run is not taken for this one.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bench.datasets import DATASETS
from bench.methods import METHODS

Check = Callable[[Any], str | None]  # a value's problem, or None


@dataclass(frozen=True)
class Field:
    """One field: its JSON types, whether it must be present, a value check, its own fields."""

    types: tuple[type, ...]
    required: bool = False
    check: Check | None = None
    fields: dict[str, Field] = field(default_factory=dict)
    doc: str = ""


def registered(kind: str) -> Check:
    """A name that must be in the method or dataset registry (a record of an unknown method is
    not counted, and its name never reaches a report)."""

    def check(value: Any) -> str | None:
        if not value:
            return "is empty"
        names = METHODS if kind == "method" else DATASETS
        return None if value in names else f"is not a registered {kind} (bench list {kind}s)"

    return check


def seed_range(value: Any) -> str | None:
    return None if 0 <= value < 2**32 else "is not a seed in [0, 2^32)"


def accuracy(value: Any) -> str | None:
    if value is None or not math.isfinite(value) or 0.0 <= value <= 1.0:
        return None
    return "is not an accuracy in [0, 1]"


def same_length(value: Any) -> str | None:
    labels, predicted = value.get("labels"), value.get("predicted")
    if isinstance(labels, list) and isinstance(predicted, list) and len(labels) != len(predicted):
        return f"has {len(labels)} labels but {len(predicted)} predictions"
    return None


def integers(value: Any) -> str | None:
    ok = all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in value)
    return None if ok else "holds a value that is not a class index"


def numbers(value: Any) -> str | None:
    ok = all(v is None or (isinstance(v, int | float) and not isinstance(v, bool)) for v in value)
    return None if ok else "holds a value that is not a number"


NUMBER = (int, float)
SAME = "fields as metrics.test"  # a section documented by reference
ACCURACY_KEYS = ("overall", "many", "medium", "few")


def test_section(required: bool, doc: str) -> Field:
    acc = {
        key: Field(
            NUMBER if key == "overall" else (*NUMBER, type(None)),
            required=key == "overall",
            check=accuracy,
            doc=f"{key} accuracy in [0, 1]" + ("" if key == "overall" else ", or null"),
        )
        for key in ACCURACY_KEYS
    }
    acc["balanced"] = Field((*NUMBER, type(None)), check=accuracy, doc="balanced accuracy")
    acc["per_class"] = Field((list,), check=numbers, doc="accuracy of each class")
    return Field((dict,), required=required, fields=acc, doc=doc)


CONFIG = Field(
    (dict,),
    required=True,
    fields={
        "method": Field((str,), True, registered("method"), doc="method name"),
        "dataset": Field((str,), True, registered("dataset"), doc="dataset name"),
        "seed": Field((int,), True, seed_range, doc="run seed"),
        "hparams": Field((dict,), True, doc="method settings"),
        "data": Field((dict,), True, doc="dataset options"),
        "recipe": Field((dict,), True, doc="classifier recipe"),
        "run_id": Field((str,), doc="hash of the settings and the data fingerprint"),
        "data_fingerprint": Field((str, type(None)), doc="digest of the data the run read"),
        "smoke": Field((bool,), doc="a smoke run (left out of leaderboards)"),
        "method_version": Field((int,), doc="the method's VERSION"),
        "dataset_version": Field((int,), doc="the dataset adapter's VERSION"),
        "stages": Field((dict,), doc="per-stage settings of multi-stage methods"),
        "sources": Field((dict,), doc="where every value came from"),
        "dependencies": Field((dict,), doc="run ids of the runs this one depends on"),
        "files": Field((dict,), doc="content digest of each file or folder a setting names"),
    },
)

RESULT = Field(
    (dict,),
    required=True,
    fields={
        "metrics": Field(
            (dict,),
            True,
            fields={
                "test": test_section(True, "the test metrics of the selected checkpoint"),
                "test_best": test_section(False, f"{SAME}: of the best-validation checkpoint"),
                "test_last": test_section(False, f"{SAME}: of the last checkpoint"),
                "test_predictions": Field(
                    (dict,),
                    check=same_length,
                    fields={
                        "labels": Field((list,), True, integers, doc="test label per image"),
                        "predicted": Field(
                            (list,), True, integers, doc="predicted class per test image"
                        ),
                    },
                    doc="the selected checkpoint's test predictions, in split order (runs "
                    "recorded before they were stored have none)",
                ),
            },
            doc="final metrics",
        ),
        "timings": Field((dict,), doc="seconds per stage"),
        "info": Field((dict,), doc="what the stages reported (data, generator, synthesis)"),
        "environment": Field((dict,), doc="versions, git commit, host, device"),
        "method": Field((str,), doc="must equal the config's"),
        "dataset": Field((str,), doc="must equal the config's"),
        "seed": Field((int,), doc="must equal the config's"),
        "run_id": Field((str,), doc="must equal the config's"),
        "finished": Field((str,), doc="ISO time the run finished"),
    },
)
# A result's fields that must agree with its config.
SHARED = ("method", "dataset", "seed", "run_id")


def problem(doc: Any, spec: Field, where: str = "") -> str | None:
    """The first way `doc` fails `spec` ("metrics.test.overall = '0.9' is not int or float")."""
    if not isinstance(doc, spec.types) or (isinstance(doc, bool) and bool not in spec.types):
        names = " or ".join("null" if t is type(None) else t.__name__ for t in spec.types)
        what = f"{where} = {doc!r:.60}" if where else "the file"
        return f"{what} is not {'a JSON object' if names == 'dict' else names}"
    if spec.check is not None and doc is not None:
        found = spec.check(doc)
        if found:
            return f"{where} = {doc!r:.60} {found}"
    for key, sub in spec.fields.items():
        name = f"{where}.{key}" if where else key
        if key not in doc:
            if sub.required:
                return f"no {name!r}" + (" (not a bench record)" if not where else "")
            continue
        found = problem(doc[key], sub, name)
        if found:
            return found
    return None


def config_problem(config: Any) -> str | None:
    return problem(config, CONFIG)


def result_problem(result: Any, config: dict[str, Any] | None = None) -> str | None:
    """The result's first problem; with its (valid) config, also the fields they share."""
    found = problem(result, RESULT)
    if found or config is None:
        return found
    for key in SHARED:
        if key in result and key in config and result[key] != config[key]:
            return (
                f"{key} = {result[key]!r} but config.json says {config[key]!r}: the result belongs "
                "to another run"
            )
    return None
