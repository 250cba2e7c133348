"""A catalogue of bad and hostile inputs, one class at a time: writes that would escape their
folder, records that would vanish, markup carried into reports, a run's identity missing a
file's content, inputs without a bound, tracebacks, and file modes that ignore the umask.

Every case runs one `bench` command in a folder of its own and asserts its exit code, its
message and that nothing outside that folder changed: a folder of victim files beside it and
the shared finished run keep every byte and mode, and get no new file.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import shutil
import stat
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
from fixtures.dataset_trees import write_imagenet_lt
from helpers import REPO, bench_command, bench_env, cli, run_digits, tiny_sets

from bench.runs.config import resolve
from bench.runs.records import run_dir_for
from bench.runs.runner import bind_data

SHORT = ["recipe.epochs=2", "recipe.steps_per_epoch=2", "recipe.batch_size=16"]
SHORT_SETS = [f"--set={s}" for s in SHORT]


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A results folder with one finished erm run (read by the cases, never written)."""
    results = tmp_path_factory.mktemp("shared") / "results"
    run_digits("erm", results, SHORT)
    return results


@dataclass
class Ctx:
    """What a case gets: its own folder, the victims' folder, the shared finished results."""

    folder: Path
    outside: Path
    finished: Path
    monkeypatch: pytest.MonkeyPatch
    request: pytest.FixtureRequest

    @property
    def sd_dir(self) -> Path:
        """The tiny Stable Diffusion pipeline, made once for the cases that need it."""
        return self.request.getfixturevalue("sd_dir")

    def copy_finished(self) -> Path:
        """The finished results, copied into the case's folder (for cases that change them)."""
        shutil.copytree(self.finished, self.folder / "results", symlinks=True)
        return self.folder / "results"


@dataclass
class Case:
    name: str
    # (ctx) -> (argv, expected exit code, fragments the output must hold)
    build: Callable[[Ctx], tuple[list[str], int, list[str]]]
    absent: tuple[str, ...] = ()  # fragments the output must not hold
    check: Callable[[Ctx, str, str], None] | None = None  # further checks after the command
    env: dict[str, str] = field(default_factory=dict)  # run as a process with this environment


def snapshot(*roots: Path) -> dict[str, tuple]:
    """Every path under the roots (links not followed): its type, mode and bytes."""
    out: dict[str, tuple] = {}
    for root in roots:
        for path in [root, *root.rglob("*")]:
            st = os.lstat(path)
            if stat.S_ISLNK(st.st_mode):
                out[str(path)] = ("link", os.readlink(path))
            elif stat.S_ISDIR(st.st_mode):
                out[str(path)] = ("dir", stat.S_IMODE(st.st_mode))
            else:
                out[str(path)] = ("file", stat.S_IMODE(st.st_mode), path.read_bytes())
    return out


def victims(outside: Path) -> None:
    outside.mkdir()
    (outside / "victim.txt").write_text("precious\n")
    (outside / "target").mkdir()


def run_bench(case: Case, argv: list[str]) -> tuple[int, str, str]:
    """`bench ARGV` in this process (or, with `case.env`, in a process with that environment):
    exit code, stdout, stderr; argparse's usage errors included."""
    if case.env:
        env = {**bench_env(), **case.env}
        done = subprocess.run(bench_command(*argv), capture_output=True, env=env, timeout=300)
        return done.returncode, done.stdout.decode("ascii"), done.stderr.decode("ascii")
    from bench.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(list(argv))
        except SystemExit as exc:  # a usage error: argparse printed it and exited
            code = int(exc.code)
    return code, out.getvalue(), err.getvalue()


def run_case(case: Case, ctx: Ctx, tmp_path: Path) -> None:
    ctx.folder.mkdir()
    victims(ctx.outside)
    argv, code, fragments = case.build(ctx)
    before = snapshot(ctx.outside, ctx.finished)
    rc, out, err = run_bench(case, argv)
    assert rc == code, f"exit {rc}, expected {code}:\n{out}\n{err}"
    assert "Traceback" not in out + err
    for fragment in fragments:
        assert fragment in out + err, f"{fragment!r} not in {out + err!r}"
    for fragment in case.absent:
        assert fragment not in out + err, f"{fragment!r} in {out + err!r}"
    assert (
        snapshot(ctx.outside, ctx.finished) == before
    )  # nothing outside the case's folder changed
    assert sorted(p.name for p in tmp_path.iterdir()) == ["case", "outside"]
    if case.check is not None:
        case.check(ctx, out, err)


