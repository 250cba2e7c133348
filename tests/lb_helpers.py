"""Helpers for the leaderboard tests: parse rendered Markdown tables back into cells."""

from __future__ import annotations


def md_rows(md: str) -> list[list[str]]:
    """Every table row of a Markdown report (header rows included), as stripped cells."""
    out = []
    for line in md.splitlines():
        if line.startswith("|") and not set(line) <= set("|:- "):
            out.append([cell.strip() for cell in line.strip().strip("|").split("|")])
    return out


def md_table(md: str, title: str) -> list[list[str]]:
    """The rows (header first) of the table under `## title`."""
    section = md.split(f"## {title}\n", 1)[1].split("\n## ", 1)[0]
    return md_rows(section)
