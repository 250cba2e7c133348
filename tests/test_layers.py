"""The harness's one-way flow, checked on every import (module level and inside functions).

Layers, lowest first: base < data < generators < synthesis (with bench/method.py and methods/)
< train < runs < launch / report / cli. A module imports its own layer or lower ones;
`bench.metrics` is a leaf library over base and data that any layer may import. No two modules
import each other, directly or round a loop. An import inside a function is kept only where it
keeps a heavy library off the start-up path (`bench --help` imports no torch), and says so in a
comment on its line or the line above.
"""

from __future__ import annotations

import ast
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent

LAYERS = [
    ("base", ["bench/errors.py", "bench/io.py", "bench/registry.py", "bench/hparams.py"]),
    ("base", ["bench/seeding.py", "bench/progress.py", "bench/__init__.py", "bench/weights.py"]),
    ("base", ["bench/schedules.py"]),
    ("data", ["bench/data", "datasets"]),
    ("generators", ["bench/generators"]),
    ("synthesis", ["bench/method.py", "bench/synthesis", "methods"]),
    ("train", ["bench/train"]),
    ("runs", ["bench/runs"]),
    (
        "top",
        ["bench/launch", "bench/report", "bench/commands", "bench/cli.py", "bench/__main__.py"],
    ),
]
RANKS = {"base": 0, "data": 1, "generators": 2, "synthesis": 3, "train": 4, "runs": 5, "top": 6}
LEAF = "bench/metrics"
# Libraries slow to import (seconds, or GPU set-up): the only ones worth importing in a function.
HEAVY = {
    "torch",
    "torchvision",
    "diffusers",
    "transformers",
    "timm",
    "torch_fidelity",
    "safetensors",
    "matplotlib",
    "scipy",
    "sklearn",
    "datasets",
    "huggingface_hub",
    "submitit",
}


@dataclass(frozen=True)
class Import:
    source: str  # repository path of the importing file
    line: int
    target: str  # repository path of the imported bench module, or a top-level library name
    inside_function: bool
    commented: bool
    typing_only: bool = False  # under `if TYPE_CHECKING:`: never runs, so no loop


def nodes_under(tree: ast.AST, pick) -> set[int]:
    return {id(node) for top in ast.walk(tree) if pick(top) for node in ast.walk(top)}


def is_type_checking_block(node: ast.AST) -> bool:
    return isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)


def rank(path: str) -> int | None:
    """The layer rank of a repository path (-1 for the metrics leaf; None outside the tree)."""
    if path.startswith(LEAF + "/"):
        return -1
    for name, prefixes in LAYERS:
        if any(path == p or path.startswith(p + "/") for p in prefixes):
            return RANKS[name]
    return None


def module_file(root: Path, dotted: str) -> str | None:
    """`bench.x.y` -> its repository path (methods/ and datasets/ install as bench.methods/...)."""
    parts = dotted.split(".")
    if parts[0] != "bench":
        return None
    if len(parts) > 1 and parts[1] in ("methods", "datasets"):
        parts = [parts[1], *parts[2:]]
    base = "/".join(parts)
    for candidate in (f"{base}.py", f"{base}/__init__.py"):
        if (root / candidate).is_file():
            return candidate
    return None


def dotted_name(rel: str) -> str:
    parts = rel[: -len(".py")].split("/")
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(["bench", *parts] if parts[0] in ("methods", "datasets") else parts)


def source_files(root: Path) -> list[Path]:
    files = [*root.glob("bench/**/*.py"), *root.glob("methods/*.py"), *root.glob("datasets/*.py")]
    return sorted(f for f in files if "/build/" not in f.as_posix())


def imports_of(root: Path, path: Path) -> list[Import]:
    rel = path.relative_to(root).as_posix()
    text = path.read_text()
    lines = text.splitlines()
    tree = ast.parse(text, rel)
    inside = nodes_under(tree, lambda n: isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)))
    typing_only = nodes_under(tree, is_type_checking_block)
    import_lines = {
        line
        for node in ast.walk(tree)
        if isinstance(node, (ast.Import, ast.ImportFrom))
        for line in range(node.lineno, node.end_lineno + 1)
    }
    package = (
        dotted_name(rel) if rel.endswith("__init__.py") else dotted_name(rel).rsplit(".", 1)[0]
    )
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if node.level:
                anchor = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                module = f"{anchor}.{module}" if module else anchor
            # `from bench.x import y` imports the module bench.x.y when there is one
            names = [
                f"{module}.{a.name}" if module_file(root, f"{module}.{a.name}") else module
                for a in node.names
            ]
        else:
            continue
        comment = has_reason(lines, node, import_lines)
        for name in dict.fromkeys(names):
            target = module_file(root, name) or name.split(".")[0]
            found.append(
                Import(
                    rel, node.lineno, target, id(node) in inside, comment, id(node) in typing_only
                )
            )
    return found


def has_reason(lines: list[str], node: ast.stmt, import_lines: set[int]) -> bool:
    """A comment on the import, or above it or above the imports just before it."""
    if any("#" in line for line in lines[node.lineno - 1 : node.end_lineno]):
        return True
    above = node.lineno - 1  # 1-based number of the line above
    while above in import_lines:
        above -= 1
    return above >= 1 and lines[above - 1].strip().startswith("#")


def all_imports(root: Path) -> list[Import]:
    return [i for f in source_files(root) for i in imports_of(root, f)]


