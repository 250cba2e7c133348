"""pascal-voc: Pascal VOC 2012 as a 20-class few-shot classification set (DA-Fusion's labelling).

Root layout: `VOCdevkit/VOC2012/` (or its contents) from VOCtrainval_11-May-2012.tar with
`ImageSets/Segmentation/{train,val}.txt`, `JPEGImages/<id>.jpg`, `SegmentationClass/<id>.png`
and `SegmentationObject/<id>.png`. Each image's label is the class of its largest object: the
object id covering the most pixels in SegmentationObject, and the SegmentationClass value at that
object's first pixel (augcond App D; DA-Fusion datasets/pascal.py). Background (0) and the void
border (255) are not objects; DA-Fusion zeroes the last count instead, which is 255 whenever a
border is present. The train list (in file order) is the pool of the k-shot draw, the whole val
list the evaluation split. Reading the masks takes some seconds for the 2,913 images.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from bench.data import FEW_SHOT, DatasetAdapter, LoadedDataset
from bench.data.fewshot import RECIPE, FewShotOptions, da_fusion_split, few_shot_dataset
from bench.data.files import Problems, locate_or_fail, read_text, torchvision_download

# VOC's 20 classes in label order 1..20, named as DA-Fusion names them for prompts.
NAMES = [
    "airplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair", "cow",
    "dining table", "dog", "horse", "motorcycle", "person", "potted plant", "sheep", "sofa",
    "train", "television",
]  # fmt: skip
VOID = 255


class PascalVOC(DatasetAdapter):
    """Pascal VOC 2012 (20 classes, label = largest object), k-shot sets as in DA-Fusion."""

    name = "pascal-voc"
    Options = FewShotOptions
    VERSION = 1
    LEADERBOARD = FEW_SHOT
    needs_root = True
    download_hint = (
        "Get VOCtrainval_11-May-2012.tar from http://host.robots.ox.ac.uk/pascal/VOC/voc2012/ "
        "and unpack it under the root, or run: bench data download --dataset pascal-voc --root DIR"
    )
    RECIPE = RECIPE
    # 20 classes (augcond App D); the VOC2012 segmentation lists hold 1,464 train and 1,449 val
    # images, and every one of them has an object.
    EXPECTED = {
        "num_classes": 20,
        "splits": {"val": 1_449, "test": 1_449},
        "info": {"train_pool": 1_464},
    }

    def load(self) -> LoadedDataset:
        base = locate_or_fail(
            self.require_root(),
            ("", "VOCdevkit/VOC2012", "VOC2012"),
            ["ImageSets/Segmentation/train.txt", "ImageSets/Segmentation/val.txt"],
            self.name,
            self.download_hint,
        )
        problems = Problems(self.name, self.download_hint)
        pools = {split: self.labelled(base, split, problems) for split in ("train", "val")}
        problems.raise_if_any()
        train, _ = da_fusion_split(pools["train"], self.options.trial, self.options.shots, False)
        return few_shot_dataset(self, list(NAMES), train, pools["val"], pools["train"])

    def labelled(self, base: Path, split: str, problems: Problems) -> list[list[str]]:
        """Per class, the images of one split list whose largest object has that class."""
        listing = base / "ImageSets" / "Segmentation" / f"{split}.txt"
        if not listing.is_file():
            problems.add(f"split file {listing} does not exist")
            return []
        per_class: list[list[str]] = [[] for _ in NAMES]
        for number, line in enumerate(read_text(listing).splitlines(), start=1):
            image_id = line.strip()
            if not image_id:
                continue
            image = base / "JPEGImages" / f"{image_id}.jpg"
            if not image.is_file():
                problems.add(f"{listing}:{number}: image {image} does not exist")
                continue
            label = largest_object_class(base, image_id, f"{listing}:{number}", problems)
            if label is not None:
                per_class[label].append(str(image))
        return per_class

    def download(self) -> None:
        root: Path = self.root or self.require_root()

        def fetch() -> None:
            # torchvision: heavy, imported where used (off the start-up path)
            import torchvision

            torchvision.datasets.VOCSegmentation(
                str(root), year="2012", image_set="trainval", download=True
            )

        torchvision_download(self.name, root, fetch, self.download_hint)


def read_mask(path: Path, where: str, problems: Problems) -> np.ndarray | None:
    """A palette PNG as its index array, or None after recording why it cannot be read."""

    if not path.is_file():
        problems.add(f"{where}: mask {path} does not exist")
        return None
    try:
        with Image.open(path) as im:
            return np.asarray(im)
    except (OSError, UnidentifiedImageError) as exc:
        problems.add(f"{where}: mask {path} cannot be read ({exc})")
        return None


def largest_object_class(base: Path, image_id: str, where: str, problems: Problems) -> int | None:
    """0-based class of the object with the most pixels (DA-Fusion's labelling rule)."""
    objects = read_mask(base / "SegmentationObject" / f"{image_id}.png", where, problems)
    classes = read_mask(base / "SegmentationClass" / f"{image_id}.png", where, problems)
    if objects is None or classes is None:
        return None
    if objects.shape != classes.shape:
        problems.add(
            f"{where}: masks of {image_id} differ in size ({objects.shape}, {classes.shape})"
        )
        return None
    ids, first, counts = np.unique(objects, return_index=True, return_counts=True)
    counts[(ids == 0) | (ids == VOID)] = 0
    if counts.max() == 0:
        problems.add(f"{where}: {image_id} has no object in its SegmentationObject mask")
        return None
    value = int(classes.flat[first[counts.argmax()]])
    if not 1 <= value <= len(NAMES):
        problems.add(f"{where}: {image_id}'s largest object has class value {value}, not 1..20")
        return None
    return value - 1
