"""Every spec under sweeps/ loads, and each one that `reproduces` a published table maps every
row of that table (results/published) to runs of the spec, as the leaderboard matches them, or
lists the row's method under published_only with the reason."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from bench.launch.spec import load_spec
from bench.report.coverage import coverage_problems, table_coverage
from bench.report.published import default_directory, load

SWEEPS = Path(__file__).resolve().parents[1] / "sweeps"
SPECS = sorted(SWEEPS.glob("*.yaml"))


@pytest.fixture(scope="module")
def pub():
    return load(default_directory())


def test_there_are_specs():
    assert len(SPECS) >= 29
    assert (SWEEPS / "embedded.yaml") in SPECS


@pytest.mark.parametrize("path", SPECS, ids=lambda p: p.stem)
def test_each_spec_maps_every_published_row_of_its_table(path, pub):
    spec = load_spec(path)
    configs = spec.configs()
    assert configs
    if spec.reproduces is None:
        return
    coverage = table_coverage(pub, *spec.reproduces, configs)
    assert coverage.matched, f"{path}: no published row of {spec.reproduces} maps to a run"
    assert coverage_problems(coverage, spec.published_only) == []


def test_a_method_removed_from_a_spec_is_a_gap(tmp_path, pub):
    data = yaml.safe_load((SWEEPS / "fg-table2-places-lt.yaml").read_text())
    data["methods"] = [m for m in data["methods"] if m != {"name": "fg-entropy"}]
    path = tmp_path / "fg-table2-places-lt.yaml"
    path.write_text(yaml.safe_dump(data))
    spec = load_spec(path)
    problems = coverage_problems(table_coverage(pub, *spec.reproduces, spec.configs()), {})
    assert any("[fg-entropy] on places-lt" in p and "add method fg-entropy" in p for p in problems)
    assert any("[mislas]" in p for p in problems)  # published_only was dropped too


def test_a_stale_published_only_entry_is_a_gap(pub):
    spec = load_spec(SWEEPS / "fg-table2-places-lt.yaml")
    coverage = table_coverage(pub, *spec.reproduces, spec.configs())
    listed = {**spec.published_only, "erm": "listed by mistake"}
    assert coverage_problems(coverage, listed) == [
        "published_only lists 'erm', but the spec runs every row of it in Table 2: remove it "
        "from published_only"
    ]


def test_every_published_table_bench_can_run_has_a_spec(pub):
    """A table with a row whose method and dataset both have a bench counterpart is reproduced
    by a spec; the others (no bench dataset: ImageNet-100, the 90-class subset) cannot be."""
    from bench.datasets import DATASETS
    from bench.methods import METHODS
    from bench.report.published import counterpart_status

    runnable = {
        (v.paper, v.table)
        for v in pub.values
        if counterpart_status(pub.method_for(v.paper, v.slug), set(METHODS)) == "counterpart"
        and pub.dataset_for(v.dataset, v.imbalance_factor).bench_dataset in DATASETS
    }
    reproduced = {load_spec(path).reproduces for path in SPECS}
    assert sorted(runnable - reproduced) == []
    assert len(runnable) == len(reproduced - {None}) == 27
