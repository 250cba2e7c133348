"""imagenet-lt: ImageNet-LT (Liu et al. 2019, OLTR), read from its official split files.

Root layout (the ILSVRC2012 train and val sets, both in class-folder layout, plus the split files
of OLTR / classifier-balancing `data/ImageNet_LT/`, at the root or in `ImageNet_LT/`):

    ImageNet_LT_train.txt  ImageNet_LT_val.txt  ImageNet_LT_test.txt
    train/n01440764/n01440764_762.JPEG ...
    val/n01440764/ILSVRC2012_val_00029930.JPEG ...

Each split-file line is `<relative/path> <label>`. The val split is drawn from the ImageNet train
folder (20 per class) and the test split from the ILSVRC2012 val set (50 per class). Labels
follow the sorted WordNet ids (n01440764 = 0), the torchvision ImageFolder order.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path, PurePosixPath
from typing import ClassVar

import numpy as np

from bench.data import LONG_TAIL, DatasetAdapter, ImageSplit, LoadedDataset
from bench.data.files import (
    ImageOptions,
    Problems,
    Row,
    check_folder_labels,
    existing_files,
    locate_or_fail,
    read_split_files,
    rgb_dataset,
)

CB = "classifier-balancing ImageNet_LT config (Kang et al. 2020), the codebase FG used"


class ImageNetLT(DatasetAdapter):
    """ImageNet-LT (1000 classes, 1280..5 train images per class) from the OLTR split files."""

    name = "imagenet-lt"
    Options = ImageOptions
    VERSION = 1
    LEADERBOARD = LONG_TAIL
    needs_root = True
    download_hint = (
        "Get ILSVRC2012 (train and val, val sorted into class folders) from "
        "https://image-net.org/download and the ImageNet_LT_{train,val,test}.txt split files "
        "from https://github.com/facebookresearch/classifier-balancing (data/ImageNet_LT/)."
    )
    RECIPE = {
        "backbone": ("resnext50_32x4d", CB + "; FG Sec 4.1, augcond Table 4 (ResNeXt50)"),
        "optimizer": ("sgd", CB),
        "lr": (0.2, CB + "; augcond Table 4 (LR 0.2)"),
        "momentum": (0.9, CB),
        "weight_decay": (5e-4, CB),
        "batch_size": (512, CB + "; FG Sec 4.1 (batch 512)"),
        "epochs": (90, CB + " (FG and augcond train 150 epochs; their method RECIPEs say so)"),
        "schedule": ("cosine", CB),
        "augment": ("standard", CB + ": RandomResizedCrop 224 + flip + ColorJitter(0.4,0.4,0.4)"),
        "normalize": ("imagenet", CB),
    }
    # Counted from the classifier-balancing split files (val, test) and FG's imagenet_info.json
    # (train counts: 115,846, max 1280, min 5; 385 / 479 / 136 classes >100 / 20-100 / <20).
    EXPECTED = {
        "splits": {"train": 115_846, "val": 20_000, "test": 50_000},
        "num_classes": 1000,
        "shots": {"many": 385, "medium": 479, "few": 136},
        "train_counts": {"max": 1280, "min": 5},
    }
    SPLIT_FILES: ClassVar[dict[str, str]] = {
        "train": "ImageNet_LT_train.txt",
        "val": "ImageNet_LT_val.txt",
        "test": "ImageNet_LT_test.txt",
    }
    SPLIT_SUBDIRS: ClassVar[tuple[str, ...]] = ("", "ImageNet_LT")

    def load(self) -> LoadedDataset:
        rows, base = self.read_rows()
        problems = Problems(self.name, self.download_hint)
        every = [r for split_rows in rows.values() for r in split_rows]
        wnid_of = check_folder_labels(every, lambda path: PurePosixPath(path).parent.name, problems)
        splits = {
            split: ImageSplit(
                split,
                np.array([r.label for r in split_rows], dtype=np.int64),
                files=existing_files(
                    [base / r.path for r in split_rows], problems, [r.where for r in split_rows]
                ),
            )
            for split, split_rows in rows.items()
        }
        class_names = self.class_names(wnid_of, rows["train"], problems)
        problems.raise_if_any()
        return rgb_dataset(
            self,
            class_names,
            splits,
            info={"root": str(base)},
        )

    def read_rows(self) -> tuple[dict[str, list[Row]], Path]:
        """The rows of the three split files, and the folder their paths are relative to."""
        root = self.require_root()
        first = self.SPLIT_FILES["train"]
        markers = [first, *(f"{d}/{first}" for d in self.SPLIT_SUBDIRS if d)]
        base = locate_or_fail(root, ("",), markers, self.name, self.download_hint)
        split_dir = next(base / d for d in self.SPLIT_SUBDIRS if (base / d / first).is_file())
        problems = Problems(self.name, self.download_hint)
        rows = read_split_files(split_dir, self.SPLIT_FILES, problems)
        problems.raise_if_any()
        return rows, base

    def class_names(
        self, wnid_of: dict[int, str], train: list[Row], problems: Problems
    ) -> list[str]:
        """WordNet lemmas of the class folders (the first lemma: "tench" for n01440764)."""
        num_classes = 1 + max(r.label for r in train)
        missing = sorted(set(range(num_classes)) - {r.label for r in train})
        if missing:
            problems.add(
                f"{train[0].source}: labels {missing[:10]} have no training image; "
                f"labels must run 0..{num_classes - 1} with every class present"
            )
        lemmas = wordnet_lemmas()
        wnids = [wnid_of.get(c, str(c)) for c in range(num_classes)]
        return unique_names(wnids, [lemmas.get(w, w) for w in wnids])


# ImageNet-1k's two first-lemma clashes, named as CLIP's curated ImageNet class names do
# (openai/CLIP notebooks/Prompt_Engineering_for_ImageNet.ipynb): the names become prompts.
CLASHES = {
    "n02012849": "crane bird",
    "n03126707": "construction crane",
    "n03710637": "maillot",
    "n03710721": "tank suit",
}


def unique_names(wnids: list[str], names: list[str]) -> list[str]:
    """Class names with no two alike: a clashing class takes CLIP's name where CLASHES has one,
    else its WordNet id in brackets."""
    counts: dict[str, int] = {}
    for name in names:
        counts[name] = counts.get(name, 0) + 1
    out = []
    for wnid, name in zip(wnids, names, strict=True):
        if counts[name] > 1:
            name = CLASHES.get(wnid, f"{name} ({wnid})")
        out.append(name)
    return out


def wordnet_lemmas() -> dict[str, str]:
    """WordNet id -> first lemma, from the table timm ships (read without importing timm).

    Empty when timm is absent; the class names are then the WordNet ids themselves.
    """
    spec = importlib.util.find_spec("timm")
    if spec is None or not spec.submodule_search_locations:
        return {}
    table = Path(spec.submodule_search_locations[0]) / "data/_info/imagenet_synset_to_lemma.txt"
    if not table.is_file():
        return {}
    out = {}
    for line in table.read_text(encoding="utf-8").splitlines():
        wnid, _, lemmas = line.partition("\t")
        out[wnid] = lemmas.split(",")[0].strip()
    return out
