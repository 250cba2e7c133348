"""The leaderboard as LaTeX for a paper: one `\\input`-able booktabs table per file and one file
with every table and a float barrier after each (pure: a Report in, text out).

A document that inputs them needs `\\usepackage{booktabs,graphicx}` in its preamble; each file
defines what else it uses with `\\providecommand` (a document may define its own first):

- `\\benchfit{...}` scales a tabular down to the line width when it is wider (never up), so
  every table fits the page;
- `\\benchbarrier` (the combined file) puts out the floats still waiting before the next
  table, as placeins' `\\FloatBarrier` does, so 60 tables never exhaust LaTeX's float slots.

Every text that reaches LaTeX goes through `bench.report.escape.latex_text` (the one LaTeX
escape: special characters, the leaderboard's symbols, other non-ASCII transliterated), so
pdflatex never meets a character it cannot set.
"""

from __future__ import annotations

from bench.report.escape import latex_text as escape
from bench.report.layout import Report, Table

PREAMBLE_NOTE = "% Needs \\usepackage{booktabs,graphicx} in the document's preamble."
FIT = (
    r"\providecommand{\benchfit}[1]{\resizebox{\ifdim\width>\linewidth\linewidth\else"
    r"\width\fi}{!}{#1}}"
)
BARRIER = "\n".join(
    [
        r"\makeatletter",
        r"\providecommand{\benchbarrier}{\par\begingroup\let\@elt\relax",
        r"  \edef\@tempa{\@botlist\@deferlist\@dbldeferlist}%",
        r"  \ifx\@tempa\@empty\endgroup\else\endgroup\clearpage\fi}",
        r"\makeatother",
    ]
)


def table_latex(t: Table) -> str:
    """One table as a float: caption, label, the booktabs tabular (fitted to the line width)
    and the table's notes in small type below it."""
    spec = "".join("r" if numeric else "l" for numeric in t.numeric) or "l" * len(t.headers)
    lines = [
        r"\begin{table}[tbp]",
        r"\centering",
        rf"\caption{{{escape(t.title)}}}",
        rf"\label{{tab:{t.key}}}",
        r"\benchfit{%",
        rf"\begin{{tabular}}{{{spec}}}",
        r"\toprule",
        " & ".join(escape(h) for h in t.headers) + r" \\",
        r"\midrule",
        *(" & ".join(escape(c.text) for c in row) + r" \\" for row in t.rows),
        r"\bottomrule",
        r"\end{tabular}}",
    ]
    if t.notes:
        lines.append(r"\par\smallskip{\footnotesize " + escape(" ".join(t.notes)) + r"\par}")
    lines.append(r"\end{table}")
    return "\n".join(lines)


def table_file(t: Table) -> str:
    """A file holding one table, `\\input`-able on its own."""
    return "\n".join([f"% {escape(t.title)}", PREAMBLE_NOTE, FIT, table_latex(t)]) + "\n"


def to_latex(report: Report) -> str:
    """Every table, with a float barrier after each, then the report's notes as comments."""
    parts = [PREAMBLE_NOTE, FIT, BARRIER]
    for line in report.lead:
        parts.append(rf"\noindent {escape(line)}\par")
    for t in report.tables:
        parts += [table_latex(t), r"\benchbarrier"]
    parts += [f"% {escape(n)}" for n in report.notes]
    return "\n\n".join(parts) + "\n"
