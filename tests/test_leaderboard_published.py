"""results/published: the papers' values load, every mapping names a real or planned bench
method / dataset / column, the docs table matches the data, and a bad file is a clear error
naming the file and line."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import pytest
from helpers import REPO, cli

from bench.datasets import DATASETS
from bench.methods import METHODS
from bench.report import published
from bench.report.aggregate import all_columns

REFERENCE = REPO.parent / "shared" / "reference" / "published_results.csv"
# Methods other issues add (issue 8: baselines, 9: FG and augmentation-conditioning, 10: Fill-Up,
# CBDM, SYNAuG): published rows map to these names before they are registered.
AUGCOND = [
    "random-image",
    "dropout",
    "mixup",
    "mixup-dropout",
    "embed-mixup",
    "embed-mixup-dropout",
    "cutmix",
    "cutmix-dropout",
    "embed-cutmix",
    "embed-cutmix-dropout",
]
PLANNED = {
    "issue 8": {"crt", "lws", "rs", "sqrt-rs", "mixup", "cutmix", "logit-adjustment"}
    | {"ldam-drw", "group-dro", "dfr"},
    "issue 9": {"fg-loss", "fg-entropy", "fg-hardness", "fg-combined", "ldm-txt", "ldm-txt-img"}
    | {f"augcond-{v}" for v in AUGCOND},
    "issue 10": {"fill-up", "fillup-template", "cbdm", "synaug"},
}


@pytest.fixture(scope="module")
def pub() -> published.Published:
    return published.load(published.default_directory())


def test_every_published_value_is_there(pub: published.Published) -> None:
    assert len(pub.values) == 877
    assert {v.paper for v in pub.values} == set(published.PAPERS)
    if REFERENCE.exists():  # the shared reference it was taken from
        with open(REFERENCE, newline="") as handle:
            reference = list(csv.DictReader(handle))
        assert [r["value"] for r in reference] == [v.text for v in pub.values]


def test_methods_map_to_registered_or_planned_names(pub: published.Published) -> None:
    for m in pub.methods:
        if not m.bench_method:
            assert not m.planned_in
        elif m.bench_method in set(METHODS):
            assert not m.planned_in, f"{m.bench_method} is registered; clear planned_in"
        else:
            assert m.bench_method in PLANNED.get(m.planned_in, set()), m
    mapped = {m.bench_method for m in pub.methods}
    assert {"erm", "balanced-softmax", "ddpm-fill", "crt", "fg-entropy", "cbdm"} <= mapped


def test_datasets_and_metrics_map_to_real_names(pub: published.Published) -> None:
    for d in pub.datasets:
        assert not d.bench_dataset or d.bench_dataset in DATASETS, d
        if d.bench_dataset:
            options = DATASETS[d.bench_dataset].Options.__dataclass_fields__
            assert set(d.settings) <= set(options), d
    keys = {c.key for c in all_columns()}
    assert all(not m.column or m.column in keys for m in pub.metrics)
    mapped = [v for v in pub.values if v.column]
    assert len(mapped) > 700  # most published values have a bench column


def test_docs_table_matches_the_data(pub: published.Published) -> None:
    docs = (REPO / "docs" / "leaderboard.md").read_text()
    assert published.mapping_markdown(pub) in docs, (
        "docs/leaderboard.md is out of date: paste bench.report.published.mapping_markdown()"
    )


def copy_with(tmp_path: Path, line: int, **changes: str) -> Path:
    """A copy of the fixture directory whose published.csv has `changes` at `line`."""
    directory = tmp_path / "published"
    shutil.copytree(Path(__file__).parent / "fixtures" / "published", directory)
    path = directory / "published.csv"
    with open(path, newline="") as handle:
        rows = list(csv.DictReader(handle))
    fields = list(rows[0])
    if changes.pop("duplicate", None):
        rows.insert(line - 1, dict(rows[line - 2]))
    rows[line - 2].update(changes)
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fields, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    return directory


@pytest.mark.parametrize(
    ("line", "changes", "message"),
    [
        (3, {"metric": "top1_acc"}, ":3: unknown metric 'top1_acc'"),
        (4, {"value": "n/a"}, ":4: value 'n/a' is not a number"),
        (4, {"std": "±0.3"}, ":4: std '±0.3' is not a number"),
        (5, {"duplicate": "yes"}, ":6 repeats the cell of line 5"),
        (2, {"method_slug": "mystery"}, ":2: method_slug 'mystery' has no line in methods.csv"),
        (2, {"dataset": "mnist-lt"}, ":2: dataset 'mnist-lt' (imbalance factor 100) has no"),
    ],
)
def test_a_bad_published_file_names_file_and_line(
    tmp_path: Path, line: int, changes: dict[str, str], message: str
) -> None:
    directory = copy_with(tmp_path, line, **changes)
    with pytest.raises(published.PublishedDataError) as exc:
        published.load(directory)
    assert f"{directory / 'published.csv'}{message}" in str(exc.value)
    code, _, err = cli("leaderboard", "--published", "--published-dir", str(directory))
    assert code == 2 and message in err and "Traceback" not in err


def test_a_mapping_file_without_its_columns_is_an_error(tmp_path: Path) -> None:
    directory = copy_with(tmp_path, 2)
    (directory / "metrics.csv").write_text("name,column\noverall_acc,overall\n")
    with pytest.raises(published.PublishedDataError, match=r"metrics.csv: line 1 lacks"):
        published.load(directory)
    with pytest.raises(published.PublishedDataError, match="is not a directory"):
        published.load(tmp_path / "absent")


def test_every_mapping_setting_is_a_setting_of_its_bench_method(
    pub: published.Published, tmp_path: Path
) -> None:
    """The `settings` of methods.csv resolve with the bench method on each dataset the
    published rows name (so a typo or a renamed setting fails here, not in a user's run)."""
    from bench.runs.config import resolve

    checked = 0
    for m in pub.methods:
        if not m.settings or m.bench_method not in METHODS:
            continue
        sets = []
        for key, value in m.settings.items():
            value = published.first(key, value)
            if value.startswith("<"):
                continue  # '*': any value (init_from=<a fitted generator>)
            if value.startswith("PATH/"):  # a prompt file the user makes: any file will do
                value = str(tmp_path / value.removeprefix("PATH/"))
                Path(value).write_text("'*': [a photo of a {class_name}]\n")
            sets.append(f"{key}={value}")
        datasets = {
            (v.dataset, v.imbalance_factor): pub.dataset_for(v.dataset, v.imbalance_factor)
            for v in pub.values
            if v.slug == m.slug and m.paper in ("", v.paper)
        }
        targets = [(d.bench_dataset, d.settings) for d in datasets.values() if d.bench_dataset]
        for dataset, options in targets or [("imagenet-lt", {})]:  # IN100 has no adapter
            data_sets = [f"{k}={v}" for k, v in options.items()]
            resolve(m.bench_method, dataset, sets=[*data_sets, *sets])
            checked += 1
    assert checked > 30


def test_a_published_variant_is_compared_with_our_row_of_its_settings() -> None:
    """Fill-Up Table 5 holds the filled-up two-stage method, its Stage I alone and its
    synthetic-only training: each published row takes our row with its settings."""
    from bench.report.aggregate import Group, Row
    from bench.report.matching import matching_row, same_value

    def row(label: str, seeds: int, **options) -> Row:
        return Row("fill-up", label, seeds=list(range(seeds)), options=options)

    two_stage = row("fill-up", 2, plan="fill:2600", **{"stage.ft.epochs": 30})
    stage1 = row("stage1", 3, plan="fill:2600", **{"stage.ft.epochs": 0})
    synthetic = row("syn", 5, plan="add:1300", **{"recipe.data": "synthetic"})
    smoke = row("smoke", 9, plan="fill:2600", smoke=True)
    group = Group(
        "k",
        "imagenet-lt",
        "imagenet-lt",
        {},
        "long-tail",
        [two_stage, stage1, synthetic, smoke],
        [],
    )
    plain = published.MethodMap("fill-up", "", "fill-up", "", "")
    first = published.MethodMap("fill-up-stage1", "", "fill-up", "", "", {"stage.ft.epochs": "0"})
    only = published.MethodMap(
        "textual-inversion",
        "",
        "fill-up",
        "",
        "",
        {"recipe.data": "synthetic", "plan": "add:1300|add:2600"},
    )
    siblings = [plain, first, only]
    assert matching_row(group, plain, siblings) is two_stage
    assert matching_row(group, first, siblings) is stage1
    assert matching_row(group, only, siblings) is synthetic
    assert matching_row(group, plain) is synthetic  # alone in its table: most seeds
    other = published.MethodMap("x", "", "fill-up", "", "", {"plan": "fill:1300"})
    assert matching_row(group, other, siblings) is None
    assert same_value(True, "true") and not same_value(False, "true") and same_value(7.5, "7.5")
    assert same_value([8, 16], "8,16") and same_value("/a/t5-prompts.yaml", "*t5-prompts.yaml")
    assert same_value("/a/dir", "*") and not same_value(None, "*") and not same_value("x", "y")


def test_a_mapping_with_dataset_settings_takes_the_table_they_make() -> None:
    """SYNAuG's replacement test (dataset.real_kept=...) is compared with our runs of that
    reduced split, the plain row with the runs on the whole split, whatever the table order."""
    from bench.report.aggregate import Group, Row
    from bench.report.matching import matching_row

    plain = Row("synaug", "synaug", seeds=[0, 1, 2], options={"plan": "fill:max"})
    reduced = Row("synaug", "synaug", seeds=[0], options={"plan": "fill:500"})
    whole = Group("a", "cifar100-lt", "cifar100-lt", {"real_kept": "all"}, "long-tail", [plain], [])
    kept = {"real_kept": "uniform:0.01"}
    part = Group("b", "cifar100-lt (real_kept)", "cifar100-lt", kept, "long-tail", [reduced], [])
    synaug = published.MethodMap("synaug", "", "synaug", "", "")
    slug = "synaug-replacement-uniform"
    for extra in ({"plan": "fill:500"}, {}):  # with row settings too, or the dataset's alone
        settings = {"dataset.real_kept": "uniform:0.01", **extra}
        uniform = published.MethodMap(slug, "", "synaug", "", "", settings)
        siblings = [synaug, uniform]
        for order in ([whole, part], [part, whole]):
            found = {
                m.slug: next(filter(None, (matching_row(g, m, siblings) for g in order)), None)
                for m in siblings
            }
            assert found == {"synaug": plain, slug: reduced}
