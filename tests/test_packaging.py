"""The layout contract: bench.methods / bench.datasets, and Hugging Face's `datasets` unshadowed."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from helpers import REPO


def python(code: str, cwd: Path) -> str:
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=cwd, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


def test_import_datasets_outside_repo_is_hugging_face(tmp_path: Path) -> None:
    where = python("import datasets; print(datasets.__file__)", tmp_path)
    assert "site-packages" in where and where.endswith("datasets/__init__.py")
    assert python("import datasets; print(hasattr(datasets, 'load_dataset'))", tmp_path) == "True"


def test_import_datasets_from_repo_root_is_still_hugging_face() -> None:
    # `python -c` puts the checkout on sys.path; our folder must hand the name over.
    where = python("import datasets; print(datasets.__file__, datasets.Dataset.__name__)", REPO)
    assert "site-packages" in where and "Dataset" in where


def test_our_packages_install_under_bench(tmp_path: Path) -> None:
    out = python(
        "import bench.datasets as d, bench.methods as m; print(d.__file__, m.__file__)", tmp_path
    ).split()
    assert Path(out[0]) == REPO / "datasets" / "__init__.py"
    assert Path(out[1]) == REPO / "methods" / "__init__.py"


def test_help_and_list_do_not_import_heavy_libraries(tmp_path: Path) -> None:
    code = (
        "import sys, contextlib, io\n"
        "from bench.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    main(['list', 'methods']); main(['list', 'datasets'])\n"
        "    try:\n        main(['--help'])\n    except SystemExit:\n        pass\n"
        "heavy = [m for m in ('torch', 'diffusers', 'timm', 'transformers', 'sklearn')"
        " if m in sys.modules]\n"
        "print(heavy)\n"
    )
    assert python(code, tmp_path) == "[]"


def test_every_declared_dependency_is_imported_by_bench() -> None:
    """A dependency bench never imports is dropped from pyproject (pandas served one to_csv)."""
    import ast
    import tomllib

    deps = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    names = {d.split(">")[0].split("=")[0].split("[")[0].strip().lower() for d in deps}
    modules = {"scikit-learn": "sklearn", "pillow": "PIL", "pyyaml": "yaml"}
    # declared for another library's sake: diffusers loads pretrained pipelines with it
    indirect = {"accelerate"}
    imported = set()
    for folder in ("bench", "methods", "datasets"):
        for path in (REPO / folder).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.Import):
                    imported |= {a.name.split(".")[0] for a in node.names}
                elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                    imported.add(node.module.split(".")[0])
    unused = sorted(
        n for n in names - indirect if modules.get(n, n.replace("-", "_")) not in imported
    )
    assert unused == [], f"declared but never imported: {unused}"


def test_nothing_cites_a_file_outside_the_repository() -> None:
    """Sources, docstrings and docs cite the papers (section, table), never the team's
    reference folder or a line of a text file users do not have."""
    import re

    outside = re.compile(r"(\.\./)?shared/(seeds|reference|research|notes|hooks)/")
    seed_line = re.compile(r"(SYNAuG|augcond|CBDM|Fill-Up|FG|\})\W{0,3} L\d{2,3}\b")
    roots = ["bench", "methods", "datasets", "docs", "results/published", "benchmarks"]
    found = []
    for root in roots:
        for path in sorted((REPO / root).rglob("*")):
            if path.suffix not in (".py", ".md", ".yaml", ".csv", ".sh") or not path.is_file():
                continue
            for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
                if outside.search(line) or seed_line.search(line):
                    found.append(f"{path.relative_to(REPO)}:{n}: {line.strip()[:100]}")
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    found += [f"README.md: {m.group(0)}" for m in outside.finditer(readme)]
    assert not found, "cite the paper (section, table) instead:\n" + "\n".join(found)


def test_every_package_of_the_tree_is_installed() -> None:
    """A folder of bench/ with an __init__.py missing from pyproject's `packages` would import in
    an editable install and be absent from a wheel (bench.commands once was)."""
    import tomllib

    listed = set(
        tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]
    )
    found = {
        ".".join(p.parent.relative_to(REPO).parts) for p in (REPO / "bench").rglob("__init__.py")
    }
    assert found - listed == set(), f"add to pyproject.toml's packages: {sorted(found - listed)}"
