"""`bench compare` and the claims: per-seed differences, the paired seed interval (scipy's),
the bootstrap over test images from stored predictions, verdicts, row pairing, the claims data
and the bad inputs (each a clear message, nothing written)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from helpers import cli
from scipy import stats

from bench.io import atomic_write_json
from bench.report import published
from bench.report.aggregate import aggregate
from bench.report.compare import (
    CompareError,
    check_claims,
    claim_comparisons,
    compare_specs,
    named_comparisons,
    row_pairs,
)
from bench.report.published import PublishedDataError, RowSpec
from bench.report.stats import (
    HOLDS_EVERY_SEED,
    HOLDS_ON_AVERAGE,
    REVERSED,
    WITHIN_NOISE,
    Interval,
    bootstrap_interval,
    seed_interval,
    verdict,
)

LABELS = [c for c in range(10) for _ in range(30)]  # 10 classes x 30 test images
BUCKETS = {"many": [0, 1, 2], "medium": [3, 4, 5], "few": [6, 7, 8, 9]}


def predictions(seed: int, hit_rate: float, method: str) -> list[int]:
    """A deterministic prediction per test image: right with probability `hit_rate`."""
    rng = np.random.default_rng(abs(hash((seed, method))) % 2**32)
    return [y if rng.random() < hit_rate else (y + 1) % 10 for y in LABELS]


def record(method: str, seed: int, hit_rate: float, **extra: Any) -> dict[str, Any]:
    """A record whose accuracies are computed from its stored predictions (as bench run's)."""
    from bench.metrics.accuracy import shot_accuracy

    predicted = predictions(seed, hit_rate, method)
    test = shot_accuracy(LABELS, predicted, [100, 100, 100, 50, 50, 50, 5, 5, 5, 5])
    metrics = {
        "test": test,
        "shot_buckets": BUCKETS,
        "test_predictions": {"labels": LABELS, "predicted": predicted},
    }
    config = {
        "method": method,
        "dataset": extra.pop("dataset", "digits-lt"),
        "seed": seed,
        "hparams": extra.pop("hparams", {}),
        "data": extra.pop("data", {}),
        "recipe": extra.pop("recipe", {"epochs": 12}),
    }
    return {"config": config, "result": {"metrics": metrics}}


def test_seed_interval_is_scipys_paired_t_interval() -> None:
    a, b = [81.0, 79.5, 83.2, 80.1], [80.2, 79.9, 81.0, 78.4]
    ci = seed_interval([x - y for x, y in zip(a, b, strict=True)])
    expected = stats.ttest_rel(a, b).confidence_interval(0.95)
    assert ci is not None
    assert (ci.low, ci.high) == pytest.approx((expected.low, expected.high), abs=1e-12)
    assert seed_interval([1.5]) is None  # one seed: no interval
    assert seed_interval([2.0, 2.0, 2.0]) == Interval(2.0, 2.0)  # no spread


def test_bootstrap_interval_covers_the_observed_difference_and_its_spread() -> None:
    runs = [(LABELS, predictions(s, 0.9, "a"), predictions(s, 0.7, "b")) for s in range(3)]
    observed = np.mean([np.mean(np.equal(a, LABELS)) - np.mean(np.equal(b, LABELS))
                        for _, a, b in runs]) * 100  # fmt: skip
    ci = bootstrap_interval(runs)
    assert ci.low < observed < ci.high and 5 < ci.high - ci.low < 20
    assert bootstrap_interval(runs) == ci  # seeded: the same records give the same interval
    # a bucket: the mean of its classes' accuracies, resampled images of those classes only
    few = bootstrap_interval(runs, BUCKETS["few"])
    assert few != ci and few.high - few.low > ci.high - ci.low  # fewer images, wider
    same = [(LABELS, a, a) for _, a, _ in runs]
    assert bootstrap_interval(same) == Interval(0.0, 0.0)


@pytest.mark.parametrize(
    ("diffs", "ci", "lower", "expected"),
    [
        ([1.7, 0.4, 3.0], None, False, HOLDS_EVERY_SEED),
        ([-3.7, -2.7, -4.4], None, False, REVERSED),
        ([-0.7, -1.6, 1.4], Interval(-4.6, 3.3), False, WITHIN_NOISE),
        ([2.0, 3.0, -0.1, 2.5, 2.8], Interval(0.3, 3.5), False, HOLDS_ON_AVERAGE),
        ([-2.0, -3.0, 0.1, -2.5, -2.8], Interval(-3.5, -0.3), False, REVERSED),
        ([-1.12, -0.5], None, True, HOLDS_EVERY_SEED),  # FID: lower is better
        ([0.0, 0.0], Interval(0.0, 0.0), False, WITHIN_NOISE),
    ],
)
def test_verdicts(diffs: list[float], ci: Interval | None, lower: bool, expected: str) -> None:
    assert verdict(diffs, ci, lower) == expected


def test_compare_reproduces_per_seed_differences_and_bootstraps_from_predictions() -> None:
    records = [record("balanced-softmax", s, 0.8) for s in range(3)]
    records += [record("erm", s, 0.6) for s in range(3)]
    (c,) = named_comparisons(
        aggregate(records, []), RowSpec("balanced-softmax"), RowSpec("erm"), "digits-lt", "few"
    )
    few = {
        (r["config"]["method"], r["config"]["seed"]): 100 * r["result"]["metrics"]["test"]["few"]
        for r in records
    }
    assert c.diffs == pytest.approx(
        [few[("balanced-softmax", s)] - few[("erm", s)] for s in range(3)]
    )
    assert c.pairs == [(0, 0), (1, 0), (2, 0)]
    assert c.boot is not None and c.boot_note == ""
    assert c.boot == bootstrap_interval(
        [(LABELS, predictions(s, 0.8, "balanced-softmax"), predictions(s, 0.6, "erm"))
         for s in range(3)],
        BUCKETS["few"],
    )  # fmt: skip


def test_older_records_without_predictions_keep_the_seed_interval() -> None:
    records = [record("balanced-softmax", s, 0.8) for s in range(3)]
    records += [record("erm", s, 0.6) for s in range(3)]
    del records[4]["result"]["metrics"]["test_predictions"]  # erm seed 1: an older record
    (c,) = named_comparisons(
        aggregate(records, []), RowSpec("balanced-softmax"), RowSpec("erm"), "digits-lt", "overall"
    )
    assert c.boot is None and "no stored test predictions" in c.boot_note
    assert c.seed_ci is not None and len(c.diffs) == 3


def test_rows_pair_by_the_settings_that_tell_them_apart() -> None:
    """Target and reduced recipes, with and without the pretrained generator: each row of A
    meets the row of B at the same recipe and generator, never another."""
    records = []
    for epochs in (12, 6):
        for pre in ({}, {"pretrained_generator": "printed-digits"}):
            for method, rate in (("fg-entropy", 0.8), ("ldm-txt-img", 0.7)):
                records += [record(method, s, rate, hparams={"guidance": 1, **pre},
                                   recipe={"epochs": epochs}) for s in (0, 1)]  # fmt: skip
    groups = aggregate(records, [])
    found = compare_specs(groups, RowSpec("fg-entropy"), RowSpec("ldm-txt-img"), "few")
    assert len(found) == 4
    for c in found:
        assert c.a.options["recipe.epochs"] == c.b.options["recipe.epochs"]
        assert c.a.options.get("pretrained_generator") == c.b.options.get("pretrained_generator")
    # the claim's own settings may differ (synaug: uniformisation only vs the full recipe)
    full = [record("synaug", s, 0.8, recipe={"epochs": 6, "batch_aug": "mixup"}) for s in (0, 1)]
    only = [record("synaug", s, 0.6, recipe={"epochs": 6, "batch_aug": "none"}) for s in (0, 1)]
    (g,) = aggregate(full + only, [])
    a_rows = [r for r in g.rows if r.options["recipe.batch_aug"] == "mixup"]
    b_rows = [r for r in g.rows if r.options["recipe.batch_aug"] == "none"]
    assert len(row_pairs(a_rows, b_rows, {"recipe.batch_aug"})) == 1


def test_claims_are_the_papers_numbers() -> None:
    pub = published.load(published.default_directory())
    claims = {c.text: c for c in pub.claims}
    fg = claims["FG-entropy > LDM (txt+img)"]
    assert (fg.better.text, fg.worse.text, fg.gap, fg.column) == ("59.1", "51.10", 8.0, "few")
    assert fg.source == "FG Table 1"
    cbdm = claims["CBDM FID < DDPM"]
    assert cbdm.gap == pytest.approx(-1.12) and cbdm.column == "fid"
    assert claims["Mixup + fine-tuning > uniformisation alone"].gap == pytest.approx(6.18)
    assert claims["learned token > class name"].better.method == (
        "Textual Inversion (1.3K) + Real Data"
    )
    assert {"Balanced Softmax > CE", "fairness-aware cells lower DP"} <= set(claims)
    from bench.methods import METHODS

    check_claims(pub.claims, set(METHODS), "claims.csv")  # every claim's direction and names


def test_claims_on_our_runs_and_the_ones_without() -> None:
    pub = published.load(published.default_directory())
    records = [record("balanced-softmax", s, 0.8) for s in range(2)]
    records += [record("erm", s, 0.6) for s in range(2)]
    found, missing = claim_comparisons(aggregate(records, []), pub.claims)
    assert [c.claim.text for c in found if c.claim] == ["Balanced Softmax > CE"]
    assert found[0].verdict == HOLDS_EVERY_SEED and found[0].key == "few"
    assert len(missing) == len(pub.claims) - 1


def copy_published(tmp_path: Path) -> Path:
    target = tmp_path / "published"
    shutil.copytree(published.default_directory(), target)
    return target


@pytest.mark.parametrize(
    ("column", "value", "message"),
    [
        ("table", "Table 99", "names a table with no published row"),
        ("better", "no-such-slug", "better method 'no-such-slug' has no published row"),
        ("metric", "top5", "has no published row"),
    ],
)
def test_a_claim_without_published_rows_is_an_error(
    tmp_path: Path, column: str, value: str, message: str
) -> None:
    import csv

    directory = copy_published(tmp_path)
    path = directory / "claims.csv"
    rows = list(csv.DictReader(path.open()))
    rows[0][column] = value
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    with pytest.raises(PublishedDataError, match=message) as exc:
        published.load(directory)
    assert "claims.csv:2" in str(exc.value)


def test_a_claim_against_its_own_numbers_or_naming_no_method_is_an_error() -> None:
    pub = published.load(published.default_directory())
    from dataclasses import replace

    flipped = replace(pub.claims[0], better=pub.claims[0].worse, worse=pub.claims[0].better)
    with pytest.raises(PublishedDataError, match="say otherwise"):
        check_claims([flipped], {"fg-entropy", "ldm-txt-img"}, "claims.csv")
    unknown = replace(pub.claims[0], ours_better=RowSpec("fg-entropi"))
    with pytest.raises(PublishedDataError, match=r"unknown method 'fg-entropi'.*'fg-entropy'"):
        check_claims([unknown], {"fg-entropy", "ldm-txt-img"}, "claims.csv")


def test_named_comparisons_refuse_what_cannot_be_paired() -> None:
    records = [record("erm", s, 0.6) for s in range(2)]
    records += [record("balanced-softmax", s, 0.8, data={"imbalance_factor": 50}) for s in (0, 1)]
    groups = aggregate(records, [])
    with pytest.raises(CompareError, match="only on different splits"):
        named_comparisons(groups, RowSpec("balanced-softmax"), RowSpec("erm"), "digits-lt", "few")
    with pytest.raises(CompareError, match="no finished run of crt on digits-lt"):
        named_comparisons(groups, RowSpec("crt"), RowSpec("erm"), "digits-lt", "few")
    with pytest.raises(CompareError, match="no finished run on 'cifar10-lt'"):
        named_comparisons(groups, RowSpec("erm"), RowSpec("erm"), "cifar10-lt", "few")
    other = [record("balanced-softmax", s, 0.8) for s in range(2)]
    other[1]["result"]["metrics"]["test_predictions"]["labels"] = LABELS[::-1]
    with pytest.raises(CompareError, match="different test images"):
        named_comparisons(aggregate(records[:2] + other, []), RowSpec("balanced-softmax"),
                          RowSpec("erm"), "digits-lt", "few")  # fmt: skip


def write_records(results: Path, records: list[dict[str, Any]]) -> None:
    for i, rec in enumerate(records):
        run = results / "runs" / f"{rec['config']['method']}-{i}"
        atomic_write_json(run / "config.json", rec["config"])
        atomic_write_json(run / "result.json", rec["result"])
        atomic_write_json(run / "done", {})


def test_bench_compare_prints_the_table_and_refuses_bad_input(tmp_path: Path) -> None:
    results = tmp_path / "results"
    write_records(results, [record(m, s, r) for m, r in (("balanced-softmax", 0.8), ("erm", 0.6))
                            for s in range(3)])  # fmt: skip
    before = sorted(p.name for p in (results / "runs").rglob("*"))
    code, out, err = cli("compare", "balanced-softmax", "erm", "--dataset", "digits-lt",
                         "--metric", "few", "--results", str(results))  # fmt: skip
    assert code == 0, err
    assert "balanced-softmax vs erm on digits-lt" in out and "holds on every seed" in out
    code, out, _ = cli("compare", "--claims", "--results", str(results))
    assert code == 0 and "Balanced Softmax > CE" in out and "+23.95 (FG Table 1)" in out
    for args, message in (
        (["erm", "--dataset", "digits-lt"], "needs two methods and a dataset"),
        (["erm", "crt", "--dataset", "digits-lt"], "no finished run of crt"),
        (["erm", "erm", "--dataset", "digits-lt", "--metric", "fewshot"], "unknown metric"),
        (["erm", "erm", "--dataset", "digits-lt", "--a", "epochs"], "is not KEY=VALUE"),
        (["--claims", "--paper", "fgg"], "unknown paper 'fgg'"),
    ):
        code, _, err = cli("compare", *args, "--results", str(results))
        assert code == 2 and message in err, err
    assert sorted(p.name for p in (results / "runs").rglob("*")) == before  # nothing written
