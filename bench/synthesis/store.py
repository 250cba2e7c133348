"""The synthetic store: a set of generated images on disk, filled by many jobs, read as a stream.

    <store>/
      manifest.json         what the set is: image size, channels, dtype, number of images,
                            shard size, counts per cell, the generator, plan and settings keys
      shard-00000.npy       uint8 N x H x W x C images (memory-mappable)
      shard-00000.json      per sample: label, attribute, seed, prompt, conditioning image ids,
                            criterion value; plus the images file's shape and sha256
      shard-00000.lock      held while one process writes that shard
      index.npz             labels and attributes of the whole set (written when it is complete)
      done                  written last

Writing: each shard is generated from its requests' own seeds and written atomically (the
images, then the metadata that marks it complete), under a lock of its own, so several
processes (SLURM array tasks) fill disjoint shards of one set at once; a shard another process
holds is skipped and checked again at the end; nothing is generated twice or lost, and a killed
job resumes at the shards that are missing. Reading: images are read with positioned reads from
a few open shard files (no mapping, no caching of image bytes), so a training epoch over
millions of images holds one batch in memory, never the set.
"""

from __future__ import annotations

import hashlib
import logging
import os
import time
import zipfile
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from bench.errors import CorruptCacheError, DataError
from bench.generators.base import SampleBatch, SynthesisRequest
from bench.io import (
    atomic_write,
    atomic_write_json,
    clip,
    file_digest,
    file_lock,
    read_json,
    remake_advice,
)
from bench.progress import progress_bar

log = logging.getLogger(__name__)
STORE_VERSION = 2
SHARD_SIZE = 256
# Identity fields of a manifest: a second writer must agree on them.
MANIFEST_KEYS = ("version", "key", "num_images", "shard_size", "image_size", "channels", "dtype")


def shard_stem(store: Path, index: int) -> Path:
    return Path(store) / f"shard-{index:05d}"


def shard_complete(store: Path, index: int) -> bool:
    """Whether shard `index` of the store is written (its metadata is written last)."""
    return shard_stem(store, index).with_suffix(".json").exists()


def shard_ranges(n: int, size: int = SHARD_SIZE) -> list[tuple[int, int]]:
    return [(lo, min(lo + size, n)) for lo in range(0, n, size)]


