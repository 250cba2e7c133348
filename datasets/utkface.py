"""utkface: UTKFace with gender as the class and race as the sensitive attribute (SYNAuG Sec 4).

Root layout: the aligned-and-cropped faces (`UTKFace/` from UTKFace.tar.gz, 23,708 images) named
`[age]_[gender]_[race]_[date&time].jpg.chip.jpg`: age 0-116, gender 0 male / 1 female, race
0 White, 1 Black, 2 Asian, 3 Indian, 4 Others. A name that does not split into these four fields
(three such files ship with the dataset) is left out and listed in the check's notes, never
guessed. As in SYNAuG (and CGL/MFD), race 4 "Others" is left out and the other four races are the
groups of the fairness metrics; groups are (gender, race), numbered 4 * gender + race.

UTKFace has no official split. This follows CGL's (naver-ai/cgl_fairness data_handler): file
names in natural order, `random.seed(1)` then `random.shuffle`, and scanning the shuffled list
from the end, the first 100 images of each (race, class) cell form the test set. The next
`val_per_cell` images of each cell, scanning on, form the validation set (CGL has none; the
harness selects checkpoints on it); the rest is the training set.

Why CGL's split: SYNAuG (Sec 3, Sec 4.1) names gender as the class and race (without Others) as
the sensitive attribute and cites Jung et al. 2022 (CGL) for its metrics, but states no split;
CGL's data handler is the public UTKFace fairness split of that line of work, so it is used with
the class switched from CGL's age bins to gender, as SYNAuG states. Each split's `extra["age"]`
holds the age from the file name (SYNAuG's prompts: "Portrait face photo of {race} {gender},
{age} year old").
"""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bench.data import FAIRNESS, DatasetAdapter, ImageSplit, LoadedDataset
from bench.data.files import ImageOptions, Problems, existing_files, natural_key, rgb_dataset
from bench.errors import DataError
from bench.hparams import hp

log = logging.getLogger(__name__)
CGL = "CGL (Jung et al. 2022, naver-ai/cgl_fairness data_handler/utkface.py)"
CGL_ARGS = "CGL arguments.py defaults:"
RACES = ["White", "Black", "Asian", "Indian"]  # race 4, "Others", is left out
GENDERS = ["male", "female"]


@dataclass(frozen=True)
class Options(ImageOptions):
    test_per_cell: int = hp(
        100,
        low=1,
        part="data",
        high=10**6,
        source=CGL + ": 100 test images per (race, class) cell",
    )
    val_per_cell: int = hp(
        50,
        low=1,
        part="data",
        high=10**6,
        source="ours: CGL has no validation split; 50 per cell keeps the train split large",
    )
    split_seed: int = hp(1, low=0, part="data", high=2**31 - 1, source=CGL + ": random.seed(1)")


@dataclass(frozen=True)
class Face:
    name: str
    age: int
    gender: int
    race: int