def run_cmd(results: Path, *extra: str, method: str = "erm") -> list[str]:
    return ["run", "--method", method, "--dataset", "digits-lt", "--quiet",
            "--results", str(results), *SHORT_SETS, *extra]  # fmt: skip


def first_run(results: Path) -> Path:
    return next((results / "runs").iterdir())


def small_store(folder: Path) -> Path:
    from helpers import write_arrays

    images = np.arange(300 * 4 * 4, dtype=np.uint8).reshape(300, 4, 4, 1)
    return write_arrays(folder / "store", images, np.arange(300) % 3)


def spec(folder: Path, text: str) -> Path:
    path = folder / "sweep.yaml"
    path.write_text(text)
    return path


ERM_SPEC = "methods: [erm]\ndatasets: [digits-lt]\nseeds: [0]\nset: [{}]\n".format(", ".join(SHORT))


# 1. Containment: nothing written outside its folder ---------------------------------------------


def sweep_name(name: str) -> Callable[[Ctx], tuple]:
    def build(ctx: Ctx):
        path = spec(ctx.folder, f"name: {name.format(outside=ctx.outside)}\n" + ERM_SPEC)
        argv = ["sweep", str(path), "--launcher", "debug", "--results", str(ctx.folder / "r")]
        return argv, 2, [f"sweep spec {path}", "is not a plain folder name", "no '..'"]

    return build


def planted_run_dir(ctx: Ctx):
    results = ctx.folder / "results"
    run_dir = run_dir_for(results, bind_data(resolve("erm", "digits-lt", sets=SHORT)))
    run_dir.parent.mkdir(parents=True)
    run_dir.symlink_to(ctx.outside / "target")
    return run_cmd(results), 2, [f"{run_dir} is a symbolic link", "never through a link"]


def planted_folder(name: str) -> Callable[[Ctx], tuple]:
    def build(ctx: Ctx):
        results = ctx.folder / "results"
        results.mkdir()
        (results / name).symlink_to(ctx.outside / "target")
        return run_cmd(results), 2, [f"{results / name} is a symbolic link"]

    return build


def planted_in_write_folder(name: str, target: str) -> Callable[[Ctx], tuple]:
    def build(ctx: Ctx):
        site = ctx.folder / "site"
        site.mkdir()
        (site / name).symlink_to(ctx.outside / target)
        argv = ["leaderboard", "--results", str(ctx.finished), "--write", str(site)]
        return argv, 2, [f"{site / name} is a symbolic link"]

    return build


def planted_png_class_folder(ctx: Ctx):
    store, out = small_store(ctx.folder), ctx.folder / "png"
    out.mkdir()
    (out / "000").symlink_to(ctx.outside / "target")
    argv = ["synth", "export", "--synthetic", str(store), "--png", str(out), "--quiet"]
    return argv, 2, [f"{out / '000'} is a symbolic link"]


def split_file_linked_outside(ctx: Ctx):
    tree = write_imagenet_lt(ctx.folder / "root")
    split = tree.root / "ImageNet_LT_test.txt"
    secret = ctx.outside / "secret.txt"
    secret.write_text("train/SECRET-LINE-1 0\nnot a split line: SECRET-LINE-2\n")
    split.unlink()
    split.symlink_to(secret)
    argv = ["data", "check", "--dataset", "imagenet-lt", "--root", str(tree.root), "--quiet",
            *[f"--set={s}" for s in tree.sets]]  # fmt: skip
    return argv, 2, [f"{split} resolves to {secret}, outside the data root {tree.root}"]


CONTAINMENT = [
    Case("sweep name with ..", sweep_name("../../escaped")),
    Case("sweep name absolute", sweep_name("{outside}/sweep")),
    Case("run folder a planted link", planted_run_dir),
    Case("runs/ a planted link", planted_folder("runs")),
    Case("cache/ a planted link", planted_folder("cache")),
    Case("--write file a planted link", planted_in_write_folder("LEADERBOARD.md", "victim.txt")),
    Case("--write plots/ a planted link", planted_in_write_folder("plots", "target")),
    Case("--png class folder a planted link", planted_png_class_folder),
    Case("split file linked outside", split_file_linked_outside, absent=("SECRET-LINE",)),
]