class StoreWriter:
    """Creates a store (or joins one another process created) and fills its shards."""

    def __init__(self, path: Path, manifest: dict[str, Any]):
        self.path = Path(path)
        self.manifest = {"version": STORE_VERSION, "shard_size": SHARD_SIZE, **manifest}
        self.shards = shard_ranges(self.manifest["num_images"], self.manifest["shard_size"])
        self.manifest["num_shards"] = len(self.shards)
        self._write_manifest()

    def _write_manifest(self) -> None:
        path = self.path / "manifest.json"
        with file_lock(self.path.parent / f"{self.path.name}.lock"):
            if path.exists():
                check_manifest(path, self.manifest)
            else:
                atomic_write_json(path, self.manifest)

    def complete(self, index: int) -> bool:
        return shard_complete(self.path, index)

    def missing(self) -> list[int]:
        return [i for i in range(len(self.shards)) if not self.complete(i)]

    def fill(
        self,
        requests: Sequence[SynthesisRequest],
        generate: Callable[[Sequence[SynthesisRequest]], SampleBatch],
        shards: Sequence[int] | None = None,
        progress: bool = True,
    ) -> dict[str, Any]:
        """Generate every missing shard of `shards` (default all); return what was done.

        Shards another process is writing are skipped at first and waited for at the end.
        """
        if len(requests) != self.manifest["num_images"]:
            raise DataError(
                f"{self.path}: {len(requests)} requests for a set of "
                f"{self.manifest['num_images']} images (manifest.json)."
            )
        todo = [i for i in (shards if shards is not None else range(len(self.shards)))]
        start, written, waited = time.time(), [], []
        bar = progress_bar(None, progress, total=len(todo), desc="synthesise", unit="shard")
        deferred = []
        for i in todo:
            if self.complete(i):
                bar.update(1)
                continue
            with file_lock(shard_stem(self.path, i).with_suffix(".lock"), blocking=False) as got:
                if not got:
                    deferred.append(i)
                    continue
                if not self.complete(i):
                    self._write_shard(i, requests, generate)
                    written.append(i)
            bar.update(1)
        for i in deferred:  # held by another process: wait for it, take over if it died
            with file_lock(shard_stem(self.path, i).with_suffix(".lock")):
                if not self.complete(i):
                    self._write_shard(i, requests, generate)
                    written.append(i)
                else:
                    waited.append(i)
            bar.update(1)
        bar.close()
        return {
            "generated_shards": len(written),
            "waited_for": len(waited),
            "seconds": round(time.time() - start, 2),
        }

    def _write_shard(
        self,
        index: int,
        requests: Sequence[SynthesisRequest],
        generate: Callable[[Sequence[SynthesisRequest]], SampleBatch],
    ) -> None:
        lo, hi = self.shards[index]
        batch = generate(requests[lo:hi])
        images = batch.images
        m = self.manifest
        shape = (hi - lo, m["image_size"], m["image_size"], m["channels"])
        if images.dtype != np.uint8 or images.shape != shape:
            raise DataError(
                f"the generator returned {images.dtype} {images.shape} for shard {index}; the "
                f"store {self.path} expects uint8 {shape}."
            )
        stem = shard_stem(self.path, index)
        digest = hashlib.sha256()

        def write_images(tmp: Path) -> None:
            with open(tmp, "wb") as f:
                np.save(f, np.ascontiguousarray(images))
            digest.update(tmp.read_bytes())

        atomic_write(stem.with_suffix(".npy"), write_images)
        crit = batch.criterion
        meta = {
            "index": index,
            "range": [lo, hi],
            "shape": list(shape),
            "sha256": digest.hexdigest(),
            "labels": [r.label for r in requests[lo:hi]],
            "attributes": [r.group for r in requests[lo:hi]],
            "seeds": [r.seed for r in requests[lo:hi]],
            "prompts": [r.prompt for r in requests[lo:hi]],
            "cond_ids": [list(r.cond_ids) for r in requests[lo:hi]],
            "criterion": None if crit is None else [float(v) for v in crit],
        }
        atomic_write_json(stem.with_suffix(".json"), meta)  # marks the shard complete

    def finish(self) -> bool:
        """Write the index and `done` once every shard is complete; False if some are not."""
        if self.missing():
            return False
        with file_lock(self.path.parent / f"{self.path.name}.lock"):
            if (self.path / "done").exists():
                return True
            labels, attributes = [], []
            for i in range(len(self.shards)):
                meta = read_json(shard_stem(self.path, i).with_suffix(".json"))
                labels += meta["labels"]
                attributes += [-1 if a is None else a for a in meta["attributes"]]

            def write(tmp: Path) -> None:
                with open(tmp, "wb") as f:
                    np.savez(
                        f,
                        labels=np.asarray(labels, np.int64),
                        attributes=np.asarray(attributes, np.int64),
                    )

            atomic_write(self.path / "index.npz", write)
            atomic_write_json(self.path / "done", {"num_images": len(labels)})
        return True


def check_manifest(path: Path, expected: dict[str, Any]) -> None:
    """A store's manifest must agree with what a writer or reader expects."""
    try:
        found = read_json(path)
    except (OSError, ValueError) as exc:
        raise DataError(f"{path} cannot be read ({exc}); {remake_advice(path.parent)}.") from None
    for key in MANIFEST_KEYS:
        if key in expected and found.get(key) != expected[key]:
            raise DataError(
                f"{path} says {key}={found.get(key)!r} but this set needs {expected[key]!r}: the "
                f"directory holds another set: {remake_advice(path.parent)}."
            )


# What a manifest may say: the bounds a reader trusts before it allocates anything.
MANIFEST_BOUNDS = {
    "num_images": (0, 10**9),
    "shard_size": (1, 1 << 16),
    "image_size": (1, 4096),
    "channels": (1, 4),
}


def manifest_problem(manifest: Any) -> str | None:
    """Why a manifest cannot be one bench wrote (a field missing, not a whole number, or out
    of MANIFEST_BOUNDS), or None."""
    for key, (low, high) in MANIFEST_BOUNDS.items():
        value = manifest.get(key)
        if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
            return f"it says {key}={clip(repr(value), 40)}, not a whole number in {low}..{high:,}"
    return None