class UTKFace(DatasetAdapter):
    """UTKFace: faces by gender (class) and race (sensitive attribute, 4 groups per class)."""

    name = "utkface"
    Options = Options
    VERSION = 1
    LEADERBOARD = FAIRNESS
    needs_root = True
    download_hint = (
        "Get the 'Aligned&Cropped Faces' archive UTKFace.tar.gz from "
        "https://susanqq.github.io/UTKFace/ and unpack it under the root."
    )
    RECIPE = {
        "backbone": ("resnet18", "SYNAuG Table 3 (ResNet18; also ResNet50)"),
        "optimizer": ("adam", CGL_ARGS + " --optimizer Adam"),
        "lr": (1e-3, CGL_ARGS + " --lr 0.001"),
        "weight_decay": (0.0, CGL_ARGS + " --weight-decay 0"),
        "batch_size": (128, CGL_ARGS + " --batch-size 128"),
        "epochs": (50, CGL_ARGS + " --epochs 50"),
        "schedule": ("cosine", "CGL lowers the LR on plateau, which the recipe lacks"),
        "augment": ("standard", CGL + ": Resize 256 + RandomCrop 224 + flip; nearest option"),
        "normalize": ("imagenet", "ImageNet mean/std (CGL uses UTKFace's own)"),
    }
    # SYNAuG Sec 4: 23,708 images; 2 classes (gender) x 4 races (Others left out).
    EXPECTED = {"num_classes": 2, "groups": 8, "info": {"files": 23_708}}

    def load(self) -> LoadedDataset:
        folder = self.face_folder()
        names = sorted((p.name for p in folder.iterdir() if p.suffix == ".jpg"), key=natural_key)
        faces, malformed = parse_names(names)
        kept = [f for f in faces if f.race < len(RACES)]
        splits_of = cgl_split(kept, self.options)
        problems = Problems(self.name, self.download_hint)
        splits = {
            split: make_split(split, folder, members, problems)
            for split, members in splits_of.items()
        }
        problems.raise_if_any()
        if malformed:
            log.warning("utkface: %d file name(s) left out: %s", len(malformed), malformed)
        return rgb_dataset(
            self,
            list(GENDERS),
            splits,
            group_names=[f"{g}/{r}" for g in GENDERS for r in RACES],
            attribute_names=list(RACES),
            info={
                "files": len(names),
                "race_others_left_out": len(faces) - len(kept),
                "malformed": len(malformed),
                "notes": [f"malformed file name left out: {folder / m}" for m in malformed],
            },
        )

    def face_folder(self) -> Path:
        """The folder holding the face images: the root, root/UTKFace or root/utkface/..."""
        root = self.require_root()
        for candidate in ("", "UTKFace", self.name, f"{self.name}/UTKFace"):
            folder = root / candidate if candidate else root
            if folder.is_dir() and any(p.suffix == ".jpg" for p in folder.iterdir()):
                return folder
        raise DataError(
            f"utkface: no [age]_[gender]_[race]_[date&time].jpg.chip.jpg images in {root} or "
            f"{root / 'UTKFace'}. {self.download_hint}"
        )


def parse_names(names: list[str]) -> tuple[list[Face], list[str]]:
    """Faces whose name has the four fields in range; the other names, listed as they are."""
    faces, malformed = [], []
    for name in names:
        parts = name.split("_")
        fields = parts[:3]
        if len(parts) != 4 or not all(f.isdigit() for f in fields):
            malformed.append(name)
            continue
        age, gender, race = (int(f) for f in fields)
        if age > 116 or gender > 1 or race > 4:
            malformed.append(name)
            continue
        faces.append(Face(name, age, gender, race))
    return faces, malformed


def cgl_split(faces: list[Face], options: Options) -> dict[str, list[Face]]:
    """CGL's `_make_data` after `random.seed(1); random.shuffle`, plus a validation split."""
    shuffled = list(faces)
    random.Random(options.split_seed).shuffle(shuffled)  # the stream of random.seed(seed)
    seen: dict[tuple[int, int], int] = {}
    out: dict[str, list[Face]] = {"test": [], "val": []}
    train_ids = set()
    for i in reversed(range(len(shuffled))):
        face = shuffled[i]
        cell = (face.race, face.gender)
        seen[cell] = seen.get(cell, 0) + 1
        if seen[cell] <= options.test_per_cell:
            out["test"].append(face)
        elif seen[cell] <= options.test_per_cell + options.val_per_cell:
            out["val"].append(face)
        else:
            train_ids.add(i)
    out["train"] = [f for i, f in enumerate(shuffled) if i in train_ids]
    return out


def make_split(name: str, folder: Path, faces: list[Face], problems: Problems) -> ImageSplit:
    if not faces:
        problems.add(f"no image left for the {name} split in {folder}")
    gender = np.array([f.gender for f in faces], dtype=np.int64)
    race = np.array([f.race for f in faces], dtype=np.int64)
    files = existing_files([folder / f.name for f in faces], problems)
    age = np.array([f.age for f in faces], dtype=np.int64)
    groups = len(RACES) * gender + race
    return ImageSplit(name, gender, files=files, groups=groups, attributes=race, extra={"age": age})
