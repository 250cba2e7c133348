"""Golden files for every table shape (long-tail with synthetic counts, groups, fairness,
generation, few-shot; with CI and within-noise marks) and for published rows beside ours with
their differences, in every format (Markdown, LaTeX, CSV, HTML).

Regenerate after an intended change with BENCH_UPDATE_GOLDEN=1.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from bench.report import published
from bench.report.layout import Options, collect
from bench.report.render import FORMATS, render

GOLDEN = Path(__file__).parent / "golden"
FIXTURE = Path(__file__).parent / "fixtures" / "published"
EXT = {"md": "md", "latex": "tex", "csv": "csv", "html": "html"}
ORDER = ("erm", "ddpm-fill")
BOTH = frozenset(ORDER)


def rec(
    method: str,
    dataset: str,
    seed: int,
    test: dict[str, Any],
    data: dict[str, Any] | None = None,
    generation: dict[str, Any] | None = None,
    synthetic: list[int] | None = None,
    hparams: dict[str, Any] | None = None,
) -> dict[str, Any]:
    config = {
        "method": method,
        "dataset": dataset,
        "seed": seed,
        "data": data or {},
        "hparams": hparams or {},
        "recipe": {"epochs": 10},
    }
    metrics = {"test": test, "selection": "best-val", "synthetic_counts": synthetic}
    result: dict[str, Any] = {"metrics": metrics}
    if generation:
        result["generation"] = generation
    return {"config": config, "result": result}


def shape_records() -> list[dict[str, Any]]:
    out = []
    lt = {"imbalance_factor": 100.0}
    for seed, (a, b) in enumerate([(0.38, 0.41), (0.39, 0.42), (0.37, 0.43)]):
        acc = {"overall": a, "many": 0.6, "medium": 0.35, "few": 0.08 + seed / 100}
        out.append(rec("erm", "cifar100-lt", seed, acc, lt))
        fill = {"overall": b, "many": 0.58, "medium": 0.4, "few": 0.2 + seed / 100}
        gen = {"inception": {"fid": 7.5 + seed / 10, "recall": 0.5}}
        out.append(rec("ddpm-fill", "cifar100-lt", seed, fill, lt, gen, [100, 400]))
        group = {"worst": 0.70 + seed / 100, "mean": 0.85, "weighted": 0.96}
        out.append(rec("erm", "waterbirds", seed, {"overall": 0.9, "group": group}))
        fair = {"dp": 0.08 + seed / 1000, "eo": 0.07, "ed": 0.06}
        out.append(rec("erm", "utkface", seed, {"overall": 0.93, "fairness": fair}))
        for shots in (1, 4):
            for trial in (0, 1):
                acc = {"overall": 0.3 + shots / 20 + trial / 100 + seed / 200}
                fs = {"shots": shots, "trial": trial}
                out.append(rec("erm", "caltech101", seed, acc, fs))
                acc = {"overall": 0.32 + shots / 20 + trial / 100}
                out.append(rec("ddpm-fill", "caltech101", seed, acc, fs))
    return out


def check_golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if os.environ.get("BENCH_UPDATE_GOLDEN"):
        path.write_text(text)
    assert text == path.read_text()


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_shape_matches_golden(fmt: str) -> None:
    report = collect(shape_records(), Options(ORDER, ci=True, mark_noise=True), skipped=1)
    shapes = [t.shape for t in report.tables]
    assert shapes == ["few-shot", "long-tail", "generation", "fairness", "groups"]
    check_golden(f"shapes.{EXT[fmt]}", render(report, fmt))


@pytest.mark.parametrize("fmt", FORMATS)
def test_published_rows_match_golden(fmt: str) -> None:
    pub = published.load(FIXTURE)
    records = [r for r in shape_records() if r["config"]["dataset"] == "cifar100-lt"]
    report = collect(records, Options(ORDER, registered=BOTH, all_published=True), published=pub)
    check_golden(f"published.{EXT[fmt]}", render(report, fmt))


def cells(report: Any, title: str) -> list[list[str]]:
    table = next(t for t in report.tables if t.title == title)
    return [table.headers] + [[c.text for c in row] for row in table.rows]


def test_published_differences_and_sources() -> None:
    pub = published.load(FIXTURE)
    records = [r for r in shape_records() if r["config"]["dataset"] == "cifar100-lt"]
    report = collect(records, Options(registered=BOTH, all_published=True), published=pub)
    rows = cells(report, "cifar100-lt (IF 100): CBDM Table 2 (published)")
    head = rows[0]
    assert head[:5] == ["Method", "Reported in", "Synthetic", "Overall (paper)", "Overall ours"]
    erm = dict(zip(head, rows[1], strict=True))
    # ours: erm overall 38, 39, 37 -> 38.0 ± 1.0; paper 38.3 -> difference -0.3
    assert erm["Overall (paper)"] == "38.3" and erm["Overall ours"] == "38.0 ± 1.0"
    assert erm["Δ Overall"] == "-0.3" and erm["Few (paper)"] == "8.1"
    assert erm["Reported in"] == "reported in CBDM Table 2 (cited) [1]"
    assert erm["top5 (paper)"] == "70.0" and "top5 ours" not in head  # not measured by bench
    fill = dict(zip(head, rows[2], strict=True))
    assert fill["Overall (paper)"] == "41.20 ± 0.30" and fill["Δ Overall"] == "+0.80"
    assert fill["FID (paper)"] == "7.38" and fill["FID ours"] == "7.60 ± 0.10"
    assert fill["Synthetic"] == "50,000"
    assert "no counterpart yet (planned in issue 8): crt" in rows[3][-1]
    assert rows[4][-1] == "no counterpart" and rows[4][1].endswith("[2]")
    # every published row says where it was reported
    assert all(r[1].startswith("reported in CBDM Table 2") for r in rows[1:])


def test_published_rows_without_runs_say_which_command_produces_them() -> None:
    pub = published.load(FIXTURE)
    report = collect([], Options(registered=BOTH, all_published=True), published=pub)
    assert report.lead == ["No finished runs."]
    rows = cells(report, "waterbirds: SYNAuG Table 4 (published)")
    assert rows[0] == [
        "Method",
        "Reported in",
        "Worst-group (paper)",
        "Worst-group ours",
        "Δ Worst-group",
        "Train-weighted avg (paper)",
        "Train-weighted avg ours",
        "Δ Train-weighted avg",
        "Ours",
    ]
    assert rows[1][-1] == "not run yet: bench run --method erm --dataset waterbirds"
    assert rows[1][3] == "–" and rows[1][4] == "–"
    cifar = cells(report, "cifar100-lt (IF 100): CBDM Table 2 (published)")
    assert cifar[1][-1] == (
        "not run yet: bench run --method erm --dataset cifar100-lt --set imbalance_factor=100"
    )


def test_runs_of_another_dataset_setting_are_not_compared() -> None:
    pub = published.load(FIXTURE)
    records = [
        rec("erm", "cifar100-lt", 0, {"overall": 0.5}, {"imbalance_factor": 50.0}),
    ]
    report = collect(
        records, Options(registered=frozenset({"erm"}), all_published=True), published=pub
    )
    rows = cells(report, "cifar100-lt (IF 100): CBDM Table 2 (published)")
    assert rows[1][rows[0].index("Overall ours")] == "–"


def test_paired_t_test_and_ci_agree_with_scipy() -> None:
    from scipy.stats import t, ttest_rel

    from bench.report.stats import Stat, paired_t_pvalue

    a, b = [81.0, 79.5, 83.2, 80.1], [80.2, 79.9, 81.0, 78.4]
    expected = ttest_rel(a, b).pvalue
    assert abs(paired_t_pvalue([x - y for x, y in zip(a, b, strict=True)]) - expected) < 1e-12
    stat = Stat.of(a)
    assert stat.ci is not None and stat.std is not None
    assert abs(stat.ci - t.ppf(0.975, 3) * stat.std / 2) < 1e-9
