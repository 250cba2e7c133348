"""Datasets as the harness sees them: splits, adapters, file formats, checks, torch datasets.

`bench.data.base` defines what every adapter produces (re-exported here, so adapters write
`from bench.data import DatasetAdapter, ImageSplit, LoadedDataset`); `files` reads the official
on-disk formats, `check` is `bench data check`, `fewshot` the k-shot protocol and `torchdata`
turns a split into a torch Dataset.
"""

from bench.data.base import (
    FAIRNESS,
    FEW_SHOT,
    FULL_TRAIN,
    GENERIC,
    GROUPS,
    LONG_TAIL,
    SPLITS,
    DatasetAdapter,
    DatasetOptions,
    ImageSplit,
    LeaderboardShape,
    LoadedDataset,
    data_root_from_env,
    shot_buckets,
)

__all__ = [
    "FAIRNESS",
    "FEW_SHOT",
    "FULL_TRAIN",
    "GENERIC",
    "GROUPS",
    "LONG_TAIL",
    "SPLITS",
    "DatasetAdapter",
    "DatasetOptions",
    "ImageSplit",
    "LeaderboardShape",
    "LoadedDataset",
    "data_root_from_env",
    "shot_buckets",
]
