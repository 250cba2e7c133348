"""Reading datasets in their official on-disk formats, collecting every problem found.

Adapters in datasets/ read split files, CSV/JSON metadata, pickles and image trees with these
helpers. A broken tree is reported whole: every missing file, malformed line (with file:line),
label out of range and missing column goes into one `Problems` list, raised as one DataError that
also says where to get the data. Torch-free, so `bench list` and config checks stay fast.
"""

from __future__ import annotations

import contextvars
import csv
import hashlib
import io
import json
import os
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PIL import Image, UnidentifiedImageError

import bench.datasets
from bench.data import DatasetOptions, ImageSplit, LoadedDataset
from bench.errors import DataError
from bench.hparams import hp
from bench.io import decode_utf8, is_within

# A 100k-line split file pointing at a wrong root gives 100k identical problems; show a sample.
MAX_SHOWN = 25
CLASSIFIER_BALANCING = (
    "classifier-balancing transforms (Kang et al. 2020): RandomResizedCrop 224 for training, "
    "Resize 256 + CenterCrop 224 for evaluation"
)


@dataclass
class Reading:
    """What one `load()` read: the metadata files (path -> sha256) and where each image was
    listed (path -> "file:line"), collected while `reading()` is active; `root` (the data root,
    if the dataset has one) confines the metadata files read."""

    files: dict[str, str] = field(default_factory=dict)
    listed: dict[str, str] = field(default_factory=dict)
    root: Path | None = None


_READING: contextvars.ContextVar[Reading | None] = contextvars.ContextVar("reading", default=None)


@contextmanager
def reading(root: Path | None = None) -> Iterator[Reading]:
    """Record every metadata file the readers below open (see bench.data.fingerprint); with a
    data root, a metadata file resolving outside it (through a link) is refused unread."""
    record = Reading(root=root)
    token = _READING.set(record)
    try:
        yield record
    finally:
        _READING.reset(token)


def read_bytes(path: Path) -> bytes:
    """A metadata file's bytes, recorded (with its hash) when `reading()` is active. A file that
    resolves outside the data root being read is a DataError, and is never opened: no line of a
    file outside the root reaches a message."""
    record = _READING.get()
    if record is not None and record.root is not None:
        real = os.path.realpath(path)
        folders = (record.root, shipped_folder())
        if not any(is_within(real, os.path.realpath(folder)) for folder in folders):
            raise DataError(
                f"{path} resolves to {real}, outside the data root {record.root}: bench reads "
                "a dataset's split files, CSV and JSON only inside its root. Replace the link "
                "with the file itself."
            )
    data = Path(path).read_bytes()
    if record is not None:
        record.files[str(path)] = hashlib.sha256(data).hexdigest()
    return data


def shipped_folder() -> str:
    """Where the dataset adapters and their packaged metadata (datasets/metadata/) live."""

    return os.path.dirname(os.path.abspath(bench.datasets.__file__))


def read_text(path: Path) -> str:
    """A metadata file as UTF-8 text; other bytes are a DataError naming the file and line."""
    return decode_utf8(read_bytes(path), f"{path}:{{line}}", DataError)


def note_listed(paths: Sequence[Path], listed_in: Sequence[str] | None) -> None:
    """Remember where each image was listed, so later checks can name the file and line."""
    record = _READING.get()
    if record is not None and listed_in is not None:
        record.listed.update((str(p), w) for p, w in zip(paths, listed_in, strict=False))


@dataclass(frozen=True)
class ImageOptions(DatasetOptions):
    """Options of the image-file datasets: the side the classifier sees."""

    image_size: int = hp(
        224,
        low=8,
        part="data",
        high=4096,
        source=CLASSIFIER_BALANCING,
        help="side of the square crop fed to the classifier",
    )


def rgb_dataset(
    adapter: Any, class_names: list[str], splits: dict[str, ImageSplit], **extra: Any
) -> LoadedDataset:
    """A dataset of RGB images with the adapter's name, image size and shot thresholds."""
    o = adapter.options
    return LoadedDataset(
        name=adapter.name,
        class_names=class_names,
        splits=splits,
        image_size=o.image_size,
        channels=3,
        many_threshold=o.many_threshold,
        few_threshold=o.few_threshold,
        **extra,
    )


