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
- LaTeX (`latex_text`): the ten special characters, `<`, `>` and `|` (which the default OT1
  font encoding would misprint) as commands, line breaks as spaces (a note in a `%` comment
  stays in it), the report's symbols (±, –, Δ, †, ≈, ...) as their LaTeX forms, any other
  non-ASCII character transliterated or dropped (pdflatex never meets one it cannot set), and a
  minus sign before a number as one.
- CSV (`csv_text`): line breaks as spaces, and a cell starting with `=`, `+`, `-`, `@` or a tab
  prefixed with `'` so a spreadsheet shows it as text instead of running it as a formula
  (OWASP's CSV-injection advice); quoting is the csv module's.
"""

from __future__ import annotations

import html
import re
import unicodedata

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


NEGATIVE = re.compile(r"(?<![\w.-])-(?=\d)")
SPECIAL = {
    "\\": r"\textbackslash{}",
    "{": r"\{",
    "}": r"\}",
    "$": r"\$",
    "&": r"\&",
    "#": r"\#",
    "%": r"\%",
    "_": r"\_",
    "^": r"\textasciicircum{}",
    "~": r"\textasciitilde{}",
    "<": r"\textless{}",
    ">": r"\textgreater{}",
    "|": r"\textbar{}",
    "±": r"$\pm$",
    "–": "--",
    "—": "---",
    "−": "$-$",
    "Δ": r"$\Delta$",
    "†": r"$^\dagger$",
    "≈": r"$\approx$",
    "×": r"$\times$",
    "≥": r"$\geq$",
    "≤": r"$\leq$",
    "→": r"$\rightarrow$",
    "·": r"$\cdot$",
    "\u00a0": "~",
}


def latex_text(text: str) -> str:
    """`text` as LaTeX that prints it (see the module docstring); a minus sign before a number
    ("-0.3", not "top-1") is set as one."""
    out = "".join(SPECIAL.get(ch, ch if ch.isascii() else ascii_of(ch)) for ch in one_line(text))
    return NEGATIVE.sub("$-$", out)


def ascii_of(ch: str) -> str:
    """é -> e; a character without an ASCII form -> nothing."""
    return unicodedata.normalize("NFKD", ch).encode("ascii", "ignore").decode("ascii")


FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_text(value: object) -> object:
    """A text cell made safe (numbers and None pass unchanged: they are data, not text)."""
    if not isinstance(value, str):
        return value
    if value.startswith(FORMULA_START):
        value = "'" + value
    return one_line(value)
