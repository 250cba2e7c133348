"""Training-batch throughput: the synthetic store vs a PNG ImageFolder of the same images.

Both go through torch's DataLoader with the same batch size and number of workers, one after the
other in one process (so the ratio is measured on the same machine state). The store goes
through exactly the training path: `bench.train.loop.Indexed` over the store's dataset, keys
(index, sample seed), whole batches read at once, the shift / flip augmentation of an in-memory
("array") dataset; the PNG folder through torchvision's ImageFolder with the equivalent
RandomCrop(padding) + RandomHorizontalFlip, decoded per image.

    python benchmarks/store_throughput.py [--images 20000] [--size 64] [--batch 256] [--workers 0]

Goal (issue 7): the store at least 5x the PNG folder.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, RandomSampler

from bench.data.torchdata import StreamImages
from bench.generators.base import SampleBatch, SynthesisRequest
from bench.synthesis.export import export_png
from bench.synthesis.store import StoreWriter, SyntheticSet
from bench.train.loop import Indexed


def make_store(root: Path, n: int, size: int) -> SyntheticSet:
    manifest = {
        "key": "bench",
        "num_images": n,
        "image_size": size,
        "channels": 3,
        "dtype": "uint8",
        "class_names": [str(c) for c in range(10)],
    }
    writer = StoreWriter(root / "store", manifest)
    requests = [SynthesisRequest(i, i % 10, i) for i in range(n)]

    def generate(batch):
        rng = np.random.default_rng(batch[0].index)
        # smooth-ish images so PNG compresses as it would on generated images
        base = rng.integers(0, 256, (len(batch), size // 8, size // 8, 3), dtype=np.uint8)
        return SampleBatch(np.repeat(np.repeat(base, 8, 1), 8, 2))

    writer.fill(requests, generate, progress=False)
    writer.finish()
    return SyntheticSet(root / "store")


def rate(loader: DataLoader, batches: int) -> float:
    it = iter(loader)
    next(it)  # warm-up: workers started, first maps opened
    start, seen = time.perf_counter(), 0
    for _ in range(batches):
        x = next(it)[0]
        seen += len(x)
    return seen / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--images", type=int, default=20000)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--batches", type=int, default=30)
    parser.add_argument("--workers", type=int, default=0)
    args = parser.parse_args()
    from torchvision import transforms as T
    from torchvision.datasets import ImageFolder

    torch.set_num_threads(1)  # the DataLoader's main process, as a training job's would be
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        store = make_store(root, args.images, args.size)
        export_png(store, root / "png", progress=False)
        stream = Indexed(StreamImages(store, args.size, 3, "half", "standard", "array"), True)
        mean, std = [0.5] * 3, [0.5] * 3
        folder = ImageFolder(
            str(root / "png"),
            T.Compose(
                [
                    T.RandomCrop(args.size, padding=args.size // 8),
                    T.RandomHorizontalFlip(),
                    T.ToTensor(),
                    T.Normalize(mean, std),
                ]
            ),
        )
        results = {}
        rng = np.random.default_rng(0)
        keys = [
            [
                (int(i), int(s))
                for i, s in zip(
                    rng.integers(0, args.images, args.batch),
                    rng.integers(0, 2**40, args.batch),
                    strict=True,
                )
            ]
            for _ in range(args.batches + 1)
        ]
        for name, dataset in (("store", stream), ("png", folder)):
            if name == "store":
                loader = DataLoader(dataset, batch_sampler=keys, num_workers=args.workers)
            else:
                sampler = RandomSampler(
                    dataset, replacement=True, num_samples=args.batch * (args.batches + 1)
                )
                loader = DataLoader(
                    dataset, batch_size=args.batch, sampler=sampler, num_workers=args.workers
                )
            results[name] = rate(loader, args.batches)
        print(
            f"images {args.images} at {args.size} px, batch {args.batch}, "
            f"workers {args.workers}, random access"
        )
        for name, value in results.items():
            print(f"  {name:5s} {value:10.0f} images/s")
        print(f"  store / png = {results['store'] / results['png']:.1f}x  (goal >= 5x)")


if __name__ == "__main__":
    main()