class Problems:
    """Everything wrong with one dataset tree, raised together as one DataError."""

    def __init__(self, dataset: str, hint: str):
        self.dataset = dataset
        self.hint = hint
        self.items: list[str] = []

    def add(self, message: str) -> None:
        self.items.append(message)

    def message(self) -> str:
        shown = "\n".join(f"  - {item}" for item in self.items[:MAX_SHOWN])
        more = len(self.items) - MAX_SHOWN
        tail = f"\n  ... and {more} more" if more > 0 else ""
        where = f"\n{self.hint}" if self.hint else ""
        n = len(self.items)
        return f"{self.dataset}: {n} problem{'s' * (n != 1)} found:\n{shown}{tail}{where}"

    def raise_if_any(self) -> None:
        if self.items:
            raise DataError(self.message())


@dataclass(frozen=True)
class Row:
    """One line of a split file: `relpath label`, remembered with its file and line."""

    path: str
    label: int
    source: Path
    line: int

    @property
    def where(self) -> str:
        return f"{self.source}:{self.line}"


def locate(root: Path, candidates: Sequence[str], markers: Sequence[str]) -> Path | None:
    """The first `root/candidate` that holds any of `markers` ("" is root itself)."""
    for candidate in candidates:
        base = root / candidate if candidate else root
        if any((base / marker).exists() for marker in markers):
            return base
    return None


def locate_or_fail(
    root: Path, candidates: Sequence[str], markers: Sequence[str], dataset: str, hint: str
) -> Path:
    """`locate`, also under `root/<dataset>`, or a DataError listing every place searched.

    So a root may be the dataset's own folder or a shared one (BENCH_DATA_ROOT) holding it under
    its registry name.
    """
    candidates = [*candidates, *(f"{dataset}/{c}" if c else dataset for c in candidates)]
    found = locate(root, candidates, markers)
    if found is None:
        places = ", ".join(str(root / c) if c else str(root) for c in candidates)
        raise DataError(
            f"{dataset}: none of {', '.join(markers)} found in {places}. {hint}".strip()
        )
    return found


def read_split_file(path: Path, problems: Problems, num_classes: int | None = None) -> list[Row]:
    """Rows of a `relpath label` file; malformed lines and bad labels go to `problems`."""
    if not path.is_file():
        problems.add(f"split file {path} does not exist")
        return []
    rows = []
    for number, raw in enumerate(read_text(path).splitlines(), start=1):
        text = raw.strip()
        if not text:
            continue
        parts = text.rsplit(maxsplit=1)  # paths may contain spaces; the label is last
        if len(parts) != 2 or not parts[1].lstrip("-").isdigit():
            problems.add(
                f"{path}:{number}: expected '<relative/path> <integer label>', got {raw!r}"
            )
            continue
        label = int(parts[1])
        if label < 0 or (num_classes is not None and label >= num_classes):
            limit = f"0..{num_classes - 1}" if num_classes is not None else "a label >= 0"
            problems.add(f"{path}:{number}: label {label} is out of range (expected {limit})")
            continue
        rows.append(Row(parts[0], label, path, number))
    if not rows:
        problems.add(f"split file {path} lists no images")
    return rows


def read_split_files(
    split_dir: Path, names: dict[str, str], problems: Problems
) -> dict[str, list[Row]]:
    """Rows of the train, val and test split files in `split_dir`.

    The classes are the training labels 0..C-1 (C = largest + 1); val and test labels must be
    among them, so an out-of-range label is reported with its file and line.
    """
    rows = {"train": read_split_file(split_dir / names["train"], problems)}
    num_classes = 1 + max((r.label for r in rows["train"]), default=-1)
    for split in ("val", "test"):
        rows[split] = read_split_file(split_dir / names[split], problems, num_classes)
    return rows


def check_folder_labels(
    rows: Iterable[Row], folder_of: Callable[[str], str], problems: Problems
) -> dict[int, str]:
    """label -> class folder; a folder with two labels, or a label on two folders, is reported."""
    label_of: dict[str, Row] = {}
    folder_of_label: dict[int, tuple[str, Row]] = {}
    for row in rows:
        folder = folder_of(row.path)
        seen = label_of.setdefault(folder, row)
        if seen.label != row.label:
            problems.add(
                f"{row.where}: label {row.label} for folder {folder!r}, but {seen.where} "
                f"gave it label {seen.label}"
            )
            continue
        other, where = folder_of_label.setdefault(row.label, (folder, row))
        if other != folder:
            problems.add(
                f"{row.where}: label {row.label} for folder {folder!r}, but {where.where} "
                f"gave it to folder {other!r}"
            )
    return {label: folder for label, (folder, _) in folder_of_label.items()}


