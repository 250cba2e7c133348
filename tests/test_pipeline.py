"""The data pipeline: loader workers give the batches the main process gives, JPEG draft
decoding, and the GPU fast path (bf16 autocast, channels_last) off on the CPU."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from bench.runs.config import resolve


def test_file_backed_training_is_the_same_with_loader_workers(tmp_path: Path) -> None:
    from fixtures.dataset_trees import WRITERS

    from bench.datasets import DATASETS
    from bench.train.loop import stage_plan, training_data

    tree = WRITERS["imagenet-lt"](tmp_path / "tree")
    config = resolve("erm", "imagenet-lt", sets=["batch_size=8", *tree.sets])
    data = DATASETS["imagenet-lt"](config.dataset_settings, tree.root).load()
    st = stage_plan(config.recipe_settings)[0][1]
    assert st.augment == "standard"  # random crops, flips and colour jitter: seeded per sample
    batches = {}
    for workers in (0, 2):
        from bench.train.loop import make_loader

        recipe = resolve(
            "erm", "imagenet-lt", sets=["batch_size=8", f"num_workers={workers}", *tree.sets]
        ).recipe_settings
        train = training_data(st, recipe, data, None, seed=3)
        loader = make_loader(train, recipe, "cpu")
        assert loader.num_workers == workers and loader.persistent_workers == (workers > 0)
        train.plan.set_epoch(1)
        batches[workers] = [(x.clone(), i.clone()) for x, _, i in loader]
    assert len(batches[0]) == len(batches[2]) > 0
    for (x0, i0), (x2, i2) in zip(batches[0], batches[2], strict=True):
        assert torch.equal(i0, i2) and torch.equal(x0, x2)


def test_default_workers_follow_the_cores_for_files_only(monkeypatch) -> None:
    import bench.train.loop as loop
    from bench.data.torchdata import ArrayImages, FileImages

    monkeypatch.setattr(loop.os, "cpu_count", lambda: 16)
    arrays = ArrayImages(np.zeros((2, 4, 4, 1), np.uint8), np.zeros(2), 4, "half", "none")
    files = FileImages(["a.jpg"], np.zeros(1), None, 3)
    assert loop.default_workers(arrays) == 0 and loop.default_workers(files) == 8
    monkeypatch.setattr(loop.os, "cpu_count", lambda: 2)
    assert loop.default_workers(files) == 1


def test_jpeg_draft_decoding_where_the_transform_resizes_first(tmp_path: Path) -> None:
    from PIL import Image

    from bench.data.torchdata import draft_size, open_image

    path = tmp_path / "big.jpg"
    Image.new("RGB", (800, 600), (10, 200, 30)).save(path)
    assert open_image(str(path), "RGB").size == (800, 600)
    assert open_image(str(path), "RGB", draft=128).size == (200, 150)  # 1/4: both sides >= 128
    png = tmp_path / "big.png"
    Image.new("RGB", (800, 600)).save(png)
    assert open_image(str(png), "RGB", draft=128).size == (800, 600)  # only JPEG has drafts
    assert draft_size(224, "none", "crop") == 256 and draft_size(224, "shift", "crop") == 224
    assert draft_size(224, "standard", "crop") is None  # random-resized crop needs full size
    assert draft_size(256, "flip-rotate", "square") == 256


@pytest.mark.parametrize(
    ("precision", "device", "fast"),
    [
        ("auto", "cpu", False),
        ("auto", "cuda", True),
        ("fp32", "cuda", False),
        ("bf16", "cpu", True),
    ],
)
def test_fast_path_is_gpu_only_by_default(precision, device, fast) -> None:
    from bench.train.loop import use_fast_path

    recipe = resolve("erm", "digits-lt", sets=[f"precision={precision}"]).recipe_settings
    assert use_fast_path(recipe, device) is fast


def test_cpu_runs_take_the_plain_path(tmp_path: Path, monkeypatch) -> None:
    """On the CPU (precision auto) no autocast and no channels_last: the model stays contiguous."""
    import bench.train.loop as loop

    seen = []
    real_run_epoch = loop.run_epoch

    def spy(run, epoch):
        seen.append((run.fast, next(run.net.parameters()).is_contiguous()))  # `fast`, layout
        return real_run_epoch(run, epoch)

    monkeypatch.setattr(loop, "run_epoch", spy)
    from test_stages import train

    result = train("erm", tmp_path)
    assert seen == [(False, True)] and result.history[0]["images_per_s"] > 0


class PerSampleSource:
    """A streamed source read one image at a time: `image(i)` and `targets`."""

    def __init__(self, n: int, size: int, channels: int):
        rng = np.random.default_rng(0)
        self.images = rng.integers(0, 256, (n, size, size, channels), dtype=np.uint8)
        self.targets = np.arange(n) % 3

    def image(self, i: int) -> np.ndarray:
        return self.images[i]


class BatchSource(PerSampleSource):
    """The same images with whole-batch reads, as the synthetic store."""

    def read(self, indices: np.ndarray) -> np.ndarray:
        return self.images[indices]


@pytest.mark.parametrize("augment", ["shift", "standard"])
def test_a_key_gets_the_same_augmentation_on_the_batch_and_per_sample_paths(augment) -> None:
    from bench.data.torchdata import StreamImages

    keys = [(i, 1000 + 7 * i) for i in range(12)] + [(3, 5), (3, 6)]
    batch, single = (
        StreamImages(source(12, 16, 3), 16, 3, "imagenet", augment, "array")
        for source in (BatchSource, PerSampleSource)
    )
    assert not hasattr(single.source, "read")
    whole = batch.getitems_seeded(keys)
    one_by_one = single.getitems_seeded(keys)
    for (xa, ya, ia), (xb, yb, ib) in zip(whole, one_by_one, strict=True):
        assert ia == ib and ya == yb
        torch.testing.assert_close(xa, xb)
    # the augmentation really varies with the seed (two keys of one image differ)
    assert not torch.equal(whole[-1][0], whole[-2][0])
