"""Image sets for eval-gen: shard sets read back in order across shard boundaries, folders of
files, and the errors for broken sets."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from helpers import write_arrays

from bench.errors import DataError
from bench.metrics.imagesets import ArraySource, choose, resize_center_crop
from bench.runs.evalgen import open_synthetic
from bench.synthesis.store import shard_stem


def shard_set(store: Path, sizes: list[int]) -> np.ndarray:
    """A store of sum(sizes) images (shards of 256)."""
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (sum(sizes), 8, 8, 1), dtype=np.uint8)
    write_arrays(store, images, np.zeros(len(images), dtype=np.int64))
    return images


def test_shard_subset_comes_back_in_order_across_shards(tmp_path: Path) -> None:
    images = shard_set(tmp_path, [256, 256, 10])
    source = open_synthetic(tmp_path)
    assert len(source) == 522
    index = choose(len(source), 300, seed=3)
    batches = list(source.batches(index, 64))
    assert all(len(b) <= 64 for b in batches) and sum(len(b) for b in batches) == 300
    got = np.concatenate(batches)
    assert got.shape == (300, 8, 8, 3)  # grayscale repeated to RGB
    assert np.array_equal(got, np.repeat(images[index], 3, axis=-1))


def test_missing_shard_is_named(tmp_path: Path) -> None:
    shard_set(tmp_path, [256, 20])
    shard_stem(tmp_path, 1).with_suffix(".json").unlink()
    with pytest.raises(DataError, match=r"shard-00001\.json is missing"):
        open_synthetic(tmp_path)


def test_image_folder_sorted_and_checked(tmp_path: Path) -> None:
    from PIL import Image

    (tmp_path / "a").mkdir()
    for name, size in (("a/2.png", 8), ("1.jpg", 8), ("a/3.PNG", 8), ("notes.txt", 0)):
        if size:
            Image.new("RGB", (size, size), (10, 20, 30)).save(tmp_path / name)
        else:
            (tmp_path / name).write_text("not an image")
    source = open_synthetic(tmp_path)
    assert [Path(f).name for f in source.files] == ["1.jpg", "2.png", "3.PNG"]
    (batch,) = source.batches(np.arange(3), 8)
    assert batch.shape == (3, 8, 8, 3) and batch.dtype == np.uint8
    Image.new("RGB", (9, 8)).save(tmp_path / "4.png")
    with pytest.raises(DataError, match=r"4\.png is 9x8 but .*1\.jpg is 8x8"):
        list(open_synthetic(tmp_path).batches(np.arange(4), 8))


@pytest.mark.parametrize("kind", ["missing", "empty", "file"])
def test_not_a_synthetic_set(tmp_path: Path, kind: str) -> None:
    path = tmp_path / "x"
    if kind == "empty":
        path.mkdir()
    elif kind == "file":
        path.write_text("")
    message = {"missing": "does not exist", "empty": "holds no images", "file": "is a file"}[kind]
    with pytest.raises(DataError, match=message):
        open_synthetic(path)


def test_resize_center_crop_keeps_the_middle() -> None:
    from PIL import Image

    image = Image.new("RGB", (40, 20), (0, 0, 0))
    image.paste((255, 255, 255), (10, 0, 30, 20))  # a white middle half
    out = np.asarray(resize_center_crop(image, 10))
    assert out.shape == (10, 10, 3) and out.min() > 200


def test_array_source_rejects_odd_images() -> None:
    source = ArraySource(np.zeros((2, 4, 4, 2), dtype=np.uint8), "toy test")
    with pytest.raises(
        DataError, match=r"toy test: expected uint8 images .* got uint8 \(2, 4, 4, 2\)"
    ):
        list(source.batches(np.arange(2), 2))
