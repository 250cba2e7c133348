"""Image sets for the generation metrics, streamed in batches of uint8 N x H x W x 3.

Three sources: a real split (`ImageSplit`: images in memory or files on disk), a synthetic set
written by bench (`bench.synthesis.store.SyntheticSet`, opened by the caller: this leaf reads
any object with the same `batches`) and a folder of image files. Batches are read one at a
time, so 50,000 ImageNet-size images never sit in memory at once. Grayscale images are
repeated to three channels, as the extractors expect RGB.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image

from bench.data import ImageSplit
from bench.errors import DataError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp")


def to_rgb(images: np.ndarray, where: str) -> np.ndarray:
    """uint8 N x H x W x C with C in {1, 3} -> N x H x W x 3."""
    if images.dtype != np.uint8 or images.ndim != 4 or images.shape[-1] not in (1, 3):
        raise DataError(
            f"{where}: expected uint8 images of shape N x H x W x 1 or 3, got {images.dtype} "
            f"{images.shape}."
        )
    return np.repeat(images, 3, axis=-1) if images.shape[-1] == 1 else images


@dataclass
class ArraySource:
    """Images held in memory (an embedded dataset's split)."""

    images: np.ndarray
    where: str

    def __len__(self) -> int:
        return len(self.images)

    def batches(self, index: np.ndarray, batch_size: int) -> Iterator[np.ndarray]:
        for lo in range(0, len(index), batch_size):
            yield to_rgb(self.images[index[lo : lo + batch_size]], self.where)


@dataclass
class FileSource:
    """Image files; with `image_size`, each is resized (shorter side) and centre-cropped to it."""

    files: list[str]
    image_size: int | None = None

    def __len__(self) -> int:
        return len(self.files)

    def batches(self, index: np.ndarray, batch_size: int) -> Iterator[np.ndarray]:
        for lo in range(0, len(index), batch_size):
            chosen = [self.files[i] for i in index[lo : lo + batch_size]]
            yield np.stack(same_size([self.read(path) for path in chosen], chosen))

    def read(self, path: str) -> np.ndarray:
        # torch: heavy, imported where used (off the start-up path)
        from bench.data.torchdata import open_image

        image = open_image(path, "RGB")
        if self.image_size is not None:
            image = resize_center_crop(image, self.image_size)
        return np.asarray(image, dtype=np.uint8)


def resize_center_crop(image: Any, size: int) -> Any:
    w, h = image.size
    scale = size / min(w, h)
    image = image.resize((max(size, round(w * scale)), max(size, round(h * scale))), Image.BICUBIC)
    w, h = image.size
    left, top = (w - size) // 2, (h - size) // 2
    return image.crop((left, top, left + size, top + size))


def same_size(images: list[np.ndarray], paths: list[str]) -> list[np.ndarray]:
    shape = images[0].shape
    for image, path in zip(images, paths, strict=True):
        if image.shape != shape:
            raise DataError(
                f"{path} is {image.shape[1]}x{image.shape[0]} but {paths[0]} is "
                f"{shape[1]}x{shape[0]}: a synthetic image folder must hold images of one size."
            )
    return images


def split_source(split: ImageSplit, image_size: int, where: str) -> ArraySource | FileSource:
    if split.images is not None:
        return ArraySource(split.images, where)
    return FileSource(list(split.files), image_size)


def choose(total: int, n: int | None, seed: int) -> np.ndarray:
    """Up to n indices out of `total`, drawn without replacement by `seed`, in order."""
    if n is None or n >= total:
        return np.arange(total)
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(total, size=n, replace=False))
