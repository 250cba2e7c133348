"""Image augmentations, registered in `bench.data.augment.AUGMENTS`.

An augmentation says what it does on each path a training image can take:
- `array(x, pad)`: in-memory arrays, per sample, a float C x H x W image in [0, 1], drawing from
  torch's generator (which the loader seeds per sample);
- `stream_shift` / `stream_flip`: streamed arrays (the synthetic store beside in-memory real
  data), a pad-crop shift and a mirror drawn from each sample's seed (a whole batch at once);
  `per_sample`: instead, `array` under torch's generator seeded with the sample seed;
- `file_steps(size, T)` / `square_steps(size, T)`: torchvision steps for image files, before
  ToTensor (`square`: DA-Fusion's Resize((size, size)) protocol), and `draft(size, resize)`,
  the JPEG decode size those steps allow (None: they crop at full resolution first).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F


class NoAugmentation:
    """No augmentation: files are resized (size * 256 / 224) and centre-cropped."""

    stream_shift = False
    stream_flip = False
    per_sample = False

    def array(self, x: torch.Tensor, pad: int) -> torch.Tensor:
        return x

    def file_steps(self, size: int, T: Any) -> list[Any]:
        return [T.Resize(round(size * 256 / 224)), T.CenterCrop(size)]

    def square_steps(self, size: int, T: Any) -> list[Any]:
        return [T.Resize((size, size))]

    def draft(self, size: int, resize: str) -> int | None:
        return size if resize == "square" else round(size * 256 / 224)

    def post_tensor(self) -> list[Any]:
        """Steps on the file path's tensor (after ToTensor, before normalisation)."""
        return []


class Augmented(NoAugmentation):
    """The part every augmentation shares: DA-Fusion's flip + RandomRotation(15) on `square`
    files, and no decode-size limit (a random crop at full resolution comes first)."""

    def square_steps(self, size: int, T: Any) -> list[Any]:
        return [T.Resize((size, size)), T.RandomHorizontalFlip(), T.RandomRotation(15)]

    def draft(self, size: int, resize: str) -> int | None:
        return size if resize == "square" else None


class Shift(Augmented):
    """Small translations only: the CIFAR pad-crop (pad = size / 8)."""

    stream_shift = True

    def array(self, x: torch.Tensor, pad: int) -> torch.Tensor:
        return random_shift(x, pad)

    def file_steps(self, size: int, T: Any) -> list[Any]:
        return [T.Resize(size), T.CenterCrop(size), T.RandomCrop(size, padding=max(1, size // 8))]

    def draft(self, size: int, resize: str) -> int | None:
        return size


class Standard(Shift):
    """classifier-balancing's: RandomResizedCrop + flip + ColorJitter(0.4, 0.4, 0.4) on files,
    pad-crop + flip on arrays."""

    stream_flip = True

    def array(self, x: torch.Tensor, pad: int) -> torch.Tensor:
        x = random_shift(x, pad)
        return x.flip(-1) if torch.rand(()) < 0.5 else x

    def file_steps(self, size: int, T: Any) -> list[Any]:
        return [
            T.RandomResizedCrop(size),
            T.RandomHorizontalFlip(),
            T.ColorJitter(0.4, 0.4, 0.4, 0.0),
        ]

    def draft(self, size: int, resize: str) -> int | None:
        return Augmented.draft(self, size, resize)


class StandardBlurGray(Standard):
    """standard + Gaussian blur (p 0.5, sigma 0.1-2) + grayscale (p 0.2) on files (FG App F.2:
    "... blur and grayscale", SimCLR's probabilities); standard on arrays."""

    def file_steps(self, size: int, T: Any) -> list[Any]:
        kernel = 2 * max(1, size // 20) + 1  # ~10% of the side, odd (SimCLR's)
        return [
            *super().file_steps(size, T),
            T.RandomApply([T.GaussianBlur(kernel, sigma=(0.1, 2.0))], p=0.5),
            T.RandomGrayscale(p=0.2),
        ]


class FlipRotate(Augmented):
    """DA-Fusion's flip + RandomRotation(15) on arrays; standard's steps on cropped files.
    Streamed arrays are left as they are (as before the registry: DA-Fusion's datasets are
    files)."""

    def array(self, x: torch.Tensor, pad: int) -> torch.Tensor:
        if torch.rand(()) < 0.5:
            x = x.flip(-1)
        # torchvision: heavy, imported where used (off the start-up path)
        from torchvision.transforms.v2 import functional as TF

        return TF.rotate(x, float(torch.empty(()).uniform_(-15.0, 15.0)))

    def file_steps(self, size: int, T: Any) -> list[Any]:
        return Standard.file_steps(self, size, T)


class PerSample(NoAugmentation):
    """A registered plain function `f(x) -> x` (float C x H x W in [0, 1], torch's generator):
    applied per sample on every path, after the evaluation resize on files."""

    per_sample = True

    def __init__(self, function: Callable[[torch.Tensor], torch.Tensor]):
        self.function = function

    def array(self, x: torch.Tensor, pad: int) -> torch.Tensor:
        return self.function(x)

    def post_tensor(self) -> list[Any]:
        return [self.function]


def random_shift(x: torch.Tensor, pad: int) -> torch.Tensor:
    """Zero-pad by `pad` pixels and crop back at a random offset (the CIFAR pad-crop)."""
    size = x.shape[-1]
    padded = F.pad(x, (pad, pad, pad, pad))
    dy, dx = (int(v) for v in torch.randint(0, 2 * pad + 1, (2,)))
    return padded[:, dy : dy + size, dx : dx + size]
