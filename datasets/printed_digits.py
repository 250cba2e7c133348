"""printed-digits: digits drawn in the fonts matplotlib ships, through sklearn digits' pipeline.

The broad, related corpus the embedded pretrained generator learns from (issue 14): the analogue
of the web data Stable Diffusion saw before the papers steered it to a long-tailed target. It
never contains a handwritten digit. Each image is one digit drawn in one of the fonts found in a
font directory (default: matplotlib's bundled `fonts/ttf`: DejaVu, STIX and Computer Modern),
with a random rotation, width (horizontal stretch) and stroke (extra outline), then passed
through the preprocessing scikit-learn's digits went through (UCI optdigits: a 32x32 bitmap,
its 4x4 blocks counted, so an 8x8 image of values 0-16), then the same geometry and intensity as
`digits-lt` (values x 255/16, bilinear resize to `image_size`). With `num_colors` > 0 the digit
is painted white on the colored-digits palette, colour i % K for the i-th image of a class, so
every (class, colour) cell is equally common (the broad corpus of colored-digits).

Rendering is deterministic: image i of class c uses a random stream seeded by (seed, split, c,
i) and the fonts in file-name order; the corpus digest (`corpus_digest`) names the fonts' bytes
and the rendered images, so a changed font file is a different corpus.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
from fontTools.ttLib import TTFont
from PIL import Image, ImageDraw, ImageFont

from bench.data import DatasetAdapter, DatasetOptions, ImageSplit, LoadedDataset
from bench.datasets.colored_digits import COLOURS, paint
from bench.datasets.digits_lt import PROTOTYPE
from bench.errors import ConfigError, DataError
from bench.hparams import hp
from bench.io import seed_hash

ISSUE = "issue 14's measurement (5,000 printed digits from matplotlib's fonts)"
OURS = "ours (issue 14 names the augmentation, not its range)"
BITMAP = 32  # UCI optdigits: 32x32 normalised bitmaps ...
BLOCK = 4  # ... divided into non-overlapping 4x4 blocks, on pixels counted (0..16): 8x8
RENDER = 64  # font size (px) the glyph is drawn at before it is normalised to the bitmap
DIGIT_NAMES = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
FONT_SUFFIXES = (".ttf", ".otf")


@dataclass(frozen=True)
class Options(DatasetOptions):
    per_class: int = hp(500, low=1, high=100_000, part="data", source=ISSUE + ": 500 per class")
    test_per_class: int = hp(50, low=1, high=100_000, part="data", source="as digits-lt")
    val_per_class: int = hp(10, low=1, high=100_000, part="data", source="as digits-lt")
    rotation: float = hp(
        10.0,
        low=0.0,
        high=180.0,
        part="data",
        source=OURS + ": up to 10 degrees either way, the slant of the handwritten digits",
        help="largest rotation in degrees (uniform in [-rotation, rotation])",
    )
    min_width: float = hp(
        0.7,
        gt=0.0,
        high=4.0,
        part="data",
        source=OURS + ": 0.7-1.3, narrow to wide glyphs",
        help="smallest horizontal stretch of the glyph",
    )
    max_width: float = hp(1.3, gt=0.0, high=4.0, part="data", source=OURS)
    stroke: int = hp(
        3,
        low=0,
        high=16,
        part="data",
        source=OURS + ": 0-3 px of outline on the 64 px glyph, thin to bold strokes",
        help="largest extra stroke width (px at the 64 px render; uniform in 0..stroke)",
    )
    image_size: int = hp(16, choices=(8, 16, 32), part="data", source="as digits-lt")
    channels: int = hp(1, choices=(1, 3), part="data", source="as digits-lt")
    num_colors: int = hp(
        0,
        low=0,
        high=len(COLOURS),
        part="data",
        source="0: white on black as digits-lt; K > 0: colored-digits' first K background "
        "colours, balanced in every class (the corpus of colored-digits)",
    )
    font_dir: str | None = hp(
        None,
        path=True,
        part="data",
        source="matplotlib's bundled fonts (mpl-data/fonts/ttf): DejaVu, STIX, Computer Modern",
        help="a folder of .ttf / .otf fonts to render the digits with",
    )
    seed: int = hp(0, low=0, high=2**31 - 1, part="data", source="fixed: one corpus everywhere")

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.min_width > self.max_width:
            raise ConfigError(
                f"printed-digits: min_width={self.min_width:g} exceeds max_width="
                f"{self.max_width:g}; give min_width <= max_width."
            )
        if self.num_colors and self.channels != 3:
            raise ConfigError(
                f"printed-digits: num_colors={self.num_colors} paints coloured backgrounds: set "
                "channels=3 (or num_colors=0)."
            )


class PrintedDigits(DatasetAdapter):
    """Digits rendered from matplotlib's fonts, balanced, 10 classes (embedded, synthetic)."""

    Options = Options
    VERSION = 1
    RECIPE = {
        "backbone": ("small-cnn", PROTOTYPE + ": as digits-lt"),
        "optimizer": ("adam", "as digits-lt"),
        "lr": (1e-3, "as digits-lt"),
        "weight_decay": (0.0, "as digits-lt"),
        "batch_size": (64, "as digits-lt"),
        "epochs": (12, "as digits-lt"),
        "steps_per_epoch": (50, "as digits-lt"),
        "augment": ("shift", "digits are not flip-invariant; small random shifts only"),
        "normalize": ("half", "images scaled to [-1, 1], as the diffusion generator sees them"),
    }

    @classmethod
    def expected(cls, options: Any) -> dict[str, Any]:
        return {
            "splits": {
                "train": 10 * options.per_class,
                "val": 10 * options.val_per_class,
                "test": 10 * options.test_per_class,
            },
            "num_classes": 10,
        }

    def load(self) -> LoadedDataset:
        o = self.options
        fonts = find_fonts(font_directory(o.font_dir))
        sizes = {"train": o.per_class, "val": o.val_per_class, "test": o.test_per_class}
        splits = {}
        for name, n in sizes.items():
            images, labels = render_split(o, fonts, name, n)
            splits[name] = ImageSplit(name, labels, images=images)
        return LoadedDataset(
            name="printed-digits",
            class_names=[str(d) for d in range(10)],
            splits=splits,
            image_size=o.image_size,
            channels=o.channels,
            many_threshold=o.many_threshold,
            few_threshold=o.few_threshold,
            info={
                "fonts": [f.name for f in fonts],
                "fonts_digest": fonts_digest(fonts),
                "corpus_digest": corpus_digest(splits),
            },
        )


