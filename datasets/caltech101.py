"""caltech101: Caltech101 few-shot classification as DA-Fusion and augmentation-conditioning use it.

Root layout: `101_ObjectCategories/<class>/image_0001.jpg` (from caltech-101.zip; torchvision's
download puts it in `caltech101/`). All 102 folders are classes, BACKGROUND_Google included, as
in DA-Fusion (augcond App D: "Caltech101 and Flowers102 each have 102 classes"); class names are
the folder names in lower case with spaces ("car side"), in sorted order. Per class, DA-Fusion's
seeded permutation splits the images in half: the first half is the training pool, from which
the k-shot set is drawn, the second half the evaluation split. Files are sorted first (DA-Fusion
used unsorted `glob`, whose order depends on the file system).
"""

from __future__ import annotations

from pathlib import Path

from bench.data import FEW_SHOT, DatasetAdapter, LoadedDataset
from bench.data.fewshot import RECIPE, FewShotOptions, da_fusion_split, few_shot_dataset
from bench.data.files import Problems, locate_or_fail, sorted_images, torchvision_download


class Caltech101(DatasetAdapter):
    """Caltech101 (102 classes incl. background), k-shot training sets as in DA-Fusion."""

    name = "caltech101"
    Options = FewShotOptions
    VERSION = 1
    LEADERBOARD = FEW_SHOT
    needs_root = True
    download_hint = (
        "Get caltech-101.zip from https://data.caltech.edu/records/20086 and unpack "
        "101_ObjectCategories.tar.gz under the root, or run: "
        "bench data download --dataset caltech101 --root DIR"
    )
    RECIPE = RECIPE
    EXPECTED = {"num_classes": 102}  # augcond App D; DA-Fusion's class list

    def load(self) -> LoadedDataset:
        base = locate_or_fail(
            self.require_root(),
            ("", "caltech101"),
            ["101_ObjectCategories"],
            self.name,
            self.download_hint,
        )
        problems = Problems(self.name, self.download_hint)
        folders = {
            folder.name.lower().replace("_", " "): folder
            for folder in (base / "101_ObjectCategories").iterdir()
            if folder.is_dir()
        }
        names = sorted(folders)
        files = [[str(p) for p in sorted_images(folders[n])] for n in names]
        for name, group in zip(names, files, strict=True):
            if not group:
                problems.add(f"{folders[name]}: no .jpg images in class folder {name!r}")
        problems.raise_if_any()
        train, evaluation = da_fusion_split(files, self.options.trial, self.options.shots, True)
        held_out = [set(e) for e in evaluation]
        pool = [[f for f in group if f not in e] for group, e in zip(files, held_out, strict=True)]
        return few_shot_dataset(self, names, train, evaluation, pool)

    def download(self) -> None:
        root: Path = self.root or self.require_root()

        def fetch() -> None:
            # torchvision: heavy, imported where used (off the start-up path)
            import torchvision

            torchvision.datasets.Caltech101(str(root), download=True)

        torchvision_download(self.name, root, fetch, self.download_hint)