# 2. Records that cannot silently vanish -----------------------------------------------------------


def lost_result(how: str, argv_of: Callable[[Ctx, Path], list[str]], *fragments: str):
    def build(ctx: Ctx):
        results = ctx.copy_finished()
        result = first_run(results) / "result.json"
        if how == "deleted":
            result.unlink()
        else:
            result.write_text(result.read_text()[:50])
        return argv_of(ctx, results), 0 if argv_of is not show else 2, list(fragments)

    return build


def show(ctx: Ctx, results: Path) -> list[str]:
    return ["show", str(first_run(results))]


def rerun(ctx: Ctx, results: Path) -> list[str]:
    return run_cmd(results)


def sweep(ctx: Ctx, results: Path) -> list[str]:
    return ["sweep", str(spec(ctx.folder, ERM_SPEC)), "--launcher", "debug", "--results",
            str(results), "--quiet"]  # fmt: skip


def recomputed(ctx: Ctx, out: str, err: str) -> None:
    """The run's result is back, equal to the finished one; the damaged file kept aside."""
    run_dir = first_run(ctx.folder / "results")
    original = json.loads((first_run(ctx.finished) / "result.json").read_text())
    again = json.loads((run_dir / "result.json").read_text())
    assert again["metrics"]["test"] == original["metrics"]["test"]
    assert (run_dir / "done").exists() and list((run_dir / "attempts").glob("done-*"))
    code, shown, _ = cli("show", str(run_dir))
    assert code == 0 and "status    done" in shown


def duplicate_record(ctx: Ctx):
    results = ctx.copy_finished()
    original = first_run(results)
    copy = results / "runs" / f"{original.name}-copy"
    shutil.copytree(original, copy)
    result = json.loads((copy / "result.json").read_text())
    result["metrics"]["test"]["overall"] = 0.123
    (copy / "result.json").write_text(json.dumps(result))
    argv = ["leaderboard", "--results", str(results)]
    return argv, 0, [f"{copy} holds the same config and seed as {original}", "counted"]


def counted_once(ctx: Ctx, out: str, err: str) -> None:
    row = next(line for line in out.splitlines() if line.startswith("| erm"))
    assert row.split("|")[-2].strip() == "1" and "12.3" not in row


def unregistered_method(ctx: Ctx):
    results = ctx.copy_finished()
    copy = results / "runs" / "planted"
    shutil.copytree(first_run(results), copy)
    for name in ("config.json", "result.json"):
        record = json.loads((copy / name).read_text())
        record["method"] = "<script>alert(1)</script>"
        (copy / name).write_text(json.dumps(record))
    argv = ["leaderboard", "--results", str(results), "--format", "html"]
    return argv, 0, [f"skipping {copy / 'config.json'}", "is not a registered method"]


def no_markup_on_stdout(ctx: Ctx, out: str, err: str) -> None:
    assert "alert(1)" not in out and "1 run record(s) could not be read" in out


RECORDS = [
    Case(
        "show: result deleted after done",
        lost_result(
            "deleted",
            show,
            "result.json is missing; but `done` says the run finished",
            "bench run --method erm --dataset digits-lt --seed 0",
        ),
    ),
    Case(
        "show: result truncated after done",
        lost_result("truncated", show, "result.json cannot be read", "its result is lost"),
    ),
    Case(
        "run: a truncated result is recomputed",
        lost_result("truncated", rerun, "recomputing it"),
        check=recomputed,
    ),
    Case(
        "sweep: a deleted result is recomputed",
        lost_result("deleted", sweep, "relaunch to recompute it"),
        check=recomputed,
    ),
    Case("leaderboard: a duplicate record is named", duplicate_record, check=counted_once),
    Case("leaderboard: an unregistered method", unregistered_method, check=no_markup_on_stdout),
]


# 3. Outputs carry no markup ----------------------------------------------------------------------

PLANTED = "<script>alert(1)</script>|50%&co $x^$ \\input{/etc/passwd}\nnext-line"


