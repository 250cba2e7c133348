"""The written leaderboard opened in a real browser (headless Chromium, Debian's `chromium`;
.ci/run installs it): the page leads with our tables (read from its DOM and from a screenshot,
by the colour bar of each section), sorting a column reorders rows, filters hide the rest, the
plots load with their captions and sizes; screenshots are saved to build/test-artefacts/."""

from __future__ import annotations

import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from helpers import REPO
from test_leaderboard_golden import shape_records

from bench.report import published
from bench.report.layout import Options, collect
from bench.report.render import OURS_RGB, PUBLISHED_RGB
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
        self.captions: list[str] = []
        self.headings: list[str] = []  # the h2 section headings, in page order
        self.sections: list[str] = []  # data-section of each table section, in page order
        self.lead: list[str] = []
        self.body: dict[str, str | None] = {}
        self.text: list[str] | None = None
        self.text_kind = ""
        self.shown: list[str] = []  # datasets of the table sections not hidden by the filters
        self.hidden_rows = 0
        self.table: str | None = None
        self.cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "body":
            self.body = a
        elif tag == "section" and "data-dataset" in a:
            self.sections.append(a.get("data-section") or "")
            if "hidden" not in a:
                self.shown.append(a["data-dataset"] or "")
        elif tag in ("h2", "figcaption") or (tag == "p" and a.get("class") == "lead"):
            self.text, self.text_kind = [], tag
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
        if self.text is not None and tag == self.text_kind:
            target = {"h2": self.headings, "figcaption": self.captions, "p": self.lead}[tag]
            target.append("".join(self.text).strip())
            self.text = None
        if tag in ("td", "th") and self.cell is not None and self.table is not None:
            self.tables[self.table][-1].append("".join(self.cell).strip())
            self.cell = None
        elif tag == "table":
            self.table = None

    def handle_data(self, data: str) -> None:
        if self.cell is not None:
            self.cell.append(data)
        if self.text is not None:
            self.text.append(data)


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


ORDER = ("erm", "ddpm-fill")
PLOTS = {
    *(f"per-class-{name}" for name in ("caltech101", "cifar100-lt", "utkface", "waterbirds")),
    "synthetic-cifar100-lt",
    "fid-cifar100-lt",
    "vs-paper-cifar100-lt-if-100-cbdm-table-2-published",
    "vs-paper-waterbirds-synaug-table-4-published",
}


def write(tmp: Path, records: list[dict], **options: object) -> Path:
    pub = published.load(Path(__file__).parent / "fixtures" / "published")
    report = collect(records, Options(ORDER, registered=frozenset(ORDER), **options), published=pub)
    return write_site(report, tmp / "leaderboard")


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    records = shape_records()
    for rec in records:  # per-class results give the per-class plot
        rec["result"]["metrics"]["train_counts"] = [500, 100, 20, 5]
        rec["result"]["metrics"]["test"]["per_class"] = [0.9, 0.6, 0.3, 0.1]
    return write(tmp_path_factory.mktemp("site"), records, all_published=True)


def first_column(page: Page, table: str) -> list[str]:
    return [row[0] for row in page.tables[table][1:]]


def screenshot(index: Path, name: str, height: int) -> Any:
    """The top `height` pixels of the page as Chromium draws it (saved as an artefact)."""
    from PIL import Image

    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    shot = ARTEFACTS / name
    shot.unlink(missing_ok=True)
    chromium(f"--screenshot={shot}", f"--window-size=1400,{height}", index.as_uri())
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    return Image.open(shot).convert("RGB")


def first_row_with(image: Any, rgb: tuple[int, int, int]) -> int | None:
    """The first pixel row whose left margin (where the sections' bars are) holds the colour."""
    import numpy as np

    pixels = np.asarray(image)[:, :80]
    rows = np.flatnonzero((np.abs(pixels.astype(int) - rgb).sum(axis=2) <= 6).any(axis=1))
    return int(rows[0]) if len(rows) else None


def test_the_page_leads_with_our_tables(site: Path) -> None:
    page = open_page(site)
    # DOM: our tables first (each followed by the published table it matches), then the
    # claims, then the published tables without a run of ours
    assert page.headings[:3] == [
        "Our results",
        "The papers' claims on our runs",
        "Published tables without a run of ours",
    ]
    assert page.sections[0] == "ours"
    first_published = page.sections.index("published")
    assert page.sections[:first_published] == ["ours"] * first_published
    assert page.sections[-1] == "published-only"
    assert first_column(page, "cifar100-lt") == ["erm", "ddpm-fill"]
    published_rows = page.tables["cifar100-lt-if-100-cbdm-table-2-published"][1:]
    assert all(row[1].startswith("reported in CBDM Table 2") for row in published_rows)
    # screenshot: the first thing drawn below the title is our table's blue bar; no amber
    # (published) bar comes before it
    top = screenshot(site, "leaderboard-top.png", 900)
    ours = first_row_with(top, OURS_RGB)
    theirs = first_row_with(top, PUBLISHED_RGB)
    assert ours is not None and ours < 300, ours
    assert theirs is None or ours < theirs


def test_an_empty_results_folder_says_so_at_the_top(tmp_path: Path) -> None:
    page = open_page(write(tmp_path, []))
    assert page.lead == ["No finished runs."]
    assert page.headings == []  # published tables are left out unless --all-published
    assert not page.images


def test_plots_load_inline_with_captions(site: Path) -> None:
    page = open_page(site)
    assert {img.get("alt") for img in page.images} == PLOTS
    assert all(img.get("src", "").startswith("data:image/png;base64,") for img in page.images)
    assert [img.get("data-loaded") for img in page.images] == ["yes"] * len(PLOTS)
    from PIL import Image

    for img in page.images:  # the size the browser decoded is the PNG's
        width, height = map(int, (img.get("data-size") or "0x0").split("x"))
        with Image.open(site.parent / "plots" / f"{img.get('alt')}.png") as png:
            assert (width, height) == png.size and width > 400 and height > 250
    assert len(page.captions) == len(PLOTS) and all(len(c) > 60 for c in page.captions)
    full = screenshot(site, "leaderboard.png", 2400)
    assert full.size == (1400, 2400)


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
    # ours, the paper's; the claims table (rows of cifar100-lt only) disappears
    assert waterbirds.shown == ["waterbirds", "waterbirds"]
    fill = open_page(site, "#method=ddpm-fill")
    # tables without a ddpm-fill row disappear; in the rest only its rows stay (the claims
    # table: its claim names ddpm-fill)
    assert set(fill.shown) == {"cifar100-lt", "caltech101", ""} and fill.hidden_rows > 0
