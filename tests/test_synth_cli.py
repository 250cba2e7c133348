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
    folders = sorted(p.name for p in (tmp_path / "png").iterdir())
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
    image = Image.open(out)
    size, pad = 16, 1
    assert image.size == (4 * (size + pad) + pad, 2 * 3 * (size + pad) + pad)


def test_export_needs_a_target_and_a_set(fill_run: Path, tmp_path: Path) -> None:
    code, _, err = cli("synth", "export", "--run", str(fill_run))
    assert code == 2 and "--png DIR, --hf DIR and/or --parquet FILE" in err
    code, _, err = cli("synth", "export", "--synthetic", str(tmp_path), "--png", str(tmp_path))
    assert code == 2 and "is not a synthetic set (no manifest.json)" in err