class SyntheticSet:
    """A finished store, read as a stream: labels in memory, images a few shards at a time."""

    def __init__(self, path: Path, open_shards: int = 4):
        self.path = Path(path)
        if not (self.path / "manifest.json").is_file():
            raise DataError(f"{self.path} is not a synthetic set (no manifest.json).")
        path = self.path / "manifest.json"
        try:
            self.manifest = read_json(path)
            m = self.manifest
            out_of_bounds = manifest_problem(m)
            if out_of_bounds:
                raise CorruptCacheError(corrupt(path, self.path, out_of_bounds), [path])
            self.shards = shard_ranges(m["num_images"], m["shard_size"])
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            what = f"it cannot be read ({type(exc).__name__})"
            raise CorruptCacheError(corrupt(path, self.path, what), [path]) from None
        if m.get("version") != STORE_VERSION:
            raise DataError(
                f"{self.path} was written by another store version ({m.get('version')}); "
                f"{remake_advice(self.path)}."
            )
        self.shape = (m["image_size"], m["image_size"], m["channels"])
        missing = [i for i in range(len(self.shards)) if not self._meta_path(i).is_file()]
        if missing:
            raise DataError(
                f"{self._meta_path(missing[0])} is missing: the synthetic set {self.path} is "
                f"incomplete ({len(missing)} of {len(self.shards)} shards). Rerun the bench run "
                "that writes it (it resumes at the missing shards)."
            )
        self._offsets, damaged = [], []
        for i in range(len(self.shards)):
            try:
                self._offsets.append(self._check_shard(i))
            except CorruptCacheError as exc:
                damaged.append(exc)
        if damaged:
            paths = [p for exc in damaged for p in exc.paths]
            more = f" ({len(damaged)} damaged shards in all)" if len(damaged) > 1 else ""
            raise CorruptCacheError(f"{damaged[0]}{more}", paths)
        self.targets, self.attributes = self._index()
        self.image_bytes = int(np.prod(self.shape))
        self._open: OrderedDict[int, int] = OrderedDict()  # shard -> file descriptor
        self._max_open = open_shards

    def _meta_path(self, i: int) -> Path:
        return shard_stem(self.path, i).with_suffix(".json")

    def _index(self) -> tuple[np.ndarray, np.ndarray]:
        path = self.path / "index.npz"
        if path.is_file():
            try:
                with np.load(path) as index:
                    labels, attributes = index["labels"], index["attributes"]
            except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
                what = f"it cannot be read ({type(exc).__name__})"
                raise CorruptCacheError(corrupt(path, self.path, what), [path]) from None
            if len(labels) != self.manifest["num_images"] or len(attributes) != len(labels):
                raise CorruptCacheError(corrupt(path, self.path, "it has the wrong length"), [path])
            return labels, attributes
        labels, attributes = [], []
        for i in range(len(self.shards)):
            meta = read_json(self._meta_path(i))
            labels += meta["labels"]
            attributes += [-1 if a is None else a for a in meta["attributes"]]
        return np.asarray(labels, np.int64), np.asarray(attributes, np.int64)

    def _check_shard(self, i: int) -> int:
        """Where shard i's image bytes start, after checking its header, size and sha256 (the
        checksum its .json recorded when it was written: one read of the set per open, less than
        one training epoch reads)."""
        path, meta_path = shard_stem(self.path, i).with_suffix(".npy"), self._meta_path(i)
        lo, hi = self.shards[i]
        expected = (hi - lo, *self.shape)
        try:
            meta = read_json(meta_path)
            recorded = meta["sha256"] if isinstance(meta, dict) else None
        except (OSError, ValueError, KeyError) as exc:
            what = f"it cannot be read ({type(exc).__name__})"
            raise CorruptCacheError(corrupt(meta_path, self.path, what), [meta_path]) from None
        try:
            with open(path, "rb") as f:
                version = np.lib.format.read_magic(f)
                read_header = (
                    np.lib.format.read_array_header_1_0
                    if version == (1, 0)
                    else np.lib.format.read_array_header_2_0
                )
                shape, fortran, dtype = read_header(f)
                offset = f.tell()
            size = path.stat().st_size
        except (OSError, ValueError) as exc:
            what = f"it cannot be read ({exc}): the shard is truncated or corrupt"
            raise CorruptCacheError(corrupt(path, self.path, what), [path]) from None
        if shape != expected or dtype != np.uint8 or fortran:
            raise DataError(
                f"{path} holds {dtype} {shape}, but manifest.json says uint8 {expected}: "
                f"{remake_advice(self.path)}."
            )
        if size != offset + int(np.prod(expected)):
            what = (
                f"it cannot be read (it has {size} bytes, {offset + int(np.prod(expected))} "
                "expected): the shard is truncated or corrupt"
            )
            raise CorruptCacheError(corrupt(path, self.path, what), [path])
        if recorded is not None and file_digest(path) != recorded:
            what = f"it does not match the sha256 in {meta_path.name}: the shard is corrupt"
            raise CorruptCacheError(corrupt(path, self.path, what), [path])
        return offset

    def __len__(self) -> int:
        return len(self.targets)

    def __getstate__(self) -> dict[str, Any]:  # DataLoader workers open their own files
        return {**self.__dict__, "_open": OrderedDict()}

    def __del__(self) -> None:
        for fd in getattr(self, "_open", {}).values():
            os.close(fd)

    def class_counts(self, num_classes: int) -> np.ndarray:
        return np.bincount(self.targets, minlength=num_classes)

    def metadata(self, shard: int) -> dict[str, Any]:
        return read_json(self._meta_path(shard))

    def _fd(self, i: int) -> int:
        if i in self._open:
            self._open.move_to_end(i)
            return self._open[i]
        fd = os.open(shard_stem(self.path, i).with_suffix(".npy"), os.O_RDONLY)
        self._open[i] = fd
        while len(self._open) > self._max_open:
            os.close(self._open.popitem(last=False)[1])
        return fd

    def _read_rows(self, shard: int, rows: np.ndarray, out: np.ndarray) -> None:
        """Rows of one shard into `out` (one positioned read per run of consecutive rows)."""
        fd, size = self._fd(shard), self.image_bytes
        base = self._offsets[shard]
        start = 0
        while start < len(rows):
            end = start + 1
            while end < len(rows) and rows[end] == rows[end - 1] + 1:
                end += 1
            data = os.pread(fd, size * (end - start), base + int(rows[start]) * size)
            out[start:end] = np.frombuffer(data, np.uint8).reshape(end - start, *self.shape)
            start = end

    def image(self, i: int) -> np.ndarray:
        """One image, uint8 H x W x C."""
        i = int(i)
        shard = i // self.manifest["shard_size"]
        out = np.empty((1, *self.shape), np.uint8)
        self._read_rows(shard, np.array([i - self.shards[shard][0]]), out)
        return out[0]

    def read(self, index: np.ndarray) -> np.ndarray:
        """Images at `index` (any order), uint8 N x H x W x C, read shard by shard."""
        index = np.asarray(index, dtype=np.int64)
        out = np.empty((len(index), *self.shape), np.uint8)
        shard_of = index // self.manifest["shard_size"]
        order = np.lexsort((index, shard_of))
        sorted_index, sorted_shard = index[order], shard_of[order]
        bounds = np.flatnonzero(np.diff(sorted_shard)) + 1
        for part in np.split(np.arange(len(order)), bounds):
            if not len(part):
                continue
            s = int(sorted_shard[part[0]])
            rows = sorted_index[part] - self.shards[s][0]
            buf = np.empty((len(part), *self.shape), np.uint8)
            self._read_rows(s, rows, buf)
            out[order[part]] = buf
        return out

    def batches(self, index: np.ndarray, batch_size: int) -> Iterator[np.ndarray]:
        """Images at `index` in batches of RGB uint8 (for the generation metrics)."""
        for lo in range(0, len(index), batch_size):
            batch = self.read(index[lo : lo + batch_size])
            yield np.repeat(batch, 3, axis=-1) if batch.shape[-1] == 1 else batch

    def verify(self) -> list[str]:
        """Problems found by re-hashing every shard against its recorded sha256."""
        problems = []
        for i in range(len(self.shards)):
            meta = self.metadata(i)
            path = shard_stem(self.path, i).with_suffix(".npy")
            if not path.is_file():
                problems.append(f"{path} is missing")
            elif file_digest(path) != meta["sha256"]:
                problems.append(f"{path} does not match its recorded sha256")
        return problems


