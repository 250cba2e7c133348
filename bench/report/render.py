"""Render a leaderboard Report: Markdown with tabulate, LaTeX (bench.report.latex), CSV (one line
per table, row and metric) and a self-contained HTML page (sortable tables, filters, inline
plots, no network). Each format leads with ours: the report's lead lines, then its sections in
order (our tables with the published ones beside them, the claims, the rest)."""

from __future__ import annotations

import csv
import io

from tabulate import tabulate

from bench.errors import BenchError
from bench.report.escape import csv_text, html_text, md_text
from bench.report.latex import to_latex
from bench.report.layout import EMPTY, SECTIONS, Report, Table

FORMATS = ("md", "latex", "csv", "html")
Inline = tuple[str, str, str]  # a plot on the page: (name, caption, data URI of its PNG)


def render(report: Report, fmt: str, plots: list[Inline] | None = None) -> str:
    if fmt not in FORMATS:
        raise BenchError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}.")
    if fmt == "html":
        return to_html(report, plots)
    return {"md": to_markdown, "latex": to_latex, "csv": to_csv}[fmt](report)


def grid(t: Table, escape=str) -> list[list[str]]:
    return [[escape(c.text) for c in row] for row in t.rows]


def align(t: Table) -> list[str]:
    return ["right" if n else "left" for n in t.numeric]


def sections(report: Report) -> list[tuple[str, list[Table]]]:
    """(heading, tables) in page order; a published table beside ours is in our section."""
    out: list[tuple[str, list[Table]]] = []
    for t in report.tables:
        heading = SECTIONS.get(t.section, SECTIONS["ours"])
        if not out or out[-1][0] != heading:
            out.append((heading, []))
        out[-1][1].append(t)
    return out


def to_markdown(report: Report) -> str:
    if not report.tables:
        return "\n\n".join(md_text(n) for n in [*report.lead, *report.notes] or [EMPTY]) + "\n"
    parts = [md_text(line) for line in report.lead]
    parted = sections(report)
    for heading, tables in parted:
        if len(parted) > 1:  # one part (ours alone, bench compare) needs no heading
            parts.append(f"# {md_text(heading)}")
        for t in tables:
            body = tabulate(
                grid(t, md_text),
                [md_text(h) for h in t.headers],
                tablefmt="pipe",
                colalign=align(t),
                disable_numparse=True,
            )
            notes = "\n".join(f"- {md_text(n)}" for n in t.notes)
            parts.append(f"## {md_text(t.title)}\n\n{body}" + (f"\n\n{notes}" if notes else ""))
    return "\n\n".join([*parts, *map(md_text, report.notes)]) + "\n"


CSV_COLUMNS = (
    "table",
    "dataset",
    "method",
    "variant",
    "source",
    "metric",
    "mean",
    "std",
    "ci95",
    "n",
    "seeds",
    "within_noise",
    "published",
    "difference",
)


def to_csv(report: Report) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for t in report.tables:
        for row in t.long:
            writer.writerow([csv_value(row.get(c)) for c in CSV_COLUMNS])
    return out.getvalue()


def csv_value(value: object) -> str:
    """Numbers with 4 decimals, a missing value empty."""
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.4f}"
    return str(csv_text(value))


PAGE_STYLE = """
body{font-family:system-ui,sans-serif;margin:1.5em;color:#222}
table{border-collapse:collapse;margin:.5em 0 1em}
th,td{padding:.25em .6em;border-bottom:1px solid #ccc}
th{cursor:pointer;background:#f3f3f3;user-select:none}
th[aria-sort=ascending]::after{content:" \\25B2"}
th[aria-sort=descending]::after{content:" \\25BC"}
td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
.notes{font-size:.85em;color:#555}
.lead{font-size:1.2em;font-weight:bold;padding:.5em;background:#fff4d6}
.filters{position:sticky;top:0;background:#fff;padding:.5em 0;border-bottom:1px solid #ddd}
section.tbl{padding-left:.8em;margin-bottom:1.5em;overflow-x:auto}
section.ours{border-left:8px solid #1f5fbf}
section.published,section.published-only{border-left:8px solid #d98c1f}
section.claims{border-left:8px solid #2a9d3a}
figure{display:inline-block;vertical-align:top;max-width:48%;margin:.5em}
figure img{max-width:100%;border:1px solid #ddd}
figcaption{font-size:.85em;color:#444}
"""
# Our tables have a blue bar, published ones amber, the claims green: the browser test finds our
# table first in a screenshot by these colours (tests/test_leaderboard_browser.py).
OURS_RGB, PUBLISHED_RGB = (0x1F, 0x5F, 0xBF), (0xD9, 0x8C, 0x1F)

