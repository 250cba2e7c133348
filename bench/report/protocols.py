"""The protocol table: what a paper's row runs with in bench, beside what the paper states.

`results/published/protocols.yaml` is a transcription of the papers' stated settings, written
from the papers independently of the code: per paper, dataset and method, each setting as a
run-config key (`method.X`, `recipe.X`, `stage.S.X`, `dep.D.recipe.X`) with the paper's value
and where it says so, or null where the paper is silent. `compare` resolves each (method,
dataset) pair as `bench run` would and marks every setting:

- `matches`: the resolved value is the paper's;
- `paper silent`: the paper gives none; ours is shown with its source;
- `deviation`: the values differ and the setting's source declares it ("deviation: <reason>");
- `UNDECLARED`: the values differ and nothing says why (tests/test_protocols.py fails on it).

`markdown` renders docs/protocols.md (`bench protocols --write docs/protocols.md`), which also
lists every (method, dataset) pair of the published tables with the settings that decide its
number, so nothing of a paper's table runs on settings nobody looked at.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from bench.errors import BenchError
from bench.method import other_backends_settings
from bench.methods import METHODS
from bench.report.published import PAPERS, Published, default_directory

DEVIATION = "deviation:"
# The settings that decide a number, in the order the table shows them (where the run has them).
KEY_SETTINGS = (
    "method.generator",
    "method.model_id",
    "method.resolution",
    "method.plan",
    "method.guidance_scale",
    "method.omega",
    "method.sampling_steps",
    "method.scheduler",
    "method.feedback_scale",
    "method.guidance_every",
    "method.cond_dropout",
    "method.unet_channels",
    "method.train_steps",
    "recipe.backbone",
    "recipe.pretrained",
    "recipe.epochs",
    "recipe.lr",
    "recipe.batch_size",
    "recipe.loss",
    "recipe.sampler",
    "recipe.real_fraction",
    "recipe.then",
)
STAGE_KEYS = ("trains", "data", "epochs", "lr", "sampler", "loss")


@dataclass(frozen=True)
class Entry:
    """One block of the transcription: a paper's settings for some datasets and methods."""

    paper: str
    datasets: tuple[str, ...]
    methods: tuple[str, ...]
    settings: dict[str, tuple[Any, str]]  # key -> (paper value or None, where)


@dataclass(frozen=True)
class Line:
    """One setting of one (method, dataset) pair: ours beside the paper's."""

    key: str
    ours: Any
    source: str
    paper: Any
    where: str
    status: str  # matches | paper silent | deviation | UNDECLARED | not transcribed


def load(path: Path | None = None) -> list[Entry]:
    path = Path(path or default_directory() / "protocols.yaml")
    try:
        blocks = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise BenchError(f"{path}: cannot read the protocol transcription ({exc}).") from None
    out = []
    for i, block in enumerate(blocks or []):
        try:
            settings = {k: (v[0], str(v[1])) for k, v in block["settings"].items()}
            out.append(
                Entry(block["paper"], tuple(block["datasets"]), tuple(block["methods"]), settings)
            )
        except (KeyError, TypeError, IndexError) as exc:
            raise BenchError(
                f"{path}: entry {i + 1} needs paper, datasets, methods and settings "
                f"(key: [value, where]); {type(exc).__name__}: {exc}."
            ) from None
    return out


def stated(entries: list[Entry], method: str, dataset: str) -> dict[str, tuple[Any, str, str]]:
    """Every transcribed setting of (method, dataset): key -> (value, where, paper)."""
    out: dict[str, tuple[Any, str, str]] = {}
    for e in entries:
        if method in e.methods and dataset in e.datasets:
            out.update({k: (v, w, e.paper) for k, (v, w) in e.settings.items()})
    return out


def resolved(config: Any, key: str) -> tuple[Any, str] | None:
    """(value, source) of a run-config key in a resolved config, or None if it has none."""
    head, _, name = key.rpartition(".")
    if head.startswith("dep."):
        dep_name, _, section = head.removeprefix("dep.").partition(".")
        dep = config.dependencies.get(dep_name)
        return resolved(dep, f"{section}.{name}") if dep is not None else None
    values = {"method": config.hparams, "dataset": config.data, "recipe": config.recipe}
    if head.startswith("stage."):
        values = {head: config.stages.get(head.removeprefix("stage."), {})}
    section = values.get(head, {})
    if name not in section:
        return None
    return section[name], config.sources.get(key, "")


