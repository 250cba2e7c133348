"""Epoch time on a JPEG tree: decoding in the main process at full size (before) against loader
worker processes with reduced-size JPEG decoding (after).

    .venv/bin/python benchmarks/jpeg_pipeline.py                  # 256 JPEGs of 500x375, 224 px
    .venv/bin/python benchmarks/jpeg_pipeline.py --images 2048 --workers 8

Writes a tree of random-content JPEGs (ImageNet's typical 500x375) to a temporary folder, then
times one pass of the recipe's training loader over it (evaluation transform: Resize + CenterCrop,
which allows draft decoding; and the training RandomResizedCrop, which does not) in three
configurations: workers 0 + full decode (the pipeline before), workers 0 + draft, and
`--workers` + draft (after; the recipe's default is one per core up to 8, minus one). Rounds
alternate configurations. A benchmark, not a test.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path


def write_tree(root: Path, n: int) -> list[str]:
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    files = []
    for i in range(n):
        # smooth random content (JPEG-friendly, like photos) rather than white noise
        small = rng.integers(0, 256, (12, 16, 3), dtype=np.uint8)
        image = Image.fromarray(small).resize((500, 375), Image.BICUBIC)
        path = root / f"{i:05d}.jpg"
        image.save(path, quality=90)
        files.append(str(path))
    return files


def epoch_seconds(files, augment, draft_on, workers, image_size, batch) -> float:
    import numpy as np
    from torch.utils.data import DataLoader

    from bench.data.torchdata import FileImages, draft_size, file_transform

    transform = file_transform(image_size, augment, "imagenet", 3)
    draft = draft_size(image_size, augment, "crop") if draft_on else None
    dataset = FileImages(files, np.zeros(len(files), dtype=np.int64), transform, 3, draft)
    loader = DataLoader(dataset, batch_size=batch, num_workers=workers, shuffle=False)
    start = time.perf_counter()
    for _ in loader:
        pass
    return time.perf_counter() - start


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--images", type=int, default=256)
    p.add_argument("--workers", type=int, default=max(1, min(8, (os.cpu_count() or 1) - 1)))
    p.add_argument("--image-size", type=int, default=224)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--rounds", type=int, default=3)
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        files = write_tree(Path(tmp), args.images)
        configs = {
            "before: workers 0, full decode": (False, 0),
            "workers 0, draft decode": (True, 0),
            f"after: workers {args.workers}, draft decode": (True, args.workers),
        }
        for augment in ("none", "standard"):
            times: dict[str, list[float]] = {name: [] for name in configs}
            for _ in range(args.rounds):
                for name, (draft_on, workers) in configs.items():
                    times[name].append(
                        epoch_seconds(
                            files, augment, draft_on, workers, args.image_size, args.batch
                        )
                    )
            print(
                f"\n{args.images} JPEGs 500x375 -> {args.image_size} px, transform "
                f"augment={augment!r}, {os.cpu_count()} cores, median of {args.rounds}"
            )
            base = statistics.median(times[next(iter(configs))])
            for name, values in times.items():
                med = statistics.median(values)
                print(
                    f"  {name:34s} {med:7.2f} s  {args.images / med:8.1f} images/s  "
                    f"x{base / med:.2f}"
                )


if __name__ == "__main__":
    main()