def markup_records(ctx: Ctx):
    """Two erm configurations, one with a weights path full of markup (a setting's value shows in
    the row label), and a duplicate in a folder whose name carries markup (named in a note)."""
    from bench.io import atomic_write_json

    results = ctx.folder / "results"
    test = {"overall": 0.8, "many": 0.9, "medium": 0.8, "few": 0.7, "per_class": [0.5] * 10}
    metrics = {"test": test, "train_counts": list(range(1, 11))}
    for name, seed, sets in (
        ("erm-0", 0, []),
        ("erm-1", 1, []),
        ("erm-0-planted", 0, [f"recipe.pretrained={PLANTED}"]),
        ("erm-1-<b>|%&", 1, []),  # a copy of erm-1
    ):
        config = resolve("erm", "digits-lt", seed=seed, sets=sets).to_json()
        atomic_write_json(results / "runs" / name / "config.json", config)
        atomic_write_json(results / "runs" / name / "result.json", {"metrics": metrics})
        atomic_write_json(results / "runs" / name / "done", {})
    argv = ["leaderboard", "--results", str(results), "--write", str(ctx.folder / "site")]
    return argv, 0, []


def no_markup_anywhere(ctx: Ctx, out: str, err: str) -> None:
    from bench.report.render import CSV_COLUMNS

    site = ctx.folder / "site"
    md = (site / "LEADERBOARD.md").read_text()
    assert "<script>" not in md and "<b>" not in md and "&lt;script>" in md
    for block in md.split("\n\n"):
        rows = [line for line in block.splitlines() if line.startswith("|")]
        pipes = {line.replace("\\|", "").count("|") for line in rows}
        assert len(pipes) <= 1, block  # a planted | never adds a column
    assert "\nnext-line" not in md and "\nnext-line" not in (site / "leaderboard.tex").read_text()
    page = (site / "index.html").read_text()
    assert "<script>alert" not in page and "<b>" not in page and "&lt;script&gt;" in page
    tex = (site / "leaderboard.tex").read_text()
    assert r"50\%\&co" in tex and r"\input" not in tex.replace(r"\textbackslash{}input", "")
    rows = list(csv.reader(io.StringIO((site / "leaderboard.csv").read_text())))
    assert all(len(row) == len(CSV_COLUMNS) for row in rows)
    assert not any("\n" in cell for row in rows for cell in row)
    svgs = list((site / "plots").glob("*.svg"))
    assert svgs and not any("<script" in p.read_text() for p in svgs)
    for fmt in ("md", "latex", "csv", "html"):  # stdout renders through the same escapes
        code, text, _ = cli(
            "leaderboard", "--results", str(ctx.folder / "results"), "--format", fmt
        )
        assert code == 0 and "\nnext-line" not in text  # CSV is text: no markup to escape
        assert fmt == "csv" or "<script>alert" not in text


MARKUP = [
    Case("markup in settings, folder names and notes", markup_records, check=no_markup_anywhere)
]


def test_every_format_has_its_one_escape() -> None:
    from bench.report.escape import csv_text, html_text, latex_text, md_text, svg_text

    assert md_text("<a>|b\\`*[x](j:y)\nz&") == "&lt;a>\\|b\\\\\\`\\*[x]\\(j:y) z&amp;"
    assert html_text("<a href='x'>&") == "&lt;a href=&#x27;x&#x27;&gt;&amp;"
    assert svg_text("$x^2$\nb") == r"\$x^2\$ b"
    assert latex_text("50%&_$#{}~^\\<\n±") == (
        r"50\%\&\_\$\#\{\}\textasciitilde{}\textasciicircum{}\textbackslash{}\textless{} $\pm$"
    )
    assert [csv_text(v) for v in ("=1+1", "+x", "-x", "@x", "a\nb", 1.5, None)] == [
        "'=1+1",
        "'+x",
        "'-x",
        "'@x",
        "a b",
        1.5,
        None,
    ]


# 4. A run's identity covers the content of the files its settings name ---------------------------


def prompts_file_dry_run(ctx: Ctx):
    prompts = ctx.folder / "prompts.yaml"
    prompts.write_text("'*': ['a photo of a {class_name}']\n")
    argv = ["run", "--method", "fillup-template", "--dataset", "digits-lt", "--dry-run",
            "--set", "generator=sd", "--set", f"prompts={prompts}"]  # fmt: skip
    return argv, 0, ["file method.prompts: content digest"]


