"""ImageSplit -> torch Dataset, with the recipe's normalisation and augmentation."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from bench.data import ImageSplit
from bench.errors import DataError

NORMALISATION = {
    "imagenet": ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225)),
    "half": ((0.5, 0.5, 0.5), (0.5, 0.5, 0.5)),
}


def mean_std(kind: str, channels: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel mean and std; one channel takes the mean of the RGB values."""
    mean, std = (torch.tensor(v) for v in NORMALISATION[kind])
    if channels == 1:
        mean, std = mean.mean(0, keepdim=True), std.mean(0, keepdim=True)
    return mean.view(-1, 1, 1), std.view(-1, 1, 1)


class ArrayImages(Dataset):
    """In-memory uint8 images (N x H x W x C), normalised and augmented per sample."""

    def __init__(
        self, images: np.ndarray, targets: np.ndarray, image_size: int, normalize: str, augment: str
    ):
        x = torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2)
        if x.shape[-1] != image_size:
            x = (
                F.interpolate(
                    x.float(), size=(image_size, image_size), mode="bilinear", antialias=True
                )
                .round()
                .clamp(0, 255)
                .to(torch.uint8)
            )
        self.images = x.contiguous()
        self.targets = torch.as_tensor(targets, dtype=torch.long)
        self.mean, self.std = mean_std(normalize, x.shape[1])
        self.augment = augment
        self.pad = max(1, image_size // 8)

    def __len__(self) -> int:
        return len(self.targets)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.images[i].float() / 255.0
        if self.augment in ("shift", "standard"):
            x = random_shift(x, self.pad)
        if self.augment == "standard" and torch.rand(()) < 0.5:
            x = x.flip(-1)
        return (x - self.mean) / self.std, self.targets[i]


class StreamImages(Dataset):
    """Images read one at a time from a source with `image(i)` (uint8 H x W x C) and `targets`,
    e.g. a synthetic store: nothing is held in memory but what the source maps.

    `like` says which transforms to apply, so synthetic images get exactly the real split's:
    "array" for datasets held in memory (resize to `image_size`, then the array augmentations),
    "file" for file-backed datasets (the PIL pipeline of `file_transform`).
    """

    def __init__(
        self,
        source: Any,
        image_size: int,
        channels: int,
        normalize: str,
        augment: str,
        like: str,
    ):
        self.source = source
        self.targets = torch.as_tensor(source.targets, dtype=torch.long)
        self.image_size, self.channels, self.like = image_size, channels, like
        self.augment = augment
        self.mean, self.std = mean_std(normalize, channels)
        self.scale, self.shift = 1.0 / (255.0 * self.std), self.mean / self.std
        self.pad = max(1, image_size // 8)
        self.transform = (
            file_transform(image_size, augment, normalize, channels) if like == "file" else None
        )

    def __len__(self) -> int:
        return len(self.targets)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        image = self.source.image(int(i))
        if self.transform is not None:
            from PIL import Image

            mode = "L" if self.channels == 1 else "RGB"
            pil = Image.fromarray(image[..., 0] if image.shape[-1] == 1 else image)
            return self.transform(pil.convert(mode)), self.targets[i]
        if image.shape[-1] != self.channels or image.shape[0] != self.image_size:
            image = resize_uint8(image[None], self.image_size, self.channels)[0]
        x = torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1).float() / 255.0
        if self.augment in ("shift", "standard"):
            x = random_shift(x, self.pad)
        if self.augment == "standard" and torch.rand(()) < 0.5:
            x = x.flip(-1)
        return (x - self.mean) / self.std, self.targets[i]

    def __getitems__(self, indices: list[int]) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """A whole batch at once (the DataLoader calls this): one read per shard, and the
        array transforms applied to the batch (random draws from torch's seeded generator)."""
        if self.transform is not None or not hasattr(self.source, "read"):
            return [self[i] for i in indices]
        images = self.source.read(np.asarray(indices, dtype=np.int64))
        if images.shape[-1] != self.channels or images.shape[1] != self.image_size:
            images = resize_uint8(images, self.image_size, self.channels)
        x = torch.from_numpy(images).permute(0, 3, 1, 2)  # still uint8: cheap to move
        if self.augment in ("shift", "standard"):
            flip = torch.rand(len(x)) < 0.5 if self.augment == "standard" else None
            x = random_shift_batch(x, self.pad, flip)
        # (x / 255 - mean) / std in one pass
        x = x.float().mul_(self.scale).sub_(self.shift)
        return Batch(x, self.targets[torch.as_tensor(indices)])


class Batch(list):
    """A batch read at once: behaves as the list of (image, label) pairs a DataLoader expects,
    but `collate` takes its stacked tensors as they are instead of stacking them again."""

    def __init__(self, x: torch.Tensor, y: torch.Tensor):
        super().__init__()
        self.x, self.y = x, y

    def __len__(self) -> int:
        return len(self.y)

    def __getitem__(self, i: Any) -> Any:
        return self.x[i], self.y[i]

    def __iter__(self) -> Any:
        return zip(self.x, self.y, strict=True)


def collate(items: Any) -> Any:
    """The DataLoader's collate: a `Batch` is already collated; anything else as torch does."""
    if isinstance(items, Batch):
        return items.x, items.y
    from torch.utils.data import default_collate

    return default_collate(items)


class Concat(Dataset):
    """Datasets one after the other (real, then synthetic), passing whole batches to parts that
    read batches at once (`__getitems__`), e.g. the synthetic store."""

    def __init__(self, parts: list[Dataset]):
        self.parts = parts
        self.starts = np.cumsum([0] + [len(p) for p in parts])

    def __len__(self) -> int:
        return int(self.starts[-1])

    def __getitem__(self, i: int) -> Any:
        k = int(np.searchsorted(self.starts, i, side="right") - 1)
        return self.parts[k][i - int(self.starts[k])]

    def __getitems__(self, indices: list[int]) -> Batch:
        """The batch in index order, each part read its own way (whole batches where it can)."""
        idx = np.asarray(indices, dtype=np.int64)
        part_of = np.searchsorted(self.starts, idx, side="right") - 1
        xs, ys, where = [], [], []
        for k, part in enumerate(self.parts):
            rows = np.flatnonzero(part_of == k)
            if not len(rows):
                continue
            local = (idx[rows] - self.starts[k]).tolist()
            getter = getattr(part, "__getitems__", None)
            items = getter(local) if getter else [part[j] for j in local]
            if isinstance(items, Batch):
                xs.append(items.x)
                ys.append(items.y)
            else:
                xs.append(torch.stack([x for x, _ in items]))
                ys.append(torch.stack([torch.as_tensor(y) for _, y in items]))
            where.append(rows)
        order = torch.as_tensor(np.argsort(np.concatenate(where), kind="stable"))
        return Batch(torch.cat(xs)[order], torch.cat(ys)[order])


def random_shift_batch(x: torch.Tensor, pad: int, flip: torch.Tensor | None = None) -> torch.Tensor:
    """`random_shift` for a batch (N x C x H x W, any dtype): each image moved by its own
    offset in -pad..pad, zeros shifted in (the CIFAR pad-crop, without building the padding),
    and mirrored where `flip` says, in one copy."""
    n, _, h, w = x.shape
    out = torch.zeros_like(x)
    dy, dx = torch.randint(0, 2 * pad + 1, (2, n)) - pad
    flips = [False] * n if flip is None else flip.tolist()
    for i, (oy, ox) in enumerate(zip(dy.tolist(), dx.tolist(), strict=True)):
        source = x[i].flip(-1) if flips[i] else x[i]
        out[i, :, max(0, -oy) : h - max(0, oy), max(0, -ox) : w - max(0, ox)] = source[
            :, max(0, oy) : h + min(0, oy), max(0, ox) : w + min(0, ox)
        ]
    return out


def random_shift(x: torch.Tensor, pad: int) -> torch.Tensor:
    """Zero-pad by `pad` pixels and crop back at a random offset (the CIFAR pad-crop)."""
    size = x.shape[-1]
    padded = F.pad(x, (pad, pad, pad, pad))
    dy, dx = (int(v) for v in torch.randint(0, 2 * pad + 1, (2,)))
    return padded[:, dy : dy + size, dx : dx + size]


class FileImages(Dataset):
    """Images read from files on demand; unreadable files fail with their path."""

    def __init__(self, files: list[str], targets: np.ndarray, transform: Any, channels: int):
        self.files = files
        self.targets = torch.as_tensor(targets, dtype=torch.long)
        self.transform = transform
        self.mode = "L" if channels == 1 else "RGB"

    def __len__(self) -> int:
        return len(self.targets)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.transform(open_image(self.files[i], self.mode)), self.targets[i]


def open_image(path: str, mode: str) -> Any:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            return im.convert(mode)
    except (OSError, UnidentifiedImageError, ValueError, Image.DecompressionBombError) as exc:
        raise DataError(
            f"cannot read image {path} ({type(exc).__name__}: {exc}). Re-download or remove it; "
            "`bench data check` lists every such image."
        ) from None


def file_transform(image_size: int, augment: str, normalize: str, channels: int) -> Any:
    """classifier-balancing's transforms: RandomResizedCrop + flip + ColorJitter(0.4, 0.4, 0.4)
    for training, Resize(size * 256 / 224) + CenterCrop for evaluation."""
    from torchvision import transforms as T

    mean, std = (t.flatten().tolist() for t in mean_std(normalize, channels))
    if augment == "standard":
        steps = [
            T.RandomResizedCrop(image_size),
            T.RandomHorizontalFlip(),
            T.ColorJitter(0.4, 0.4, 0.4, 0.0),
        ]
    elif augment == "shift":
        steps = [
            T.Resize(image_size),
            T.CenterCrop(image_size),
            T.RandomCrop(image_size, padding=max(1, image_size // 8)),
        ]
    else:
        steps = [T.Resize(round(image_size * 256 / 224)), T.CenterCrop(image_size)]
    return T.Compose([*steps, T.ToTensor(), T.Normalize(mean, std)])


def torch_dataset(
    split: Any,
    image_size: int,
    channels: int,
    normalize: str,
    augment: str = "none",
    like: str = "array",
) -> Dataset:
    """A torch Dataset of (image, label) for one split; `augment` only for training.

    `split` is an ImageSplit, or a streamed source such as a synthetic store (anything with
    `image(i)` and `targets`), transformed `like` the real data ("array" or "file").
    """
    if not isinstance(split, ImageSplit):
        return StreamImages(split, image_size, channels, normalize, augment, like)
    if split.images is not None:
        return ArrayImages(split.images, split.targets, image_size, normalize, augment)
    transform = file_transform(image_size, augment, normalize, channels)
    return FileImages(split.files, split.targets, transform, channels)


class SplitImages:
    """Random access to a split's images as uint8 N x H x W x C at one size.

    Images held in memory are resized once; image files are decoded only when read (resized
    to `image_size` then centre-cropped), so a generator can train on a file-backed dataset of
    any size without loading it whole.
    """

    def __init__(self, split: ImageSplit, image_size: int, channels: int):
        self.split, self.size, self.channels = split, image_size, channels
        self.array = None
        if split.images is not None:
            self.array = resize_uint8(split.images, image_size, channels)

    def __len__(self) -> int:
        return len(self.split)

    def read(self, index: np.ndarray) -> np.ndarray:
        index = np.asarray(index, dtype=np.int64)
        if self.array is not None:
            return self.array[index]
        mode = "L" if self.channels == 1 else "RGB"
        out = [square(open_image(self.split.files[i], mode), self.size) for i in index]
        if not out:
            return np.zeros((0, self.size, self.size, self.channels), np.uint8)
        return np.stack(out)


def resize_uint8(images: np.ndarray, image_size: int, channels: int) -> np.ndarray:
    """uint8 N x H x W x C arrays at another side and channel count (bilinear, antialiased)."""
    if images.shape[-1] != channels:
        images = (
            np.repeat(images, channels, axis=-1)
            if images.shape[-1] == 1
            else np.rint(images.mean(-1, keepdims=True)).astype(np.uint8)
        )
    if images.shape[1] == image_size and images.shape[2] == image_size:
        return np.ascontiguousarray(images)
    x = torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).float()
    x = F.interpolate(x, size=(image_size, image_size), mode="bilinear", antialias=True)
    return x.round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).numpy()


def square(image: Any, size: int) -> np.ndarray:
    """A PIL image resized (shorter side to `size`) and centre-cropped to size x size, as uint8
    H x W x C."""
    from PIL import Image

    w, h = image.size
    scale = size / min(w, h)
    resized = image.resize(
        (max(size, round(w * scale)), max(size, round(h * scale))), Image.BILINEAR
    )
    w, h = resized.size
    left, top = (w - size) // 2, (h - size) // 2
    arr = np.asarray(resized.crop((left, top, left + size, top + size)))
    return arr[..., None] if arr.ndim == 2 else arr
