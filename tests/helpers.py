"""Helpers shared by the tests (tests/ is on sys.path via pytest's `pythonpath`)."""

from __future__ import annotations

import contextlib
import io
import os
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent

# Smallest classifier recipe that still runs train -> validate -> checkpoint -> test.
TINY_RECIPE = ["recipe.epochs=2", "recipe.steps_per_epoch=2", "recipe.batch_size=16"]


def tiny_sets(method: str) -> list[str]:
    """--set items giving `method` its TINY settings plus the tiny recipe."""
    from bench.hparams import coerce, specs
    from bench.methods import METHODS

    cls = METHODS[method]
    types = specs(cls.Hparams)
    items = []
    for key, value in cls.TINY.items():
        text = ",".join(map(str, value)) if isinstance(value, tuple) else str(value)
        coerce(types[key].type, text)  # TINY values must survive the CLI round trip
        items.append(f"method.{key}={text}")
    stages = [f"stage.{name}.{k}" for name in cls.STAGES for k in ("epochs=1", "warmup_epochs=0")]
    return items + TINY_RECIPE + stages


def bench_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONUNBUFFERED"] = "1"
    return env


def bench_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "bench", *args]


def cli(*args: str) -> tuple[int, str, str]:
    """Run `bench ARGS` in this process; return (exit code, stdout, stderr)."""
    from bench.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(args))
    return code, out.getvalue(), err.getvalue()


def run_digits(
    method: str, results: Path, sets: list[str], *options: str, dataset: str = "digits-lt"
) -> Path:
    """`bench run` of `method` on digits-lt (or `dataset`) with --set items; returns the run
    directory."""
    code, out, err = cli(
        "run",
        "--method",
        method,
        "--dataset",
        dataset,
        "--quiet",
        "--results",
        str(results),
        *options,
        *[f"--set={s}" for s in sets],
    )
    assert code == 0, err
    return Path(out.strip())


def audited_cli(out: str, *argv: str) -> int:
    """`bench ARGV` in a process started by bench.train.distributed.spawn: the paths it opened
    for writing go to OUT/written-RANK.json (an audit hook sees every open)."""
    import json

    from bench.cli import main

    written: list[str] = []

    def hook(event: str, args: tuple) -> None:
        if event == "open" and isinstance(args[0], str | Path):
            mode, flags = args[1], args[2] or 0
            if (mode and any(c in mode for c in "wax+")) or flags & (os.O_WRONLY | os.O_RDWR):
                written.append(str(Path(args[0]).resolve()))

    sys.addaudithook(hook)
    code = main(list(argv))
    Path(out, f"written-{os.environ['RANK']}.json").write_text(json.dumps(written))
    return code


def other_checkout(where: Path) -> Path:
    """Another checkout of bench at `where`: this one's package folders laid out as a wheel
    installs them (bench/ with methods/ and datasets/ inside, so `import bench` from it finds
    all three there), one comment added, committed to its own git repository. Returns the
    folder to put on sys.path (it holds bench/)."""
    import shutil
    import subprocess

    skip = shutil.ignore_patterns("__pycache__")
    shutil.copytree(REPO / "bench", where / "bench", ignore=skip)
    for name in ("methods", "datasets"):
        shutil.copytree(REPO / name, where / "bench" / name, ignore=skip)
    with open(where / "bench" / "__init__.py", "a", encoding="utf-8") as f:
        f.write("# another checkout\n")
    git = ["git", "-C", str(where), "-c", "user.name=t", "-c", "user.email=t@t"]
    for args in (["init", "-q"], ["add", "."], ["commit", "-q", "-m", "other"]):
        subprocess.run([*git, *args], check=True, capture_output=True)
    return where


def write_arrays(path: Path, images: Any, labels: Any, key: str = "arrays") -> Path:
    """A finished synthetic store holding the given images (a fixture of the evaluation tests)."""
    import numpy as np

    from bench.generators.base import SampleBatch, SynthesisRequest
    from bench.synthesis.store import StoreWriter

    images = np.asarray(images, dtype=np.uint8)
    n, size, _, channels = images.shape
    manifest = {
        "key": key,
        "num_images": n,
        "image_size": size,
        "channels": channels,
        "dtype": "uint8",
    }
    writer = StoreWriter(path, manifest)
    requests = [SynthesisRequest(i, int(y), i) for i, y in enumerate(labels)]
    writer.fill(
        requests,
        lambda batch: SampleBatch(images[batch[0].index : batch[-1].index + 1]),
        progress=False,
    )
    writer.finish()
    return Path(path)
