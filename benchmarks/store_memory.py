"""Peak memory of one training epoch over a large synthetic store (streamed, never loaded).

Writes a store of N images (default 1,000,000 at 64 px: 12.3 GB on disk), then runs one epoch
of the harness's synthetic-data training path over it (`Indexed` over the store: whole-batch
reads, per-sample seeded shift + flip, as `bench.train.loop.make_loader` reads it), a DataLoader
and a linear classifier step per batch. Prints the peak resident memory (ru_maxrss) of the
process, and of a baseline process that only imports torch.

    python benchmarks/store_memory.py [--images 1000000] [--size 64] [--keep DIR]

Goal (issue 7): under 2 GB.
"""

from __future__ import annotations

import argparse
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def write(root: Path, n: int, size: int) -> None:
    from bench.generators.base import SampleBatch, SynthesisRequest
    from bench.synthesis.store import StoreWriter

    manifest = {"key": "mem", "num_images": n, "image_size": size, "channels": 3, "dtype": "uint8"}
    writer = StoreWriter(root, manifest)

    class Lazy(list):  # requests made on demand per shard: the list itself is small
        def __len__(self):
            return n

        def __getitem__(self, s):
            return [SynthesisRequest(i, i % 100, i) for i in range(*s.indices(n))]

    def generate(batch):
        rng = np.random.default_rng(batch[0].index)
        return SampleBatch(rng.integers(0, 256, (len(batch), size, size, 3), dtype=np.uint8))

    writer.fill(Lazy(), generate, progress=False)
    writer.finish()


def epoch(root: Path, size: int, batch: int) -> None:
    import torch
    from torch.utils.data import DataLoader

    from bench.data.torchdata import StreamImages
    from bench.synthesis.store import SyntheticSet
    from bench.train.loop import Indexed

    torch.set_num_threads(1)
    store = SyntheticSet(root)
    # The training path (bench.train.loop.make_loader): keys (index, sample seed) in batches,
    # whole-batch reads from the store, per-sample seeded shift + flip. The epoch's order is one
    # permutation (8 bytes an image); its batches of keys are made as the loader asks for them.
    data = Indexed(StreamImages(store, size, 3, "half", "standard", "array"), True)
    order = np.random.default_rng(0).permutation(len(store))

    class Batches:
        def __len__(self):
            return -(-len(order) // batch)

        def __iter__(self):
            for start in range(0, len(order), batch):
                part = order[start : start + batch]
                yield [(int(i), int(i) * 7919 + 1) for i in part]

    loader = DataLoader(data, batch_sampler=Batches(), num_workers=0)
    model = torch.nn.Linear(3 * size * size, 100)
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    start, seen = time.time(), 0
    for x, y, _ in loader:
        loss = torch.nn.functional.cross_entropy(model(x.flatten(1)), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        seen += len(y)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"epoch over {seen} images in {time.time() - start:.0f} s; peak RSS {peak:.0f} MB")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--images", type=int, default=1_000_000)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--keep", help="write the store here and keep it")
    parser.add_argument("--epoch-only", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.epoch_only:
        epoch(Path(args.epoch_only), args.size, args.batch)
        return
    root = Path(args.keep) if args.keep else Path(tempfile.mkdtemp()) / "store"
    try:
        if not (root / "done").exists():
            start = time.time()
            write(root, args.images, args.size)
            print(f"wrote {args.images} images in {time.time() - start:.0f} s")
        baseline = subprocess.run(
            [
                sys.executable,
                "-c",
                "import resource, torch; print(resource.getrusage("
                "resource.RUSAGE_SELF).ru_maxrss / 1024)",
            ],
            capture_output=True,
            text=True,
        )
        print(f"baseline (import torch): peak RSS {float(baseline.stdout):.0f} MB")
        subprocess.run(
            [
                sys.executable,
                __file__,
                "--epoch-only",
                str(root),
                "--size",
                str(args.size),
                "--batch",
                str(args.batch),
            ],
            check=True,
        )
    finally:
        if not args.keep:
            shutil.rmtree(root.parent, ignore_errors=True)


if __name__ == "__main__":
    main()