# Sorting is by each cell's data-sort number (text where it has none); a header click (or the
# page address #sort=TABLE,COLUMN,asc|desc) sorts; the filters hide rows and tables (a row names
# its methods and, in a table over several datasets, its dataset).
PAGE_SCRIPT = """
function sortTable(table, col, dir) {
  const body = table.tBodies[0];
  const rows = Array.from(body.rows);
  const key = r => { const c = r.cells[col]; const v = c.dataset.sort;
    return v === undefined || v === "" ? c.textContent : parseFloat(v); };
  rows.sort((a, b) => { const x = key(a), y = key(b);
    if (typeof x === "number" && typeof y === "number") return dir * (x - y);
    if (typeof x === "number") return -1; if (typeof y === "number") return 1;
    return dir * String(x).localeCompare(String(y)); });
  rows.forEach(r => body.appendChild(r));
  Array.from(table.tHead.rows[0].cells).forEach((h, i) =>
    h.setAttribute("aria-sort", i === col ? (dir > 0 ? "ascending" : "descending") : "none"));
}
document.querySelectorAll("table.lb th").forEach((th, i) => th.addEventListener("click", () => {
  const table = th.closest("table");
  const dir = th.getAttribute("aria-sort") === "descending" ? 1 : -1;
  sortTable(table, th.cellIndex, dir);
}));
function applyFilters() {
  const ds = document.getElementById("f-dataset").value;
  const m = document.getElementById("f-method").value;
  document.querySelectorAll("section.tbl").forEach(s => {
    const dsOk = !ds || !s.dataset.dataset || s.dataset.dataset === ds;
    let shown = 0;
    s.querySelectorAll("tbody tr").forEach(r => {
      const ok = (!m || r.dataset.method.split(" ").includes(m))
        && (!ds || !r.dataset.dataset || r.dataset.dataset === ds);
      r.hidden = !ok; if (ok) shown++; });
    s.hidden = !dsOk || shown === 0;
  });
}
document.getElementById("f-dataset").addEventListener("change", applyFilters);
document.getElementById("f-method").addEventListener("change", applyFilters);
document.querySelectorAll("img").forEach(img => {
  const mark = () => {
    img.setAttribute("data-loaded", img.naturalWidth > 0 ? "yes" : "no");
    img.setAttribute("data-size", img.naturalWidth + "x" + img.naturalHeight); };
  if (img.complete) mark();
  else { img.addEventListener("load", mark); img.addEventListener("error", mark); }
});
// The address can carry the page state: #sort=TABLE,COLUMN,asc|desc&dataset=NAME&method=NAME
const state = new URLSearchParams(location.hash.slice(1));
for (const name of ["dataset", "method"]) {
  const select = document.getElementById("f-" + name);
  if (state.get(name) !== null) { select.value = state.get(name); applyFilters(); }
}
const m = /^([^,]+),(\\d+),(asc|desc)$/.exec(state.get("sort") || "");
if (m) { const t = document.getElementById(m[1]); if (t) {
  const th = t.tHead.rows[0].cells[+m[2]];
  th.setAttribute("aria-sort", m[3] === "asc" ? "descending" : "ascending");
  th.click(); } }
document.body.setAttribute("data-ready", "yes");
"""


def to_html(report: Report, plots: list[Inline] | None = None) -> str:
    """A standalone page: lead lines, then each section's tables, the notes, the plots (each an
    inline PNG with its caption)."""
    esc = html_text
    datasets = sorted({d for t in report.tables for d in [t.dataset, *t.row_datasets] if d})
    methods = sorted({m for t in report.tables for ms in t.methods for m in ms.split()})
    out = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8"><title>bench leaderboard</title>',
        f"<style>{PAGE_STYLE}</style></head><body>",
        "<h1>bench leaderboard</h1>",
        *(f'<p class="lead">{esc(line)}</p>' for line in report.lead),
        '<div class="filters"><label>Dataset <select id="f-dataset">'
        + options(datasets, "all datasets")
        + '</select></label> <label>Method <select id="f-method">'
        + options(methods, "all methods")
        + "</select></label></div>",
    ]
    for heading, tables in sections(report):
        out.append(f"<h2>{esc(heading)}</h2>")
        out += [table_html(t) for t in tables]
    if report.notes:
        out.append('<div class="notes">' + "".join(f"<p>{esc(n)}</p>" for n in report.notes))
        out.append("</div>")
    if plots:
        out.append('<section id="plots"><h2>Plots</h2>')
        for name, caption, uri in plots:
            out.append(f'<figure id="plot-{esc(name)}"><img src="{uri}" alt="{esc(name)}">')
            out.append(f"<figcaption>{esc(caption)}</figcaption></figure>")
        out.append("</section>")
    out.append(f"<script>{PAGE_SCRIPT}</script></body></html>")
    return "\n".join(out) + "\n"


def options(values: list[str], everything: str) -> str:
    esc = html_text
    return f'<option value="">{everything}</option>' + "".join(
        f'<option value="{esc(v)}">{esc(v)}</option>' for v in values
    )


def table_html(t: Table) -> str:
    esc = html_text
    head = "".join(f'<th aria-sort="none">{esc(h)}</th>' for h in t.headers)
    body = []
    row_datasets = t.row_datasets or [""] * len(t.rows)
    for method, dataset, row in zip(t.methods, row_datasets, t.rows, strict=True):
        cells = []
        for cell, numeric in zip(row, t.numeric, strict=True):
            sort = "" if cell.sort is None else f' data-sort="{cell.sort!r}"'
            cls = ' class="num"' if numeric else ""
            cells.append(f"<td{cls}{sort}>{esc(cell.text)}</td>")
        ds = f' data-dataset="{esc(dataset)}"' if dataset else ""
        body.append(f'<tr data-method="{esc(method)}"{ds}>' + "".join(cells) + "</tr>")
    notes = "".join(f"<li>{esc(n)}</li>" for n in t.notes)
    return (
        f'<section class="tbl {esc(t.section)}" data-dataset="{esc(t.dataset)}" '
        f'data-shape="{esc(t.shape)}" data-section="{esc(t.section)}">'
        f"<h3>{esc(t.title)}</h3>"
        f'<table class="lb" id="{esc(t.key)}"><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table>"
        f'<ul class="notes">{notes}</ul></section>'
    )
