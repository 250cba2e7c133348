"""Cached real-image features, one directory per (dataset + options, split, extractor, size, n).

    <results>/cache/features/<key>/
      features.npy   float32 N x D, the extractor's features of the chosen real images
      stats.npz      their mean and covariance (the FID statistics), float64
      meta.json      what the key was made of; written last, so it marks a complete entry

The key hashes everything the features depend on: the dataset's name, version and options, the
split, the extractor's identity (name and a digest of its weights), the image size, the number
of images and the seed that picked them. Change any of them and a new entry is computed; an old
entry is never overwritten in place.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from bench.io import atomic_write, atomic_write_json, inside, read_json, stable_hash

log = logging.getLogger(__name__)


def feature_cache_dir(cache_root: Path, key_parts: dict[str, Any]) -> Path:
    return inside(cache_root, "features", stable_hash(key_parts, 16))


def cached_features(
    cache_root: Path, key_parts: dict[str, Any], compute: Callable[[], np.ndarray]
) -> tuple[np.ndarray, dict[str, Any]]:
    """The cached features for `key_parts`, or `compute()`d and stored; plus where and whether."""
    entry = feature_cache_dir(cache_root, key_parts)
    meta_path, feats_path = entry / "meta.json", entry / "features.npy"
    stored = read_json(meta_path)["key"] if meta_path.is_file() else None
    if feats_path.is_file() and stable_hash(stored, 16) == stable_hash(key_parts, 16):
        log.info("real features: reusing %s", entry)
        return np.load(feats_path), {"cached": True, "dir": str(entry)}
    features = np.asarray(compute(), dtype=np.float32)
    write_npy(feats_path, features)
    mu, sigma = features.astype(np.float64).mean(0), np.cov(features, rowvar=False)

    def write_stats(tmp: Path) -> None:
        with open(tmp, "wb") as f:
            np.savez(f, mu=mu, sigma=sigma)

    atomic_write(entry / "stats.npz", write_stats)
    atomic_write_json(meta_path, {"key": key_parts, "shape": list(features.shape)})
    log.info("real features: computed %s -> %s", features.shape, entry)
    return features, {"cached": False, "dir": str(entry)}


def write_npy(path: Path, array: np.ndarray) -> None:
    def write(tmp: Path) -> None:
        with open(tmp, "wb") as f:
            np.save(f, array)

    atomic_write(path, write)
