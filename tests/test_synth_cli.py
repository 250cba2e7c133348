"""`bench synth export` (PNG tree, Hugging Face dataset, parquet) and `bench synth preview`."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from helpers import cli, run_digits, tiny_sets

from bench.synthesis.store import SyntheticSet


@pytest.fixture(scope="module")
def fill_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    results = tmp_path_factory.mktemp("results")
    return run_digits("ddpm-fill", results, [*tiny_sets("ddpm-fill"), "plan=add:3"])


def store_of(run_dir: Path) -> SyntheticSet:
    from bench.io import read_json

    key = read_json(run_dir / "result.json")["info"]["synthesis"]["key"]
    return SyntheticSet(run_dir.parents[1] / "cache" / "synthetic" / key)


def test_export_png_tree_and_hf_dataset(fill_run: Path, tmp_path: Path) -> None:
    import datasets
    from PIL import Image

    code, _, err = cli(
        "synth",
        "export",
        "--run",
        str(fill_run),
        "--quiet",
        "--png",
        str(tmp_path / "png"),
        "--hf",
        str(tmp_path / "hf"),
        "--parquet",
        str(tmp_path / "set.parquet"),
    )
    assert code == 0, err
    assert err == ""  # --quiet: no progress bar, bench's or the datasets library's
    folders = sorted(p.name for p in (tmp_path / "png").iterdir() if p.is_dir())
    assert folders == [f"{c:03d}-{c}" for c in range(10)]
    files = sorted((tmp_path / "png" / "004-4").glob("*.png"))
    assert len(files) == 3
    store = store_of(fill_run)
    index = int(files[0].stem)
    assert np.array_equal(np.asarray(Image.open(files[0]))[..., None], store.image(index))
    ds = datasets.load_from_disk(str(tmp_path / "hf"))
    assert len(ds) == 30 and ds.features["label"].names[4] == "4"
    row = ds[index]
    assert row["label"] == 4 and row["seed"] == store.metadata(0)["seeds"][index]
    assert np.array_equal(np.asarray(row["image"])[..., None], store.image(index))
    parquet = datasets.Dataset.from_parquet(str(tmp_path / "set.parquet"))
    assert len(parquet) == 30


def test_preview_puts_real_and_synthetic_rows_per_class(fill_run: Path, tmp_path: Path) -> None:
    from PIL import Image

    out = tmp_path / "preview.png"
    code, _, err = cli(
        "synth",
        "preview",
        "--run",
        str(fill_run),
        "--output",
        str(out),
        "--per-class",
        "4",
        "--classes",
        "0,9",
    )
    assert code == 0, err
    image = np.asarray(Image.open(out).convert("RGB"))
    cell, pad = 32, 2  # 16 px digits shown at 32 px, make_grid's padding
    grid_width = 4 * (cell + pad) + pad
    assert image.shape[0] == 2 * 3 * (cell + pad) + pad  # per class: real + 2 synthetic rows
    margin = image.shape[1] - grid_width
    assert margin > 40  # the row labels' column
    for row in range(6):  # every row has its label: dark text pixels in the margin
        band = image[pad + row * (cell + pad) : (row + 1) * (cell + pad), :margin]
        assert (band < 128).any(), row
    # "0: synthetic" is wider than "0: real": the synthetic rows' labels reach further right
    ink = [np.flatnonzero((image[pad + r * (cell + pad) :(r + 1) * (cell + pad), :margin] < 128)
           .any(axis=(0, 2))).max() for r in range(3)]  # fmt: skip
    assert ink[1] == ink[2] > ink[0]


def test_an_exported_tree_keeps_exact_labels_when_a_class_has_no_image(tmp_path: Path) -> None:
    """Classes 0 and 2 have no synthetic image: `datasets`' imagefolder numbers the folders it
    finds (0, 1), so the tree carries metadata.csv with each file's exact label."""
    import datasets

    from bench.generators.base import SampleBatch, SynthesisRequest
    from bench.synthesis.store import StoreWriter

    labels = [1, 3, 3, 1, 3]
    images = np.random.default_rng(0).integers(0, 255, (5, 8, 8, 1), dtype=np.uint8)
    manifest = {"key": "t", "num_images": 5, "image_size": 8, "channels": 1, "dtype": "uint8",
                "class_names": ["zero", "one", "two", "three, the last"]}  # fmt: skip
    writer = StoreWriter(tmp_path / "store", manifest)
    requests = [SynthesisRequest(i, y, i) for i, y in enumerate(labels)]
    writer.fill(requests, lambda b: SampleBatch(images[b[0].index : b[-1].index + 1]), None, False)
    writer.finish()
    code, _, err = cli("synth", "export", "--synthetic", str(tmp_path / "store"), "--quiet",
                       "--png", str(tmp_path / "png"))  # fmt: skip
    assert code == 0 and err == "", err
    loaded = datasets.load_dataset("imagefolder", data_dir=str(tmp_path / "png"), split="train")
    by_image = {np.asarray(r["image"]).tobytes(): (r["label"], r["class_name"]) for r in loaded}
    assert len(by_image) == 5
    for image, label in zip(images, labels, strict=True):
        name = manifest["class_names"][label]
        assert by_image[image[..., 0].tobytes()] == (label, name)


def test_export_needs_a_target_and_a_set(fill_run: Path, tmp_path: Path) -> None:
    code, _, err = cli("synth", "export", "--run", str(fill_run))
    assert code == 2 and "--png DIR, --hf DIR and/or --parquet FILE" in err
    code, _, err = cli("synth", "export", "--synthetic", str(tmp_path), "--png", str(tmp_path))
    assert code == 2 and "is not a synthetic set (no manifest.json)" in err
