"""Published rows -> our rows: which of our groups and rows stand for a published configuration
(the mapping's bench method and settings, compared as the values they stand for), and what the
"Ours" cell says where none does. Pure functions.
"""

from __future__ import annotations

from collections.abc import Sequence
from fnmatch import fnmatchcase
from typing import Any

from bench.report.aggregate import Group, Row
from bench.report.published import DatasetMap, MethodMap, counterpart_status


def matching_groups(groups: list[Group], dmap: DatasetMap) -> list[Group]:
    """Our tables of the mapped dataset whose options include the mapped settings."""
    if not dmap.bench_dataset:
        return []
    return [
        g
        for g in groups
        if g.dataset == dmap.bench_dataset
        and all(same_value(g.options.get(k), v) for k, v in dmap.settings.items())
    ]


def same_value(ours: Any, text: str) -> bool:
    """Whether a recorded value is the one a settings text stands for (1 = 1.0, true = True,
    a list = its comma-separated items, * = any value that is set, a text with * a pattern,
    !TEXT = any value but TEXT's)."""
    if text.startswith("!"):  # stage.ft.epochs=!0: fine-tuned for any number of epochs
        return ours is not None and not same_value(ours, text[1:])
    if text == "*":  # any value that is set
        return ours not in (None, "", [], ())
    if "*" in text and isinstance(ours, str):  # a pattern: prompts=*t5-prompts.yaml
        return fnmatchcase(ours, text)
    if ours is None:
        return False
    if isinstance(ours, bool):
        return text.strip().lower() in (("true", "1", "yes") if ours else ("false", "0", "no"))
    if isinstance(ours, list | tuple):
        return ",".join(map(str, ours)) == text.replace(" ", "")
    try:
        return float(ours) == float(text)
    except (TypeError, ValueError):
        return str(ours) == text


def matching_row(group: Group, mmap: MethodMap, siblings: Sequence[MethodMap] = ()) -> Row | None:
    """Our row for a published one in `group`: its bench method with the mapping's settings (the
    row with most seeds); `dataset.` settings must hold in the group's options (SYNAuG's
    replacement test: dataset.real_kept=uniform:0.01). A mapping without settings takes none of
    the rows (or tables) a sibling mapping claims: another variant of the same bench method in
    the same published table (Stage I only, synthetic only, ...)."""
    own_data, own = split_settings(mmap.settings)
    claims = [
        split_settings(m.settings)
        for m in siblings
        if m.settings and m.bench_method == mmap.bench_method and m is not mmap
    ]
    if not holds(group.options, own_data):
        return None
    if not own_data and any(d and holds(group.options, d) for d, _ in claims):
        return None  # a table a sibling's dataset settings make (a replacement test)
    rows = [r for r in group.rows if r.method == mmap.bench_method and not r.options.get("smoke")]
    rows = [r for r in rows if holds(r.options, own)]
    if not own:
        claimed = [c for d, c in claims if c and holds(group.options, d)]
        rows = [r for r in rows if not any(holds(r.options, c) for c in claimed)]
    return max(rows, key=lambda r: len(r.seeds), default=None)


def split_settings(settings: dict[str, str]) -> tuple[dict[str, str], dict[str, str]]:
    """(dataset options, the row's own settings) of a mapping's `--set` settings."""
    data = {k.removeprefix("dataset."): v for k, v in settings.items() if k.startswith("dataset.")}
    return data, {k: v for k, v in settings.items() if not k.startswith("dataset.")}


def holds(options: dict[str, Any], settings: dict[str, str]) -> bool:
    """Whether a row's settings hold every `--set` KEY=VALUE ('a|b': either; `method.` keys are
    the method's own settings), compared as the values they stand for (`same_value`)."""
    for key, text in settings.items():
        key = key.removeprefix("method.")
        if key not in options or not any(same_value(options[key], t) for t in text.split("|")):
            return False
    return True


def ours_text(ours: Row | None, mmap: MethodMap, dmap: DatasetMap, registered: set[str]) -> str:
    if ours is not None:
        return f"{ours.label}, {len(ours.seeds)} seed(s)"
    status = counterpart_status(mmap, registered)
    if status != "counterpart":
        return status + (f": {mmap.bench_method}" if mmap.bench_method else "")
    if not dmap.bench_dataset:
        return "no counterpart (dataset)"
    sets = "".join(f" --set {k}={v}" for k, v in dmap.settings.items()) + mmap.set_flags()
    return (
        f"not run yet: bench run --method {mmap.bench_method} --dataset {dmap.bench_dataset}{sets}"
    )