def font_directory(font_dir: str | None) -> Path:
    if font_dir:
        return Path(font_dir).expanduser()
    # matplotlib: heavy, imported where used (off the start-up path)
    import matplotlib

    return Path(matplotlib.get_data_path()) / "fonts" / "ttf"


def digit_glyphs(path: Path) -> bool:
    """Whether the font maps '0'..'9' to digit glyphs (names `zero`.. or `uni0030`..; symbol
    fonts such as cmsy10 put other glyphs at those code points, LastResort one box for all)."""

    try:
        cmap = TTFont(path, lazy=True).getBestCmap() or {}
    except Exception:  # not a font fontTools can read
        return False
    for d, word in enumerate(DIGIT_NAMES):
        name = cmap.get(ord(str(d)))
        if name is None:
            return False
        if not (name.startswith(word) or name.lower() == f"uni{0x30 + d:04x}"):
            return False
    return True


def find_fonts(directory: Path) -> list[Path]:
    """The fonts in `directory` (file-name order) that draw the ten digits; an error if none."""
    if not directory.is_dir():
        raise DataError(
            f"printed-digits: font_dir={directory} is not a directory. Give a folder of .ttf / "
            ".otf fonts, or leave font_dir unset for matplotlib's bundled fonts."
        )
    candidates = sorted(p for p in directory.iterdir() if p.suffix.lower() in FONT_SUFFIXES)
    fonts = [p for p in candidates if digit_glyphs(p)]
    if not fonts:
        seen = ", ".join(p.name for p in candidates[:5]) or "no .ttf / .otf file"
        raise DataError(
            f"printed-digits: no usable font in {directory} ({seen}): a font must map the "
            "characters 0-9 to digit glyphs. Point font_dir at a folder of text fonts, or leave "
            "it unset for matplotlib's bundled DejaVu / STIX / Computer Modern."
        )
    return fonts


