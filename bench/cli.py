"""The `bench` command. Thin: parse arguments, call the library, print.

Heavy libraries (torch, diffusers, timm) are imported inside the commands that need them, so
`bench --help` and `bench list` stay fast.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable
from pathlib import Path

from bench.errors import BenchError

EXAMPLES = """examples:
  bench run --method ddpm-fill --dataset digits-lt --seed 1
  bench run --method erm --dataset digits-lt --set recipe.epochs=20 --set imbalance_factor=50
  bench run --method ddpm-fill --dataset digits-lt --dry-run     # show the resolved settings
  bench list methods
  bench show results/runs/erm-digits-lt-s0-<hash>
  bench leaderboard --format latex
  bench data check --dataset imagenet-lt --root /data/imagenet --json
  bench eval-gen --run results/runs/ddpm-fill-digits-lt-s0-<hash> --extractor inception
"""


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    setup_logging(getattr(args, "quiet", False))
    try:
        return args.func(args) or 0
    except BenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted; rerun the same command to resume.", file=sys.stderr)
        return 130


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
    add_data(sub)
    add_eval_gen(sub)
    return parser


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
        "--dry-run",
        action="store_true",
        help="print the resolved settings and their sources, run nothing",
    )
    p.add_argument(
        "--smoke",
        action="store_true",
        help="the smallest settings that exercise every code path (seconds to a minute on a "
        "CPU); recorded as a smoke run and left out of leaderboards",
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
    p.add_argument("--results", default="results", help="results directory (default: results)")
    p.add_argument("--format", default="md", choices=("md", "csv", "latex"))
    p.add_argument("--output", help="write to this file instead of stdout")


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
    for q in (check, download, prepare):
        q.add_argument("--dataset", required=True, help="dataset name (bench list datasets)")
        q.add_argument("--root", "--data-root", dest="root", help="data root (or BENCH_DATA_ROOT)")
    for q in (check, prepare):
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


def setup_logging(quiet: bool) -> None:
    """INFO to the run's log.txt always; to the terminal unless --quiet (then warnings only)."""
    console = logging.StreamHandler(sys.stderr)
    console.setLevel(logging.WARNING if quiet else logging.INFO)
    console.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    logging.basicConfig(level=logging.INFO, handlers=[console], force=True)


# Commands ---------------------------------------------------------------------------------------


def cmd_run(args: argparse.Namespace) -> int:
    from bench.data import data_root_from_env
    from bench.runs.config import resolve

    config = resolve(args.method, args.dataset, args.seed, args.config, args.sets, smoke=args.smoke)
    if args.dry_run:
        print(describe_config(config))
        return 0
    from bench.runs.runner import run

    run_dir = run(
        config,
        Path(args.results),
        data_root_from_env(args.data_root, config.data_root),
        args.device,
        progress=not args.quiet,
    )
    print(run_dir)
    return 0


def describe_config(config) -> str:
    import json

    lines = [f"run: {config.run_name}", f"seed: {config.seed}"]
    for section, values in (
        ("method", config.hparams),
        ("dataset", config.data),
        ("recipe", config.recipe),
        *((f"stage.{name}", config.stages[name]) for name in config.recipe["then"]),
    ):
        lines.append(f"{section}:")
        for key, value in values.items():
            source = config.sources.get(f"{section}.{key}", "")
            lines.append(f"  {key} = {json.dumps(value)}    # {source}")
    return "\n".join(lines)


def cmd_list(args: argparse.Namespace) -> int:
    if args.what == "methods":
        from bench.methods import METHODS as registry
    else:
        from bench.datasets import DATASETS as registry
    width = max(len(n) for n in registry)
    for name in registry:
        cls = registry[name]
        summary = (cls.__doc__ or "").strip().splitlines()[0] if cls.__doc__ else ""
        print(f"{name:<{width}}  {summary}")
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    import json

    from bench.runs.records import load_run

    run = load_run(Path(args.run_dir))
    if args.json:
        print(json.dumps(run, indent=2, sort_keys=True))
        return 0
    print(format_run(run))
    return 0


def format_run(run: dict) -> str:
    cfg = run["config"]
    lines = [
        f"run       {run['dir']}",
        f"method    {cfg['method']}    dataset {cfg['dataset']}    seed {cfg['seed']}",
        f"status    {'done' if run['done'] else 'unfinished (rerun to resume)'}",
    ]
    epochs = run.get("epochs") or []
    if epochs:
        last = epochs[-1]
        lines.append(
            f"epochs    {len(epochs)} (last: loss {last['train_loss']:.4f}, "
            f"val {100 * last['val_balanced']:.1f}%)"
        )
    result = run.get("result")
    if result:
        m = result["metrics"]
        test = m["test"]
        accs = "  ".join(
            f"{k} {fmt_pct(test.get(k))}" for k in ("overall", "many", "medium", "few")
        )
        lines.append(f"test      {accs}   ({m['selection']}, epoch {m['best_epoch']})")
        lines += subgroup_lines(test)
        timings = "  ".join(f"{k} {v:.1f}s" for k, v in result["timings"].items())
        lines.append(f"timings   {timings}")
        env = result["environment"]
        lines.append(
            f"commit    {env['git']['commit']}{' (dirty)' if env['git']['dirty'] else ''}"
            f"    host {env['host']}    device {env['device']['name']}"
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
    return "–" if x is None else f"{100 * x:.1f}"


def cmd_leaderboard(args: argparse.Namespace) -> int:
    from bench.io import atomic_write_text
    from bench.methods import METHODS
    from bench.report import leaderboard
    from bench.runs.records import iter_finished_runs

    tables = leaderboard.collect(iter_finished_runs(Path(args.results)), list(METHODS))
    text = leaderboard.render(tables, args.format)
    if args.output:
        atomic_write_text(Path(args.output), text)
        print(args.output)
    else:
        sys.stdout.write(text)
    return 0


def cmd_data(args: argparse.Namespace) -> int:
    from bench.data.check import run_command

    return run_command(args)


def cmd_eval_gen(args: argparse.Namespace) -> int:
    import json

    from bench.data import data_root_from_env
    from bench.runs.evalgen import eval_gen

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


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
