"""What `bench leaderboard` and `bench compare` do, given plain values (bench/cli.py parses the
command line into them)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

from bench.datasets import DATASETS
from bench.errors import BenchError
from bench.hparams import split_assignment
from bench.io import atomic_write_text
from bench.methods import METHODS
from bench.registry import unknown_name_message
from bench.report import published as published_data
from bench.report.compare import CompareError, check_claims, named_comparisons
from bench.report.layout import Options, Report, claims_table, collect
from bench.report.published import PAPERS, Published, RowSpec
from bench.report.records import duplicate_notes, load_records
from bench.report.render import render
from bench.report.site import write_site


@dataclass(frozen=True)
class Request:
    """Where the records are, what to show and where to write it."""

    results: Path
    options: Options = field(default_factory=Options)
    fmt: str = "md"
    output: str | None = None
    write: str | None = None  # the whole site into this folder
    published: bool = False
    published_dir: str | None = None
    include_smoke: bool = False


@dataclass(frozen=True)
class CompareRequest:
    """`bench compare`: two rows (a method and the settings its rows hold) on a dataset, or the
    papers' claims."""

    request: Request
    a: str = ""
    b: str = ""
    a_settings: tuple[str, ...] = ()
    b_settings: tuple[str, ...] = ()
    dataset: str = ""
    metric: str = ""
    claims: bool = False


def leaderboard_command(req: Request) -> tuple[str, str | None]:
    """(text for stdout, or the path written)."""
    if req.output and Path(req.output).is_dir():
        raise BenchError(f"--output {req.output} is a directory; name a file (or use --write).")
    report = build_report(req, req.published or bool(req.write))
    if req.write:
        return "", str(write_site(report, Path(req.write), req.results))
    text = render(report, req.fmt)
    if req.output:
        atomic_write_text(Path(req.output), text)
        return text, req.output
    return text, None


def build_report(req: Request, with_published: bool) -> Report:
    """Read the records (read-only), check the filters and collect the report."""
    loaded = load_records(req.results, include_smoke=req.include_smoke)
    pub = None
    if with_published:
        directory = Path(req.published_dir or published_data.default_directory())
        pub = published_data.load(directory)
        check_claims(pub.claims, set(METHODS), str(directory / "claims.csv"))
    options = replace(req.options, method_order=tuple(METHODS), registered=frozenset(METHODS))
    check_filters(options, loaded.records, pub)
    report = collect(
        loaded.records,
        options,
        published=pub,
        skipped=len(loaded.skipped),
        smoke=loaded.smoke,
    )
    report.notes += duplicate_notes(loaded.duplicates)
    return report


def check_filters(options: Options, records: list, pub: Published | None) -> None:
    """Every --dataset, --method and --paper names something that exists (close matches if not)."""

    datasets = set(DATASETS) | {r["config"]["dataset"] for r in records}
    if pub is not None:
        datasets |= {d.bench_dataset or d.dataset for d in pub.datasets}
    for kind, names, known in (
        ("dataset", options.datasets, datasets),
        ("method", options.methods, set(METHODS) | {r["config"]["method"] for r in records}),
        ("paper", options.papers, set(PAPERS)),
    ):
        for name in names:
            if name not in known:
                raise BenchError(unknown_name_message(kind, name, sorted(known)))


def compare_command(req: CompareRequest) -> str:
    """The comparison table of two rows, or of every claim with runs of both sides."""

    if req.claims:
        if req.a or req.b:
            raise CompareError("give either two rows (A B --dataset D) or --claims, not both.")
        return render(report_of_claims(build_report(req.request, True)), req.request.fmt)
    if not (req.a and req.b and req.dataset):
        raise CompareError(
            "bench compare needs two methods and a dataset (bench compare A B --dataset D), or "
            "--claims for the papers' claims."
        )
    sides = [
        RowSpec(m, parse_settings(s)) for m, s in ((req.a, req.a_settings), (req.b, req.b_settings))
    ]
    report = build_report(req.request, False)
    found = named_comparisons(report.groups, *sides, req.dataset, req.metric or "overall")
    title = f"{sides[0].text()} vs {sides[1].text()} on {req.dataset}"
    table = claims_table(found, title)
    notes = [n for n in report.notes if not n.startswith("Top-1 accuracy")]  # tables' legend
    return render(Report([table], notes, report.groups, report.lead), req.request.fmt)


def report_of_claims(report: Report) -> Report:
    """The claims section of a leaderboard report alone (with its notes)."""
    tables = [t for t in report.tables if t.section == "claims"]
    notes = [n for n in report.notes if n.startswith("Claims without")]
    if not tables:
        notes.insert(0, "No claim has finished runs of both its sides in this results folder.")
    return Report(tables, notes, report.groups, report.lead)


def parse_settings(items: tuple[str, ...]) -> dict[str, str]:
    """--a / --b KEY=VALUE items (values as bench.report.matching.same_value reads them)."""
    out = {}
    for item in items:
        pair = split_assignment(item)
        if pair is None:
            raise CompareError(f"{item!r} is not KEY=VALUE (e.g. --a recipe.epochs=6).")
        out[pair[0]] = pair[1].strip()
    return out
