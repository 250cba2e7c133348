"""What the few-shot datasets share: DA-Fusion's k-shot protocol (Trabucco et al. 2023).

augmentation-conditioning (seed 001, Sec 4.2) evaluates on Caltech101, Flowers102, Pascal VOC
2012 and COCO 2017 "following DA-Fusion": 1, 2, 4, 8 or 16 training images per class, several
trials, and the highest validation accuracy across epochs. DA-Fusion's validation split is its
evaluation split, so here val and test are the same split and the recipe's best-val selection
reproduces "highest validation accuracy across epochs".
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from bench.data import ImageSplit, LoadedDataset
from bench.data.files import ImageOptions, rgb_dataset
from bench.hparams import hp

DA_FUSION = "DA-Fusion train_classifier.py (brandontrabucco/da-fusion)"
AUGCOND = "augcond Table 4 / Sec 4.2"


@dataclass(frozen=True)
class FewShotOptions(ImageOptions):
    shots: int = hp(
        1,
        choices=(1, 2, 4, 8, 16),
        part="data",
        source=DA_FUSION + " --examples-per-class 1 2 4 8 16; " + AUGCOND,
        help="training images per class",
    )
    trial: int = hp(
        0,
        low=0,
        part="data",
        high=10**6,
        source=DA_FUSION + ": the trial index seeds the k-shot draw (--num-trials 8: 0..7)",
    )
    image_size: int = hp(
        256, low=8, part="data", high=4096, source=DA_FUSION + ": image_size (256, 256)"
    )


RECIPE: dict[str, tuple[Any, str]] = {
    "backbone": ("resnet50", DA_FUSION + ": ImageNet-pretrained ResNet-50; " + AUGCOND),
    "pretrained": ("hf-cache", DA_FUSION + ": ImageNet weights, from the local cache"),
    "optimizer": ("adam", DA_FUSION + ": Adam; " + AUGCOND),
    "lr": (1e-4, DA_FUSION + ": lr 0.0001; " + AUGCOND),
    "weight_decay": (0.0, DA_FUSION),
    "batch_size": (32, DA_FUSION + ": batch 32; " + AUGCOND),
    "epochs": (50, DA_FUSION + ": 50 epochs; " + AUGCOND),
    "steps_per_epoch": (200, DA_FUSION + ": 200 iterations per epoch"),
    "schedule": ("constant", DA_FUSION + ": constant learning rate"),
    "augment": ("flip-rotate", DA_FUSION + ": RandomHorizontalFlip + RandomRotation(15)"),
    "resize": ("square", DA_FUSION + ": Resize((256, 256)), no crop"),
    "trains": (
        "head",
        "augcond Sec 4.2: fine-tune the last layer of an ImageNet-pretrained ResNet50",
    ),
    "selection_metric": (
        "val_balanced",
        "mean per-class accuracy, the few-shot headline; highest across epochs (DA-Fusion)",
    ),
    "normalize": ("half", DA_FUSION + ": Normalize(0.5, 0.5), i.e. [-1, 1]"),
}


def da_fusion_split(
    class_files: Sequence[Sequence[str]], trial: int, shots: int, halve: bool
) -> tuple[list[list[str]], list[list[str]]]:
    """DA-Fusion's few-shot split (semantic_aug/datasets/*.py).

    One `np.random.default_rng(trial)` draws a permutation per class, in class order. With
    `halve`, the first half of it is the training pool and the second half the evaluation split
    (Caltech101, Flowers102: `np.array_split(perm, 2)`); the k-shot training set is the first
    `shots` of the pool.
    """
    rng = np.random.default_rng(trial)
    train, held_out = [], []
    for files in class_files:
        perm = rng.permutation(len(files))
        pool, rest = np.array_split(perm, 2) if halve else (perm, perm[:0])
        train.append([files[i] for i in pool[:shots]])
        held_out.append([files[i] for i in rest])
    return train, held_out


def flatten_classes(class_files: Sequence[Sequence[str]]) -> tuple[list[str], np.ndarray]:
    """Per-class file lists -> (files, labels), class by class."""
    files = [f for group in class_files for f in group]
    labels = np.repeat(np.arange(len(class_files)), [len(g) for g in class_files])
    return files, labels


def few_shot_dataset(
    adapter: Any,
    class_names: list[str],
    train: Sequence[Sequence[str]],
    evaluation: Sequence[Sequence[str]],
    pool: Sequence[Sequence[str]],
) -> LoadedDataset:
    """k-shot train split, and the evaluation split as both val and test (DA-Fusion's).

    The pool images the k-shot draw left out are listed in info["unused_files"], so that
    `bench data check` decodes them too: another trial will use them.
    """
    shots = adapter.options.shots
    files, labels = flatten_classes(train)
    test_files, test_labels = flatten_classes(evaluation)
    test = ImageSplit("test", test_labels, files=test_files)
    notes = [
        f"class {class_names[c]!r} has only {len(group)} training image(s) for {shots}-shot"
        for c, group in enumerate(train)
        if len(group) < shots
    ]
    return rgb_dataset(
        adapter,
        class_names,
        {"train": ImageSplit("train", labels, files=files), "val": test, "test": test},
        info={
            "shots": shots,
            "trial": adapter.options.trial,
            "train_pool": sum(len(group) for group in pool),
            "unused_files": sorted({f for group in pool for f in group} - set(files)),
            "notes": notes,
        },
    )