def new_id_after_edit(ctx: Ctx, out: str, err: str) -> None:
    prompts = ctx.folder / "prompts.yaml"
    first = next(line for line in out.splitlines() if line.startswith("settings id"))
    prompts.write_text("'*': ['a drawing of a {class_name}']\n")
    argv = ["run", "--method", "fillup-template", "--dataset", "digits-lt", "--dry-run",
            "--set", "generator=sd", "--set", f"prompts={prompts}"]  # fmt: skip
    code, again, _ = cli(*argv)
    assert code == 0 and first not in again


def pretrained_weights(ctx: Ctx):
    import torch

    from bench.train.backbones import build_classifier

    weights = ctx.folder / "weights.pt"
    torch.manual_seed(0)
    torch.save(build_classifier("small-cnn", 10, 1).state_dict(), weights)
    results = ctx.folder / "results"
    assert cli(*run_cmd(results, f"--set=recipe.pretrained={weights}"))[0] == 0
    torch.manual_seed(1)
    torch.save(build_classifier("small-cnn", 10, 1).state_dict(), weights)  # edited in place
    return run_cmd(results, f"--set=recipe.pretrained={weights}"), 0, []


def a_second_run(ctx: Ctx, out: str, err: str) -> None:
    runs = sorted((ctx.folder / "results" / "runs").iterdir())
    assert len(runs) == 2 and "already done" not in err
    files = [json.loads((r / "config.json").read_text())["files"] for r in runs]
    assert files[0].keys() == files[1].keys() == {"recipe.pretrained"} and files[0] != files[1]


IDENTITY = [
    Case("prompts file edited: a new settings id", prompts_file_dry_run, check=new_id_after_edit),
    Case("pretrained weights edited: a new run", pretrained_weights, check=a_second_run),
]


def test_run_ids_at_default_settings_are_unchanged() -> None:
    """Ids measured before file digests joined the identity (commit 482a6ec; fillup-template's
    at 0b5da21, after its SD 1.5 repository was renamed to stable-diffusion-v1-5/...)."""
    ids = {m: resolve(m, "digits-lt").with_data("abc").run_id for m in ("erm", "ddpm-fill")}
    ids["fillup-template"] = resolve("fillup-template", "digits-lt").run_id
    ids["cbdm"] = resolve("cbdm", "digits-lt").run_id
    assert ids == {
        "erm": "fba069034323",
        "ddpm-fill": "2fdc05df1ce0",
        "fillup-template": "58229f88c50f",
        "cbdm": "68c79b85d3e3",
    }


# 5. Every input bounded ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sd_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from fixtures.tiny_pipelines import save_tiny_sd

    return save_tiny_sd(tmp_path_factory.mktemp("pipelines") / "sd")


def prompt_with_width(ctx: Ctx):
    prompts = ctx.folder / "prompts.yaml"
    prompts.write_text("'*': ['a photo of a {class_name:>10000000}']\n")
    sets = [*tiny_sets("fillup-template"), "method.generator=sd", f"model_dir={ctx.sd_dir}",
            "resolution=32", "sampling_steps=2", f"prompts={prompts}"]  # fmt: skip
    argv = ["run", "--method", "fillup-template", "--dataset", "digits-lt", "--quiet",
            "--results", str(ctx.folder / "results"), *[f"--set={s}" for s in sets]]  # fmt: skip
    return argv, 2, [f"{prompts}: prompt template", "{class_name:>10000000} has a format spec"]


def yaml_config(text: Callable[[], str], *fragments: str) -> Callable[[Ctx], tuple]:
    def build(ctx: Ctx):
        path = ctx.folder / "run.yaml"
        path.write_text(text())
        return run_cmd(ctx.folder / "results", "--config", str(path)), 2, [str(path), *fragments]

    return build


