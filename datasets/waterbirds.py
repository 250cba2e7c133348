"""waterbirds: Waterbirds (Sagawa et al. 2020), read from the official metadata.csv.

Root layout: the folder `waterbird_complete95_forest2water2/` from
waterbird_complete95_forest2water2.tar.gz (or its contents at the root): `metadata.csv` with the
columns img_id, img_filename, y, split, place, place_filename and the images at
`<img_filename>` (e.g. `001.Black_footed_Albatross/Black_Footed_Albatross_0046_18.jpg`).
y: 0 landbird, 1 waterbird; place: 0 land, 1 water; split: 0 train, 1 val, 2 test. Groups are
(y, place), numbered 2 * y + place as SubpopBench does; the place is the spurious attribute.
"""

from __future__ import annotations

import numpy as np

from bench.data import GROUPS, DatasetAdapter, ImageSplit, LoadedDataset
from bench.data.files import (
    ImageOptions,
    Problems,
    csv_int,
    existing_files,
    locate_or_fail,
    read_csv,
    rgb_dataset,
)

SUBPOP = "SubpopBench defaults (hparams_registry; anchors §2.2)"
FOLDER = "waterbird_complete95_forest2water2"
SPLITS = ("train", "val", "test")


class Waterbirds(DatasetAdapter):
    """Waterbirds: land/water birds on land/water backgrounds, 95% correlated in training."""

    name = "waterbirds"
    Options = ImageOptions
    VERSION = 1
    LEADERBOARD = GROUPS
    needs_root = True
    download_hint = (
        "Get waterbird_complete95_forest2water2.tar.gz from https://nlp.stanford.edu/data/dro/ "
        "and unpack it under the root."
    )
    RECIPE = {
        "backbone": ("resnet50", SUBPOP + ": ImageNet-pretrained ResNet-50"),
        "pretrained": ("hf-cache", SUBPOP + ": ImageNet weights from the local cache"),
        "optimizer": ("sgd", SUBPOP),
        "lr": (1e-3, SUBPOP),
        "momentum": (0.9, SUBPOP),
        "weight_decay": (1e-4, SUBPOP),
        "batch_size": (108, SUBPOP),
        "epochs": (50, SUBPOP + ": 5,001 steps = 50 epochs x 100 steps"),
        "steps_per_epoch": (100, SUBPOP + ": checkpoint frequency"),
        "schedule": ("constant", SUBPOP),
        "augment": ("none", SUBPOP + ": Resize + CenterCrop 224, no training augmentation"),
        "normalize": ("imagenet", SUBPOP),
        "selection_metric": (
            "val_worst_group",
            "worst-group validation accuracy (SubpopBench; Kirichenko et al. 2023, DFR)",
        ),
    }
    # Official sizes (the CUB-200-2011 images, 11,788) and training group sizes (y, place):
    # (0,0) 3,498, (0,1) 184, (1,0) 56, (1,1) 1,057, as wilds' waterbirds_dataset.py states.
    EXPECTED = {
        "splits": {"train": 4_795, "val": 1_199, "test": 5_794},
        "num_classes": 2,
        "groups": 4,
        "group_counts": {"train": [3_498, 184, 56, 1_057]},
    }

    def load(self) -> LoadedDataset:
        base = locate_or_fail(
            self.require_root(), ("", FOLDER), ["metadata.csv"], self.name, self.download_hint
        )
        problems = Problems(self.name, self.download_hint)
        path = base / "metadata.csv"
        rows = read_csv(path, ("img_filename", "y", "split", "place"), problems)
        problems.raise_if_any()
        parsed: dict[str, list[tuple[str, int, int, str]]] = {s: [] for s in SPLITS}
        for line, row in enumerate(rows, start=2):  # line 1 is the header
            y = csv_int(row, "y", path, line, problems, range(2))
            place = csv_int(row, "place", path, line, problems, range(2))
            split = csv_int(row, "split", path, line, problems, range(3))
            if None not in (y, place, split):
                parsed[SPLITS[split]].append((row["img_filename"], y, place, f"{path}:{line}"))
        splits = {
            name: self.make_split(name, base, items, problems) for name, items in parsed.items()
        }
        for name, split in splits.items():
            if not len(split):
                problems.add(f"{path}: no row has split={SPLITS.index(name)} ({name})")
        problems.raise_if_any()
        return rgb_dataset(
            self,
            ["landbird", "waterbird"],
            splits,
            group_names=["landbird/land", "landbird/water", "waterbird/land", "waterbird/water"],
            attribute_names=["land", "water"],
        )

    def make_split(self, name: str, base, items: list, problems: Problems) -> ImageSplit:
        y = np.array([i[1] for i in items], dtype=np.int64)
        place = np.array([i[2] for i in items], dtype=np.int64)
        files = existing_files([base / i[0] for i in items], problems, [i[3] for i in items])
        return ImageSplit(name, y, files=files, groups=2 * y + place, attributes=place)
