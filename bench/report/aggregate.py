"""Run records -> aggregated rows: one Row per configuration (method, settings, versions), one
Group per dataset setting, with the metric columns each benchmark's shape shows. Pure: records
in, Groups out (bench.report.layout turns them into tables).

Runs never average across method, hyperparameter, recipe, method_version, dataset options or
dataset_version: those become separate rows (labelled with the settings in which they differ)
or separate groups. Shapes follow the papers:

- long-tail (ImageNet-LT, Places-LT, iNat, CIFAR-LT, ImageNet100-LT, digits-lt): number of
  synthetic images, overall / many / medium / few;
- groups (Waterbirds, NICO++): overall (average), worst-group, mean-group, train-weighted;
- fairness (UTKFace): accuracy, DP, EO, ED (DEO-A, DEO-M);
- generation (any dataset whose runs have `bench eval-gen` metrics): FID, KID, IS, precision,
  recall, density, coverage, F8, F1/8, per feature extractor;
- few-shot (Caltech101, Flowers102, Pascal VOC, COCO): accuracy per k.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from bench.data import GENERIC, LeaderboardShape
from bench.datasets import DATASETS
from bench.report.stats import Stat

METRICS = (("overall", "Overall"), ("many", "Many"), ("medium", "Medium"), ("few", "Few"))


@dataclass(frozen=True)
class Column:
    """A metric column: where its value sits in result.json, its scale and decimals."""

    key: str
    title: str
    path: tuple[str, ...]
    scale: float = 100.0
    digits: int = 1
    kind: str = "accuracy"  # accuracy | group | fairness | generation (picks the legend)
    lower_is_better: bool = False


TEST = ("metrics", "test")


ACCURACY_COLUMNS = tuple(Column(key, title, (*TEST, key)) for key, title in METRICS)


# Group robustness (%); the averages are labelled because papers mean different ones by "avg".
GROUP_COLUMNS = (
    Column("group_worst", "Worst-group", (*TEST, "group", "worst"), kind="group"),
    Column("group_mean", "Mean-group", (*TEST, "group", "mean"), kind="group"),
    Column("group_weighted", "Train-weighted avg", (*TEST, "group", "weighted"), kind="group"),
)


# Fairness gaps, unscaled and with 4 decimals as SYNAuG Table 3 prints them.
FAIRNESS_COLUMNS = tuple(
    Column(key, title, (*TEST, "fairness", key), 1.0, 4, "fairness", True)
    for key, title in (
        ("dp", "DP"),
        ("eo", "EO"),
        ("ed", "ED"),
        ("deo_a", "DEO-A"),
        ("deo_m", "DEO-M"),
    )
)


# Written by `bench eval-gen` under result["generation"][extractor].
GENERATION_METRICS = (
    ("fid", "FID", 2, True),
    ("kid_mean", "KID", 4, True),
    ("is_mean", "IS", 2, False),
    ("precision", "Precision", 3, False),
    ("recall", "Recall", 3, False),
    ("density", "Density", 3, False),
    ("coverage", "Coverage", 3, False),
    ("f8", "F8", 3, False),
    ("f1_8", "F1/8", 3, False),
    # SYNAuG Fig. 3a's real-vs-synthetic domain-classifier accuracy; 50% = no domain gap
    ("domain_cls_acc", "Domain cls acc", 1, True),
)


# Generation metrics recorded as a share and shown in % (as their papers print them).
GENERATION_PERCENT = ("domain_cls_acc",)


# Every accuracy, group and fairness column by key: a dataset's LeaderboardShape names its own.
COLUMNS = {c.key: c for c in (*ACCURACY_COLUMNS, *GROUP_COLUMNS, *FAIRNESS_COLUMNS)}
# Config sources of the layers a user writes (bench.runs.config): --set and a config file; every
# other layer (defaults, the dataset's, the method's, its protocol, smoke) is the harness's own.
USER_SOURCES = ("command line", "config file")


def shape_of(dataset: str) -> LeaderboardShape:
    """The table shape the dataset declares (its LEADERBOARD); generic for an unknown name."""
    return DATASETS[dataset].LEADERBOARD if dataset in DATASETS else GENERIC


@dataclass(frozen=True)
class RunPredictions:
    """One run's test predictions (of the selected checkpoint) and its shot buckets."""

    labels: list[int]
    predicted: list[int]
    buckets: dict[str, list[int]]