def alias_bomb() -> str:
    """10^9 values in 1 KB, under a key whose error message quotes its value."""
    items = ["&a0 [x, x, x, x, x, x, x, x, x, x]"]
    items += [f"&a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 9)]
    return "method: erm\nstages: [" + ", ".join(items) + "]\n"


def short_message(ctx: Ctx, out: str, err: str) -> None:
    from bench.errors import MAX_MESSAGE

    assert len(err) < MAX_MESSAGE + 400


def huge_grid(ctx: Ctx):
    values = ", ".join(str(0.001 * (i + 1)) for i in range(1000))
    path = spec(ctx.folder, ERM_SPEC + f"grid:\n  recipe.lr: [{values}]\n  recipe.momentum: "
                f"[{', '.join(str(i / 1000) for i in range(1000))}]\n")  # fmt: skip
    ctx.started = time.time()  # type: ignore[attr-defined]
    argv = ["sweep", str(path), "--launcher", "debug", "--results", str(ctx.folder / "r"),
            "--dry-run"]  # fmt: skip
    return argv, 2, ["asks for 1,000,000 runs", "more than --max-runs 5,000", "--max-runs 1000000"]


def refused_at_once(ctx: Ctx, out: str, err: str) -> None:
    assert time.time() - ctx.started < 30  # type: ignore[attr-defined]


def over_max_runs(ctx: Ctx):
    path = spec(ctx.folder, ERM_SPEC.replace("seeds: [0]", "seeds: [0, 1, 2]"))
    argv = ["sweep", str(path), "--launcher", "debug", "--results", str(ctx.folder / "r"),
            "--dry-run", "--max-runs", "2"]  # fmt: skip
    return argv, 2, ["asks for 3 runs", "more than --max-runs 2"]


def allowed_with_override(ctx: Ctx, out: str, err: str) -> None:
    path = ctx.folder / "sweep.yaml"
    argv = ["sweep", str(path), "--launcher", "debug", "--results", str(ctx.folder / "r"),
            "--dry-run", "--max-runs", "3"]  # fmt: skip
    code, text, _ = cli(*argv)
    assert code == 0 and ": 3 run(s), 0 dependency run(s)" in text


def bad_manifest(ctx: Ctx):
    store = small_store(ctx.folder)
    manifest = json.loads((store / "manifest.json").read_text())
    manifest["image_size"] = 10**6
    (store / "manifest.json").write_text(json.dumps(manifest))
    argv = ["synth", "export", "--synthetic", str(store), "--png", str(ctx.folder / "png")]
    return argv, 2, ["image_size=1000000, not a whole number in 1..4,096", "is not an entry"]


def usage_error(*argv: str, says: str) -> Callable[[Ctx], tuple]:
    """A command line argparse refuses (exit 2, its usage message saying `says`)."""

    def build(ctx: Ctx):
        return [a.format(folder=ctx.folder) for a in argv], 2, [says]

    return build


BOUNDS = [
    Case("prompt format width", prompt_with_width),
    Case(
        "YAML alias bomb",
        yaml_config(alias_bomb, "more than 100,000 values (aliases expanded)"),
        check=short_message,
    ),
    Case(
        "YAML too large",
        yaml_config(lambda: "method: erm\n#" + "x" * (2 << 20) + "\n", "larger than 1,048,576"),
    ),
    Case(
        "YAML too deep",
        yaml_config(lambda: "method: erm\nrecipe: " + "[" * 100 + "]" * 100 + "\n", "deeper"),
    ),
    Case(
        "a value of 100,000 characters is cut in the message",
        lambda ctx: (
            run_cmd(ctx.folder / "r", "--set", "recipe.epochs=" + "9" * 100_000),
            2,
            ["epochs expects an integer", "more)"],
        ),
        check=short_message,
    ),
    Case("a sweep of a million runs", huge_grid, check=refused_at_once),
    Case("a sweep over --max-runs", over_max_runs, check=allowed_with_override),
    Case("a manifest out of bounds", bad_manifest),
    Case(
        "synth preview --per-class 100000",
        usage_error(
            "synth",
            "preview",
            "--synthetic",
            "{folder}",
            "--output",
            "{folder}/p.png",
            "--per-class",
            "100000",
            says="argument --per-class: 100000 is not between 1 and 64",
        ),
    ),
    Case(
        "data preview --per-class 0",
        usage_error(
            "data",
            "preview",
            "--dataset",
            "digits-lt",
            "--output",
            "{folder}/p.png",
            "--per-class",
            "0",
            says="argument --per-class: 0 is not between 1 and 64",
        ),
    ),
]


# 6. No tracebacks -------------------------------------------------------------------------------


def export_to(flag: str, make: Callable[[Path], Path], *fragments: str) -> Callable[[Ctx], tuple]:
    def build(ctx: Ctx):
        store = small_store(ctx.folder)
        target = make(ctx.folder)
        argv = ["synth", "export", "--synthetic", str(store), flag, str(target), "--quiet"]
        return argv, 2 if fragments[0] != "/proc" else 1, [f.format(t=target) for f in fragments]

    return build


def a_file(folder: Path) -> Path:
    (folder / "exists.txt").write_text("kept\n")
    return folder / "exists.txt"


def a_folder(folder: Path) -> Path:
    (folder / "exists").mkdir()
    return folder / "exists"


def read_only_results(ctx: Ctx):
    import errno
    import pathlib

    read_only = ctx.folder / "ro"
    mkdir = pathlib.Path.mkdir

    def refuse(self, *args, **kwargs):  # what a read-only file system answers
        if str(self).startswith(str(read_only)):
            raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(self))
        return mkdir(self, *args, **kwargs)

    ctx.monkeypatch.setattr(pathlib.Path, "mkdir", refuse)
    return run_cmd(read_only), 1, [str(read_only), "Read-only file system (EROFS)", "writable"]


