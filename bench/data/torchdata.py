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
        if self.augment in ("standard", "flip-rotate") and torch.rand(()) < 0.5:
            x = x.flip(-1)
        if self.augment == "flip-rotate":
            from torchvision.transforms.v2 import functional as TF

            x = TF.rotate(x, float(torch.empty(()).uniform_(-15.0, 15.0)))
        return (x - self.mean) / self.std, self.targets[i]


def random_shift(x: torch.Tensor, pad: int) -> torch.Tensor:
    """Zero-pad by `pad` pixels and crop back at a random offset (the CIFAR pad-crop)."""
    size = x.shape[-1]
    padded = F.pad(x, (pad, pad, pad, pad))
    dy, dx = (int(v) for v in torch.randint(0, 2 * pad + 1, (2,)))
    return padded[:, dy : dy + size, dx : dx + size]


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
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            if draft is not None and im.format == "JPEG":
                im.draft(mode, (draft, draft))
            return im.convert(mode)
    except (OSError, UnidentifiedImageError) as exc:
        raise DataError(f"cannot read image {path}: {exc}. Re-download or remove it.") from exc


def file_transform(
    image_size: int, augment: str, normalize: str, channels: int, resize: str = "crop"
) -> Any:
    """classifier-balancing's transforms: RandomResizedCrop + flip + ColorJitter(0.4, 0.4, 0.4)
    for training, Resize(size * 256 / 224) + CenterCrop for evaluation; or (resize="square")
    DA-Fusion's Resize((size, size)) with, for training, flip + RandomRotation(15)."""
    from torchvision import transforms as T

    mean, std = (t.flatten().tolist() for t in mean_std(normalize, channels))
    if resize == "square":
        steps = [T.Resize((image_size, image_size))]
        if augment != "none":
            steps += [T.RandomHorizontalFlip(), T.RandomRotation(15)]
    elif augment in ("standard", "flip-rotate"):
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


def draft_size(image_size: int, augment: str, resize: str) -> int | None:
    """The decode size a transform allows: the side it first resizes to, or None where it crops
    a random region at full resolution first (RandomResizedCrop)."""
    if resize == "square":
        return image_size
    if augment == "none":
        return round(image_size * 256 / 224)
    if augment == "shift":
        return image_size
    return None


def torch_dataset(
    split: Any,
    image_size: int,
    channels: int,
    normalize: str,
    augment: str = "none",
    resize: str = "crop",
) -> Dataset:
    """A torch Dataset of (image, label) for one split; `augment` only for training."""
    if getattr(split, "images", None) is not None:
        return ArrayImages(split.images, split.targets, image_size, normalize, augment)
    transform = file_transform(image_size, augment, normalize, channels, resize)
    draft = draft_size(image_size, augment, resize)
    return FileImages(split.files, split.targets, transform, channels, draft)


def split_to_uint8(split: ImageSplit, image_size: int, channels: int) -> np.ndarray:
    """All images of a split as uint8 N x H x W x C at `image_size` (e.g. to train a generator)."""
    if split.images is not None and split.images.shape[1] == image_size:
        return split.images
    if split.images is not None:
        x = torch.from_numpy(split.images).permute(0, 3, 1, 2).float()
        x = F.interpolate(x, size=(image_size, image_size), mode="bilinear", antialias=True)
        return x.round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).numpy()
    mode = "L" if channels == 1 else "RGB"
    out = []
    for path in split.files:
        im = open_image(path, mode).resize((image_size, image_size))
        arr = np.asarray(im)
        out.append(arr[..., None] if arr.ndim == 2 else arr)
    return np.stack(out)
