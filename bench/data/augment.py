"""The image augmentations a training stage can name (`augment=`): a registry, torch-free so
that settings checks can list the names without importing torch.

Each name points at an augmentation in bench/data/imageaugs.py: a class saying what it does on
each path (in-memory arrays, streamed arrays with per-sample seeds, image files), or a plain
function `f(x) -> x` of a float C x H x W image in [0, 1] drawing from torch's generator,
which every path applies per sample. A new augmentation is one of those plus one line here.
"""

from __future__ import annotations

from typing import Any

from bench.registry import Registry

AUGMENTS = Registry(
    "image augmentation",
    {
        "none": "bench.data.imageaugs:NoAugmentation",
        "shift": "bench.data.imageaugs:Shift",
        "standard": "bench.data.imageaugs:Standard",
        "flip-rotate": "bench.data.imageaugs:FlipRotate",
        "standard-blur-gray": "bench.data.imageaugs:StandardBlurGray",
    },
)

# RandAugment on top of an augmentation (the stage's `randaugment=true`): "standard+randaugment"
RANDAUGMENT = "+randaugment"


def split_augment(augment: str) -> tuple[str, bool]:
    """'standard+randaugment' -> ('standard', True): the augmentation and RandAugment on top."""
    return augment.removesuffix(RANDAUGMENT), augment.endswith(RANDAUGMENT)


def image_augmentation(augment: str) -> Any:
    """The augmentation named `augment` (RandAugment suffix allowed) as an object with the
    hooks of `bench.data.imageaugs.NoAugmentation`; a registered plain function is wrapped."""
    name = split_augment(augment)[0]
    found = AUGMENTS[name]
    if isinstance(found, type):
        return found()
    from bench.data.imageaugs import PerSample  # torch: off the start-up path of settings checks

    return PerSample(found)
