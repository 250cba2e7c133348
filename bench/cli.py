"""The `bench` command. Thin: parse arguments, call the library, print.

Heavy libraries (torch, diffusers, timm) are imported inside the commands that need them, so
`bench --help` and `bench list` stay fast.
"""

from __future__ import annotations

import argparse
import codecs
import json
import logging
import os
import shlex
import signal
import sys
import threading
from collections.abc import Callable
from pathlib import Path

from bench.commands import data as data_commands
from bench.commands import synth
from bench.commands import weights as weights_cli
from bench.data import data_root_from_env
from bench.data.fingerprint import describe
from bench.datasets import DATASETS
from bench.errors import BenchError, ConfigError, Interrupted, system_message, user_message
from bench.io import atomic_write_text
from bench.launch.dryrun import dry_run
from bench.launch.spec import MAX_RUNS, load_spec
from bench.launch.units import Env
from bench.method import other_backends_settings
from bench.methods import METHODS
from bench.report import protocols, published
from bench.report.cli import CompareRequest, Request, compare_command, leaderboard_command
from bench.report.layout import Options
from bench.runs.config import resolve
from bench.runs.describe import generator_line, stages_line
from bench.runs.evalgen import eval_gen
from bench.runs.records import load_run
from bench.runs.runner import run
from bench.train.distributed import spawn

EXAMPLES = """examples:
  bench run --method ddpm-fill --dataset digits-lt --seed 1
  bench run --method erm --dataset digits-lt --set recipe.epochs=20 --set imbalance_factor=50
  bench run --method ddpm-fill --dataset digits-lt --dry-run     # show the resolved settings
  bench list methods
  bench show results/runs/erm-digits-lt-s0-<hash>
  bench leaderboard --format latex
  bench compare fg-entropy ldm-txt-img --dataset digits-lt --metric few
  bench compare --claims --results results/embedded-pretrained
  bench data check --dataset imagenet-lt --root /data/imagenet --json
  bench eval-gen --run results/runs/ddpm-fill-digits-lt-s0-<hash> --extractor inception
  bench sweep sweeps/fg-table2-places-lt.yaml --dry-run
  bench sweep sweeps/embedded.yaml --profile local --set slurm.timeout_min=120
  bench sweep sweeps/embedded.yaml --status
  bench weights check --method fg-entropy --dataset places-lt
"""


