"""One escape function per output format: every text value a report writes (method names and
labels, setting values, dataset names, titles, notes, file paths) goes through the one for its
format, where the value is written, so a value from a run record, a setting or a file name is
shown as text and never becomes markup.

- Markdown (`md_text`): `&` and `<` (what starts an entity or a tag) as entities; `\\`, `|`,
  `` ` ``, `*` and a link's `](` backslash-escaped; line breaks as spaces (a cell stays one
  table cell).
- HTML (`html_text`): `&`, `<`, `>`, `"` and `'` as entities (text and attribute values), line
  breaks as spaces.
- SVG plots (`svg_text`): matplotlib draws text as paths, so no markup can reach the file; a
  `$` would start mathtext (and a malformed formula is an error), so it is escaped, and line
  breaks become spaces.
- LaTeX (`latex_text`): the ten special characters as commands, `<` `>` in math mode, line
  breaks as spaces (a note in a `%` comment stays in it), and the report's symbols (±, –, Δ, †,
  ≈) as their LaTeX forms.
- CSV (`csv_text`): line breaks as spaces, and a cell starting with `=`, `+`, `-`, `@` or a tab
  prefixed with `'` so a spreadsheet shows it as text instead of running it as a formula
  (OWASP's CSV-injection advice); quoting is pandas'.
"""

from __future__ import annotations

import html
import re

LINE_BREAKS = re.compile(r"[\r\n\t\v\f\u2028\u2029]+")


def one_line(text: str) -> str:
    return LINE_BREAKS.sub(" ", str(text))


MARKDOWN = {"&": "&amp;", "<": "&lt;", "\\": "\\\\", "|": "\\|", "`": "\\`", "*": "\\*"}


def md_text(text: str) -> str:
    out = "".join(MARKDOWN.get(ch, ch) for ch in one_line(text))
    return out.replace("](", "]\\(")  # [text](javascript:...) stays text


def html_text(text: str) -> str:
    return html.escape(one_line(text), quote=True)


def svg_text(text: str) -> str:
    return one_line(text).replace("$", r"\$")


LATEX_SYMBOLS = {"±": r"$\pm$", "–": "--", "Δ": r"$\Delta$", "†": r"$^\dagger$", "≈": r"$\approx$"}
LATEX_SPECIAL = {
    "\\": r"\textbackslash{}",
    "_": r"\_",
    "%": r"\%",
    "&": r"\&",
    "#": r"\#",
    "$": r"\$",
    "{": r"\{",
    "}": r"\}",
    "^": r"\^{}",
    "~": r"\textasciitilde{}",
    "<": r"\ensuremath{<}",
    ">": r"\ensuremath{>}",
}


def latex_text(text: str) -> str:
    return "".join(LATEX_SYMBOLS.get(ch, LATEX_SPECIAL.get(ch, ch)) for ch in one_line(text))


FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_text(value: object) -> object:
    """A text cell made safe (numbers and None pass unchanged: they are data, not text)."""
    if not isinstance(value, str):
        return value
    if value.startswith(FORMULA_START):
        value = "'" + value
    return one_line(value)
