"""No function in bench/, methods/ or datasets/ runs past 60 lines (def to last line, its
docstring included): a longer one is split into named steps."""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
LIMIT = 60


def long_functions(root: Path, limit: int = LIMIT) -> list[str]:
    found = []
    for folder in ("bench", "methods", "datasets"):
        for path in sorted((root / folder).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    lines = node.end_lineno - node.lineno + 1
                    if lines > limit:
                        where = path.relative_to(root).as_posix()
                        found.append(f"{where}:{node.lineno} {node.name} ({lines} lines)")
    return found


def test_no_function_is_over_60_lines() -> None:
    assert long_functions(REPO) == []


def test_a_long_function_is_found(tmp_path: Path) -> None:
    (tmp_path / "bench").mkdir()
    body = "".join(f"    x{i} = {i}\n" for i in range(LIMIT))
    (tmp_path / "bench" / "long.py").write_text(f"def long():\n{body}\n\ndef short():\n    pass\n")
    assert long_functions(tmp_path) == [f"bench/long.py:1 long ({LIMIT + 1} lines)"]