def corrupt(path: Path, store: Path, what: str) -> str:
    """The message for a damaged file of the cached set `store`: what is wrong and the fix."""
    return (
        f"{path}: {what}. Rerun the bench run that writes the cached set {store} with "
        "--rebuild-cache (it deletes and regenerates only the damaged shards); or "
        f"{remake_advice(store)}."
    )


def drop_damaged(store: Path, paths: Sequence[Path]) -> list[int]:
    """Delete the damaged shards among `paths` (their images and metadata) and the set's
    `done` and index, so a writer regenerates exactly those shards; return their indices.
    Only files of this store named in `paths` (or their shard's pair) are removed."""
    store = Path(store)
    shards = sorted(
        {int(p.stem.split("-")[1]) for p in map(Path, paths) if p.stem.startswith("shard-")}
    )
    with file_lock(store.parent / f"{store.name}.lock"):
        (store / "done").unlink(missing_ok=True)  # first: no reader takes the set as complete
        (store / "index.npz").unlink(missing_ok=True)
        if store / "manifest.json" in map(Path, paths):  # a writer writes it again, the same
            (store / "manifest.json").unlink(missing_ok=True)
        for i in shards:
            shard_stem(store, i).with_suffix(".json").unlink(missing_ok=True)  # marks it missing
            shard_stem(store, i).with_suffix(".npy").unlink(missing_ok=True)
    log.warning("deleted %d damaged shard(s) of %s: %s", len(shards), store, shards)
    return shards
