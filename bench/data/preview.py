"""Image grids for looking at data: `bench data preview` (datasets side by side, per class) and
the canvas `bench synth preview` draws its real and synthetic rows on."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from bench.errors import BenchError
from bench.io import atomic_write

# The largest preview image (pixels) bench draws: 64 megapixels, an 8,000 x 8,000 canvas.
MAX_PIXELS = 64_000_000


def image_grid(rows: Sequence[np.ndarray], size: int, out: Path, columns: int) -> Path:
    """One PNG of rows of uint8 N x size x size x C images (gray rows shown as RGB), written
    atomically; a short row leaves its end blank."""
    from PIL import Image

    if out.is_dir():
        raise BenchError(f"--output {out} is a folder: name the PNG file to write.")
    pad = max(1, size // 16)
    width = columns * (size + pad) + pad
    height = len(rows) * (size + pad) + pad
    if width * height > MAX_PIXELS:
        raise BenchError(
            f"the preview would be {width:,} x {height:,} pixels ({len(rows)} rows of {columns} "
            f"images of {size} px), more than the {MAX_PIXELS:,} bench draws: choose fewer "
            "classes (--classes) or fewer images per row (--per-class)."
        )
    canvas = Image.new("RGB", (width, height), (255, 255, 255))
    for r, images in enumerate(rows):
        y = pad + r * (size + pad)
        for c, image in enumerate(images[:columns]):
            rgb = np.repeat(image, 3, -1) if image.shape[-1] == 1 else image
            canvas.paste(Image.fromarray(rgb.astype(np.uint8)), (pad + c * (size + pad), y))
    atomic_write(out, lambda tmp: canvas.save(tmp, format="PNG"))
    return out


def compare(
    datasets: Sequence[Any],
    out: Path,
    per_class: int = 8,
    classes: list[int] | None = None,
    split: str = "train",
) -> Path:
    """Per class, one row from each dataset (LoadedDataset) in turn, at the first's size: e.g.
    printed digits above handwritten ones."""
    from bench.data.torchdata import SplitImages

    first = datasets[0]
    names = [d.class_names for d in datasets]
    if any(n != names[0] for n in names):
        raise BenchError(
            "bench data preview: the datasets have different classes ("
            + " vs ".join(f"{d.name}: {len(d.class_names)}" for d in datasets)
            + "); compare datasets of the same classes."
        )
    size = first.image_size
    readers = [SplitImages(d.splits[split], size, 3) for d in datasets]
    classes = classes if classes is not None else list(range(first.num_classes))
    rows = []
    for label in classes:
        for d, reader in zip(datasets, readers, strict=True):
            ids = np.flatnonzero(d.splits[split].targets == label)[:per_class]
            rows.append(reader.read(ids))
    if not rows:
        raise BenchError("nothing to preview: no class selected.")
    return image_grid(rows, size, out, per_class)
