"""Leaderboard columns for group, fairness and generation metrics: present only where runs have
them, labelled, formatted to the papers' precision, and never NaN."""

from __future__ import annotations

from typing import Any

from bench.report import leaderboard


def record(
    method: str,
    seed: int,
    test: dict[str, Any] | None = None,
    generation: dict[str, Any] | None = None,
    dataset: str = "toy",
) -> dict[str, Any]:
    result: dict[str, Any] = {
        "metrics": {
            "test": {"overall": 0.5, "many": 0.6, "medium": 0.5, "few": 0.4, **(test or {})}
        }
    }
    if generation is not None:
        result["generation"] = generation
    config = {
        "method": method,
        "dataset": dataset,
        "data": {},
        "hparams": {},
        "recipe": {},
        "seed": seed,
    }
    return {"config": config, "result": result}


def table(records: list[dict[str, Any]]) -> leaderboard.Table:
    (only,) = leaderboard.collect(records)
    return only


def test_accuracy_only_tables_are_unchanged() -> None:
    t = table([record("erm", 0), record("erm", 1)])
    assert t.metrics == list(leaderboard.METRICS) and t.legend == []
    md = leaderboard.to_markdown([t])
    assert "| erm | 50.0 ± 0.0 | 60.0 ± 0.0 | 50.0 ± 0.0 | 40.0 ± 0.0 | 2 |" in md
    assert md.endswith("Top-1 accuracy (%) on the test split, mean ± std over seeds.\n")


def test_group_and_fairness_columns() -> None:
    group = {"worst": 0.25, "mean": 0.5, "weighted": 0.75}
    records = [
        record("erm", 0, {"group": group, "fairness": {"dp": 0.0817, "eo": 0.0779, "ed": 0.06}}),
        record("erm", 1, {"group": group, "fairness": {"dp": 0.0600, "eo": 0.0434, "ed": 0.05}}),
    ]
    t = table(records)
    titles = [title for _, title in t.metrics]
    assert titles[4:] == ["Worst-group", "Mean-group", "Train-weighted avg", "DP", "EO", "ED"]
    md = leaderboard.to_markdown([t])
    # fairness gaps unscaled with 4 decimals (SYNAuG Table 3), group accuracies in %
    assert "| 25.0 ± 0.0 | 50.0 ± 0.0 | 75.0 ± 0.0 | 0.0708 ± 0.0153 |" in md
    assert "Train-weighted avg: group accuracies weighted by the training group sizes" in md
    assert "DEO-A" not in titles  # no run has it


def test_error_records_and_nan_show_as_dashes() -> None:
    records = [
        record("erm", 0, {"fairness": {"dp": 0.1}}),
        record("fill", 0, {"fairness": {"error": "sensitive group 'x' has no samples"}}),
        record("bs", 0, {"fairness": {"dp": float("nan")}}),
    ]
    md = leaderboard.to_markdown([table(records)])
    assert "| erm | 50.0 | 60.0 | 50.0 | 40.0 | 0.1000 | 1 |" in md
    assert "| fill | 50.0 | 60.0 | 50.0 | 40.0 | – | 1 |" in md
    assert "| bs | 50.0 | 60.0 | 50.0 | 40.0 | – | 1 |" in md
    assert "nan" not in md.lower()


def test_generation_columns_per_extractor() -> None:
    inception = {"fid": 12.345, "kid_mean": 0.0123, "f8": 0.9, "f1_8": None}
    records = [
        record("fill", 0, generation={"inception": inception, "clip": {"fid": 3.0}}),
        record("erm", 0),
    ]
    t = table(records)
    titles = [title for _, title in t.metrics]
    assert titles[4:] == ["FID", "KID", "F8", "FID (clip)"]
    md = leaderboard.to_markdown([t])
    assert "| fill | 50.0 | 60.0 | 50.0 | 40.0 | 12.35 | 0.0123 | 0.900 | 3.00 | 1 |" in md
    assert "| erm | 50.0 | 60.0 | 50.0 | 40.0 | – | – | – | – | 1 |" in md
    csv = leaderboard.to_csv([t])
    assert "toy,fill,fill,fid,12.3450," in csv and "toy,fill,fill,fid[clip],3.0000," in csv
    latex = leaderboard.to_latex([t])
    assert "FID (clip)" in latex and "bench eval-gen" in latex


def test_columns_are_per_table() -> None:
    records = [
        record("erm", 0, {"group": {"worst": 0.1, "mean": 0.2, "weighted": None}}, dataset="wb"),
        record("erm", 0, dataset="digits"),
    ]
    tables = {t.label: t for t in leaderboard.collect(records)}
    assert [k for k, _ in tables["digits"].metrics] == ["overall", "many", "medium", "few"]
    assert [k for k, _ in tables["wb"].metrics][4:] == ["group_worst", "group_mean"]


def test_a_metric_on_fewer_seeds_than_the_row_says_so() -> None:
    # bench eval-gen measured one seed's synthetic set; the row has two seeds.
    records = [record("fill", 0, generation={"inception": {"fid": 12.0}}), record("fill", 1)]
    md = leaderboard.to_markdown([table(records)])
    assert "| fill | 50.0 ± 0.0 | 60.0 ± 0.0 | 50.0 ± 0.0 | 40.0 ± 0.0 | 12.00 (n=1) | 2 |" in md
    assert "toy,fill,fill,fid,12.0000,,1,0 1" in leaderboard.to_csv([table(records)])
