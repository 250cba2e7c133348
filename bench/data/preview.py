"""Image grids for looking at data: `bench data preview` (datasets side by side, per class) and
the grid `bench synth preview` draws its real and synthetic rows on (torchvision's make_grid,
each row labelled with its class and where its images come from)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from bench.errors import BenchError
from bench.io import atomic_write

# The largest preview image (pixels) bench draws: 64 megapixels, an 8,000 x 8,000 canvas.
MAX_PIXELS = 64_000_000


def image_grid(
    rows: Sequence[np.ndarray],
    size: int,
    out: Path,
    columns: int,
    labels: Sequence[str] | None = None,
) -> Path:
    """One PNG of rows of uint8 N x size x size x C images (torchvision's `make_grid`; gray rows
    shown as RGB, small images enlarged to at least 32 px), each row named by its label in a
    left margin; written atomically. A short row leaves its end blank."""
    # torch, torchvision: heavy, imported where used (off the start-up path)
    import torch
    from torchvision.utils import make_grid

    if out.is_dir():
        raise BenchError(f"--output {out} is a folder: name the PNG file to write.")
    factor = max(1, -(-32 // size))  # nearest-neighbour enlargement of small images
    cell = size * factor
    pad = max(1, cell // 16)
    width, height = columns * (cell + pad) + pad, len(rows) * (cell + pad) + pad
    if width * height > MAX_PIXELS:
        raise BenchError(
            f"the preview would be {width:,} x {height:,} pixels ({len(rows)} rows of {columns} "
            f"images of {cell} px), more than the {MAX_PIXELS:,} bench draws: choose fewer "
            "classes (--classes) or fewer images per row (--per-class)."
        )
    blank = np.full((cell, cell, 3), 255, np.uint8)
    cells = []
    for images in rows:
        shown = [enlarge(image, factor) for image in images[:columns]]
        cells += shown + [blank] * (columns - len(shown))
    batch = torch.from_numpy(np.stack(cells)).permute(0, 3, 1, 2)
    grid = make_grid(batch, nrow=columns, padding=pad, pad_value=255)
    picture = Image.fromarray(grid.permute(1, 2, 0).numpy())
    if labels is not None:
        picture = with_row_labels(picture, labels, cell + pad, pad)
    atomic_write(out, lambda tmp: picture.save(tmp, format="PNG"))
    return out


def enlarge(image: np.ndarray, factor: int) -> np.ndarray:
    rgb = np.repeat(image, 3, -1) if image.shape[-1] == 1 else image
    return rgb.astype(np.uint8).repeat(factor, 0).repeat(factor, 1)


def with_row_labels(grid: Any, labels: Sequence[str], step: int, pad: int) -> Any:
    """The grid with a white margin on its left holding each row's label."""

    font = ImageFont.load_default()
    measure = ImageDraw.Draw(grid)
    margin = int(max(measure.textlength(text, font=font) for text in labels)) + 3 * pad + 4
    canvas = Image.new("RGB", (grid.width + margin, grid.height), (255, 255, 255))
    canvas.paste(grid, (margin, 0))
    draw = ImageDraw.Draw(canvas)
    for r, text in enumerate(labels):
        top, bottom = pad + r * step, pad + (r + 1) * step - pad
        draw.text((pad + 2, (top + bottom) // 2), text, fill=(0, 0, 0), font=font, anchor="lm")
    return canvas


def compare(
    datasets: Sequence[Any],
    out: Path,
    per_class: int = 8,
    classes: list[int] | None = None,
    split: str = "train",
) -> Path:
    """Per class, one row from each dataset (LoadedDataset) in turn, at the first's size: e.g.
    printed digits above handwritten ones."""
    # torch: heavy, imported where used (off the start-up path)
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
    rows, labels = [], []
    for label in classes:
        for d, reader in zip(datasets, readers, strict=True):
            ids = np.flatnonzero(d.splits[split].targets == label)[:per_class]
            rows.append(reader.read(ids))
            labels.append(f"{first.class_names[label]}: {d.name}")
    if not rows:
        raise BenchError("nothing to preview: no class selected.")
    return image_grid(rows, size, out, per_class, labels)
