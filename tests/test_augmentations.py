"""Image augmentations (`bench.train.recipe.AUGMENTS`): every registered one on every path, and
a few augmented outputs pinned for fixed seeds, so a change to how they are organised cannot
change a single bit of what training sees."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
import torch
from PIL import Image
from test_pipeline import BatchSource, PerSampleSource

from bench.data.augment import AUGMENTS, image_augmentation
from bench.data.torchdata import ArrayImages, StreamImages, draft_size, file_transform
from bench.errors import ConfigError
from bench.hparams import check_value, specs
from bench.train.recipe import Recipe

WITH_RANDAUGMENT = [*AUGMENTS, "standard+randaugment"]


def digest(tensors) -> str:
    h = hashlib.sha256()
    for t in tensors:
        h.update(np.ascontiguousarray(t.detach().numpy().astype(np.float32)).tobytes())
    return h.hexdigest()[:16]


def images(n: int = 6, size: int = 16, channels: int = 3) -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, (n, size, size, channels), dtype=np.uint8)


def array_path(augment: str) -> str:
    data = ArrayImages(images(), np.arange(6) % 3, 16, "imagenet", augment)
    torch.manual_seed(123)
    return digest(data[i % 6][0] for i in range(40))


def stream_path(augment: str, seeded: bool, batch: bool) -> str:
    source = (BatchSource if batch else PerSampleSource)(6, 16, 3)
    data = StreamImages(source, 16, 3, "imagenet", augment, "array")
    torch.manual_seed(321)
    if seeded:
        keys = [(i, 1000 + 7 * i) for i in range(6)] + [(2, 5), (2, 6)]
        return digest(x for x, _, _ in data.getitems_seeded(keys))
    return digest(data[i % 6][0] for i in range(40))


def file_path(augment: str, resize: str) -> str:
    transform = file_transform(16, augment, "imagenet", 3, resize)
    pil = Image.fromarray(np.random.default_rng(1).integers(0, 256, (24, 20, 3), dtype=np.uint8))
    torch.manual_seed(7)
    return digest(transform(pil) for _ in range(4))


# sha256 prefixes of the float32 outputs, taken before augmentations became a registry
PINNED = {
    "none": {
        "array": "54799a64780a708a",
        "stream": "54799a64780a708a",
        "stream-seeded": "6b276b624751a6a8",
        "batch-seeded": "f24c2f14a9a75ef7",
        "file-crop": "e8342a1cda862911",
        "file-square": "6ea711a97110e0e4",
    },
    "shift": {
        "array": "21ba52780a8c98e1",
        "stream": "3dc870553f0ad3fc",
        "stream-seeded": "e8529ccd261086e1",
        "batch-seeded": "8fab429f7700739f",
        "file-crop": "f2ea3fc523847f28",
        "file-square": "a42aa40d3e2df914",
    },
    "standard": {
        "array": "cb7f1ad71b642ffd",
        "stream": "70ec032ddda82a57",
        "stream-seeded": "bcdc013ca70fa32c",
        "batch-seeded": "19858fcc51142d51",
        "file-crop": "4d5ecc2ac0bc016b",
        "file-square": "a42aa40d3e2df914",
    },
    "flip-rotate": {
        "array": "1fec814cfe5e78b3",
        "stream": "54799a64780a708a",
        "stream-seeded": "6b276b624751a6a8",
        "batch-seeded": "f24c2f14a9a75ef7",
        "file-crop": "4d5ecc2ac0bc016b",
        "file-square": "a42aa40d3e2df914",
    },
    "standard-blur-gray": {
        "array": "cb7f1ad71b642ffd",
        "stream": "70ec032ddda82a57",
        "stream-seeded": "bcdc013ca70fa32c",
        "batch-seeded": "19858fcc51142d51",
        "file-crop": "721164994b213f37",
        "file-square": "a42aa40d3e2df914",
    },
    "standard+randaugment": {
        "array": "4733c8312553bebc",
        "stream": "a9286f19dce4203b",
        "stream-seeded": "3fdfef63a17839cc",
        "batch-seeded": "3fdfef63a17839cc",
        "file-crop": "bba24ac966eb656e",
        "file-square": "e3b9cb2aeeedd1c3",
    },
}


def outputs(augment: str) -> dict[str, str]:
    return {
        "array": array_path(augment),
        "stream": stream_path(augment, seeded=False, batch=False),
        "stream-seeded": stream_path(augment, seeded=True, batch=False),
        "batch-seeded": stream_path(augment, seeded=True, batch=True),
        "file-crop": file_path(augment, "crop"),
        "file-square": file_path(augment, "square"),
    }


@pytest.mark.parametrize("augment", WITH_RANDAUGMENT)
def test_augmented_outputs_are_pinned(augment: str) -> None:
    assert outputs(augment) == PINNED[augment]


@pytest.mark.parametrize("name", list(AUGMENTS))
def test_every_registered_augmentation_has_every_hook_and_keeps_shapes(name: str) -> None:
    aug = image_augmentation(name)
    assert isinstance(aug.stream_shift, bool) and isinstance(aug.stream_flip, bool)
    x = torch.rand(3, 16, 16)
    torch.manual_seed(0)
    assert aug.array(x, 2).shape == x.shape
    pil = Image.fromarray(images(1, 20)[0])
    for resize in ("crop", "square"):
        out = file_transform(16, name, "half", 3, resize)(pil)
        assert out.shape == (3, 16, 16) and torch.isfinite(out).all()
        draft = draft_size(16, name, resize)
        assert draft is None or draft >= 16
    assert name in PINNED  # every registered augmentation has its outputs pinned


@pytest.mark.parametrize("name", list(AUGMENTS))
def test_the_settings_accept_every_registered_augmentation(name: str) -> None:
    spec = specs(Recipe)["augment"]
    assert check_value(spec, name, "test") == name
    with pytest.raises(ConfigError, match="Did you mean"):
        check_value(spec, name + "x", "test")