@dataclass
class Row:
    """One configuration of ours: the values of each column over its runs."""

    method: str
    label: str
    values: dict[str, dict[tuple[int, int], float]] = field(default_factory=dict)
    seeds: list[int] = field(default_factory=list)
    runs: int = 0
    synthetic: list[int] = field(default_factory=list)
    selection: set[str] = field(default_factory=set)
    options: dict[str, Any] = field(default_factory=dict)  # method settings, for matching
    noise: set[str] = field(default_factory=set)  # columns where the row is marked
    per_class: list[tuple[list[int], list[float]]] = field(default_factory=list)  # for plots
    generator: str | None = None  # the backend its synthetic images came from
    # (per-k suffix of few-shot columns, (seed, trial)) -> the run's test predictions
    predictions: dict[tuple[str, tuple[int, int]], RunPredictions] = field(default_factory=dict)
    _stats: dict[str, Stat] = field(default_factory=dict, repr=False)

    def stat(self, key: str) -> Stat:
        if key not in self._stats:  # rows are complete once built; stats are asked for often
            self._stats[key] = Stat.of(list(self.values.get(key, {}).values()))
        return self._stats[key]


@dataclass
class Group:
    """Our runs on one dataset setting, aggregated into rows."""

    key: str
    label: str
    dataset: str
    options: dict[str, Any]
    shape: str
    rows: list[Row]
    columns: list[Column]
    shots: list[int] = field(default_factory=list)

    @property
    def key_slug(self) -> str:
        return slug(self.label)


def aggregate(records: Iterable[dict[str, Any]], method_order: list[str]) -> list[Group]:
    by_dataset, identity = partition(records, lambda cfg: (cfg["dataset"], dataset_options(cfg)))
    labels = variant_labels(identity)
    groups = [
        make_group(k, labels[k], identity[k], recs, method_order) for k, recs in by_dataset.items()
    ]
    return sorted(groups, key=lambda g: g.label)


def partition(
    records: Iterable[dict[str, Any]],
    identify: Callable[[dict[str, Any]], tuple[str, dict[str, Any]]],
) -> tuple[dict[str, list[dict[str, Any]]], dict[str, tuple[str, dict[str, Any]]]]:
    """Records by the (name, settings) their config has: (key -> records, key -> identity)."""
    out: dict[str, list[dict[str, Any]]] = {}
    identity: dict[str, tuple[str, dict[str, Any]]] = {}
    for rec in records:
        ident = identify(rec["config"])
        key = canonical({"n": ident[0], "s": ident[1]})
        out.setdefault(key, []).append(rec)
        identity[key] = ident
    return out, identity


def dataset_options(cfg: dict[str, Any]) -> dict[str, Any]:
    """The dataset setting a table stands for: options (minus those the shape aggregates, e.g.
    the few-shot k and trial) and the dataset version."""
    data = dict(cfg.get("data") or {})
    for option in shape_of(cfg["dataset"]).aggregated:
        data.pop(option, None)
    version = cfg.get("dataset_version", 1)
    return {**data, "dataset_version": version} if version != 1 else data


def method_settings(cfg: dict[str, Any]) -> dict[str, Any]:
    out = {**(cfg.get("hparams") or {}), **{f"recipe.{k}": v for k, v in cfg["recipe"].items()}}
    for stage, values in (cfg.get("stages") or {}).items():
        out.update({f"stage.{stage}.{k}": v for k, v in (values or {}).items()})
    if cfg.get("method_version", 1) != 1:
        out["method_version"] = cfg["method_version"]
    if cfg.get("smoke"):
        out["smoke"] = True
    return out


