"""`bench synth export` and `bench synth preview`: a synthetic set made inspectable and shareable.

export: a PNG folder tree (`<dir>/<class>/<index>.png`, the ImageFolder layout, plus
`<dir>/metadata.csv` giving every file's exact label and class name, so a loader that numbers the
folders it finds, as `datasets`' imagefolder does, keeps bench's labels when a class has no
image) and/or a Hugging Face `datasets` dataset (images, labels, and each sample's prompt,
attribute, conditioning image ids, seed and criterion value) saved with `save_to_disk` or as
parquet. Both stream shard by shard; nothing holds the whole set; `progress=False` silences
their progress bars (bench's and `datasets`').
preview: one image, as the papers' figures show synthetic data: per class, a row of real
training images, then rows of synthetic ones, each row labelled with its class and source.
"""

from __future__ import annotations

import csv
import io
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from bench.data.preview import image_grid
from bench.errors import BenchError
from bench.io import atomic_write, atomic_write_text, inside
from bench.progress import progress_bar
from bench.synthesis.store import SyntheticSet


def class_folder(names: list[str] | None, label: int) -> str:
    """A file-system-safe folder name per class: '003-great_white_shark' or '003'."""
    if not names:
        return f"{label:03d}"
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in names[label])
    return f"{label:03d}-{safe}"


def samples(store: SyntheticSet) -> Iterator[dict[str, Any]]:
    """Every sample with its metadata, shard by shard."""
    for shard, (lo, _) in enumerate(store.shards):
        meta = store.metadata(shard)
        images = store.read(np.arange(lo, lo + len(meta["labels"])))
        for j, image in enumerate(images):
            crit = meta["criterion"]
            yield {
                "index": lo + j,
                "image": image,
                "label": meta["labels"][j],
                "attribute": meta["attributes"][j],
                "prompt": meta["prompts"][j],
                "cond_ids": meta["cond_ids"][j],
                "seed": meta["seeds"][j],
                "criterion": None if crit is None else crit[j],
            }


def to_pil(image: np.ndarray) -> Any:
    return Image.fromarray(image[..., 0] if image.shape[-1] == 1 else image)


def export_png(store: SyntheticSet, out: Path, progress: bool = True) -> int:
    """Write `<out>/<class>/<index>.png` (existing files are left as they are: resumable), then
    `<out>/metadata.csv` (file_name, label, class_name per image)."""
    if out.exists() and not out.is_dir():
        raise BenchError(f"--png {out} is a file: name a folder to write the PNG tree into.")
    names = store.manifest.get("class_names")
    folders: dict[int, Path] = {}
    table = io.StringIO()
    writer = csv.writer(table, lineterminator="\n")
    writer.writerow(["file_name", "label", "class_name"])
    count = 0
    for sample in progress_bar(samples(store), progress, total=len(store), desc="png"):
        label = sample["label"]
        if label not in folders:  # checked once: a plain name, no link planted in its place
            folders[label] = inside(out, class_folder(names, label))
        path = folders[label] / f"{sample['index']:08d}.png"
        if not path.exists():
            image = to_pil(sample["image"])
            atomic_write(path, lambda tmp, im=image: im.save(tmp, format="PNG"))
        name = names[label] if names else str(label)
        writer.writerow([f"{folders[label].name}/{path.name}", label, name])
        count += 1
    atomic_write_text(inside(out, "metadata.csv"), table.getvalue())
    return count


def export_hf(store: SyntheticSet, out: Path, parquet: bool = False, progress: bool = True) -> Path:
    """A Hugging Face `datasets` dataset of the set: `save_to_disk(out)` or `out` as parquet,
    into a folder or file that does not exist yet (nothing already there is overwritten)."""

    # datasets: heavy, imported where used (off the start-up path)
    import datasets

    flag = "--parquet" if parquet else "--hf"
    if out.exists() or out.is_symlink():
        what = "folder" if out.is_dir() else "file"
        raise BenchError(
            f"{flag} {out} exists already (a {what}): name a new "
            f"{'file' if parquet else 'folder'}; bench overwrites nothing there."
        )

    names = store.manifest.get("class_names")
    features = datasets.Features(
        {
            "image": datasets.Image(),
            "label": datasets.ClassLabel(names=names) if names else datasets.Value("int64"),
            "attribute": datasets.Value("int64"),
            "prompt": datasets.Value("string"),
            "cond_ids": datasets.Sequence(datasets.Value("int64")),
            "seed": datasets.Value("int64"),
            "criterion": datasets.Value("float64"),
            "index": datasets.Value("int64"),
        }
    )

    def rows() -> Iterator[dict[str, Any]]:
        for s in samples(store):
            yield {**s, "image": to_pil(s["image"]), "attribute": s["attribute"]}

    out.parent.mkdir(parents=True, exist_ok=True)
    shown = datasets.is_progress_bar_enabled()
    if not progress:
        datasets.disable_progress_bars()
    # the library's cache, beside the output while it is written, removed after
    try:
        with tempfile.TemporaryDirectory(prefix=f".{out.name}.", dir=out.parent) as cache:
            ds = datasets.Dataset.from_generator(rows, features=features, cache_dir=cache)
            if parquet:
                atomic_write(out, lambda tmp: ds.to_parquet(str(tmp)))
            else:
                ds.save_to_disk(str(out))
    finally:
        if shown:
            datasets.enable_progress_bars()
    return out


SYNTHETIC_ROWS = 2  # rows of synthetic images per class in a preview


def preview(
    store: SyntheticSet,
    data: Any,
    out: Path,
    per_class: int = 8,
    classes: list[int] | None = None,
) -> Path:
    """One PNG: per class, a row of real images then SYNTHETIC_ROWS rows of synthetic ones, each
    row labelled "<class>: real" / "<class>: synthetic".

    `data` is the run's dataset (a LoadedDataset): its training split's images, shown at the
    store's size, and its class names. Classes without synthetic images (e.g. head classes a
    fill plan skips) show real images only.
    """
    # torch: heavy, imported where used (off the start-up path)
    from bench.data.torchdata import SplitImages

    size = store.manifest["image_size"]
    real, names = data.train, data.class_names
    reader = SplitImages(real, size, 3)
    classes = classes if classes is not None else sorted(set(real.targets.tolist()))
    if not classes:
        raise BenchError("nothing to preview: the real split has no images.")
    rng = np.random.default_rng(0)
    rows, labels = [], []
    for label in classes:
        name = names[label] if names else str(label)
        real_ids = np.flatnonzero(real.targets == label)[:per_class]
        synth_ids = np.flatnonzero(store.targets == label)
        synth_ids = rng.permutation(synth_ids)[: per_class * SYNTHETIC_ROWS]
        rows.append(reader.read(real_ids))
        labels.append(f"{name}: real")
        synth = store.read(np.sort(synth_ids)) if len(synth_ids) else np.zeros((0, size, size, 3))
        for r in range(SYNTHETIC_ROWS):
            rows.append(synth[r * per_class : (r + 1) * per_class])
            labels.append(f"{name}: synthetic")
    return image_grid(rows, size, out, per_class, labels)
