"""Synthesis plans (how many images of what) and the requests they expand to.

A plan is written `KIND:AMOUNT` (a method setting, e.g. `plan=fill:max`):

| plan        | per cell                               | papers                           |
|-------------|----------------------------------------|----------------------------------|
| `fill:max`  | up to the largest class count          | FG App F.2, Fill-Up Sec 3.1      |
| `fill:N`    | up to N; cells at or above N get none  | Fill-Up 1,300 / 2,600; SYNAuG 500|
| `add:N`     | N more per cell                        | FG Fig. 12 (images per class)    |
| `cells:N`   | each (class, attribute) cell up to N   | FG NICO++ 811; SYNAuG UTKFace    |
| `cells:max` | each cell up to the largest cell       |                                  |
| `ratio:R`   | R x the cell's real count (rounded)    | augcond few-shot (DA-Fusion 15)  |
| `add:0`     | nothing, on purpose                    | (any other plan that asks for    |
|             |                                        | nothing is an error)             |

Cells are classes, or (class, attribute) pairs for `cells:` plans (the attribute is the
dataset's context / race / place / colour). Cells a plan gives nothing are recorded with why.
A plan expands to one `SynthesisRequest` per image, each seeded from (the set's key, the cell,
the index within the cell), so a sample does not depend on which job or batch draws it.
"""

from __future__ import annotations

import string
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from bench.errors import ConfigError
from bench.generators.base import SynthesisRequest
from bench.io import clip, read_yaml, seed_hash

KINDS = ("fill", "add", "cells", "ratio")
PLAN_HELP = "fill:max | fill:N | add:N | cells:N | cells:max | ratio:R (bench/synthesis/plans.py)"


@dataclass(frozen=True)
class PlanSpec:
    kind: str
    amount: float | None  # None = "max"

    @property
    def by_attribute(self) -> bool:
        return self.kind == "cells"


def parse_plan(text: str) -> PlanSpec:
    """'fill:max' -> PlanSpec('fill', None); errors name the value and the forms allowed."""
    kind, sep, amount = str(text).strip().partition(":")
    if not sep or kind not in KINDS:
        raise ConfigError(f"plan={text!r} is not a plan; write one of: {PLAN_HELP}.")
    if amount == "max" and kind in ("fill", "cells"):
        return PlanSpec(kind, None)
    try:
        value = float(amount)
    except ValueError:
        raise ConfigError(f"plan={text!r}: {amount!r} is not a number ({PLAN_HELP}).") from None
    if kind == "ratio":
        if not 0 < value <= 1000:
            raise ConfigError(f"plan={text!r}: the ratio must be in (0, 1000].")
    elif not value.is_integer() or value < 0 or value > 10**8:
        raise ConfigError(f"plan={text!r}: {kind} takes a whole number of images (0..1e8).")
    return PlanSpec(kind, value)


@dataclass
class Plan:
    """Images to generate per cell; cells with none are kept with the reason."""

    spec: str
    cells: list[tuple[int, int | None]]  # (class, attribute or None)
    real: list[int]  # real training images per cell
    counts: list[int]  # synthetic images per cell
    skipped: dict[str, str] = field(default_factory=dict)  # "class[/attribute]" -> why

    @property
    def total(self) -> int:
        return int(sum(self.counts))

    def to_json(self) -> dict[str, Any]:
        return {
            "spec": self.spec,
            "cells": [list(c) for c in self.cells],
            "real": self.real,
            "counts": self.counts,
            "skipped": self.skipped,
        }

    def class_counts(self, num_classes: int) -> np.ndarray:
        out = np.zeros(num_classes, np.int64)
        for (label, _), n in zip(self.cells, self.counts, strict=True):
            out[label] += n
        return out

    def capped(self, per_cell: int) -> Plan:
        """A smoke run's plan: at most `per_cell` images per cell; where the plan asks for
        none at all (a balanced fixture), one per cell, so synthesis still runs."""
        if self.total == 0 and parse_plan(self.spec).amount != 0:  # add:0 stays nothing
            note = " (smoke: the plan asks for none here; 1 per cell to run synthesis)"
            return Plan(self.spec + note, self.cells, self.real, [1] * len(self.cells), {})
        counts = [min(n, per_cell) for n in self.counts]
        return Plan(
            self.spec + f" (smoke: at most {per_cell} per cell)",
            self.cells,
            self.real,
            counts,
            self.skipped,
        )