def user_settings(cfg: dict[str, Any]) -> set[str]:
    """The row settings (as method_settings names them) the user gave in a config file or with
    --set, from config.json's sources; the defaults of the harness, dataset and method are not."""
    out = set()
    for key, source in (cfg.get("sources") or {}).items():
        section, _, name = key.partition(".")
        if not str(source).startswith(USER_SOURCES) or section not in ("method", "recipe", "stage"):
            continue
        out.add(name if section == "method" else key)
    return out


def generator_of(record: dict[str, Any]) -> str | None:
    """The generator backend a run's synthetic images came from (its record's plan)."""
    plan = ((record["result"].get("info") or {}).get("synthetic_plan")) or {}
    return plan.get("backend") if isinstance(plan, dict) else None


def make_group(
    key: str,
    label: str,
    ident: tuple[str, dict[str, Any]],
    records: list[dict[str, Any]],
    method_order: list[str],
) -> Group:
    dataset, options = ident
    shape = shape_of(dataset)
    by_variant, settings = partition(records, lambda cfg: (cfg["method"], method_settings(cfg)))
    # a row's runs share their settings: the first run's sources say which the user gave
    given = {k: user_settings(recs[0]["config"]) for k, recs in by_variant.items()}
    labels = setting_texts(settings, given)
    columns = metric_columns(records, shape)
    rows = [
        make_row(labels[k], settings[k][1], recs, columns, shape) for k, recs in by_variant.items()
    ]
    order = {name: i for i, name in enumerate(method_order)}
    rows.sort(key=lambda r: (order.get(r.method, len(order)), r.label))
    present = [c for c in columns if any(r.values.get(c.key) for r in rows)]
    per_option = {int(rec["config"]["data"].get(shape.per_option, 0)) for rec in records}
    return Group(key, label, dataset, options, shape.kind, rows, present, sorted(per_option))


def row_label(method: str, generator: str | None, settings: str, smoke: bool) -> str:
    """`fg-entropy [ddpm] (pretrained_generator=printed-digits, recipe.epochs=6) [smoke]`."""
    text = method + (f" [{generator}]" if generator else "")
    text += f" ({settings})" if settings else ""
    return text + (" [smoke]" if smoke else "")


def metric_columns(
    records: list[dict[str, Any]], shape: LeaderboardShape = GENERIC
) -> list[Column]:
    """The shape's columns (every accuracy, group and fairness column for a generic shape),
    then generation columns per extractor found."""
    extractors = sorted(
        {name for rec in records for name in rec["result"].get("generation") or {}},
        key=lambda name: (name != "inception", name),
    )
    base = [COLUMNS[key] for key in shape.columns] if shape.columns else list(COLUMNS.values())
    return [
        *base,
        *(generation_column(name, *metric) for name in extractors for metric in GENERATION_METRICS),
    ]


def generation_column(extractor: str, key: str, title: str, digits: int, lower: bool) -> Column:
    suffix = "" if extractor == "inception" else f" ({extractor})"
    column_key = key if extractor == "inception" else f"{key}[{extractor}]"
    path = ("generation", extractor, key)
    scale = 100.0 if key in GENERATION_PERCENT else 1.0
    return Column(column_key, title + suffix, path, scale, digits, "generation", lower)


