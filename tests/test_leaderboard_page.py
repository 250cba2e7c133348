"""The page leads with ours: our tables first, each followed by the published tables with a row it
matches, then the claims, the published tables without a run of ours only on request; the
filters (--paper, --method, --dataset); an empty results folder said first; every row labelled
by the settings the user gave, its generator named, smoke rows marked. (The same page in a real
browser: tests/test_leaderboard_browser.py.)"""

from __future__ import annotations

from pathlib import Path

from helpers import cli
from lb_helpers import md_rows, md_table
from test_leaderboard_golden import rec, shape_records

from bench.io import atomic_write_json
from bench.report import published
from bench.report.layout import Options, collect
from bench.runs.config import resolve

FIXTURE = Path(__file__).parent / "fixtures" / "published"
ORDER = ("erm", "ddpm-fill")


def report(records: list, **options: object):
    pub = published.load(FIXTURE)
    return collect(records, Options(ORDER, registered=frozenset(ORDER), **options), published=pub)


def test_ours_first_each_with_its_published_tables_then_claims() -> None:
    r = report(shape_records())
    sections = [(t.section, t.title) for t in r.tables]
    assert sections[0] == ("ours", "caltech101")
    cifar = [title for _, title in sections].index("cifar100-lt")
    # our cifar100-lt tables, then the CBDM table their rows match, before the next dataset
    assert sections[cifar + 1 : cifar + 3] == [
        ("ours", "cifar100-lt: generation"),
        ("published", "cifar100-lt (IF 100): CBDM Table 2 (published)"),
    ]
    assert sections[-1] == ("claims", "Claims of the papers, tested on our runs")
    # the published table no run of ours matches is left out, and said so
    assert not any(s == "published-only" for s, _ in sections)
    assert any("1 published table(s) have no row a run of ours matches" in n for n in r.notes)
    everything = report(shape_records(), all_published=True)
    assert everything.tables[-1].section == "published-only"
    assert everything.tables[-1].title == "cifar100-lt (IF 100): CBDM Table 1 (published)"


def test_filters_by_paper_method_and_dataset() -> None:
    by_paper = report(shape_records(), papers=("synaug",))
    published_titles = [t.title for t in by_paper.tables if t.section != "ours"]
    assert published_titles == ["waterbirds: SYNAuG Table 4 (published)"]  # no CBDM claim
    by_method = report(shape_records(), methods=("ddpm-fill",))
    ours = [t for t in by_method.tables if t.section == "ours"]
    assert {m for t in ours for m in t.methods} == {"ddpm-fill"}
    assert {t.dataset for t in ours} == {"cifar100-lt", "caltech101"}  # erm-only tables gone
    claims = next(t for t in by_method.tables if t.section == "claims")
    assert claims.rows[0][0].text == "DDPM fill > CE"  # a claim naming ddpm-fill keeps erm
    by_dataset = report(shape_records(), datasets=("waterbirds",))
    assert {t.dataset for t in by_dataset.tables} == {"waterbirds"}


def test_the_filters_on_the_command_line(tmp_path: Path) -> None:
    results = tmp_path / "results"
    for i, r in enumerate(shape_records()):
        run = results / "runs" / f"run-{i}"
        atomic_write_json(run / "config.json", r["config"])
        atomic_write_json(run / "result.json", r["result"])
        atomic_write_json(run / "done", {})
    base = ("leaderboard", "--results", str(results), "--published")
    code, out, err = cli(*base, "--paper", "cbdm", "--method", "erm", "--dataset", "cifar100-lt")
    assert code == 0, err
    titles = [line[3:] for line in out.splitlines() if line.startswith("## ")]
    assert titles[:2] == ["cifar100-lt", "cifar100-lt: generation"]
    assert titles[2:] and all(t.startswith("cifar100-lt (IF 100): CBDM Table") for t in titles[2:])
    assert [row[0] for row in md_table(out, "cifar100-lt")[1:]] == ["erm"]
    for flag, name, close in (("--paper", "cbmd", "cbdm"), ("--method", "ermm", "erm")):
        code, _, err = cli(*base, flag, name)
        assert code == 2 and f"unknown {flag[2:]} {name!r}" in err and repr(close) in err


def test_an_empty_results_folder_says_so_first(tmp_path: Path) -> None:
    r = report([])
    assert r.lead == ["No finished runs."] and r.tables == []
    code, out, _ = cli("leaderboard", "--results", str(tmp_path), "--published")
    assert code == 0 and out.startswith("No finished runs.")
    code, out, _ = cli("leaderboard", "--results", str(tmp_path), "--published", "--all-published")
    assert out.startswith("No finished runs.\n\n## ")  # then the published tables


def test_rows_name_the_settings_given_the_generator_and_smoke() -> None:
    """A row's label holds every setting the user gave (from config.json's sources), even with
    no sibling to tell it from; the generator its images came from; [smoke] for a smoke run."""
    records = []
    for seed in (0, 1):
        for method, sets in (("erm", ["recipe.epochs=2"]), ("ddpm-fill", ["guidance_scale=1.5"])):
            config = resolve(method, "digits-lt", seed=seed, sets=sets).to_json()
            info = {"synthetic_plan": {"backend": "ddpm"}} if method == "ddpm-fill" else {}
            result = {"metrics": {"test": {"overall": 0.5 + seed / 100}}, "info": info}
            records.append({"config": config, "result": result})
    labels = [row[0].text for row in collect(records, Options(ORDER)).tables[0].rows]
    assert labels == ["erm (recipe.epochs=2)", "ddpm-fill [ddpm] (guidance_scale=1.5)"]
    smoke = resolve("erm", "digits-lt", seed=0, smoke=True).to_json()
    records.append({"config": smoke, "result": {"metrics": {"test": {"overall": 0.1}}}})
    labels = [row[0].text for row in collect(records, Options(ORDER)).tables[0].rows]
    # the smoke run's own recipe now tells the erm rows apart: both name it
    assert labels[1] == "erm (recipe.batch_size=8, recipe.steps_per_epoch=2) [smoke]"


def test_the_written_site_has_one_latex_file_per_table(tmp_path: Path) -> None:
    from bench.report.site import write_site

    r = report(shape_records(), all_published=True)
    write_site(r, tmp_path / "site")
    files = sorted(p.stem for p in (tmp_path / "site" / "tables").glob("*.tex"))
    assert files == sorted(t.key for t in r.tables)
    combined = (tmp_path / "site" / "leaderboard.tex").read_text()
    assert combined.count(r"\begin{table}") == len(r.tables)
    assert combined.count(r"\benchbarrier" + "\n") == len(r.tables)
    md = (tmp_path / "site" / "LEADERBOARD.md").read_text()
    headings = [row for row in md.splitlines() if row.startswith("# ")]
    assert headings == [
        "# Our results",
        "# The papers' claims on our runs",
        "# Published tables without a run of ours",
    ]
    assert md_rows(md)  # tables parse
    _ = rec  # the golden records' helper builds the fixture runs
