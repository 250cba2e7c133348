"""What a run read: a cheap fingerprint of a loaded dataset, and the checks every load passes.

`load_dataset(adapter)` is how the harness loads data (runs, `bench data check`): it records
every metadata file the adapter reads through `bench.data.files` (split files, CSV, JSON), checks
that every image path resolves inside the data root (symlinks followed, then checked), and puts
a fingerprint into `LoadedDataset.info["fingerprint"]`:

- the sha256 of each metadata file read (path relative to the root),
- per split: the count and hashes of the labels, groups, attributes, the image paths relative
  to the root with their sizes in bytes, or the embedded image array,
- the class names and the dataset options.

No image is opened: the cost is one `lstat` per image file and one hash pass over the metadata
(and over in-memory arrays such as CIFAR's). File times are left out on purpose, so a copy of
the tree to a node's local disk keeps the fingerprint; a replaced image of another size, an
edited split file or a changed label changes it. The digest (`fingerprint["digest"]`) is part of
a run's identity (bench.runs.config.RunConfig.data_fingerprint).
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import stat
from pathlib import Path
from typing import Any

import numpy as np

from bench.data.base import SPLITS, DatasetAdapter, ImageSplit, LoadedDataset
from bench.data.files import MAX_SHOWN, Reading, reading
from bench.errors import DataError
from bench.hparams import keyed
from bench.io import is_within, stable_hash


def load_dataset(adapter: DatasetAdapter) -> LoadedDataset:
    """`adapter.load()`, its paths checked to stay inside the root, with its fingerprint."""
    root = Path(adapter.root) if adapter.root is not None else None
    with reading(root) as record:
        data = adapter.load()
    sizes, outside = file_sizes(data, root, record)
    if outside:
        name = type(adapter).__name__
        shown = "\n".join(f"  - {item}" for item in outside[:MAX_SHOWN])
        more = f"\n  ... and {len(outside) - MAX_SHOWN} more" if len(outside) > MAX_SHOWN else ""
        raise DataError(
            f"{data.name}: {len(outside)} image path(s) resolve outside the data root "
            f"{root}:\n{shown}{more}\nEvery listed image must lie inside the root ({name} reads "
            "nothing else): fix those lines, or copy the images into the root."
        )
    data.info["fingerprint"] = fingerprint(data, adapter.options, root, record, sizes)
    data.info["listed"] = record.listed  # image -> "file:line", for the checks' messages
    return data


def all_files(data: LoadedDataset) -> list[str]:
    """Every image file the dataset lists (all splits, and pool images other draws may use)."""
    seen: dict[str, None] = {}
    for split in data.splits.values():
        seen.update(dict.fromkeys(split.files or []))
    seen.update(dict.fromkeys(data.info.get("unused_files", [])))
    return list(seen)


def file_sizes(
    data: LoadedDataset, root: Path | None, record: Reading
) -> tuple[dict[str, int], list[str]]:
    """Size in bytes of every listed image (-1 if missing), and the paths outside the root.

    One lstat per file: directories are resolved once each (cached), a file only when it is
    itself a symlink.
    """
    real_root = os.path.realpath(root) if root is not None else None
    real_dirs: dict[str, str] = {}
    sizes: dict[str, int] = {}
    outside: list[str] = []
    for path in all_files(data):
        folder, name = os.path.split(path)
        real_dir = real_dirs.get(folder)
        if real_dir is None:
            real_dir = real_dirs[folder] = os.path.realpath(folder)
        real = os.path.join(real_dir, name)
        try:
            st = os.lstat(real)
            if stat.S_ISLNK(st.st_mode):
                real = os.path.realpath(real)
                st = os.stat(real)
            sizes[path] = st.st_size
        except OSError:
            sizes[path] = -1  # a missing file: load() has reported it already
        if real_root is not None and not is_within(real, real_root):
            where = record.listed.get(path)
            at = f"{where}: " if where else ""
            outside.append(f"{at}image {path} resolves to {real}")
    return sizes, outside


def fingerprint(
    data: LoadedDataset,
    options: Any,
    root: Path | None,
    record: Reading,
    sizes: dict[str, int],
) -> dict[str, Any]:
    """The fingerprint (JSON-ready); its "digest" hashes everything but the root's location."""
    fp: dict[str, Any] = {
        "dataset": data.name,
        # settings added later are absent at their default (hparams.keyed): digests stay
        "options": keyed(type(options), dataclasses.asdict(options))
        if dataclasses.is_dataclass(options)
        else {},
        "classes": hash_text("\n".join(data.class_names)),
        "files_read": {
            relative(path, root): digest[:16] for path, digest in sorted(record.files.items())
        },
        "splits": {
            name: split_fingerprint(split, root, sizes) for name, split in data.splits.items()
        },
    }
    if data.info.get("unused_files"):
        unused = data.info["unused_files"]
        fp["unused_files"] = hash_text(
            "".join(f"{relative(f, root)}\t{sizes.get(f, -1)}\n" for f in unused)
        )
    fp = {"digest": stable_hash(fp), **fp}
    fp["root"] = None if root is None else str(root)
    return fp


def split_fingerprint(split: ImageSplit, root: Path | None, sizes: dict[str, int]) -> dict:
    out: dict[str, Any] = {"count": len(split), "labels": hash_array(split.targets)}
    for what in ("groups", "attributes", "images"):
        value = getattr(split, what)
        if value is not None:
            out[what] = hash_array(np.asarray(value))
    if split.files is not None:
        out["files"] = hash_text(
            "".join(f"{relative(f, root)}\t{sizes.get(f, -1)}\n" for f in split.files)
        )
    return out


def relative(path: str, root: Path | None) -> str:
    """`path` relative to the root (so a moved tree keeps its fingerprint), else its name."""
    if root is not None:
        rel = os.path.relpath(path, root)
        if not rel.startswith(".."):
            return rel
    return f"<outside>/{os.path.basename(path)}"  # e.g. metadata packaged with the harness


def hash_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def hash_array(a: np.ndarray) -> str:
    a = np.ascontiguousarray(a)
    h = hashlib.sha256(f"{a.dtype.str}{a.shape}".encode())
    h.update(memoryview(a).cast("B"))
    return h.hexdigest()[:16]


def describe(fp: dict[str, Any] | None) -> str:
    """One line for `bench show`: digest, split sizes, root and how many files were hashed."""
    if not fp:
        return "not recorded"
    splits = fp.get("splits", {})
    order = [s for s in SPLITS if s in splits] + [s for s in splits if s not in SPLITS]
    counts = "  ".join(f"{k} {splits[k].get('count', 0):,}" for k in order)
    root = fp.get("root") or "(embedded)"
    return (
        f"{fp.get('digest')}  {counts}  root {root}  ({len(fp.get('files_read', {}))} files hashed)"
    )