def make_plan(text: str, data: Any, allow_empty: bool = False) -> Plan:
    """The plan `text` over the training split of `data` (a LoadedDataset); a plan that asks
    for no image is an error unless it says so (add:0) or `allow_empty` (a smoke run)."""
    spec = parse_plan(text)
    train = data.train
    if spec.by_attribute:
        if train.attributes is None or not data.attribute_names:
            raise ConfigError(
                f"plan={text!r} fills (class, attribute) cells, but {data.name} has no attribute "
                "(context, race, place, colour). Use a fill:/add:/ratio: plan."
            )
        n_attr = len(data.attribute_names)
        cells = [(c, a) for c in range(data.num_classes) for a in range(n_attr)]
        flat = train.targets * n_attr + train.attributes
        real = np.bincount(flat, minlength=len(cells))
    else:
        cells = [(c, None) for c in range(data.num_classes)]
        real = data.train_counts()
    counts, skipped = [], {}
    target = None
    if spec.kind in ("fill", "cells"):
        target = int(real.max()) if spec.amount is None else int(spec.amount)
    for cell, n in zip(cells, real, strict=True):
        if target is not None:
            k = max(0, target - int(n))
            if k == 0:
                skipped[cell_name(cell)] = f"already has {int(n)} >= {target} real images"
        elif spec.kind == "add":
            k = int(spec.amount)
        else:
            k = round(spec.amount * int(n))
        counts.append(k)
    if sum(counts) == 0 and spec.amount != 0 and not allow_empty:
        raise ConfigError(
            f"plan={text!r} asks for no synthetic image on {data.name} (largest real count "
            f"{int(real.max()) if len(real) else 0}): the run would train on real data only. Ask "
            "for a count per class (plan=ratio:R, add:N or fill:N above the largest count), or "
            "for nothing on purpose with plan=add:0."
        )
    return Plan(text, cells, [int(n) for n in real], counts, skipped)


def cell_name(cell: tuple[int, int | None]) -> str:
    label, attr = cell
    return str(label) if attr is None else f"{label}/{attr}"


@dataclass(frozen=True)
class PromptTemplate:
    """A prompt with fields from the dataset adapter: {class_name}, {context} (= {attribute}),
    {group_name}, {label}; and {modifier}, one of the method's modifiers of the class (SYNAuG's
    "a photo of {modifier} {class}"), the i-th image of a cell taking modifier i mod M.

    Fields are filled in as they are: a format spec or a conversion ({class_name:>1000},
    {label!r}) is refused, and a template, like each prompt it makes, is at most MAX_PROMPT
    characters (text encoders read 77 tokens; a longer prompt only costs memory)."""

    text: str

    FIELDS = ("class_name", "context", "attribute", "group_name", "label", "modifier")
    MAX_PROMPT = 1000

    def check(self, data: Any) -> None:
        shown = clip(repr(self.text), 120)
        if len(self.text) > self.MAX_PROMPT:
            raise ConfigError(
                f"prompt template {shown} has {len(self.text):,} characters; at most "
                f"{self.MAX_PROMPT} are allowed."
            )
        try:
            parts = list(string.Formatter().parse(self.text))
        except ValueError as exc:
            raise ConfigError(f"prompt template {shown} is malformed: {exc}.") from None
        for _, name, spec, conversion in parts:
            if name is not None and (spec or conversion):
                raise ConfigError(
                    f"prompt template {shown}: {{{name}{'!' + conversion if conversion else ''}"
                    f"{':' + spec if spec else ''}}} has a "
                    f"{'format spec' if spec else 'conversion'}; write the field bare, e.g. "
                    f"{{{name}}} (fields are filled in as they are)."
                )
        names = [name for _, name, _, _ in parts if name is not None]
        for name in names:
            if name not in self.FIELDS:
                raise ConfigError(
                    f"prompt template {self.text!r} names {{{name}}}, which no dataset provides; "
                    f"use {', '.join('{' + f + '}' for f in self.FIELDS)}."
                )
            if name in ("context", "attribute", "group_name") and not data.attribute_names:
                raise ConfigError(
                    f"prompt template {self.text!r} names {{{name}}}, but {data.name} has no "
                    "context / attribute: use {class_name} only."
                )

    def fields(self) -> list[str]:
        return [f for _, f, _, _ in string.Formatter().parse(self.text) if f is not None]

    def render(self, data: Any, label: int, attribute: int | None, modifier: str = "") -> str:
        attr = "" if attribute is None else data.attribute_names[attribute]
        prompt = self.text.format(
            modifier=modifier,
            class_name=data.class_names[label],
            context=attr,
            attribute=attr,
            group_name=f"{data.class_names[label]}/{attr}" if attr else data.class_names[label],
            label=label,
        )
        if len(prompt) > self.MAX_PROMPT:
            raise ConfigError(
                f"prompt template {clip(repr(self.text), 120)} makes a prompt of {len(prompt):,} "
                f"characters for class {label} ({clip(prompt, 120)}); at most "
                f"{self.MAX_PROMPT} are allowed: shorten the template or the modifiers."
            )
        return prompt