def climbs(root: Path) -> list[str]:
    out = []
    for imp in all_imports(root):
        me, target = rank(imp.source), rank(imp.target)
        if me is None or target is None:
            continue
        if me == -1 and target > RANKS["data"]:
            out.append(f"{imp.source}:{imp.line} imports {imp.target}: bench/metrics is a leaf")
        elif me >= 0 and target > me:
            out.append(f"{imp.source}:{imp.line} imports {imp.target}: layer {me} -> {target}")
    return out


def loops(root: Path) -> list[list[str]]:
    """Each import loop between modules (function-level imports included), as a path."""
    graph: dict[str, set[str]] = {}
    for imp in all_imports(root):
        if imp.target.endswith(".py") and imp.target != imp.source and not imp.typing_only:
            graph.setdefault(imp.source, set()).add(imp.target)
    found, state = [], {}

    def visit(node: str, stack: list[str]) -> None:
        state[node] = "open"
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == "open":
                found.append([*stack[stack.index(nxt) :], nxt])
            elif nxt not in state:
                visit(nxt, [*stack, nxt])
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    return found


def heavy_libraries(root: Path) -> dict[str, set[str]]:
    """Each module -> the heavy libraries its module-level imports pull (transitively)."""
    direct: dict[str, set[str]] = {}
    for imp in all_imports(root):
        if not imp.inside_function and not imp.typing_only:
            direct.setdefault(imp.source, set()).add(imp.target)
    pulls = {m: targets & HEAVY for m, targets in direct.items()}
    changed = True
    while changed:
        changed = False
        for m, targets in direct.items():
            grown = set().union(*(pulls.get(t, set()) for t in targets)) - pulls[m]
            if grown:
                pulls[m] |= grown
                changed = True
    return pulls


def needless_function_imports(root: Path) -> list[str]:
    """Imports inside functions that keep no heavy library off the importing module's load
    (a light module, or one the importer's own imports already pull), or say not why."""
    pulls = heavy_libraries(root)
    out = []
    for imp in all_imports(root):
        if not imp.inside_function or imp.typing_only:
            continue
        adds = ({imp.target} & HEAVY or pulls.get(imp.target, set())) - pulls.get(imp.source, set())
        if not adds:
            out.append(f"{imp.source}:{imp.line} imports {imp.target} inside a function: light")
        elif not imp.commented:
            out.append(f"{imp.source}:{imp.line} imports {imp.target} inside a function: no reason")
    return out


def test_no_import_climbs_the_layers() -> None:
    assert climbs(REPO) == []


def test_no_import_loops() -> None:
    assert loops(REPO) == []


def test_imports_inside_functions_only_keep_heavy_libraries_off_start_up() -> None:
    assert needless_function_imports(REPO) == []


def test_every_source_file_has_a_layer() -> None:
    assert [f for f in source_files(REPO) if rank(f.relative_to(REPO).as_posix()) is None] == []


def test_start_up_imports_no_torch() -> None:
    import subprocess

    code = "import bench.cli, sys; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# The CLI layer: the only modules that see parsed arguments. They read the argparse.Namespace
# and hand plain values (or a small frozen dataclass) down.
CLI = {"bench/cli.py", "bench/__main__.py"}


def namespaces_below_the_cli(root: Path) -> list[str]:
    """Outside the CLI layer: an import of argparse, a mention of argparse.Namespace, or a
    parameter named `args` (a Namespace by its name; `*args` is not one)."""
    out = []
    for path in source_files(root):
        rel = path.relative_to(root).as_posix()
        if rel in CLI:
            continue
        for node in ast.walk(ast.parse(path.read_text(), rel)):
            if isinstance(node, ast.Import) and any(a.name == "argparse" for a in node.names):
                out.append(f"{rel}:{node.lineno} imports argparse")
            elif isinstance(node, ast.ImportFrom) and node.module == "argparse":
                out.append(f"{rel}:{node.lineno} imports from argparse")
            elif isinstance(node, ast.Attribute) and ast.unparse(node) == "argparse.Namespace":
                out.append(f"{rel}:{node.lineno} mentions argparse.Namespace")
            elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
                a = node.args
                if "args" in [p.arg for p in (*a.posonlyargs, *a.args, *a.kwonlyargs)]:
                    out.append(f"{rel}:{node.lineno} takes a parameter named args")
    return out


def test_parsed_arguments_stay_in_the_cli_layer() -> None:
    assert namespaces_below_the_cli(REPO) == []


PLANTS = [
    ("bench/io.py", "from bench.runs import records\n", "climbs"),
    ("bench/metrics/accuracy.py", "def f():\n    from bench.synthesis import store\n", "climbs"),
    ("bench/train/losses.py", "def f():\n    import bench.runs.runner\n", "climbs"),
    ("bench/generators/pretrain.py", "def f():\n    from bench.generators import ddpm\n", "loops"),
    ("bench/registry.py", "def f():\n    import json\n", "needless_function_imports"),
    ("bench/runs/evalgen.py", "def f(args):\n    return args.run\n", "namespaces_below_the_cli"),
    (
        "bench/commands/data.py",
        "def f(a: argparse.Namespace):\n    pass\n",
        "namespaces_below_the_cli",
    ),
    ("bench/data/check.py", "from argparse import Namespace\n", "namespaces_below_the_cli"),
]


@pytest.mark.parametrize(("path", "planted", "check"), PLANTS)
def test_checks_see_a_planted_fault(tmp_path: Path, path: str, planted: str, check: str) -> None:
    """Each check goes red on a fault planted in a copy of the tree."""
    for f in source_files(REPO):
        rel = f.relative_to(REPO)
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(f.read_text())
    assert globals()[check](tmp_path) == []
    target = tmp_path / path
    target.write_text(target.read_text() + "\n\n" + planted)
    assert globals()[check](tmp_path) != []