def make_row(
    settings_text: str,
    settings: dict[str, Any],
    records: list[dict[str, Any]],
    columns: list[Column],
    shape: LeaderboardShape,
) -> Row:
    method = records[0]["config"]["method"]
    generator = next(filter(None, map(generator_of, records)), None)
    label = row_label(method, generator, settings_text, bool(settings.get("smoke")))
    row = Row(method=method, label=label, options=settings, generator=generator)
    for rec in sorted(
        records, key=lambda r: (r["config"]["seed"], r["config"]["data"].get("trial", 0))
    ):
        cfg, result = rec["config"], rec["result"]
        pair = (cfg["seed"], int(cfg["data"].get("trial", 0)))
        row.runs += 1
        if cfg["seed"] not in row.seeds:
            row.seeds.append(cfg["seed"])
        metrics = result.get("metrics") or {}
        row.selection.add(str(metrics.get("selection", "best-val")))
        row.synthetic.append(sum(metrics.get("synthetic_counts") or []))
        per_class = (metrics.get("test") or {}).get("per_class")
        if isinstance(per_class, list) and isinstance(metrics.get("train_counts"), list):
            row.per_class.append((metrics["train_counts"], per_class))
        suffix = f"@{int(cfg['data'].get(shape.per_option, 0))}" if shape.per_option else ""
        predictions = run_predictions(metrics)
        if predictions is not None:
            row.predictions[(suffix, pair)] = predictions
        for column in columns:
            value = lookup(result, column.path)
            if value is not None:
                row.values.setdefault(column.key + suffix, {})[pair] = column.scale * value
    return row


def run_predictions(metrics: dict[str, Any]) -> RunPredictions | None:
    """A record's stored test predictions (metrics.test_predictions), or None for a run that
    has none (recorded before they were stored)."""
    stored = metrics.get("test_predictions")
    if not isinstance(stored, dict):
        return None
    buckets = metrics.get("shot_buckets") if isinstance(metrics.get("shot_buckets"), dict) else {}
    return RunPredictions(stored["labels"], stored["predicted"], buckets)


def lookup(result: dict[str, Any], path: tuple[str, ...]) -> float | None:
    """The number at `path`, or None where it is missing (or recorded as an error)."""
    value: Any = result
    for key in path:
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    is_number = isinstance(value, int | float) and not isinstance(value, bool)
    return float(value) if is_number and math.isfinite(value) else None


def variant_labels(variants: dict[str, tuple[str, dict[str, Any]]]) -> dict[str, str]:
    """Name each (name, settings) variant; settings appear only where same-named ones differ."""
    texts = setting_texts(variants)
    return {k: f"{name} ({texts[k]})" if texts[k] else name for k, (name, _) in variants.items()}


def setting_texts(
    variants: dict[str, tuple[str, dict[str, Any]]], given: dict[str, set[str]] | None = None
) -> dict[str, str]:
    """Each variant's settings in a compact form: those where same-named variants differ and
    those the user gave (`given`, per variant), `k=v` sorted by key; smoke is marked apart."""
    by_name: dict[str, list[dict[str, Any]]] = {}
    for name, settings in variants.values():
        by_name.setdefault(name, []).append(settings)
    differing: dict[str, set[str]] = {}
    for name, siblings in by_name.items():
        keys = {k for s in siblings for k in s}
        differing[name] = {k for k in keys if len({canonical(s.get(k)) for s in siblings}) > 1}
    out = {}
    for key, (name, settings) in variants.items():
        # a key a variant lacks (e.g. method_version at its default) is not named
        named = (differing[name] | (given or {}).get(key, set())) & set(settings) - {"smoke"}
        out[key] = ", ".join(f"{k}={format_setting(settings[k])}" for k in sorted(named))
    return out


def format_setting(value: Any) -> str:
    if isinstance(value, list):
        return ",".join(str(v) for v in value)
    return f"{value:g}" if isinstance(value, float) else str(value)


def canonical(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, default=str)


def all_columns() -> list[Column]:
    gen = [generation_column("inception", *m) for m in GENERATION_METRICS]
    return [*ACCURACY_COLUMNS, *GROUP_COLUMNS, *FAIRNESS_COLUMNS, *gen]


def slug(text: str) -> str:
    out = "".join(ch if ch.isalnum() else "-" for ch in text.lower())
    return "-".join(part for part in out.split("-") if part)
