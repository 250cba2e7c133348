"""flowers102: Oxford Flowers-102 few-shot classification as DA-Fusion uses it.

Root layout: `jpg/image_00001.jpg ... image_08189.jpg` (102flowers.tgz) and `imagelabels.mat`
(labels 1..102, one per image number), as from the Oxford VGG page; torchvision's download puts
them in `flowers-102/`. Like DA-Fusion, the official setid.mat split is not used: per class, a
seeded permutation splits the images in half, the first half being the training pool for the
k-shot set and the second half the evaluation split. Class names are DA-Fusion's list.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from bench.data import FEW_SHOT, DatasetAdapter, LoadedDataset
from bench.data.fewshot import RECIPE, FewShotOptions, da_fusion_split, few_shot_dataset
from bench.data.files import Problems, locate_or_fail, torchvision_download

# The 102 category names, in label order (DA-Fusion semantic_aug/datasets/flowers102.py).
NAMES = [
    "pink primrose", "hard-leaved pocket orchid", "canterbury bells", "sweet pea",
    "english marigold", "tiger lily", "moon orchid", "bird of paradise", "monkshood",
    "globe thistle", "snapdragon", "colt's foot", "king protea", "spear thistle", "yellow iris",
    "globe-flower", "purple coneflower", "peruvian lily", "balloon flower",
    "giant white arum lily", "fire lily", "pincushion flower", "fritillary", "red ginger",
    "grape hyacinth", "corn poppy", "prince of wales feathers", "stemless gentian", "artichoke",
    "sweet william", "carnation", "garden phlox", "love in the mist", "mexican aster",
    "alpine sea holly", "ruby-lipped cattleya", "cape flower", "great masterwort", "siam tulip",
    "lenten rose", "barbeton daisy", "daffodil", "sword lily", "poinsettia", "bolero deep blue",
    "wallflower", "marigold", "buttercup", "oxeye daisy", "common dandelion", "petunia",
    "wild pansy", "primula", "sunflower", "pelargonium", "bishop of llandaff", "gaura",
    "geranium", "orange dahlia", "pink-yellow dahlia", "cautleya spicata", "japanese anemone",
    "black-eyed susan", "silverbush", "californian poppy", "osteospermum", "spring crocus",
    "bearded iris", "windflower", "tree poppy", "gazania", "azalea", "water lily", "rose",
    "thorn apple", "morning glory", "passion flower", "lotus", "toad lily", "anthurium",
    "frangipani", "clematis", "hibiscus", "columbine", "desert-rose", "tree mallow", "magnolia",
    "cyclamen", "watercress", "canna lily", "hippeastrum", "bee balm", "ball moss", "foxglove",
    "bougainvillea", "camellia", "mallow", "mexican petunia", "bromelia", "blanket flower",
    "trumpet creeper", "blackberry lily",
]  # fmt: skip


class Flowers102(DatasetAdapter):
    """Oxford Flowers-102 (102 species), k-shot training sets as in DA-Fusion."""

    name = "flowers102"
    Options = FewShotOptions
    VERSION = 1
    LEADERBOARD = FEW_SHOT
    needs_root = True
    download_hint = (
        "Get 102flowers.tgz and imagelabels.mat from "
        "https://www.robots.ox.ac.uk/~vgg/data/flowers/102/ into one folder, or run: "
        "bench data download --dataset flowers102 --root DIR"
    )
    RECIPE = RECIPE
    # 102 classes (augcond App D); 8,189 images (the official train 1,020 + val 1,020 + test
    # 6,149, as the TFDS catalogue lists them).
    EXPECTED = {"num_classes": 102, "info": {"images": 8_189}}

    def load(self) -> LoadedDataset:
        base = locate_or_fail(
            self.require_root(),
            ("", "flowers-102", "flowers102"),
            ["imagelabels.mat"],
            self.name,
            self.download_hint,
        )
        problems = Problems(self.name, self.download_hint)
        labels = read_labels(base / "imagelabels.mat", problems)
        problems.raise_if_any()
        files: list[list[str]] = [[] for _ in NAMES]
        for number, label in enumerate(labels, start=1):
            path = base / "jpg" / f"image_{number:05d}.jpg"
            if not path.is_file():
                problems.add(f"image {path} (label {label} in imagelabels.mat) does not exist")
            elif not 1 <= label <= len(NAMES):
                problems.add(
                    f"{base / 'imagelabels.mat'}: label {label} of {path.name} is not 1..102"
                )
            else:
                files[label - 1].append(str(path))
        problems.raise_if_any()
        train, evaluation = da_fusion_split(files, self.options.trial, self.options.shots, True)
        held_out = [set(e) for e in evaluation]
        pool = [[f for f in group if f not in e] for group, e in zip(files, held_out, strict=True)]
        data = few_shot_dataset(self, list(NAMES), train, evaluation, pool)
        data.info["images"] = len(labels)
        return data

    def download(self) -> None:
        root: Path = self.root or self.require_root()

        def fetch() -> None:
            # torchvision: heavy, imported where used (off the start-up path)
            import torchvision

            torchvision.datasets.Flowers102(str(root), download=True)

        torchvision_download(self.name, root, fetch, self.download_hint)


def read_labels(path: Path, problems: Problems) -> list[int]:
    """The `labels` vector of imagelabels.mat: label of image_00001.jpg first."""
    if not path.is_file():
        problems.add(f"{path} does not exist")
        return []
    # scipy: heavy, imported where used (off the start-up path)
    from scipy.io import loadmat

    try:
        mat = loadmat(path)
    except (ValueError, OSError, TypeError) as exc:
        problems.add(f"{path}: not a readable .mat file ({exc})")
        return []
    if "labels" not in mat:
        problems.add(
            f"{path}: no 'labels' variable (found {sorted(k for k in mat if k[0] != '_')})"
        )
        return []
    return [int(v) for v in np.asarray(mat["labels"]).ravel()]
