"""Leaderboard at scale: aggregate and render 10,000 generated run records.

    .venv/bin/python benchmarks/leaderboard_scale.py            # 10,000 records
    .venv/bin/python benchmarks/leaderboard_scale.py --n 50000 --no-disk

The records look like `bench run` writes them: a resolved config (every method, dataset and
recipe setting) and a result with overall / many / medium / few and per-class accuracy, training
and synthetic counts. They span 5 methods x 4 settings each, three long-tailed dataset settings
(cifar100-lt at imbalance factors 100 and 50, digits-lt) and a few-shot dataset (caltech101, k in
1..16, 8 trials), plus the 877 published values beside them.

Timed, each in this process after a warm-up: `collect` (records -> tables, with published rows,
CI and within-noise tests) and each renderer; then, with the records written to a temporary
results directory, `load_records` (reading and validating every config.json / result.json). The
peer in the same run is `json.loads` of the same texts, the least any reader has to do: the
ratio says what aggregation costs beyond parsing. The goal (issue 12): aggregation of 10,000
records under 2 s. This is a benchmark, not a test: run it by hand.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

METHODS = ("erm", "balanced-softmax", "ddpm-fill", "crt", "fg-entropy")
SETTINGS = ({}, {"lr": 0.1}, {"lr": 0.05}, {"epochs_extra": 2})


def generate(n: int, seed: int = 0) -> list[dict]:
    from bench.runs.config import resolve

    rng = random.Random(seed)
    base = {
        ("cifar100-lt", 100.0): resolve("erm", "cifar100-lt", sets=["imbalance_factor=100"]),
        ("cifar100-lt", 50.0): resolve("erm", "cifar100-lt", sets=["imbalance_factor=50"]),
        ("digits-lt", 100.0): resolve("ddpm-fill", "digits-lt"),
        ("caltech101", 0.0): resolve("erm", "caltech101"),
    }
    keys = list(base)
    records = []
    for i in range(n):
        dataset, factor = keys[i % len(keys)]
        config = base[(dataset, factor)].to_json()
        method = METHODS[(i // len(keys)) % len(METHODS)]
        config["method"] = method
        config["hparams"] = {**config["hparams"], **SETTINGS[(i // 20) % len(SETTINGS)]}
        config["seed"] = (i // 80) % 10
        if dataset == "caltech101":
            config["data"] = {**config["data"], "shots": 2 ** (i % 5), "trial": (i // 7) % 8}
        classes = 102 if dataset == "caltech101" else (10 if dataset == "digits-lt" else 100)
        per_class = [rng.random() for _ in range(classes)]
        counts = [max(1, int(500 * 0.01 ** (c / (classes - 1)))) for c in range(classes)]
        test = {
            "overall": sum(per_class) / classes,
            "many": rng.random(),
            "medium": rng.random(),
            "few": rng.random(),
            "per_class": per_class,
        }
        metrics = {
            "test": test,
            "selection": "best-val",
            "train_counts": counts,
            "synthetic_counts": [500 - c for c in counts] if method == "ddpm-fill" else None,
        }
        records.append({"config": config, "result": {"metrics": metrics}})
    return records


def timed(fn, repeat: int = 3) -> tuple[float, object]:
    best, out = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - start)
    return best, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--no-disk", action="store_true", help="skip the read-from-disk timing")
    args = parser.parse_args()

    from bench.report import published
    from bench.report.layout import Options, collect
    from bench.report.records import load_records
    from bench.report.render import render

    records = generate(args.n)
    pub = published.load(published.default_directory())
    methods = list(METHODS)

    def aggregate():
        options = Options(
            tuple(methods),
            ci=True,
            mark_noise=True,
            all_published=True,  # every published table, as before the page led with ours
            registered=frozenset(METHODS),
        )
        return collect(records, options, published=pub)

    collect_s, report = timed(aggregate)
    rows = sum(len(t.rows) for t in report.tables)
    print(f"records: {args.n:,}; tables: {len(report.tables)}; rows: {rows:,}")
    print(f"collect (records -> tables, published, CI, noise tests): {collect_s:.3f} s")
    total = collect_s
    for fmt in ("md", "latex", "csv", "html"):
        seconds, _ = timed(lambda fmt=fmt: render(report, fmt))
        total += seconds
        print(f"render {fmt:<5}: {seconds:.3f} s")
    print(f"aggregation + all four formats: {total:.3f} s (goal: < 2 s for 10,000 records)")
    if args.no_disk:
        return
    with tempfile.TemporaryDirectory() as tmp:
        results = Path(tmp)
        texts = []
        for i, rec in enumerate(records):
            run_dir = results / "runs" / f"run-{i:06d}"
            run_dir.mkdir(parents=True)
            for name in ("config", "result"):
                text = json.dumps(rec[name])
                (run_dir / f"{name}.json").write_text(text)
                texts.append(text)
            (run_dir / "done").write_text("{}")
        parse_s, _ = timed(lambda: [json.loads(t) for t in texts])
        load_s, loaded = timed(lambda: load_records(results))
        assert len(loaded.records) == args.n and not loaded.skipped
        print(f"peer: json.loads of the {len(texts):,} record texts (no disk): {parse_s:.3f} s")
        print(f"load_records (read + validate from disk): {load_s:.3f} s")
        print(f"collect / json.loads peer: {collect_s / parse_s:.2f}x")


if __name__ == "__main__":
    main()