def fonts_digest(fonts: list[Path]) -> str:
    h = hashlib.sha256()
    for f in fonts:
        h.update(f.name.encode())
        h.update(hashlib.sha256(f.read_bytes()).digest())
    return h.hexdigest()[:16]


def corpus_digest(splits: dict[str, ImageSplit]) -> str:
    """sha256 of every split's labels and images (the checksum the tests compare)."""
    h = hashlib.sha256()
    for name in sorted(splits):
        split = splits[name]
        h.update(name.encode())
        h.update(np.ascontiguousarray(split.targets, dtype="<i8").tobytes())
        h.update(np.ascontiguousarray(split.images).tobytes())
    return h.hexdigest()


@lru_cache(maxsize=64)
def truetype(path: str) -> Any:
    return ImageFont.truetype(path, RENDER)


def render_split(
    options: Options, fonts: list[Path], split: str, per_class: int
) -> tuple[np.ndarray, np.ndarray]:
    """`per_class` images of each digit: uint8 N x H x W x C images and their labels."""

    small, labels, colour = [], [], []
    for c in range(10):
        for i in range(per_class):
            rng = np.random.default_rng(seed_hash("printed-digits", options.seed, split, c, i))
            small.append(block_counts(glyph_bitmap(c, rng, options, fonts)))
            labels.append(c)
            colour.append(i % options.num_colors if options.num_colors else 0)
    gray = np.rint(np.stack(small) * (255.0 / 16.0)).astype(np.uint8)  # as digits-lt
    size = options.image_size
    if size != BITMAP // BLOCK:
        gray = np.stack(
            [np.asarray(Image.fromarray(im).resize((size, size), Image.BILINEAR)) for im in gray]
        )
    gray = gray[..., None]
    if options.num_colors:
        images = paint(gray, np.asarray(colour), options.num_colors)
    else:
        images = np.repeat(gray, options.channels, axis=-1)
    return images, np.asarray(labels, dtype=np.int64)


def glyph_bitmap(digit: int, rng: np.random.Generator, options: Options, fonts: list[Path]):
    """A binary 32x32 bitmap of `digit` in a random font, rotation, width and stroke, scaled to
    fill the box with its aspect kept (optdigits' normalised bitmaps)."""

    font = truetype(str(fonts[int(rng.integers(len(fonts)))]))
    angle = float(rng.uniform(-options.rotation, options.rotation))
    width = float(rng.uniform(options.min_width, options.max_width))
    stroke = int(rng.integers(0, options.stroke + 1))
    side = 3 * RENDER
    canvas = Image.new("L", (side, side), 0)
    draw = ImageDraw.Draw(canvas)
    centre = (side // 2, side // 2)
    draw.text(centre, str(digit), fill=255, font=font, anchor="mm", stroke_width=stroke)
    canvas = canvas.resize((max(1, round(side * width)), side), Image.BILINEAR)
    canvas = canvas.rotate(angle, resample=Image.BILINEAR, expand=True)
    box = canvas.point(lambda v: 255 if v >= 128 else 0).getbbox()
    if box is None:  # pragma: no cover - digit_glyphs admits only fonts that draw digits
        raise DataError(f"printed-digits: the font drew nothing for digit {digit}.")
    glyph = canvas.crop(box)
    w, h = glyph.size
    scale = BITMAP / max(w, h)
    nw, nh = max(1, round(w * scale)), max(1, round(h * scale))
    glyph = glyph.resize((nw, nh), Image.BILINEAR)
    bitmap = Image.new("L", (BITMAP, BITMAP), 0)
    bitmap.paste(glyph, ((BITMAP - nw) // 2, (BITMAP - nh) // 2))
    return np.asarray(bitmap) >= 128


def block_counts(bitmap: np.ndarray) -> np.ndarray:
    """32x32 binary bitmap -> 8x8 counts of on pixels per 4x4 block (values 0..16)."""
    n = BITMAP // BLOCK
    return bitmap.reshape(n, BLOCK, n, BLOCK).sum(axis=(1, 3)).astype(np.float64)