def same(ours: Any, paper: Any) -> bool:
    if isinstance(paper, list | tuple) and isinstance(ours, list | tuple):
        return [str(v) for v in ours] == [str(v) for v in paper]
    if isinstance(paper, float | int) and isinstance(ours, float | int):
        return abs(float(ours) - float(paper)) <= 1e-12 * max(1.0, abs(float(paper)))
    return str(ours) == str(paper)


def line(config: Any, key: str, paper: tuple[Any, str, str] | None) -> Line | None:
    found = resolved(config, key)
    if found is None:
        return None
    ours, source = found
    if paper is None:
        return Line(key, ours, source, None, "", "not transcribed")
    value, where, _ = paper
    if value is None:
        status = "paper silent"
    elif same(ours, value):
        status = "matches"
    elif DEVIATION in source:
        status = "deviation"
    else:
        status = "UNDECLARED"
    return Line(key, ours, source, value, where, status)


def compare(config: Any, entries: list[Entry]) -> list[Line]:
    """The protocol lines of one resolved run: the key settings plus every transcribed one."""
    papers = stated(entries, config.method, config.dataset)
    keys = [k for k in KEY_SETTINGS if not k.startswith("method.") or k[7:] in config.hparams]
    keys += [f"stage.{s}.{k}" for s in config.recipe.get("then", []) for k in STAGE_KEYS]
    keys += [k for k in papers if k not in keys]
    hidden = {f"method.{n}" for n in other_backends_settings(config.method, config.hparams)}
    keys = [k for k in keys if k not in hidden]
    return [x for k in keys if (x := line(config, k, papers.get(k))) is not None]


def published_pairs(pub: Published) -> dict[tuple[str, str, str], set[str]]:
    """(paper, bench method, bench dataset) -> the tables of the published rows it answers."""
    by_slug = {(m.slug, m.paper): m for m in pub.methods}
    datasets = {d.dataset: d.bench_dataset for d in pub.datasets}
    out: dict[tuple[str, str, str], set[str]] = {}
    for v in pub.values:
        m = by_slug.get((v.slug, v.paper)) or by_slug.get((v.slug, ""))
        dataset = datasets.get(v.dataset)
        if m is None or not m.bench_method or not dataset:
            continue
        out.setdefault((v.paper, m.bench_method, dataset), set()).add(v.table)
    return out


def text(value: Any) -> str:
    return json.dumps(value) if not isinstance(value, str) else value


def cell(value: Any) -> str:
    return text(value).replace("|", "\\|")


@dataclass(frozen=True)
class Group:
    """Methods of one transcription entry on one dataset that resolve to the same lines."""

    paper: str
    dataset: str
    methods: tuple[str, ...]
    lines: tuple[Line, ...]


def groups(entries: list[Entry], resolve: Any) -> list[Group]:
    """Every transcribed (paper, dataset), its methods grouped by identical protocol lines.

    `resolve(method, dataset)` gives the resolved config (bench.runs.config.resolve)."""
    seen: dict[tuple[str, str], list[str]] = {}
    for e in entries:
        for d in e.datasets:
            methods = seen.setdefault((e.paper, d), [])
            methods += [m for m in e.methods if m not in methods]
    out = []
    for (paper, dataset), methods in seen.items():
        by_lines: dict[str, tuple[list[Line], list[str]]] = {}
        for m in methods:
            lines = [generic(x, m) for x in compare(resolve(m, dataset), entries)]
            key = json.dumps([vars(x) for x in lines], sort_keys=True, default=str)
            by_lines.setdefault(key, (lines, []))[1].append(m)
        out += [Group(paper, dataset, tuple(ms), tuple(ls)) for ls, ms in by_lines.values()]
    return out


def undeclared(entries: list[Entry], resolve: Any) -> list[str]:
    """Every resolved setting that differs from the paper's stated value without a declared
    reason, one line each (what `bench protocols` and its test refuse)."""
    return [
        f"{m} on {g.dataset}: {x.key} = {x.ours!r}, {g.paper} states {x.paper!r} ({x.where})"
        for g in groups(entries, resolve)
        for m in g.methods
        for x in g.lines
        if x.status == "UNDECLARED"
    ]