def load_class_lists(path: Path, what: str = "modifiers") -> dict[str, list[str]]:
    """A YAML file {class name: [strings]} ('*' for every other class): SYNAuG's modifiers,
    Fill-Up's prompt lists. Errors name the file and the entry."""

    table = read_yaml(path, f"{what} file")[0]
    if not isinstance(table, dict):
        raise ConfigError(f"{path}: expected a mapping of class name -> list of {what}.")
    out = {}
    for name, items in table.items():
        if not isinstance(items, list) or not items or not all(isinstance(m, str) for m in items):
            raise ConfigError(f"{path}: {name!r} must map to a non-empty list of strings.")
        out[str(name)] = items
    return out


def per_class_lists(
    table: dict[str, list[str]], class_names: list[str], path: Path, what: str = "modifiers"
) -> dict[int, list[str]]:
    """Each class's list ('*' for classes without their own); a missing class is an error."""
    missing = [n for n in class_names if n not in table]
    if missing and "*" not in table:
        raise ConfigError(
            f"{path}: no {what} for class {missing[0]!r} ({len(missing)} class(es) missing) "
            f"and no '*' entry. Add them, or a '*' list every other class takes. Classes: "
            f"{', '.join(class_names[:20])}{' ...' if len(class_names) > 20 else ''}."
        )
    return {i: table.get(n, table.get("*", [])) for i, n in enumerate(class_names)}


def expand(
    plan: Plan,
    key: str,
    data: Any,
    prompt: str | None = None,
    conditioning: int = 0,
    modifiers: dict[int, list[str]] | None = None,
) -> list[SynthesisRequest]:
    """One request per planned image.

    `modifiers` (class -> its list) fill the template's {modifier}, used evenly within a cell.

    `conditioning` = k draws k real training images of the same cell (of the same class where
    the cell has none, e.g. a NICO++ context without images, FG Sec 4.3) per request, from the
    request's seed; a class with a single image is paired with itself (documented choice).
    """
    template = PromptTemplate(prompt) if prompt else None
    if template is not None:
        template.check(data)
        if "modifier" in template.fields() and not modifiers:
            raise ConfigError(
                f"prompt template {template.text!r} names {{modifier}}, but the method gives no "
                "modifiers."
            )
    train = data.train
    by_class = {c: np.flatnonzero(train.targets == c) for c in range(data.num_classes)}
    requests: list[SynthesisRequest] = []
    for cell, n in zip(plan.cells, plan.counts, strict=True):
        label, attr = cell
        pool = by_class[label]
        if attr is not None and train.attributes is not None:
            in_cell = pool[train.attributes[pool] == attr]
            pool = in_cell if len(in_cell) else pool
        if conditioning and len(pool) == 0:
            raise ConfigError(
                f"class {label} ({data.class_names[label]}) has no real training image to "
                "condition on; use a plan that gives it none or a method without image "
                "conditioning."
            )
        mods = (modifiers or {}).get(label) or [""]
        for i in range(n):
            text = template.render(data, label, attr, mods[i % len(mods)]) if template else None
            seed = seed_hash(key, "cell", label, attr, i)
            cond: tuple[int, ...] = ()
            if conditioning:
                cond = conditioning_images(pool, conditioning, seed)
            requests.append(SynthesisRequest(len(requests), label, seed, attr, text, cond, i))
    return requests


def conditioning_images(pool: np.ndarray, k: int, seed: int) -> tuple[int, ...]:
    """k real images of the cell for one request, from its seed: distinct images where the
    cell has k (augcond's "2 randomly selected training examples", Sec 3.2), else drawn with
    replacement (a one-image class is paired with itself)."""
    rng = np.random.default_rng(seed)
    replace = k == 1 or len(pool) < k  # one image: the draw every earlier set was made with
    return tuple(int(j) for j in rng.choice(pool, size=k, replace=replace))
