"""ImageSplit -> torch Dataset, with the recipe's normalisation and augmentation."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, UnidentifiedImageError
from torch.utils.data import Dataset

from bench.data import ImageSplit
from bench.data.augment import image_augmentation, split_augment
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
        self.augment, self.randaugment = image_augmentation(augment), split_augment(augment)[1]
        self.pad = max(1, image_size // 8)

    def __len__(self) -> int:
        return len(self.targets)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.images[i].float() / 255.0
        x = self.augmented(x)
        return (x - self.mean) / self.std, self.targets[i]

    def augmented(self, x: torch.Tensor) -> torch.Tensor:
        x = self.augment.array(x, self.pad)
        return rand_augment(x) if self.randaugment else x


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
        resize: str = "crop",
    ):
        self.source = source
        self.targets = torch.as_tensor(source.targets, dtype=torch.long)
        self.image_size, self.channels, self.like = image_size, channels, like
        self.augment, self.randaugment = image_augmentation(augment), split_augment(augment)[1]
        self.mean, self.std = mean_std(normalize, channels)
        self.scale, self.shift = 1.0 / (255.0 * self.std), self.mean / self.std
        self.pad = max(1, image_size // 8)
        self.transform = (
            file_transform(image_size, augment, normalize, channels, resize)
            if like == "file"
            else None
        )

    def __len__(self) -> int:
        return len(self.targets)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.item(int(i), None)

    def item(self, i: int, seed: int | None) -> tuple[torch.Tensor, torch.Tensor]:
        """Sample i; the array path's shift and flip come from `seed` as in `getitems_seeded`
        (the same key gives the same image on either path), or from torch's generator when
        `seed` is None. RandAugment and file transforms draw from torch's generator."""
        image = self.source.image(i)
        if self.transform is not None:
            mode = "L" if self.channels == 1 else "RGB"
            pil = Image.fromarray(image[..., 0] if image.shape[-1] == 1 else image)
            return self.transform(pil.convert(mode)), self.targets[i]
        if image.shape[-1] != self.channels or image.shape[0] != self.image_size:
            image = resize_uint8(image[None], self.image_size, self.channels)[0]
        x = torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1)[None]
        if self.augment.stream_shift:
            if seed is None:
                dy, dx = torch.randint(-self.pad, self.pad + 1, (2, 1))
                flip = torch.rand(1) < 0.5 if self.augment.stream_flip else None
            else:
                dy, dx, flip = self.offsets([seed])
            x = shift_batch(x, dy, dx, flip)
        x = x[0].float() / 255.0
        if self.augment.per_sample:
            x = self.augment.array(x, self.pad)
        if self.randaugment:
            x = rand_augment(x)
        return (x - self.mean) / self.std, self.targets[i]

    def offsets(self, seeds: list[int]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """Each sample's pad-crop offsets (dy, dx) and flip, drawn from its seed alone."""
        span = 2 * self.pad + 1
        mixed = [mix64(seed) for seed in seeds]
        dy = torch.tensor([m % span for m in mixed]) - self.pad
        dx = torch.tensor([(m >> 16) % span for m in mixed]) - self.pad
        flip = (
            torch.tensor([(m >> 32) & 1 for m in mixed], dtype=torch.bool)
            if self.augment.stream_flip
            else None
        )
        return dy, dx, flip

    def getitems_seeded(
        self, keys: list[tuple[int, int]], augments: bool = True
    ) -> list[tuple[torch.Tensor, torch.Tensor, int]]:
        """A whole batch at once for keys (index, sample seed): one read per shard, and the
        array transforms applied to the batch, each sample's shift and flip drawn from its own
        seed (so they do not depend on the batch, the loader worker or whether the batch is
        read whole). File-like transforms and RandAugment run per sample, under torch's
        generator seeded with the sample seed."""
        indices = [int(i) for i, _ in keys]
        # RandAugment and plain-function augmentations draw per sample
        per_sample = (self.randaugment or self.augment.per_sample) and augments
        if self.transform is not None or not hasattr(self.source, "read") or per_sample:
            out = []
            for index, seed in keys:
                if augments:
                    torch.default_generator.manual_seed(seed)
                x, y = self.item(index, seed if augments else None)
                out.append((x, y, index))
            return out
        images = self.source.read(np.asarray(indices, dtype=np.int64))
        if images.shape[-1] != self.channels or images.shape[1] != self.image_size:
            images = resize_uint8(images, self.image_size, self.channels)
        x = torch.from_numpy(images).permute(0, 3, 1, 2)  # still uint8: cheap to move
        if augments and self.augment.stream_shift:
            x = shift_batch(x, *self.offsets([seed for _, seed in keys]))
        # (x / 255 - mean) / std in one pass
        x = x.float().mul_(self.scale).sub_(self.shift)
        y = self.targets[torch.as_tensor(indices)]
        return list(zip(x, y, indices, strict=True))


def mix64(seed: int) -> int:
    """A well-mixed 64-bit value of a sample seed (splitmix64's finaliser): its augmentation."""
    z = (seed + 0x9E3779B97F4A7C15) & 0xFFFFFFFFFFFFFFFF
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & 0xFFFFFFFFFFFFFFFF
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & 0xFFFFFFFFFFFFFFFF
    return z ^ (z >> 31)


class Concat(Dataset):
    """Datasets one after the other (real, then synthetic); keys are (index, sample seed). Parts
    that read whole batches (`getitems_seeded`, e.g. the synthetic store) get them at once;
    the others are read sample by sample under torch's generator seeded per sample."""

    def __init__(self, parts: list[Dataset]):
        self.parts = parts
        self.starts = np.cumsum([0] + [len(p) for p in parts])

    def __len__(self) -> int:
        return int(self.starts[-1])

    def __getitem__(self, i: int) -> Any:
        k = int(np.searchsorted(self.starts, i, side="right") - 1)
        return self.parts[k][i - int(self.starts[k])]

    def getitems_seeded(
        self, keys: list[tuple[int, int]], augments: bool = True
    ) -> list[tuple[torch.Tensor, torch.Tensor, int]]:
        idx = np.asarray([i for i, _ in keys], dtype=np.int64)
        part_of = np.searchsorted(self.starts, idx, side="right") - 1
        out: list[Any] = [None] * len(keys)
        for k, part in enumerate(self.parts):
            rows = np.flatnonzero(part_of == k)
            if not len(rows):
                continue
            local = [(int(idx[r] - self.starts[k]), keys[r][1]) for r in rows]
            getter = getattr(part, "getitems_seeded", None)
            if getter is not None:
                items = getter(local, augments)
            else:
                items = []
                for index, seed in local:
                    if augments:
                        torch.default_generator.manual_seed(seed)
                    x, y = part[index]
                    items.append((x, y, index))
            for r, (x, y, _) in zip(rows, items, strict=True):
                out[r] = (x, y, int(idx[r]))
        return out


def shift_batch(
    x: torch.Tensor, dy: torch.Tensor, dx: torch.Tensor, flip: torch.Tensor | None = None
) -> torch.Tensor:
    """A batch (N x C x H x W, any dtype) with image i moved by (dy[i], dx[i]) pixels, zeros
    shifted in (the CIFAR pad-crop, without building the padding), and mirrored where `flip`
    says, in one copy."""
    n, _, h, w = x.shape
    out = torch.zeros_like(x)
    flips = [False] * n if flip is None else flip.tolist()
    for i, (oy, ox) in enumerate(zip(dy.tolist(), dx.tolist(), strict=True)):
        source = x[i].flip(-1) if flips[i] else x[i]
        out[i, :, max(0, -oy) : h - max(0, oy), max(0, -ox) : w - max(0, ox)] = source[
            :, max(0, oy) : h + min(0, oy), max(0, ox) : w + min(0, ox)
        ]
    return out


class FileImages(Dataset):
    """Images read from files on demand; unreadable files fail with their path.

    `draft` (a side in pixels): JPEGs are decoded at the smallest power-of-two reduction that
    still has both sides >= draft (PIL's draft mode, DCT scaling), which the transform then
    resizes down anyway; None decodes at full size (transforms that crop before resizing).
    """

    def __init__(
        self,
        files: list[str],
        targets: np.ndarray,
        transform: Any,
        channels: int,
        draft: int | None = None,
    ):
        self.files = files
        self.targets = torch.as_tensor(targets, dtype=torch.long)
        self.transform = transform
        self.mode = "L" if channels == 1 else "RGB"
        self.draft = draft

    def __len__(self) -> int:
        return len(self.targets)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        image = open_image(self.files[i], self.mode, self.draft)
        return self.transform(image), self.targets[i]


def open_image(path: str, mode: str, draft: int | None = None) -> Any:
    try:
        with Image.open(path) as im:
            if draft is not None and im.format == "JPEG":
                im.draft(mode, (draft, draft))
            return im.convert(mode)
    except (OSError, UnidentifiedImageError, ValueError, Image.DecompressionBombError) as exc:
        raise DataError(
            f"cannot read image {path} ({type(exc).__name__}: {exc}). Re-download or remove it; "
            "`bench data check` lists every such image."
        ) from None


def file_transform(
    image_size: int, augment: str, normalize: str, channels: int, resize: str = "crop"
) -> Any:
    """The torchvision pipeline of image files: the augmentation's `file_steps` (crop resize,
    classifier-balancing's) or `square_steps` (resize="square", DA-Fusion's), RandAugment on
    top where asked, then ToTensor, the augmentation's tensor steps and normalisation."""
    # torchvision: heavy, imported where used (off the start-up path)
    from torchvision import transforms as T

    augmentation, randaugment = image_augmentation(augment), split_augment(augment)[1]
    mean, std = (t.flatten().tolist() for t in mean_std(normalize, channels))
    if resize == "square":
        steps = augmentation.square_steps(image_size, T)
    else:
        steps = augmentation.file_steps(image_size, T)
    if randaugment:
        steps.append(T.RandAugment())  # Cubuk et al. 2020: torchvision's N = 2, M = 9
    return T.Compose([*steps, T.ToTensor(), *augmentation.post_tensor(), T.Normalize(mean, std)])


def rand_augment(x: torch.Tensor) -> torch.Tensor:
    """RandAugment (Cubuk et al. 2020; torchvision's N = 2, M = 9) of a float C x H x W image in
    [0, 1], on its uint8 version (posterize / solarize / equalize need integers); draws from
    torch's global generator, which the loader seeds per sample."""
    # torchvision: heavy, imported where used (off the start-up path)
    from torchvision.transforms import v2

    u8 = (x * 255.0).round().clamp(0, 255).to(torch.uint8)
    return v2.RandAugment()(u8).float() / 255.0


def draft_size(image_size: int, augment: str, resize: str) -> int | None:
    """The decode size a transform allows: the side it first resizes to, or None where it crops
    a random region at full resolution first (RandomResizedCrop)."""
    return image_augmentation(augment).draft(image_size, resize)


def torch_dataset(
    split: Any,
    image_size: int,
    channels: int,
    normalize: str,
    augment: str = "none",
    like: str = "array",
    resize: str = "crop",
) -> Dataset:
    """A torch Dataset of (image, label) for one split; `augment` only for training.

    `split` is an ImageSplit, or a streamed source such as a synthetic store (anything with
    `image(i)` and `targets`), transformed `like` the real data ("array" or "file").
    """
    if not isinstance(split, ImageSplit):
        return StreamImages(split, image_size, channels, normalize, augment, like, resize)
    if split.images is not None:
        return ArrayImages(split.images, split.targets, image_size, normalize, augment)
    transform = file_transform(image_size, augment, normalize, channels, resize)
    draft = draft_size(image_size, augment, resize)
    return FileImages(split.files, split.targets, transform, channels, draft)


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

    w, h = image.size
    scale = size / min(w, h)
    resized = image.resize(
        (max(size, round(w * scale)), max(size, round(h * scale))), Image.BILINEAR
    )
    w, h = resized.size
    left, top = (w - size) // 2, (h - size) // 2
    arr = np.asarray(resized.crop((left, top, left + size, top + size)))
    return arr[..., None] if arr.ndim == 2 else arr