def generic(x: Line, method: str) -> Line:
    """The line with its method's name in the source as <method> (so siblings group)."""
    return dataclasses.replace(x, source=x.source.replace(method, "<method>"))


def status_text(x: Line) -> str:
    if x.status == "paper silent":
        return f"paper silent (ours: {cell(x.ours)})"
    if x.status == "deviation":
        return "deviation: " + x.source.split(DEVIATION, 1)[1].strip().replace("|", "\\|")
    return x.status


def group_markdown(g: Group, tables: str) -> list[str]:
    out = [
        f"### {g.dataset}: {', '.join(g.methods)}",
        "",
        f"Published rows: {tables or 'none in the published tables (figures only)'}.",
        "",
        "| setting | bench | where bench's value comes from | paper | status |",
        "|---|---|---|---|---|",
    ]
    for x in g.lines:
        paper = "" if x.status == "not transcribed" else f"{cell(x.paper)} ({x.where})"
        if x.paper is None and x.where:
            paper = f"— ({x.where})"
        source = x.source.replace("|", "\\|")
        out.append(f"| `{x.key}` | {cell(x.ours)} | {source} | {paper} | {status_text(x)} |")
    return [*out, ""]


def markdown(pub: Published, entries: list[Entry], resolve: Any) -> str:
    """docs/protocols.md: the transcribed protocols, then every published (method, dataset)."""
    pairs = published_pairs(pub)
    out = [
        "# Protocols: each paper's rows as bench runs them",
        "",
        "Generated by `bench protocols --write docs/protocols.md` from the settings `bench run`",
        "resolves and the papers' stated values (`results/published/protocols.yaml`);",
        "`tests/test_protocols.py` fails when this file is stale or a difference is undeclared.",
        "Status: *matches*; *paper silent (ours: ...)*, the source names our choice; *deviation*,",
        "a named difference with its reason; *not transcribed*, a setting the paper's text does",
        "not state for this row (its source says where bench's value comes from).",
        "",
    ]
    for paper in PAPERS:
        mine = [g for g in groups(entries, resolve) if g.paper == paper]
        if not mine:
            continue
        out += [f"## {PAPERS[paper]}", ""]
        for g in mine:
            tables = sorted({t for m in g.methods for t in pairs.get((paper, m, g.dataset), ())})
            out += group_markdown(g, ", ".join(tables))
    return "\n".join(out + every_row(pairs, entries, resolve)) + "\n"


def every_row(
    pairs: dict[tuple[str, str, str], set[str]], entries: list[Entry], resolve: Any
) -> list[str]:
    """One line per published (paper, method, dataset) with the settings that decide it."""

    out = [
        "## Every published row",
        "",
        "Each (paper, bench method, bench dataset) of the published tables (a variant's own",
        "settings, e.g. `stage.ft.epochs=0`, come on top: docs/leaderboard.md). *protocol*: the",
        "paper's settings above; *dataset recipe*: a baseline on the dataset's classifier",
        "protocol; *borrowed*: a method away from its paper's datasets (`--dry-run` says so).",
        "",
        "| paper | tables | method | dataset | generator | count | backbone | epochs | loss "
        "| stages | settings |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for (paper, method, dataset), tables in sorted(pairs.items()):
        c = resolve(method, dataset)
        h, r = c.hparams, c.recipe
        generator = h.get("generator") or METHODS[method].generator or "—"
        kind = "dataset recipe"
        if METHODS[method].PAPER_DATASETS:
            kind = "protocol" if dataset in METHODS[method].PAPER_DATASETS else "borrowed"
        if kind == "protocol" and not stated(entries, method, dataset):
            kind = "protocol (not transcribed)"
        stages = " ".join(
            f"{s}:{c.stages[s]['trains']}/{c.stages[s]['epochs']}ep" for s in r["then"]
        )
        out.append(
            f"| {PAPERS[paper]} | {', '.join(sorted(tables))} | {method} | {dataset} "
            f"| {generator} | {h.get('plan', '—')} | {r['backbone']} "
            f"| {r['epochs']} | {r['loss']} | {stages or '—'} | {kind} |"
        )
    return out