def main(argv: list[str] | None = None) -> int:
    """Run one command. Bad input is a message and exit 2, an operating-system error (read-only
    file system, full disk, permission) a message naming the file and the errno and exit 1: no
    command prints a traceback (an unexpected bug's goes to the run's log.txt)."""
    ascii_safe_output()
    parser = build_parser()
    args = parser.parse_args(argv)
    setup_logging(getattr(args, "quiet", False))
    previous = interrupt_on_signals()
    try:
        return args.func(args) or 0
    except BenchError as exc:
        print(f"error: {user_message(exc)}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # the reader went away (`bench leaderboard | head`): stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 128 + signal.SIGPIPE
    except OSError as exc:
        print(f"error: {system_message(exc)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt as exc:
        signum = exc.signum if isinstance(exc, Interrupted) else signal.SIGINT
        name = signal.Signals(signum).name
        print(
            f"interrupted by {name}: what finished is kept (epochs, shards, fitted generators); "
            "rerun the same command to resume.",
            file=sys.stderr,
        )
        return 128 + signum
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def interrupt_on_signals() -> dict[int, object]:
    """SIGTERM and SIGINT raise `Interrupted` in the main thread: a preempted or Ctrl-C'ed
    command unwinds like an exception (locks released, temporary files removed, nothing torn)
    instead of dying mid-write. Only where the default handlers are in place (a host such as
    submitit keeps its own). Returns the handlers to restore."""
    if threading.current_thread() is not threading.main_thread():
        return {}
    previous = {}
    for signum in (signal.SIGTERM, signal.SIGINT):
        handler = signal.getsignal(signum)
        if handler in (signal.SIG_DFL, signal.default_int_handler):
            previous[signum] = handler
            signal.signal(signum, raise_interrupted)
    return previous


def raise_interrupted(signum: int, frame: object) -> None:
    raise Interrupted(signum)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bench",
        description="Benchmark synthetic training data for imbalanced image classification.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    add_run(sub)
    add_list(sub)
    add_show(sub)
    add_leaderboard(sub)
    add_compare(sub)
    add_data(sub)
    add_eval_gen(sub)
    add_synth(sub)
    add_sweep(sub)
    add_protocols(sub)
    add_weights(sub)
    return parser


def add_protocols(sub: argparse._SubParsersAction) -> None:
    p = add_command(
        sub,
        "protocols",
        "the papers' protocols as bench resolves them, beside the papers' stated values "
        "(docs/protocols.md); exit 1 on an undeclared difference",
        cmd_protocols,
    )
    p.add_argument("--write", metavar="FILE", help="write the Markdown table to FILE")
    p.add_argument("--published-dir", help="published values (default: results/published)")


def count(low: int, high: int) -> Callable[[str], int]:
    """An argparse type: an integer in [low, high] (otherwise a usage error, exit 2)."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r:.40} is not a whole number") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{value} is not between {low} and {high:,}")
        return value

    parse.__name__ = "count"
    return parse


def add_command(
    sub: argparse._SubParsersAction,
    name: str,
    help: str,
    func: Callable[[argparse.Namespace], int | None],
) -> argparse.ArgumentParser:
    p = sub.add_parser(name, help=help, description=help)
    p.set_defaults(func=func)
    return p


def add_set_option(p: argparse.ArgumentParser, help: str) -> None:
    """The repeatable `--set KEY=VALUE` option (collected into `args.sets`)."""
    p.add_argument(
        "--set", dest="sets", action="append", default=[], metavar="KEY=VALUE", help=help
    )


def add_run(sub: argparse._SubParsersAction) -> None:
    p = add_command(sub, "run", "run one experiment end to end (skips it if already done)", cmd_run)
    p.add_argument("--method", help="method name (bench list methods)")
    p.add_argument("--dataset", help="dataset name (bench list datasets)")
    p.add_argument("--seed", type=int, default=None, help="random seed (default 0)")
    add_set_option(
        p,
        "override a setting: method.X, dataset.X, recipe.X or a bare X that only "
        "one section has; repeatable; beats --config",
    )
    p.add_argument("--config", help="YAML file with method/dataset/recipe settings and seed")
    p.add_argument("--results", default="results", help="results directory (default: results)")
    p.add_argument("--data-root", help="where downloaded datasets live (or BENCH_DATA_ROOT)")
    p.add_argument("--device", help="torch device (default: cuda if available, else cpu)")
    p.add_argument(
        "--nproc",
        type=int,
        default=1,
        help="train with N processes on this machine (torch.distributed: one per GPU, or gloo "
        "on the CPU); docs/recipe.md#multi-process-training",
    )
    p.add_argument(
        "--dry-run",
        action="store_true",
        help="print the resolved settings and their sources, run nothing",
    )
    p.add_argument(
        "--no-deps",
        action="store_true",
        help="do not run missing dependency runs (e.g. FG's feedback classifier): print the "
        "command that makes each instead",
    )
    p.add_argument(
        "--smoke",
        action="store_true",
        help="the smallest settings that exercise every code path (seconds to a minute on a "
        "CPU); recorded as a smoke run and left out of leaderboards",
    )
    p.add_argument(
        "--rebuild-cache",
        action="store_true",
        help="delete and make again the cached generator or synthetic shards this run uses "
        "that fail their checksums (damaged files are an error otherwise); intact ones are kept",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bars, warnings only")


def add_list(sub: argparse._SubParsersAction) -> None:
    p = add_command(sub, "list", "list the registered methods or datasets", cmd_list)
    p.add_argument("what", choices=("methods", "datasets"))


def add_show(sub: argparse._SubParsersAction) -> None:
    p = add_command(sub, "show", "summarise one run directory", cmd_show)
    p.add_argument("run_dir")
    p.add_argument("--json", action="store_true", help="print the whole record as JSON")


def add_leaderboard(sub: argparse._SubParsersAction) -> None:
    p = add_command(
        sub, "leaderboard", "tables of all finished runs, mean ± std over seeds", cmd_leaderboard
    )
    add_report_options(p)
    p.add_argument("--output", help="write to this file instead of stdout")
    p.add_argument(
        "--write",
        metavar="DIR",
        help="write LEADERBOARD.md, leaderboard.tex (+ one file per table), .csv, plots and "
        "index.html into DIR",
    )
    p.add_argument(
        "--published",
        action="store_true",
        help="add the papers' published rows beside ours and their claims tested on our runs",
    )
    p.add_argument("--ci", action="store_true", help="add 95%% confidence intervals")
    p.add_argument(
        "--mark-noise",
        action="store_true",
        help="mark the best row per column and rows within seed noise of it (paired t-test)",
    )
    p.add_argument(
        "--all-published",
        action="store_true",
        help="also list the published tables no run of ours matches (after ours)",
    )


def add_report_options(p: argparse.ArgumentParser) -> None:
    """The options `bench leaderboard` and `bench compare` share: where and what to read."""
    p.add_argument("--results", default="results", help="results directory (default: results)")
    p.add_argument("--format", default="md", choices=("md", "csv", "latex", "html"))
    p.add_argument("--published-dir", help="published values (default: results/published)")
    p.add_argument(
        "--dataset", action="append", default=[], help="only this dataset's tables; repeatable"
    )
    p.add_argument(
        "--method", action="append", default=[], help="only this method's rows; repeatable"
    )
    p.add_argument(
        "--paper",
        action="append",
        default=[],
        help="only this paper's published tables and claims (fg, augcond, fillup, cbdm, synaug)",
    )
    p.add_argument("--include-smoke", action="store_true", help="also show smoke runs")


def add_compare(sub: argparse._SubParsersAction) -> None:
    p = add_command(
        sub,
        "compare",
        "two rows against each other (per-seed differences, intervals, verdict), or the "
        "papers' claims on our runs",
        cmd_compare,
    )
    p.add_argument("a", nargs="?", default="", help="method A (the one said to be better)")
    p.add_argument("b", nargs="?", default="", help="method B")
    p.add_argument(
        "--a",
        dest="a_settings",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a setting A's rows hold (as --set writes it; a|b, *, !x allowed); repeatable",
    )
    p.add_argument(
        "--b", dest="b_settings", action="append", default=[], metavar="KEY=VALUE",
        help="a setting B's rows hold; repeatable",
    )  # fmt: skip
    p.add_argument(
        "--metric",
        default="",
        help="overall (default), many, medium, few, fid, dp, ...; with --claims: every claim "
        "on this metric instead of its paper's",
    )
    p.add_argument(
        "--claims",
        action="store_true",
        help="the papers' claims (results/published/claims.csv) with runs of both sides",
    )
    add_report_options(p)


def add_data(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("data", help="check, download or prepare a dataset on disk")
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    check = add_command(
        actions, "check", "validate a dataset and compare it with the official numbers", cmd_data
    )
    check.add_argument("--strict", action="store_true", help="count mismatches as errors")
    check.add_argument("--json", action="store_true", help="print one JSON object")
    check.add_argument(
        "--no-decode", action="store_true", help="skip decoding every image (existence is checked)"
    )
    check.add_argument("--quiet", action="store_true", help="no progress bar")
    download = add_command(
        actions, "download", "download a dataset where torchvision can (never implicit)", cmd_data
    )
    prepare = add_command(
        actions, "prepare", "write derived split metadata (e.g. nicopp) next to the data", cmd_data
    )
    preview = add_command(
        actions, "preview", "one image: per class, a row of each dataset (side by side)", cmd_data
    )
    preview.add_argument(
        "--compare",
        action="append",
        default=[],
        metavar="DATASET",
        help="another dataset of the same classes, one row each below (repeatable)",
    )
    preview.add_argument("--output", required=True, help="the PNG file to write")
    preview.add_argument(
        "--per-class", type=count(1, 64), default=8, help="images per row, 1-64 (default 8)"
    )
    preview.add_argument("--split", default="train", help="the split to show (default train)")
    for q in (check, download, prepare, preview):
        q.add_argument("--dataset", required=True, help="dataset name (bench list datasets)")
        q.add_argument("--root", "--data-root", dest="root", help="data root (or BENCH_DATA_ROOT)")
    for q in (check, prepare, preview):
        add_set_option(q, "a dataset option, e.g. imbalance_factor=50 or shots=4; repeatable")


def add_eval_gen(sub: argparse._SubParsersAction) -> None:
    p = add_command(
        sub,
        "eval-gen",
        "FID / KID / IS / precision / recall / density / coverage / F8 of a synthetic set",
        cmd_eval_gen,
    )
    p.add_argument("--dataset", help="dataset name (taken from --run if given)")
    p.add_argument(
        "--synthetic", help="bench synthetic set dir or image folder (default with --run: its set)"
    )
    p.add_argument("--run", help="finished run directory: its result.json gets the metrics")
    p.add_argument(
        "--extractor", help="inception (default) | clip[:DIR] | classifier:RUN_DIR | small"
    )
    p.add_argument("--n", type=int, help="at most N images of each set (default: all)")
    add_set_option(p, "a metric setting (split, k, prd_runs, ... see docs/metrics.md) or dataset.X")
    p.add_argument("--results", help="results directory for the feature cache (default: results)")
    p.add_argument("--data-root", help="where downloaded datasets live (or BENCH_DATA_ROOT)")
    p.add_argument("--device", help="torch device (default: cuda if available, else cpu)")
    p.add_argument("--quiet", action="store_true", help="no progress bars, warnings only")


def add_synth(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("synth", help="export or preview a synthetic set")
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    export = add_command(
        actions,
        "export",
        "write a synthetic set as a PNG folder tree and/or a Hugging Face dataset",
        cmd_synth,
    )
    export.add_argument("--png", help="folder for <class>/<index>.png files")
    export.add_argument("--hf", help="folder for a Hugging Face dataset (save_to_disk)")
    export.add_argument("--parquet", help="file for the Hugging Face dataset as parquet")
    export.add_argument("--quiet", action="store_true", help="no progress bar")
    preview = add_command(
        actions, "preview", "one image: real and synthetic rows per class", cmd_synth
    )
    preview.add_argument("--output", required=True, help="the PNG file to write")
    preview.add_argument(
        "--per-class", type=count(1, 64), default=8, help="images per row, 1-64 (default 8)"
    )
    preview.add_argument("--classes", help="comma-separated class indices (default: all)")
    preview.add_argument("--data-root", help="where downloaded datasets live (or BENCH_DATA_ROOT)")
    for q in (export, preview):
        q.add_argument("--run", help="a finished run: its synthetic set (and dataset)")
        q.add_argument("--synthetic", help="a synthetic set directory (cache/synthetic/<key>)")


def add_sweep(sub: argparse._SubParsersAction) -> None:
    p = add_command(
        sub,
        "sweep",
        "run methods x datasets x seeds x settings on SLURM (job arrays), locally or in-process",
        cmd_sweep,
    )
    p.add_argument("spec", help="sweep spec (YAML; see docs/slurm.md)")
    p.add_argument(
        "--launcher", default="slurm", choices=("slurm", "local", "debug"), help="default: slurm"
    )
    p.add_argument("--profile", help="SLURM profile: slurm/<NAME>.yaml or a path (default: local)")
    add_set_option(
        p,
        "slurm.KEY=VALUE or slurm.STAGE.KEY=VALUE overrides the profile; any other key is a "
        "run setting added to every run; repeatable",
    )
    p.add_argument(
        "--concurrency", type=count(1, 1024), default=1, help="local launcher: processes at once"
    )
    p.add_argument(
        "--max-runs",
        type=count(1, 10**9),
        default=None,
        help="allow a spec of more runs than the cap (5,000; docs/slurm.md#how-big-a-sweep-can-be)",
    )
    action = p.add_mutually_exclusive_group()
    action.add_argument("--status", action="store_true", help="per-stage counts and failed tasks")
    action.add_argument("--cancel", action="store_true", help="cancel its pending/running jobs")
    action.add_argument(
        "--retry-failed", action="store_true", help="also resubmit the units whose job failed"
    )
    action.add_argument("--dry-run", action="store_true", help="show what would be submitted")
    p.add_argument("--wait", action="store_true", help="slurm: return when every job has ended")
    p.add_argument("--results", default="results", help="results directory (default: results)")
    p.add_argument("--data-root", help="where downloaded datasets live (or BENCH_DATA_ROOT)")
    p.add_argument("--device", help="torch device for every task (default: cuda if available)")
    p.add_argument(
        "--rebuild-cache",
        action="store_true",
        help="as bench run --rebuild-cache, for every task: damaged cache entries are made again",
    )
    p.add_argument(
        "--smoke",
        action="store_true",
        help="every run and every dependency (generator fits, FG's erm) as bench run --smoke "
        "shrinks a run: tiny settings, recorded as smoke runs, left out of leaderboards",
    )
    p.add_argument("--quiet", action="store_true", help="warnings only")


def add_weights(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "weights", help="the pretrained weights manifest: list, check on this machine, download"
    )
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    listing = add_command(
        actions,
        "list",
        "every pretrained artefact, its files and which defaults use it",
        cmd_weights,
    )
    listing.add_argument("--json", action="store_true", help="print one JSON object")
    check = add_command(
        actions,
        "check",
        "present / missing / incomplete per artefact, offline (exit 1 if any is not present)",
        cmd_weights,
    )
    check.add_argument("--json", action="store_true", help="print a JSON list")
    download = add_command(
        actions,
        "download",
        "fetch exactly the manifest's files (a machine with network) into the caches bench reads",
        cmd_weights,
    )
    download.add_argument("names", nargs="*", help="manifest entries (bench weights list)")
    download.add_argument("--all", action="store_true", help="every entry of the manifest")
    for q in (check, download):
        q.add_argument("--method", help="only what this run (and its dependencies) load")
        q.add_argument("--dataset", help="the run's dataset")
        q.add_argument("--seed", type=int, default=None, help="the run's seed")
        q.add_argument("--config", help="the run's YAML config file")
        add_set_option(q, "a setting of the run, as bench run --set; repeatable")


def setup_logging(quiet: bool) -> None:
    """INFO to the run's log.txt always; to the terminal unless --quiet (then warnings only).
    The terminal gets messages without tracebacks (the log file keeps them)."""
    console = logging.StreamHandler(sys.stderr)
    console.setLevel(logging.WARNING if quiet else logging.INFO)
    console.setFormatter(MessageOnly("%(levelname)s %(message)s"))
    logging.basicConfig(level=logging.INFO, handlers=[console], force=True)


class MessageOnly(logging.Formatter):
    """A log line without the traceback a `log.exception` attaches (the CLI says what failed)."""

    def format(self, record: logging.LogRecord) -> str:
        record.message = record.getMessage()
        return user_message(Exception(self.formatMessage(record)))


# What the report's symbols become on a terminal that cannot show them (an ASCII locale).
ASCII_FORMS = {"±": "+/-", "–": "-", "—": "-", "Δ": "d", "†": "+", "≈": "~", "×": "x", "…": "..."}


def ascii_forms(exc: UnicodeError) -> tuple[str, int]:
    if not isinstance(exc, UnicodeEncodeError):
        raise exc
    text = "".join(ASCII_FORMS.get(ch, "?") for ch in exc.object[exc.start : exc.end])
    return text, exc.end


def ascii_safe_output() -> None:
    """Under a locale whose encoding cannot show the report's symbols (LANG=C without UTF-8
    coercion, PYTHONIOENCODING=ascii), print them in ASCII (± as +/-) instead of failing."""

    codecs.register_error("bench-ascii", ascii_forms)
    for stream in (sys.stdout, sys.stderr):
        try:
            "".join(ASCII_FORMS).encode(stream.encoding or "ascii")
        except (UnicodeEncodeError, LookupError):
            if hasattr(stream, "reconfigure"):
                stream.reconfigure(errors="bench-ascii")
        except AttributeError:  # a stream without an encoding (a test's StringIO)
            pass


# Commands ---------------------------------------------------------------------------------------


def cmd_run(args: argparse.Namespace) -> int:
    config = resolve(args.method, args.dataset, args.seed, args.config, args.sets, smoke=args.smoke)
    if args.dry_run:
        print(describe_config(config))
        return 0

    call = (
        config,
        Path(args.results),
        data_root_from_env(args.data_root, config.data_root),
        args.device,
        not args.quiet,
        not args.no_deps,
        args.rebuild_cache,
    )
    run_dir = spawn(args.nproc, run, *call, quiet=args.quiet) if args.nproc != 1 else run(*call)
    print(run_dir)
    return 0


def describe_config(config) -> str:
    smoke = "-smoke" if config.smoke else ""
    lines = [
        # the directory's id hashes the data's fingerprint too, known once the run reads the data
        f"run: {config.method}-{config.dataset}-s{config.seed}{smoke}-<id: settings + the data's "
        "fingerprint, when the run reads the data>",
        f"settings id: {config.run_id} (without the data fingerprint)",
        f"seed: {config.seed}",
        *(f"file {key}: content digest {digest}" for key, digest in config.files.items()),
    ]
    hidden = other_backends_settings(config.method, config.hparams)
    for section, values in (
        ("method", {k: v for k, v in config.hparams.items() if k not in hidden}),
        ("dataset", config.data),
        ("recipe", config.recipe),
        *((f"stage.{name}", config.stages[name]) for name in config.recipe["then"]),
    ):
        lines.append(f"{section}:")
        for key, value in values.items():
            source = config.sources.get(f"{section}.{key}", "")
            lines.append(f"  {key} = {json.dumps(value)}    # {source}")
    if hidden:
        backend = config.hparams.get("generator")
        lines.append(
            f"# {len(hidden)} settings of other generator backends than {backend} not shown"
        )
    lines += [*dependency_lines(config), *borrowed_lines(config)]
    return "\n".join(lines)


def dependency_lines(config) -> list[str]:
    """Each dependency run and the settings the method declares for it (with their sources)."""
    lines = []
    for name, dep in config.dependencies.items():
        lines.append(f"dependency {name}: {dep.method} on {dep.dataset}, seed {dep.seed}:")
        declared = f"{config.method} needs it"
        for key, source in dep.sources.items():
            section, _, field = key.partition(".")
            values = {"method": dep.hparams, "dataset": dep.data, "recipe": dep.recipe}
            if source.startswith(declared) and section in values:
                value = json.dumps(values[section][field])
                lines.append(f"  {key} = {value}    # {source}")
        lines.append(f"  (all of it: bench run --method {dep.method} --dataset {dep.dataset} ...)")
    return lines


def borrowed_lines(config) -> list[str]:
    """On a dataset its paper never used, a method runs on borrowed defaults: say so."""

    papers = METHODS[config.method].PAPER_DATASETS
    if not papers or config.dataset in papers:
        return []
    return [
        f"# note: {config.method}'s paper ran it on {', '.join(papers)}, not {config.dataset}: "
        "its settings here are borrowed (each source above names where from: the method's "
        f"defaults, {config.dataset}'s classifier protocol); check them before quoting a number."
    ]


def cmd_protocols(args: argparse.Namespace) -> int:
    directory = Path(args.published_dir) if args.published_dir else published.default_directory()
    entries = protocols.load(directory / "protocols.yaml")
    text = protocols.markdown(published.load(directory), entries, resolve)
    undeclared = protocols.undeclared(entries, resolve)
    if args.write:
        atomic_write_text(Path(args.write), text)
        print(args.write)
    else:
        print(text, end="")
    for item in undeclared:
        print(f"undeclared difference: {item}", file=sys.stderr)
    return 1 if undeclared else 0


def cmd_list(args: argparse.Namespace) -> int:
    registry = METHODS if args.what == "methods" else DATASETS
    width = max(len(n) for n in registry)
    for name in registry:
        cls = registry[name]
        summary = (cls.__doc__ or "").strip().splitlines()[0] if cls.__doc__ else ""
        print(f"{name:<{width}}  {summary}")
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    run = load_run(Path(args.run_dir))
    if args.json:
        print(json.dumps(run, indent=2, sort_keys=True))
        return 0
    print(format_run(run))
    return 0


def format_run(run: dict) -> str:
    cfg = run["config"]
    result = run.get("result") or {}
    data = (result.get("info") or {}).get("data") if isinstance(result.get("info"), dict) else None
    digest = cfg.get("data_fingerprint")
    lines = [
        f"run       {run['dir']}",
        f"method    {cfg['method']}    dataset {cfg['dataset']}    seed {cfg['seed']}",
        f"status    {'done' if run['done'] else 'unfinished (rerun to resume)'}"
        + ("    (smoke run: not a result)" if cfg.get("smoke") else ""),
        f"stages    {stages_line(cfg)}",
        "data      "
        + (describe(data) if isinstance(data, dict) else digest or "not fingerprinted (older run)"),
    ]
    epochs = run.get("epochs") or []
    if epochs:
        last = epochs[-1]
        loss, val = last.get("train_loss"), last.get("val_balanced")
        if isinstance(loss, float | int) and isinstance(val, float | int):
            lines.append(f"epochs    {len(epochs)} (last: loss {loss:.4f}, val {100 * val:.1f}%)")
    info = result.get("info") if isinstance(result.get("info"), dict) else {}
    generator = generator_line(info.get("synthetic_plan"))
    if generator:
        lines.append(f"generator {generator}")
    if result:
        m = result["metrics"]
        test = m.get("test") if isinstance(m.get("test"), dict) else {}
        accs = "  ".join(
            f"{k} {fmt_pct(test.get(k))}" for k in ("overall", "many", "medium", "few")
        )
        lines.append(f"test      {accs}   ({m.get('selection')}, epoch {m.get('best_epoch')})")
        lines += subgroup_lines(test)
        timings = result.get("timings") if isinstance(result.get("timings"), dict) else {}
        lines.append(
            "timings   "
            + "  ".join(f"{k} {v:.1f}s" for k, v in timings.items() if isinstance(v, float | int))
        )
        env = result.get("environment") if isinstance(result.get("environment"), dict) else {}
        git = env.get("git") if isinstance(env.get("git"), dict) else {}
        device = env.get("device") if isinstance(env.get("device"), dict) else {}
        changes = f" + uncommitted changes {git['changes']}" if git.get("changes") else ""
        dirty = " (dirty)" if git.get("dirty") and not changes else ""  # older records: a flag only
        lines.append(
            f"commit    {git.get('commit')}{changes}{dirty}"
            f"    host {env.get('host')}    device {device.get('name')}"
        )
    return "\n".join(lines)


def subgroup_lines(test: dict) -> list[str]:
    """Worst / mean / train-weighted group accuracy and fairness gaps, where the run has them."""
    out = []
    group, fair = test.get("group") or {}, test.get("fairness") or {}
    if "worst" in group:
        accs = "  ".join(f"{k} {fmt_pct(group.get(k))}" for k in ("worst", "mean", "weighted"))
        out.append(f"groups    {accs}")
    if "dp" in fair:
        gaps = "  ".join(f"{k} {fmt_pct(fair.get(k.lower()))}" for k in ("DP", "EO", "ED"))
        out.append(f"fairness  {gaps}   (gaps in points, lower is fairer)")
    for name, metric in (("groups", group), ("fairness", fair)):
        if "error" in metric:
            out.append(f"{name:<9} not computed: {metric['error']}")
    return out


def fmt_pct(x: float | None) -> str:
    return f"{100 * x:.1f}" if isinstance(x, float | int) and not isinstance(x, bool) else "–"


def cmd_leaderboard(args: argparse.Namespace) -> int:
    text, written = leaderboard_command(report_request(args))
    if written:
        print(written)
    else:
        sys.stdout.write(text)
    return 0


def report_request(args: argparse.Namespace):
    """The plain values bench.report.cli works from."""

    options = Options(
        ci=getattr(args, "ci", False),
        mark_noise=getattr(args, "mark_noise", False),
        datasets=tuple(args.dataset),
        methods=tuple(args.method),
        papers=tuple(args.paper),
        all_published=getattr(args, "all_published", False),
        metric=getattr(args, "metric", "") if getattr(args, "claims", False) else "",
    )
    return Request(
        results=Path(args.results),
        options=options,
        fmt=args.format,
        output=getattr(args, "output", None),
        write=getattr(args, "write", None),
        published=getattr(args, "published", False),
        published_dir=args.published_dir,
        include_smoke=args.include_smoke,
    )


def cmd_compare(args: argparse.Namespace) -> int:
    request = CompareRequest(
        report_request(args),
        a=args.a,
        b=args.b,
        a_settings=tuple(args.a_settings),
        b_settings=tuple(args.b_settings),
        dataset=args.dataset[0] if len(args.dataset) == 1 else "",
        metric=args.metric,
        claims=args.claims,
    )
    sys.stdout.write(compare_command(request))
    return 0


def cmd_data(args: argparse.Namespace) -> int:
    root = data_root_from_env(args.root)
    sets = tuple(getattr(args, "sets", ()))  # download takes no --set
    if args.action == "check":
        request = data_commands.CheckRequest(
            args.dataset, root, sets, args.strict, not args.no_decode, not args.quiet, args.json
        )
        return data_commands.check_command(request)
    if args.action == "preview":
        return data_commands.preview_command(
            data_commands.PreviewRequest(
                args.dataset,
                root,
                Path(args.output),
                sets,
                tuple(args.compare),
                args.per_class,
                args.split,
            )
        )
    return data_commands.fetch_command(args.action, args.dataset, root, sets)


def cmd_eval_gen(args: argparse.Namespace) -> int:
    shortcuts = [
        f"{k}={v}" for k, v in (("extractor", args.extractor), ("n", args.n)) if v is not None
    ]
    record = eval_gen(
        args.dataset,
        args.synthetic,
        args.run,
        [*shortcuts, *args.sets],
        args.results,
        data_root_from_env(args.data_root),
        args.device,
        progress=not args.quiet,
    )
    print(json.dumps(record, indent=2, sort_keys=True))
    return 0


def cmd_synth(args: argparse.Namespace) -> int:
    if args.action == "export":
        request = synth.ExportRequest(args.png, args.hf, args.parquet, not args.quiet)
        return synth.export_command(args.run, args.synthetic, request)
    preview = synth.PreviewRequest(Path(args.output), args.per_class, args.classes, args.data_root)
    return synth.preview_command(args.run, args.synthetic, preview)


def cmd_weights(args: argparse.Namespace) -> int:
    if args.action == "list":
        return weights_cli.list_command(args.json)
    selection = weights_cli.RunSelection(
        args.method, args.dataset, args.seed, args.config, tuple(args.sets)
    )
    if args.action == "check":
        return weights_cli.check_command(selection, args.json)
    return weights_cli.download_command(selection, tuple(args.names), args.all)


def cmd_sweep(args: argparse.Namespace) -> int:
    # submitit: heavy, imported where used (off the start-up path)
    from bench.launch import sweep as sweeps

    slurm_sets = [s for s in args.sets if s.startswith("slurm.")]
    run_sets = tuple(s for s in args.sets if not s.startswith("slurm."))
    if (slurm_sets or args.profile) and args.launcher != "slurm":
        raise BenchError("--profile and --set slurm.* apply to --launcher slurm only.")
    root = Path(args.data_root) if args.data_root else None
    env = Env(Path(args.results), root, args.device, args.rebuild_cache)
    options = {"profile": args.profile, "sets": slurm_sets, "concurrency": args.concurrency}
    options.update(max_runs=args.max_runs, smoke=args.smoke)
    if args.dry_run:
        return sweep_dry_run(args, options, run_sets, env)
    launching = not (args.status or args.cancel)
    sweep = sweeps.open_sweep(args.spec, args.launcher, options, run_sets, env, launching)
    if args.status:
        print(sweeps.status_table(sweep, sweep.status()))
        return 0
    if args.cancel:
        print(f"cancelled {sweeps.cancel(sweep)} job(s) of sweep {sweep.spec.name}")
        return 0
    submitted = sweeps.launch(sweep, retry_failed=args.retry_failed)
    print(submission_line(sweep, submitted, "submitted"))
    if args.wait and not sweep.launcher.waits:
        sweeps.wait(sweep)
    if args.wait or sweep.launcher.waits:
        status = sweep.status()
        print(sweeps.status_table(sweep, status, submitted.held))
    else:  # what failed before this launch, unless it was just resubmitted
        status = {} if args.retry_failed else submitted.status
        report = sweeps.failure_report(sweep, status, submitted.held)
        if report:
            print(report)
    if "failed" not in status.values():
        return 0
    print(f"to retry once the cause is fixed:\n  {retry_command(args)}")
    return 1


def retry_command(args: argparse.Namespace) -> str:
    """The `bench sweep ... --retry-failed` command of this sweep (the same spec, launcher,
    profile, settings and folders)."""
    words = ["bench", "sweep", args.spec]
    words += ["--launcher", args.launcher] if args.launcher != "slurm" else []
    words += ["--profile", args.profile] if args.profile else []
    for item in args.sets:
        words += ["--set", item]
    options = {"--results": args.results, "--data-root": args.data_root, "--device": args.device}
    options.update({"--max-runs": args.max_runs, "--concurrency": args.concurrency})
    for option, value in options.items():
        default = {"--results": "results", "--concurrency": 1}.get(option)
        words += [option, str(value)] if value is not None and value != default else []
    flags = {"--smoke": args.smoke, "--rebuild-cache": args.rebuild_cache, "--wait": args.wait}
    words += [flag for flag, on in flags.items() if on]
    return shlex.join([*words, "--retry-failed"])


def sweep_dry_run(args: argparse.Namespace, options: dict, run_sets: tuple[str, ...], env) -> int:
    """`bench sweep SPEC --dry-run`: the runs, what they need and cost (bench.launch.dryrun),
    with no weights or GPU needed; exit 2 where SLURM rejects an array."""

    spec = load_spec(args.spec)
    max_runs = options.get("max_runs") or MAX_RUNS
    configs = spec.configs(run_sets, max_runs, smoke=bool(options.get("smoke")))
    text = dry_run(spec, configs, env, args.launcher, options)
    print(text)
    print(would_submit(args, options, run_sets, env))
    rejected = [line for line in text.splitlines() if line.startswith("REJECTED ")]
    if rejected:
        raise ConfigError(
            f"SLURM rejects {len(rejected)} array(s) of sweep {spec.name}: "
            + "; ".join(r.removeprefix("REJECTED ") for r in rejected)
            + ". Fix the profile (--profile, --set slurm.KEY=VALUE); nothing was submitted."
        )
    return 0


def submission_line(sweep, submitted, verb: str) -> str:
    stages = ", ".join(f"{n} {st}" for st, n in submitted.per_stage.items()) or "nothing"
    left = ", ".join(f"{n} {s}" for s, n in submitted.skipped.items())
    return f"sweep {sweep.spec.name}: {verb} {stages}" + (f" (left alone: {left})" if left else "")


def would_submit(args: argparse.Namespace, options: dict, run_sets: tuple[str, ...], env) -> str:
    """What a launch now would submit, units done on disk left alone (planning reads the data:
    where it is missing, said so instead). Writes nothing."""
    # submitit: heavy, imported where used (off the start-up path)
    from bench.launch import sweep as sweeps

    try:
        sweep = sweeps.open_sweep(args.spec, args.launcher, options, run_sets, env, False)
    except BenchError as exc:
        return f"would submit: not planned ({user_message(exc).splitlines()[0][:200]})"
    submitted = sweeps.launch(sweep, retry_failed=args.retry_failed, dry_run=True)
    return submission_line(sweep, submitted, "would submit")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
