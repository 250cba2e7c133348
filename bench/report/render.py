"""Render a leaderboard Report: Markdown and LaTeX (booktabs) with tabulate, CSV with pandas,
and a self-contained HTML page (sortable tables, filters, inline plots, no network)."""

from __future__ import annotations

import html

from bench.errors import BenchError
from bench.report.layout import Report, Table

FORMATS = ("md", "latex", "csv", "html")
EMPTY = "No finished runs."


def render(report: Report, fmt: str, plots: dict[str, str] | None = None) -> str:
    if fmt not in FORMATS:
        raise BenchError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}.")
    return {"md": to_markdown, "latex": to_latex, "csv": to_csv, "html": to_html}[fmt](
        report, **({"plots": plots} if fmt == "html" else {})
    )


def grid(t: Table) -> list[list[str]]:
    return [[c.text for c in row] for row in t.rows]


def align(t: Table) -> list[str]:
    return ["right" if n else "left" for n in t.numeric]


def to_markdown(report: Report) -> str:
    from tabulate import tabulate

    if not report.tables:
        return "\n\n".join(report.notes or [EMPTY]) + "\n"
    parts = []
    for t in report.tables:
        body = tabulate(
            grid(t), t.headers, tablefmt="pipe", colalign=align(t), disable_numparse=True
        )
        notes = "\n".join(f"- {n}" for n in t.notes)
        parts.append(f"## {t.title}\n\n{body}" + (f"\n\n{notes}" if notes else ""))
    return "\n\n".join([*parts, *report.notes]) + "\n"


LATEX = {"±": r"$\pm$", "–": "--", "Δ": r"$\Delta$", "†": r"$^\dagger$", "≈": r"$\approx$"}


def latex_text(text: str) -> str:
    """Escape a note or caption (tabulate escapes the cells)."""
    special = {"\\": r"\textbackslash{}", "_": r"\_", "%": r"\%", "&": r"\&", "#": r"\#"}
    special |= {"$": r"\$", "{": r"\{", "}": r"\}", "^": r"\^{}", "~": r"\~{}"}
    return "".join(LATEX.get(ch, special.get(ch, ch)) for ch in text)


def to_latex(report: Report) -> str:
    from tabulate import tabulate

    parts = []
    for t in report.tables:
        body = tabulate(
            grid(t), t.headers, tablefmt="latex_booktabs", colalign=align(t), disable_numparse=True
        )
        for ch, tex in LATEX.items():
            body = body.replace(ch, tex)
        caption = latex_text(" ".join([t.title + ".", *t.notes]))
        parts.append(
            "\n".join(
                [
                    r"\begin{table}[t]",
                    r"\centering",
                    rf"\caption{{{caption}}}",
                    rf"\label{{tab:{t.key}}}",
                    body,
                    r"\end{table}",
                ]
            )
        )
    parts += [f"% {n}" for n in report.notes]
    return "\n\n".join(parts) + "\n"


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
    import pandas as pd

    rows = [r for t in report.tables for r in t.long]
    frame = pd.DataFrame(rows, columns=list(CSV_COLUMNS))
    return frame.to_csv(index=False, float_format="%.4f", lineterminator="\n")


PAGE_STYLE = """
body{font-family:system-ui,sans-serif;margin:1.5em;color:#222}
table{border-collapse:collapse;margin:.5em 0 1.5em}
th,td{padding:.25em .6em;border-bottom:1px solid #ccc}
th{cursor:pointer;background:#f3f3f3;user-select:none}
th[aria-sort=ascending]::after{content:" \\25B2"}
th[aria-sort=descending]::after{content:" \\25BC"}
td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
.notes{font-size:.85em;color:#555}
.filters{position:sticky;top:0;background:#fff;padding:.5em 0;border-bottom:1px solid #ddd}
img{max-width:48%;margin:.5em;border:1px solid #ddd}
"""

# Sorting is by each cell's data-sort number (text where it has none); a header click (or the
# page address #sort=TABLE,COLUMN,asc|desc) sorts; the filters hide rows and tables.
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
    const dsOk = !ds || s.dataset.dataset === ds;
    let shown = 0;
    s.querySelectorAll("tbody tr").forEach(r => {
      const ok = !m || r.dataset.method === m; r.hidden = !ok; if (ok) shown++; });
    s.hidden = !dsOk || shown === 0;
  });
}
document.getElementById("f-dataset").addEventListener("change", applyFilters);
document.getElementById("f-method").addEventListener("change", applyFilters);
document.querySelectorAll("img").forEach(img => {
  const mark = () => img.setAttribute("data-loaded", img.naturalWidth > 0 ? "yes" : "no");
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


def to_html(report: Report, plots: dict[str, str] | None = None) -> str:
    """A standalone page; `plots` maps a caption to an image data URI (inlined, no network)."""
    esc = html.escape
    datasets = sorted({t.dataset for t in report.tables})
    methods = sorted({m for t in report.tables for m in t.methods})

    def options(values: list[str], everything: str) -> str:
        return f'<option value="">{everything}</option>' + "".join(
            f'<option value="{esc(v)}">{esc(v)}</option>' for v in values
        )

    out = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8"><title>bench leaderboard</title>',
        f"<style>{PAGE_STYLE}</style></head><body>",
        "<h1>bench leaderboard</h1>",
        '<div class="filters"><label>Dataset <select id="f-dataset">'
        + options(datasets, "all datasets")
        + '</select></label> <label>Method <select id="f-method">'
        + options(methods, "all methods")
        + "</select></label></div>",
    ]
    for t in report.tables:
        out.append(table_html(t))
    if report.notes:
        out.append('<div class="notes">' + "".join(f"<p>{esc(n)}</p>" for n in report.notes))
        out.append("</div>")
    if plots:
        out.append('<section id="plots"><h2>Plots</h2>')
        for caption, uri in plots.items():
            out.append(f'<figure><img src="{uri}" alt="{esc(caption)}"><figcaption>')
            out.append(f"{esc(caption)}</figcaption></figure>")
        out.append("</section>")
    out.append(f"<script>{PAGE_SCRIPT}</script></body></html>")
    return "\n".join(out) + "\n"


def table_html(t: Table) -> str:
    esc = html.escape
    head = "".join(f'<th aria-sort="none">{esc(h)}</th>' for h in t.headers)
    body = []
    for method, row in zip(t.methods, t.rows, strict=True):
        cells = []
        for cell, numeric in zip(row, t.numeric, strict=True):
            sort = "" if cell.sort is None else f' data-sort="{cell.sort!r}"'
            cls = ' class="num"' if numeric else ""
            cells.append(f"<td{cls}{sort}>{esc(cell.text)}</td>")
        body.append(f'<tr data-method="{esc(method)}">' + "".join(cells) + "</tr>")
    notes = "".join(f"<li>{esc(n)}</li>" for n in t.notes)
    return (
        f'<section class="tbl" data-dataset="{esc(t.dataset)}" data-shape="{esc(t.shape)}">'
        f"<h2>{esc(t.title)}</h2>"
        f'<table class="lb" id="{esc(t.key)}"><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table>"
        f'<ul class="notes">{notes}</ul></section>'
    )
