"""The written leaderboard opened in a real browser (headless Chromium, Debian's `chromium`;
.ci/run installs it): the tables render, sorting a column reorders rows, the plots load; a
screenshot is saved to build/test-artefacts/leaderboard.png."""

from __future__ import annotations

import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest
from helpers import REPO
from test_leaderboard_golden import shape_records

from bench.report import published
from bench.report.layout import collect
from bench.report.site import write_site

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="needs Debian's chromium (apt-get install chromium; .ci/run does)"
)
ARTEFACTS = REPO / "build" / "test-artefacts"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--no-first-run"]


class Page(HTMLParser):
    """Tables (id -> rows of cell texts), header aria-sort states and <img> attributes."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: dict[str, list[list[str]]] = {}
        self.sort: dict[str, list[str]] = {}
        self.images: list[dict[str, str | None]] = []
        self.body: dict[str, str | None] = {}
        self.shown: list[str] = []  # datasets of the table sections not hidden by the filters
        self.hidden_rows = 0
        self.table: str | None = None
        self.cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "body":
            self.body = a
        elif tag == "section" and "data-dataset" in a and "hidden" not in a:
            self.shown.append(a["data-dataset"] or "")
        elif tag == "tr" and "hidden" in a:
            self.hidden_rows += 1
        elif tag == "table":
            self.table = a.get("id")
            self.tables[self.table or ""] = []
            self.sort[self.table or ""] = []
        elif tag == "tr" and self.table is not None:
            self.tables[self.table].append([])
        elif tag == "th" and self.table is not None:
            self.sort[self.table].append(a.get("aria-sort") or "")
            self.cell = []
        elif tag == "td":
            self.cell = []
        elif tag == "img":
            self.images.append(a)

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self.cell is not None and self.table is not None:
            self.tables[self.table][-1].append("".join(self.cell).strip())
            self.cell = None
        elif tag == "table":
            self.table = None

    def handle_data(self, data: str) -> None:
        if self.cell is not None:
            self.cell.append(data)


def chromium(*args: str) -> str:
    out = subprocess.run(
        [CHROMIUM or "chromium", *FLAGS, *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return out.stdout


def open_page(index: Path, fragment: str = "") -> Page:
    dom = chromium("--virtual-time-budget=5000", "--dump-dom", index.as_uri() + fragment)
    page = Page()
    page.feed(dom)
    assert page.body.get("data-ready") == "yes", "the page script did not run to its end"
    return page


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    records = shape_records()
    for rec in records:  # per-class results give the per-class plot
        rec["result"]["metrics"]["train_counts"] = [500, 100, 20, 5]
        rec["result"]["metrics"]["test"]["per_class"] = [0.9, 0.6, 0.3, 0.1]
    pub = published.load(Path(__file__).parent / "fixtures" / "published")
    report = collect(records, ["erm", "ddpm-fill"], published=pub, registered={"erm", "ddpm-fill"})
    return write_site(report, tmp_path_factory.mktemp("site") / "leaderboard")


def first_column(page: Page, table: str) -> list[str]:
    return [row[0] for row in page.tables[table][1:]]


def test_tables_render_and_plots_load(site: Path) -> None:
    page = open_page(site)
    assert {"cifar100-lt", "caltech101", "waterbirds", "utkface"} <= set(page.tables)
    assert page.tables["cifar100-lt"][0][:3] == ["Method", "Synthetic", "Overall"]
    assert first_column(page, "cifar100-lt") == ["erm", "ddpm-fill"]
    published_rows = page.tables["cifar100-lt-if-100-cbdm-table-2-published"][1:]
    assert all(row[1].startswith("reported in CBDM Table 2") for row in published_rows)
    # per-class accuracy for each table, accuracy vs synthetic images, FID vs accuracy
    assert {img.get("alt") for img in page.images} == {
        *(f"per-class-{name}" for name in ("caltech101", "cifar100-lt", "utkface", "waterbirds")),
        "synthetic-cifar100-lt",
        "fid-cifar100-lt",
    }
    assert all(img.get("src", "").startswith("data:image/png;base64,") for img in page.images)
    assert [img.get("data-loaded") for img in page.images] == ["yes"] * 6
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    shot = ARTEFACTS / "leaderboard.png"
    shot.unlink(missing_ok=True)
    chromium(f"--screenshot={shot}", "--window-size=1400,2400", site.as_uri())
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 10_000


def test_sorting_a_column_reorders_rows(site: Path) -> None:
    # The fragment clicks the header of column 2 (Overall) once or twice, as a user would.
    desc = open_page(site, "#sort=cifar100-lt,2,desc")
    assert first_column(desc, "cifar100-lt") == ["ddpm-fill", "erm"]  # 42.0 before 38.0
    assert desc.sort["cifar100-lt"][2] == "descending"
    asc = open_page(site, "#sort=cifar100-lt,2,asc")
    assert first_column(asc, "cifar100-lt") == ["erm", "ddpm-fill"]
    # Text columns sort alphabetically; "–" cells (no number) go last.
    by_name = open_page(site, "#sort=cifar100-lt-generation,0,asc")
    assert first_column(by_name, "cifar100-lt-generation") == ["ddpm-fill", "erm"]
    fid = open_page(site, "#sort=cifar100-lt-generation,1,desc")
    assert first_column(fid, "cifar100-lt-generation") == ["ddpm-fill", "erm"]


def test_the_page_needs_no_network(site: Path) -> None:
    text = site.read_text()
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", text)
    assert "<script src" not in text and "<link" not in text


def test_filters_hide_other_datasets_and_methods(site: Path) -> None:
    everything = open_page(site)
    assert {"cifar100-lt", "waterbirds", "caltech101"} <= set(everything.shown)
    assert everything.hidden_rows == 0
    waterbirds = open_page(site, "#dataset=waterbirds")
    assert set(waterbirds.shown) == {"waterbirds"} and len(waterbirds.shown) == 2  # ours, paper
    fill = open_page(site, "#method=ddpm-fill")
    # tables without a ddpm-fill row disappear; in the rest only its rows stay
    assert set(fill.shown) == {"cifar100-lt", "caltech101"} and fill.hidden_rows > 0
