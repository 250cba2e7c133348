"""The written LaTeX compiles in a real document (pdflatex, Debian's texlive packages; .ci/run
installs them): the combined file with every table of a leaderboard over the papers' 877 values
(60 floats, float barriers between them) and each per-table file on its own, with row labels
holding `>`, `<`, `_` and `%`. It fails on a LaTeX error or an overfull box wider than 10 pt;
an unescaped `%` planted in the escaping is caught."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from test_leaderboard_golden import rec, shape_records

from bench.report import escape, latex, published
from bench.report.layout import Options, collect

PDFLATEX = shutil.which("pdflatex")
pytestmark = pytest.mark.skipif(
    PDFLATEX is None,
    reason="needs pdflatex (apt-get install texlive-latex-base texlive-latex-recommended; "
    ".ci/run does)",
)
MAX_OVERFULL_PT = 10.0
DOCUMENT = r"""\documentclass{article}
\usepackage{booktabs,graphicx}
\begin{document}
%s
\end{document}
"""


def tricky_records() -> list[dict[str, Any]]:
    """Rows whose labels hold LaTeX's troublemakers: two ddpm-fill rows differing in a prompt."""
    out = shape_records()
    lt = {"imbalance_factor": 100.0}
    for seed in (0, 1):
        for prompt in ("a photo of a {class_name} > 50% <rare>", "x_y & #1 ~ ^"):
            test = {"overall": 0.4, "many": 0.5, "medium": 0.4, "few": 0.3}
            out.append(rec("ddpm-fill", "cifar100-lt", seed, test, lt, hparams={"prompt": prompt}))
    return out


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pub = published.load(published.default_directory())
    methods = ("erm", "ddpm-fill")
    options = Options(methods, registered=frozenset(methods), all_published=True, ci=True)
    report = collect(tricky_records(), options, published=pub)
    directory = tmp_path_factory.mktemp("latex") / "site"
    (directory / "tables").mkdir(parents=True)
    (directory / "leaderboard.tex").write_text(latex.to_latex(report))  # as write_site does
    for t in report.tables:
        (directory / "tables" / f"{t.key}.tex").write_text(latex.table_file(t))
    return directory


def compile_tex(directory: Path, body: str) -> tuple[int, str]:
    """(pdflatex's exit status, its log) for a document around `body`, built in `directory`."""
    (directory / "doc.tex").write_text(DOCUMENT % body)
    proc = subprocess.run(
        [PDFLATEX or "pdflatex", "-interaction=nonstopmode", "-halt-on-error", "doc.tex"],
        cwd=directory,
        capture_output=True,
        text=True,
        timeout=300,
    )
    return proc.returncode, (directory / "doc.log").read_text(errors="replace")


def problems(code: int, log: str) -> list[str]:
    """LaTeX errors and overfull boxes wider than 10 pt in a log."""
    found = [line for line in log.splitlines() if line.startswith("! ")]
    if code != 0 and not found:
        found.append(f"pdflatex exited {code}")
    for line in log.splitlines():
        m = re.match(r"Overfull \\[hv]box \(([\d.]+)pt too (wide|high)\)", line)
        if m and float(m.group(1)) > MAX_OVERFULL_PT:
            found.append(line)
    return found


def test_the_combined_file_compiles_without_errors_or_overfull_boxes(site: Path) -> None:
    tables = list((site / "tables").glob("*.tex"))
    assert len(tables) > 50  # ours, the claims, and every published table
    code, log = compile_tex(site, r"\input{leaderboard}")
    assert problems(code, log) == []
    pages = int(re.search(r"Output written on doc\.pdf \((\d+) pages?", log).group(1))
    assert pages < len(tables)  # float barriers put several tables on a page, not one each
    # the troublemakers arrive as text, not as comments, alignment tabs or ¡¿
    text = (site / "leaderboard.tex").read_text()
    assert r"\textgreater{} 50\% \textless{}rare\textgreater{}" in text
    assert r"x\_y \& \#1 \textasciitilde{} \textasciicircum{}" in text


def test_each_table_file_compiles_on_its_own(site: Path) -> None:
    files = sorted((site / "tables").glob("*.tex"))
    body = "\n".join(rf"\input{{tables/{f.stem}}}\clearpage" for f in files)
    code, log = compile_tex(site, body)
    assert problems(code, log) == []


def test_an_unescaped_percent_is_caught(site: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Planted: `%` left unescaped (it comments out the rest of a line: a caption's or a note's
    closing brace); the same check as above must go red."""
    monkeypatch.delitem(escape.SPECIAL, "%")
    pub = published.load(published.default_directory())
    methods = ("erm", "ddpm-fill")
    options = Options(methods, registered=frozenset(methods), all_published=True)
    broken = site / "broken"
    broken.mkdir(exist_ok=True)
    (broken / "leaderboard.tex").write_text(latex.to_latex(collect(tricky_records(), options,
                                                                     published=pub)))  # fmt: skip
    code, log = compile_tex(broken, r"\input{leaderboard}")
    assert any("Missing } inserted" in p for p in problems(code, log)), problems(code, log)