def full_disk(ctx: Ctx):
    """The classifier's checkpoint written to /dev/full: the kernel's own ENOSPC."""
    import torch

    def to_dev_full(obj):
        def write(tmp):
            with open("/dev/full", "wb") as f:
                torch.save(obj, f)

        return write

    ctx.monkeypatch.setattr("bench.train.loop.torch_writer", to_dev_full)
    results = ctx.folder / "results"
    return run_cmd(results), 1, ["train_state.pt: No space left on device (ENOSPC)", "free"]


def worker_error(ctx: Ctx):
    tree = write_imagenet_lt(ctx.folder / "root")
    for image in (tree.root / "train").rglob("*.JPEG"):  # a header the fast check accepts, cut
        image.write_bytes(image.read_bytes()[:40])
    argv = ["run", "--method", "erm", "--dataset", "imagenet-lt", "--data-root", str(tree.root),
            "--results", str(ctx.folder / "results"), "--quiet", "--device", "cpu",
            *[f"--set={s}" for s in tree.sets], "--set=recipe.num_workers=1",
            "--set=recipe.epochs=1", "--set=recipe.steps_per_epoch=2",
            "--set=recipe.batch_size=4"]  # fmt: skip
    return argv, 2, ["cannot read image", "Truncated File Read"]


def one_line(ctx: Ctx, out: str, err: str) -> None:
    assert len(err.strip().splitlines()) == 1, err


def broken_sweep_state(ctx: Ctx):
    path = spec(ctx.folder, "name: s\n" + ERM_SPEC)
    state = ctx.folder / "r" / "sweeps" / "s" / "state.json"
    state.parent.mkdir(parents=True)
    state.write_text('{"units": {"x": ')
    argv = ["sweep", str(path), "--launcher", "debug", "--results", str(ctx.folder / "r"),
            "--status"]  # fmt: skip
    return argv, 2, [f"{state} cannot be read", "Move it away"]


TRACEBACKS = [
    Case("export --png to a file", export_to("--png", a_file, "--png {t} is a file")),
    Case("export --parquet to a folder", export_to("--parquet", a_folder, "{t} exists already")),
    Case("export --hf to a file", export_to("--hf", a_file, "--hf {t} exists already")),
    Case(
        "export --png under /proc",
        export_to("--png", lambda f: Path("/proc/bench-x"), "/proc", "/proc/bench-x", "(ENOENT)"),
    ),
    Case(
        "preview --per-class -3",
        usage_error(
            "synth",
            "preview",
            "--synthetic",
            "{folder}",
            "--output",
            "{folder}/p.png",
            "--per-class",
            "-3",
            says="argument --per-class: -3 is not between 1 and 64",
        ),
    ),
    Case(
        "preview to a folder",
        lambda ctx: (
            ["data", "preview", "--dataset", "digits-lt", "--output", str(ctx.folder)],
            2,
            [f"--output {ctx.folder} is a folder"],
        ),
    ),
    Case("--results on a read-only file system", read_only_results),
    Case("a full disk while saving a checkpoint", full_disk),
    Case(
        "sweep --concurrency -1",
        usage_error(
            "sweep",
            "{folder}/s.yaml",
            "--launcher",
            "local",
            "--concurrency",
            "-1",
            says="argument --concurrency: -1 is not between 1 and 1,024",
        ),
    ),
    Case(
        "leaderboard under an ASCII locale",
        lambda ctx: (["leaderboard", "--results", str(ctx.finished)], 0, ["+/-"]),
        env={
            "LC_ALL": "C",
            "LANG": "C",
            "PYTHONCOERCECLOCALE": "0",
            "PYTHONUTF8": "0",
            "PYTHONIOENCODING": "",
        },
    ),
    Case(
        "an undecodable image in a DataLoader worker",
        worker_error,
        absent=("DataLoader worker", "Original Traceback"),
        check=one_line,
    ),
    Case("a damaged sweep state", broken_sweep_state),
]


