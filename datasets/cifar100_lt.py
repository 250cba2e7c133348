"""cifar100-lt: CIFAR-100-LT built from the original CIFAR-100 python pickles as LDAM-DRW does.

Root layout: `cifar-100-python/` (train, test, meta) from cifar-100-python.tar.gz, at the root or
as the root itself. The subset rule, seed and shuffle order are those of cifar10-lt (LDAM-DRW's
IMBALANCECIFAR100 only changes the class count): img_max = 500, class 0 is the head, and the
balanced 10,000-image test set is also the validation set.
"""

from __future__ import annotations

from bench.datasets.cifar10_lt import CIFAR10LT


class CIFAR100LT(CIFAR10LT):
    """CIFAR-100-LT: LDAM-DRW's long-tailed subset of CIFAR-100 (IF 100 default; 100 classes)."""

    name = "cifar100-lt"
    download_hint = (
        "Get cifar-100-python.tar.gz from https://www.cs.toronto.edu/~kriz/cifar.html and unpack "
        "it under the root, or run: bench data download --dataset cifar100-lt --root DIR"
    )
    NUM_CLASSES = 100
    TORCHVISION = "CIFAR100"
    FOLDER = "cifar-100-python"
    TRAIN_FILES = ("train",)
    TEST_FILES = ("test",)
    META = ("meta", "fine_label_names")
    LABEL_KEY = "fine_labels"
    TRAIN_TOTALS = {100.0: 10_847, 50.0: 12_608, 10.0: 19_573, 200.0: 9_502}
