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


@pytest.mark.parametrize("path", SPECS, ids=lambda p: p.stem)
def test_each_spec_dry_runs_offline_with_its_needs_and_estimate(
    path, tmp_path, monkeypatch, capsys
):
    from bench.cli import main

    monkeypatch.setenv("PATH", str(tmp_path))  # no sbatch, no sinfo: no cluster
    monkeypatch.delenv("BENCH_DATA_ROOT", raising=False)
    assert main(["sweep", str(path), "--dry-run", "--results", str(tmp_path / "r")]) == 0
    out = capsys.readouterr().out
    spec = load_spec(path)
    assert f"sweep {spec.name} (dry run" in out and f": {len(spec.configs())} run(s)" in out
    assert "data (the dataset adapters' own checks):" in out
    assert "cost per stage (ESTIMATES" in out and "GPU-h (est.)" in out
    assert "cluster check: skipped, no reachable cluster (sbatch / sinfo not on PATH)" in out
    if spec.reproduces:
        assert f"reproduces {spec.reproduces[0]} {spec.reproduces[1]}:" in out and "GAP" not in out
    assert not (tmp_path / "r").exists() or not any((tmp_path / "r").rglob("state.json"))


def test_the_embedded_dry_run_reads_its_data_and_counts_exactly(tmp_path, monkeypatch, capsys):
    from bench.cli import main

    monkeypatch.setenv("PATH", str(tmp_path))
    assert (
        main(["sweep", str(SWEEPS / "embedded.yaml"), "--dry-run", "--results", str(tmp_path)]) == 0
    )
    out = capsys.readouterr().out
    assert (
        "digits-lt" in out and ": present" in out and "MISSING: " not in out.split("pretrained")[0]
    )
    assert "on the data" in out  # the synthesis plan on the data, not the official counts
    total = next(line for line in out.splitlines() if line.strip().startswith("total"))
    assert "unknown" not in total


def test_a_dry_run_reports_an_array_slurm_rejects(tmp_path, monkeypatch, capsys):
    from bench.cli import main

    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "sinfo").write_text("#!/bin/sh\necho debug up\n")
    (bin_dir / "sbatch").write_text(
        "#!/bin/sh\ncase \"$*\" in *--array=0-2*) echo 'sbatch: error: array too big' >&2; "
        "exit 1;; esac\nexit 0\n"
    )
    for f in bin_dir.iterdir():
        f.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:/usr/bin:/bin")
    spec = tmp_path / "s.yaml"
    spec.write_text("methods: [fg-entropy]\ndatasets: [digits-lt]\nseeds: [0, 1, 2]\n")
    assert main(["sweep", str(spec), "--dry-run", "--results", str(tmp_path / "r")]) == 2
    captured = capsys.readouterr()
    assert "dependency (array of 3): sbatch: error: array too big" in captured.out
    assert "SLURM rejects 2 array(s)" in captured.err and "nothing was submitted" in captured.err
