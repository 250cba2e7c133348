"""Leaderboard columns for group, fairness and generation metrics: present only where runs have
them, labelled, formatted to the papers' precision, and never NaN."""

from __future__ import annotations

from typing import Any

from lb_helpers import md_rows

from bench.report import layout
from bench.report.render import to_csv, to_latex, to_markdown


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


def report(records: list[dict[str, Any]]) -> layout.Report:
    return layout.collect(records)


def test_accuracy_only_tables() -> None:
    r = report([record("erm", 0), record("erm", 1)])
    (t,) = r.tables
    assert t.headers == ["Method", "Overall", "Many", "Medium", "Few", "Seeds"]
    rows = md_rows(to_markdown(r))
    assert rows[1] == ["erm", "50.0 ± 0.0", "60.0 ± 0.0", "50.0 ± 0.0", "40.0 ± 0.0", "2"]
    assert to_markdown(r).endswith("mean ± sample std (ddof 1) over seeds.\n")


def test_group_and_fairness_columns() -> None:
    group = {"worst": 0.25, "mean": 0.5, "weighted": 0.75}
    records = [
        record("erm", 0, {"group": group, "fairness": {"dp": 0.0817, "eo": 0.0779, "ed": 0.06}}),
        record("erm", 1, {"group": group, "fairness": {"dp": 0.0600, "eo": 0.0434, "ed": 0.05}}),
    ]
    r = report(records)
    (t,) = r.tables
    assert t.headers[5:-1] == ["Worst-group", "Mean-group", "Train-weighted avg", "DP", "EO", "ED"]
    md = to_markdown(r)
    # fairness gaps unscaled with 4 decimals (SYNAuG Table 3), group accuracies in %
    assert md_rows(md)[1][5:9] == ["25.0 ± 0.0", "50.0 ± 0.0", "75.0 ± 0.0", "0.0708 ± 0.0153"]
    assert "Train-weighted avg: group accuracies weighted by the training group sizes" in md
    assert "DEO-A" not in t.headers  # no run has it


def test_error_records_and_nan_show_as_dashes() -> None:
    records = [
        record("erm", 0, {"fairness": {"dp": 0.1}}),
        record("fill", 0, {"fairness": {"error": "sensitive group 'x' has no samples"}}),
        record("bs", 0, {"fairness": {"dp": float("nan")}}),
    ]
    md = to_markdown(report(records))
    rows = {row[0]: row[1:] for row in md_rows(md)[1:]}
    assert rows["erm"] == ["50.0", "60.0", "50.0", "40.0", "0.1000", "1"]
    assert rows["fill"] == ["50.0", "60.0", "50.0", "40.0", "–", "1"]
    assert rows["bs"] == ["50.0", "60.0", "50.0", "40.0", "–", "1"]
    assert "nan" not in md.lower()


def test_generation_metrics_get_their_own_table_per_extractor() -> None:
    inception = {"fid": 12.345, "kid_mean": 0.0123, "f8": 0.9, "f1_8": None}
    inception["domain_cls_acc"] = 0.7416  # a share, shown in % as SYNAuG Fig. 3a prints it
    records = [
        record("fill", 0, generation={"inception": inception, "clip": {"fid": 3.0}}),
        record("erm", 0),
    ]
    r = report(records)
    _, gen = r.tables
    assert gen.title == "toy: generation" and gen.shape == "generation"
    assert gen.headers == ["Method", "FID", "KID", "F8", "Domain cls acc", "FID (clip)", "Seeds"]
    rows = {row[0]: row[1:] for row in md_rows(to_markdown(layout.Report([gen])))[1:]}
    assert rows["fill"] == ["12.35", "0.0123", "0.900", "74.2", "3.00", "1"]
    assert rows["erm"] == ["–", "–", "–", "–", "–", "1"]
    csv = to_csv(r)
    assert "toy: generation,toy,fill,fill,ours,fid,12.3450," in csv
    assert "toy: generation,toy,fill,fill,ours,fid[clip],3.0000," in csv
    latex = to_latex(r)
    assert "FID (clip)" in latex and "bench eval-gen" in latex


def test_columns_are_per_table() -> None:
    records = [
        record("erm", 0, {"group": {"worst": 0.1, "mean": 0.2, "weighted": None}}, dataset="wb"),
        record("erm", 0, dataset="digits"),
    ]
    tables = {t.title: t for t in report(records).tables}
    assert tables["digits"].headers[1:-1] == ["Overall", "Many", "Medium", "Few"]
    assert tables["wb"].headers[5:-1] == ["Worst-group", "Mean-group"]


def test_a_metric_on_fewer_seeds_than_the_row_says_so() -> None:
    # bench eval-gen measured one seed's synthetic set; the row has two seeds.
    records = [record("fill", 0, generation={"inception": {"fid": 12.0}}), record("fill", 1)]
    r = report(records)
    assert md_rows(to_markdown(layout.Report([r.tables[1]])))[1] == [
        "fill",
        "12.00 (n=1)",
        "2",
    ]
    assert "toy: generation,toy,fill,fill,ours,fid,12.0000,,,1,0 1," in to_csv(r)


def test_a_dataset_declares_its_table_shape(monkeypatch: Any) -> None:
    """The report reads the shape from the dataset adapter (LEADERBOARD), not from a list of
    dataset names: giving colored-digits the long-tail shape gives it the long-tail table."""
    from bench.data import LONG_TAIL, LeaderboardShape
    from bench.datasets import DATASETS

    group = {"worst": 0.25, "mean": 0.5, "weighted": 0.75}
    records = [record("erm", s, {"group": group}, dataset="colored-digits") for s in (0, 1)]
    generic = report(records).tables[0].headers
    assert generic[1:5] == ["Overall", "Many", "Medium", "Few"] and "Worst-group" in generic
    monkeypatch.setattr(DATASETS["colored-digits"], "LEADERBOARD", LONG_TAIL)
    shaped = report(records).tables[0]
    assert shaped.shape == "long-tail" and "Worst-group" not in shaped.headers
    assert shaped.headers[:2] == ["Method", "Synthetic"]
    own = LeaderboardShape("groups", ("group_worst", "overall"))
    monkeypatch.setattr(DATASETS["colored-digits"], "LEADERBOARD", own)
    assert report(records).tables[0].headers == ["Method", "Worst-group", "Overall", "Seeds"]
