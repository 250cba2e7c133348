"""printed-digits: a deterministic corpus rendered from matplotlib's fonts (issue 14, item 1)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from helpers import cli

from bench.datasets import DATASETS
from bench.datasets.printed_digits import (
    BITMAP,
    Options,
    PrintedDigits,
    block_counts,
    find_fonts,
    font_directory,
    truetype,
)
from bench.errors import ConfigError, DataError
from bench.hparams import build

SMALL = {"per_class": 3, "val_per_class": 1, "test_per_class": 1, "image_size": 8}
# The corpus of SMALL, rendered with matplotlib's fonts of FONTS_DIGEST by FreeType FREETYPE.
FONTS_DIGEST, FREETYPE = "7da792ec396ad784", "2.14.3"
GOLDEN = "2872da04b8903e1decd759ff15e2f4685cf126519692a4c52093fb3cd00e8906"


def load(**values):
    return PrintedDigits(build(Options, values, "test")).load()


def test_corpus_is_bit_identical_for_the_same_options() -> None:
    a = load(**SMALL)
    truetype.cache_clear()  # fonts opened afresh: nothing carried over between the two renders
    b = load(**SMALL)
    assert a.info["corpus_digest"] == b.info["corpus_digest"]
    for name in ("train", "val", "test"):
        assert np.array_equal(a.splits[name].images, b.splits[name].images)
    assert load(**SMALL, seed=1).info["corpus_digest"] != a.info["corpus_digest"]
    assert load(**SMALL, rotation=0).info["corpus_digest"] != a.info["corpus_digest"]


def test_corpus_checksum_matches_the_recorded_one_across_machines() -> None:
    from PIL import features

    data = load(**SMALL)
    if (data.info["fonts_digest"], features.version("freetype2")) != (FONTS_DIGEST, FREETYPE):
        pytest.skip("other font files or FreeType than the recorded checksum was rendered with")
    assert data.info["corpus_digest"] == GOLDEN


def test_balanced_ten_classes_with_sklearn_digits_intensities() -> None:
    data = load(**SMALL)
    assert data.num_classes == 10
    assert data.train_counts().tolist() == [3] * 10
    assert data.splits["test"].class_counts(10).tolist() == [1] * 10
    # 8x8: exactly the 4x4 block counts 0..16 scaled by 255 / 16, as digits-lt's images are.
    allowed = set(np.rint(np.arange(17) * 255 / 16).astype(int).tolist())
    assert set(np.unique(data.train.images).tolist()) <= allowed
    assert data.train.images.shape == (30, 8, 8, 1) and data.train.images.dtype == np.uint8
    # every font family the issue names is found in matplotlib's fonts
    fonts = " ".join(data.info["fonts"])
    assert all(f in fonts for f in ("DejaVuSans", "STIXGeneral", "cmr10"))
    assert "cmsy10" not in fonts and "LastResort" not in fonts  # symbols at the digits' codes


def test_block_counts_are_sklearn_digits_preprocessing() -> None:
    bitmap = np.zeros((BITMAP, BITMAP), bool)
    bitmap[:4, :4] = True  # one full block
    bitmap[4:6, 0] = True  # two pixels of the block below
    counts = block_counts(bitmap)
    assert counts.shape == (8, 8) and counts[0, 0] == 16 and counts[1, 0] == 2
    assert counts.sum() == 18


def test_coloured_corpus_balances_colours_within_each_class() -> None:
    data = load(**{**SMALL, "per_class": 4, "channels": 3, "num_colors": 2})
    images = data.train.images
    assert images.shape[-1] == 3
    corner = images[:, 0, 0, :]  # the background of every image
    assert len({tuple(c) for c in corner[:4]}) == 2  # class 0's four images: two colours


def test_geometry_follows_the_options() -> None:
    data = load(**{**SMALL, "image_size": 16, "channels": 3})
    assert data.train.images.shape == (30, 16, 16, 3)


def test_font_directory_without_usable_fonts_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "broken.ttf").write_bytes(b"not a font")
    shutil.copy(font_directory(None) / "cmsy10.ttf", tmp_path)  # symbols where digits should be
    with pytest.raises(DataError, match=rf"no usable font in {tmp_path}.*broken.ttf"):
        find_fonts(tmp_path)
    with pytest.raises(DataError, match="no usable font"):
        load(**SMALL, font_dir=str(tmp_path))
    with pytest.raises(DataError, match="is not a directory"):
        load(**SMALL, font_dir=str(tmp_path / "missing"))
    shutil.copy(font_directory(None) / "DejaVuSans.ttf", tmp_path)
    assert [f.name for f in find_fonts(tmp_path)] == ["DejaVuSans.ttf"]


def test_bad_options_are_refused() -> None:
    with pytest.raises(ConfigError, match=r"min_width=1\.5 exceeds max_width=1\.2"):
        build(Options, {"min_width": 1.5, "max_width": 1.2}, "test")
    with pytest.raises(ConfigError, match="set channels=3"):
        build(Options, {"num_colors": 2}, "test")


def test_data_check_shows_it_and_preview_puts_printed_above_handwritten(
    tmp_path: Path, capsys
) -> None:
    from PIL import Image

    sets = [f"{k}={v}" for k, v in SMALL.items()]
    code, out, _ = cli("data", "check", "--dataset", "printed-digits", *_sets(sets))
    assert code == 0 and "printed-digits" in out and "train 30" in out
    assert "official  all listed statistics match" in out
    png = tmp_path / "preview.png"
    code, _, _ = cli(
        "data", "preview", "--dataset", "printed-digits", *_sets(sets),
        "--compare", "digits-lt", "--output", str(png), "--per-class", "3",
    )  # fmt: skip
    assert code == 0
    image = np.asarray(Image.open(png))
    cell, pad = 32, 2  # 8 px images shown at 32 px (make_grid's padding 2)
    # 10 classes x (printed row + handwritten row); 3 per row, a column of row labels left
    assert image.shape[0] == 20 * (cell + pad) + pad and image.shape[2] == 3
    margin = image.shape[1] - (3 * (cell + pad) + pad)
    assert margin > 40 and (image[: cell + pad, :margin] < 128).any()  # "0: printed-digits"
    assert "printed-digits" in list(DATASETS)


def _sets(items: list[str]) -> list[str]:
    return [x for item in items for x in ("--set", item)]
