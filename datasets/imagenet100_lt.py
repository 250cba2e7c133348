"""imagenet100-lt: ImageNet-100-LT (Jiang et al. 2021, SDCLR), the long-tailed set SYNAuG uses.

Root layout as imagenet-lt (ILSVRC2012 `train/` and class-folder `val/`), with SDCLR's split files
`imageNet_100_LT_train.txt`, `ImageNet_100_val.txt`, `ImageNet_100_test.txt` (VITA-Group/SDCLR
`split/imagenet-100/`) at the root or in `imagenet-100/`. Lines are `<relative/path> <label>`;
labels are SDCLR's own order, not sorted WordNet ids. Val (20 per class) comes from the ImageNet
train folder and test (50 per class) from the ILSVRC2012 val set, as in ImageNet-LT.
"""

from __future__ import annotations

from bench.datasets.imagenet_lt import ImageNetLT

SDCLR = "SDCLR split files (VITA-Group/SDCLR split/imagenet-100/), counted"


class ImageNet100LT(ImageNetLT):
    """ImageNet-100-LT (100 classes, 1280..6 train images per class) from SDCLR's split files."""

    name = "imagenet100-lt"
    download_hint = (
        "Get ILSVRC2012 (train and val, val sorted into class folders) from "
        "https://image-net.org/download and SDCLR's split files from "
        "https://github.com/VITA-Group/SDCLR (split/imagenet-100/)."
    )
    RECIPE = {
        **ImageNetLT.RECIPE,
        "backbone": ("resnet50", "SYNAuG Sec 4 (ResNet50 for ImageNet100-LT)"),
    }
    # Counted from SDCLR's files: 12,205 / 2,000 / 5,000 images; 100 classes with 1280..6 train
    # images (SYNAuG Sec 3: "maximum of 1,280 to a minimum of 6"); 39 / 48 / 13 classes with
    # >100 / 20-100 / <20 train images.
    EXPECTED = {
        "splits": {"train": 12_205, "val": 2_000, "test": 5_000},
        "num_classes": 100,
        "shots": {"many": 39, "medium": 48, "few": 13},
        "train_counts": {"max": 1280, "min": 6},
    }
    SPLIT_FILES = {
        "train": "imageNet_100_LT_train.txt",
        "val": "ImageNet_100_val.txt",
        "test": "ImageNet_100_test.txt",
    }
    SPLIT_SUBDIRS = ("", "imagenet-100")