CASES = [
    *(("containment", c) for c in CONTAINMENT),
    *(("records", c) for c in RECORDS),
    *(("markup", c) for c in MARKUP),
    *(("identity", c) for c in IDENTITY),
    *(("bounds", c) for c in BOUNDS),
    *(("tracebacks", c) for c in TRACEBACKS),
]


@pytest.mark.parametrize(("kind", "case"), CASES, ids=[f"{k}: {c.name}" for k, c in CASES])
def test_catalogue(
    kind: str, case: Case, finished: Path, tmp_path: Path, monkeypatch, request
) -> None:
    ctx = Ctx(tmp_path / "case", tmp_path / "outside", finished, monkeypatch, request)
    run_case(case, ctx, tmp_path)


# 7. Permissions follow the umask ------------------------------------------------------------------

UMASK = 0o027


def modes_follow_umask(root: Path, before: set[str] = frozenset()) -> None:
    """Every file and folder under `root` made by the command has the mode the umask gives."""
    wrong = []
    for path in [root, *root.rglob("*")]:
        if str(path) in before or path.is_symlink():
            continue
        mode = stat.S_IMODE(path.stat().st_mode)
        expected = (0o777 if path.is_dir() else 0o666) & ~UMASK
        if mode != expected:
            wrong.append(f"{path}: {oct(mode)}, expected {oct(expected)}")
    assert not wrong, "\n".join(wrong)


def with_umask(*argv: str) -> tuple[int, str, str]:
    old = os.umask(UMASK)
    try:
        return cli(*argv)
    finally:
        os.umask(old)


def test_run_and_sweep_follow_the_umask(tmp_path: Path) -> None:
    """A run with a generator and a synthetic set (every cache kind a run writes), then a sweep."""
    results = tmp_path / "results"
    sets = [*tiny_sets("ddpm-fill"), "plan=add:3"]
    args = run_cmd(results, *[f"--set={s}" for s in sets], method="ddpm-fill")
    code, _, err = with_umask(*args)
    assert code == 0, err
    modes_follow_umask(results)
    before = {str(p) for p in [results, *results.rglob("*")]}
    path = spec(tmp_path, ERM_SPEC.replace("seeds: [0]", "seeds: [1]"))
    code, _, err = with_umask("sweep", str(path), "--launcher", "debug", "--results", str(results))
    assert code == 0, err
    assert (results / "sweeps" / "sweep" / "state.json").is_file()
    modes_follow_umask(results, before)


def test_synth_export_follows_the_umask(tmp_path: Path) -> None:
    store = small_store(tmp_path)
    out = tmp_path / "out"
    code, _, err = with_umask("synth", "export", "--synthetic", str(store), "--quiet",
                              "--png", str(out / "png"), "--hf", str(out / "hf"),
                              "--parquet", str(out / "set.parquet"))  # fmt: skip
    assert code == 0, err
    assert sorted(p.name for p in out.iterdir()) == ["hf", "png", "set.parquet"]  # no cache left
    modes_follow_umask(out)


def test_leaderboard_write_follows_the_umask(finished: Path, tmp_path: Path) -> None:
    site = tmp_path / "site"
    code, _, err = with_umask("leaderboard", "--results", str(finished), "--write", str(site))
    assert code == 0, err
    assert (site / "LEADERBOARD.md").is_file()
    modes_follow_umask(site)


def test_security_notes_state_the_umask_rule() -> None:
    text = (REPO / "docs" / "security.md").read_text()
    assert "0666 & ~umask" in text and "0777 & ~umask" in text
    assert "tests/test_catalogue.py" in text
