"""Density / coverage: time and peak memory of bench's blocked `prdc` against the `prdc` package.

    .venv/bin/python benchmarks/prdc_memory.py                   # 20,000 x 512, both
    .venv/bin/python benchmarks/prdc_memory.py --n 50000 --dim 2048 --only bench

Each implementation runs in its own fresh process on the same seeded features (real ~ N(0, 1),
fake ~ N(0, 1.05^2), float32). A process reports its wall time for the computation alone and
its peak resident memory (ru_maxrss), once right before the computation (imports and features
loaded) and once at the end; the difference is what the computation itself needed. The results
of both must agree exactly. This is a benchmark, not a test: run it by hand.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

CHILD = "child"
DEFAULT_BLOCK = 2048  # bench.metrics.manifold.DEFAULT_BLOCK


def features(n: int, dim: int, seed: int):
    import numpy as np

    rng = np.random.default_rng(seed)
    real = rng.standard_normal((n, dim), dtype=np.float32)
    fake = (rng.standard_normal((n, dim), dtype=np.float32) * 1.05).astype(np.float32)
    return real, fake


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: kilobytes


def child(which: str, n: int, dim: int, k: int, seed: int, block: int) -> None:
    """Run one implementation and print one JSON line."""
    if which == "bench":
        import torch  # noqa: F401  (imported before the baseline is taken)

        from bench.metrics.manifold import prdc

        def compute(real, fake, k):
            return prdc(real, fake, k, block=block)
    else:
        from prdc import compute_prdc

        def compute(real, fake, k):
            return compute_prdc(real, fake, nearest_k=k)

    real, fake = features(n, dim, seed)
    baseline = peak_mb()
    start = time.perf_counter()
    out = compute(real, fake, k)
    seconds = time.perf_counter() - start
    result = {key: float(value) for key, value in out.items()}
    line = {"which": which, "seconds": seconds, "baseline_mb": baseline, "peak_mb": peak_mb()}
    print(json.dumps({**line, "result": result}))


def run_child(which: str, args: argparse.Namespace) -> dict:
    sizes = (args.n, args.dim, args.k, args.seed, args.block)
    cmd = [sys.executable, __file__, CHILD, which, *map(str, sizes)]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def report(runs: list[dict], args: argparse.Namespace) -> None:
    print(
        f"features: {args.n} x {args.dim} real and fake, float32, k = {args.k}, block {args.block}"
    )
    for r in runs:
        extra = r["peak_mb"] - r["baseline_mb"]
        print(
            f"{r['which']:>6}: {r['seconds']:8.1f} s   peak {r['peak_mb']:8.0f} MB   "
            f"(+{extra:.0f} MB over {r['baseline_mb']:.0f} MB after imports and data)"
        )
        print(f"        {r['result']}")
    if len(runs) == 2:
        ours, theirs = runs
        total = theirs["peak_mb"] / ours["peak_mb"]
        extra = (theirs["peak_mb"] - theirs["baseline_mb"]) / (
            ours["peak_mb"] - ours["baseline_mb"]
        )
        speed = theirs["seconds"] / ours["seconds"]
        print(f"prdc / bench: peak memory x{total:.1f} (computation alone x{extra:.1f})")
        print(f"prdc / bench: time x{speed:.2f}")
        print("identical results:", ours["result"] == theirs["result"])


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == CHILD:
        which, n, dim, k, seed, block = sys.argv[2], *map(int, sys.argv[3:8])
        child(which, n, dim, k, seed, block)
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20_000, help="samples per set")
    parser.add_argument("--dim", type=int, default=512)
    parser.add_argument("--k", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--block", type=int, default=DEFAULT_BLOCK, help="bench's block size")
    parser.add_argument("--only", choices=("bench", "prdc"))
    args = parser.parse_args()
    names = [args.only] if args.only else ["bench", "prdc"]
    report([run_child(name, args) for name in names], args)


if __name__ == "__main__":
    main()