def existing_files(
    paths: Sequence[Path], problems: Problems, listed_in: Sequence[str] | None = None
) -> list[str]:
    """Absolute paths as strings; each missing one is a problem naming where it was listed."""
    out = []
    note_listed(paths, listed_in)
    for i, path in enumerate(paths):
        if not path.is_file():
            where = f"{listed_in[i]}: " if listed_in is not None else ""
            problems.add(f"{where}image {path} does not exist")
        out.append(str(path))
    return out


def read_csv(path: Path, required: Sequence[str], problems: Problems) -> list[dict[str, str]]:
    """Rows of a CSV with a header; a missing file or column is a problem naming both."""
    if not path.is_file():
        problems.add(f"metadata file {path} does not exist")
        return []
    with io.StringIO(read_text(path), newline="") as f:
        reader = csv.DictReader(f)
        header = reader.fieldnames or []
        missing = [c for c in required if c not in header]
        if missing:
            problems.add(
                f"{path}: missing column{'s' * (len(missing) > 1)} {', '.join(missing)} "
                f"(found: {', '.join(header) or 'no header'}; expected at least "
                f"{', '.join(required)})"
            )
            return []
        return list(reader)


def csv_int(
    row: dict[str, str], column: str, path: Path, line: int, problems: Problems, allowed: range
) -> int | None:
    """An integer cell within `allowed`, or None after recording what is wrong (file:line)."""
    text = (row.get(column) or "").strip()
    try:
        number = float(text)  # pandas writes integer columns with NaNs as "1.0"
        value = int(number)
    except (ValueError, OverflowError):
        number, value = None, None
    if number is None or number != value:
        problems.add(f"{path}:{line}: column {column} must be an integer, got {text!r}")
        return None
    if value not in allowed:
        problems.add(
            f"{path}:{line}: {column}={value} is out of range "
            f"(expected {allowed.start}..{allowed.stop - 1})"
        )
        return None
    return value


def load_json(path: Path, problems: Problems) -> Any:
    """Any JSON value, or None after recording why the file cannot be read."""
    if not path.is_file():
        problems.add(f"annotation file {path} does not exist")
        return None
    try:
        return json.loads(read_text(path))
    except json.JSONDecodeError as exc:
        problems.add(f"{path}: not valid JSON ({exc})")
        return None


def read_json(path: Path, problems: Problems, keys: Sequence[str] = ()) -> dict[str, Any] | None:
    """A JSON object with `keys`, or None after recording why it cannot be used."""
    obj = load_json(path, problems)
    if obj is None:
        return None
    if not isinstance(obj, dict):
        problems.add(f"{path}: expected a JSON object with keys {', '.join(keys)}")
        return None
    missing = [k for k in keys if k not in obj]
    if missing:
        problems.add(f"{path}: missing key{'s' * (len(missing) > 1)} {', '.join(missing)}")
        return None
    return obj


def natural_key(name: str) -> list[Any]:
    """Sort key that orders digit runs by value ('2_x' before '10_x'), as natsort does."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name)]


def sorted_images(folder: Path, suffixes: tuple[str, ...] = (".jpg", ".jpeg")) -> list[Path]:
    """Image files directly in `folder`, sorted by name (never file-system order)."""
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in suffixes)


def torchvision_download(dataset: str, root: Path, fetch: Callable[[], Any], hint: str) -> None:
    """Run a torchvision download into `root`; a failure (no network, server down, bad checksum)
    becomes a DataError naming the dataset, the cause and the manual route."""
    root.mkdir(parents=True, exist_ok=True)
    try:
        fetch()
    except (OSError, RuntimeError, ValueError) as exc:  # URLError is an OSError
        raise DataError(
            f"{dataset}: download into {root} failed ({type(exc).__name__}: {exc}). Check the "
            f"network, or download by hand. {hint}".strip()
        ) from exc


def verify_image(path: str) -> str | None:
    """None if the image decodes completely, else what is wrong with it."""

    try:
        with Image.open(path) as im:
            im.load()  # decodes every pixel: catches truncated files, which open() does not
    except (OSError, UnidentifiedImageError, ValueError, Image.DecompressionBombError) as exc:
        return f"image {path} cannot be decoded ({type(exc).__name__}: {exc})"
    return None
