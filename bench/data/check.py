"""`bench data check`: validate a dataset on disk and compare it with the official statistics.

Loading already checks the whole tree (every split file line, label range, metadata column, that
every listed image exists and resolves inside the data root) and reports all problems together.
The fast check (`fast_check`, no decoding) adds: every image file can be opened and starts like
an image file, no image is listed twice in a split, and no training image is also a val or test
image (duplicates and overlaps are warnings, errors with `--strict`). `bench run` runs the fast
check too (cached by the data's fingerprint) and refuses a dataset it finds errors in. The full
check adds the slow part: it decodes every image file (with a progress bar; `--no-decode` skips
it), then compares split sizes, class count, shot buckets and group sizes with the adapter's
EXPECTED numbers. A mismatch is a warning naming the expected and the found value, an error with
`--strict`.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import numpy as np

from bench import hparams
from bench.data import DatasetAdapter, DatasetOptions, LoadedDataset
from bench.data.files import MAX_SHOWN, verify_image
from bench.data.fingerprint import all_files, load_dataset
from bench.datasets import DATASETS
from bench.errors import DataError
from bench.io import atomic_write_json, inside, read_json
from bench.progress import progress_bar

# The first bytes of the image formats PIL reads for the adapters (JPEG, PNG, GIF, BMP, TIFF,
# WebP, PPM/PGM): a file starting otherwise is not an image, whatever its name says.
IMAGE_MAGIC = (
    b"\xff\xd8\xff",
    b"\x89PNG\r\n\x1a\n",
    b"GIF87a",
    b"GIF89a",
    b"BM",
    b"II*\x00",
    b"MM\x00*",
    b"RIFF",
    b"P5",
    b"P6",
)
# Bump when fast_check finds new kinds of problems, so cached results are recomputed.
FAST_CHECK_VERSION = 1


def options_from_sets(options_cls: type, sets: list[str] | tuple[str, ...], name: str) -> Any:
    """Dataset options from `key=value` items (a leading "dataset." is allowed)."""
    pairs = hparams.parse_assignments(sets, "imbalance_factor=50")
    values = {key.removeprefix("dataset."): value for key, value in pairs}
    return hparams.build(options_cls, values, f"dataset {name}")


def dataset_stats(data: LoadedDataset) -> dict[str, Any]:
    """Split sizes, classes, shot buckets and groups of a loaded dataset (JSON-ready)."""
    counts = data.train_counts()
    stats: dict[str, Any] = {
        "dataset": data.name,
        "splits": {name: len(split) for name, split in data.splits.items()},
        "num_classes": data.num_classes,
        "shots": {bucket: len(c) for bucket, c in data.shot_buckets().items()},
        "groups": len(data.group_names) if data.group_names else None,
        "train_counts": {
            "max": int(counts.max()),
            "min": int(counts.min()),
            "imbalance_factor": round(float(counts.max() / counts.min()), 2)
            if counts.min() > 0
            else None,
        },
        "image_size": data.image_size,
        "channels": data.channels,
        "attributes": data.attribute_names,
        "val_is_test": data.splits["val"] is data.splits["test"],
        "info": {
            k: v
            for k, v in data.info.items()
            if k not in ("notes", "unused_files", "listed", "fingerprint")
        },
        "fingerprint": data.info.get("fingerprint", {}).get("digest"),
    }
    if data.group_names:
        stats["group_counts"] = {
            name: np.bincount(split.groups, minlength=len(data.group_names)).tolist()
            for name, split in data.splits.items()
            if split.groups is not None
        }
    return stats


def flatten(obj: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out = {}
    for key, value in obj.items():
        if isinstance(value, dict):
            out.update(flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def compare(expected: dict[str, Any], stats: dict[str, Any]) -> list[str]:
    """One message per statistic that differs from the official value."""
    found = flatten(stats)
    return [
        f"{key}: expected {show(value)}, found {show(found.get(key))}"
        for key, value in flatten(expected).items()
        if found.get(key) != value
    ]


def show(value: Any) -> str:
    if isinstance(value, bool) or value is None:
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def unreadable_images(data: LoadedDataset, progress: bool = True) -> tuple[int, list[str]]:
    """Decode every image file of every split; (number decoded, problems)."""
    files = {f for split in data.splits.values() for f in (split.files or [])}
    files = sorted(files | set(data.info.get("unused_files", [])))  # e.g. other k-shot draws
    problems = []
    for path in progress_bar(files, enabled=progress, desc=f"decoding {data.name}", unit="img"):
        problem = verify_image(path)
        if problem:
            problems.append(problem)
    return len(files), problems


def fast_check(data: LoadedDataset, progress: bool = False) -> dict[str, list[str]]:
    """Problems found without decoding: {"errors": unreadable or non-image files,
    "warnings": duplicates within a split and train images also in val / test}."""
    listed = data.info.get("listed", {})
    errors = []
    files = all_files(data)
    for path in progress_bar(files, enabled=progress, desc=f"checking {data.name}", unit="img"):
        problem = sniff_image(path)
        if problem:
            where = listed.get(path)
            errors.append(f"{where}: {problem}" if where else problem)
    warnings = []
    for name, split in data.splits.items():
        seen: dict[str, int] = {}
        for i, path in enumerate(split.files or []):
            key = os.path.normpath(path)
            if key in seen:
                where = listed.get(path, f"{name}[{i}]")
                warnings.append(f"{where}: image {path} is listed twice in the {name} split")
            seen.setdefault(key, i)
    train = {os.path.normpath(f) for f in data.train.files or []}
    for name in ("val", "test"):
        split = data.splits.get(name)
        if (
            split is None
            or split.files is None
            or (name == "test" and split is data.splits.get("val"))
        ):
            continue
        both = [f for f in split.files if os.path.normpath(f) in train]
        if both:
            shown = ", ".join(both[:3])
            warnings.append(
                f"{len(both)} image(s) of the {name} split are also training images "
                f"(e.g. {shown}): {name} accuracy would be measured on training data"
            )
    return {"errors": errors, "warnings": warnings}


def sniff_image(path: str) -> str | None:
    """None if `path` opens and starts like an image file, else what is wrong (no decoding)."""
    try:
        with open(path, "rb") as f:
            head = f.read(16)
    except OSError as exc:
        return f"image {path} cannot be read ({type(exc).__name__}: {exc.strerror or exc})"
    if not head.startswith(IMAGE_MAGIC):
        return f"{path} is not an image file (it starts with {head[:8]!r})"
    return None


def load_checked(
    name: str, options: DatasetOptions, root: Path | None, cache: Path | None, progress: bool
) -> LoadedDataset:
    """The one way the harness builds a dataset to work on (`bench run`, `bench synth`,
    `bench eval-gen`): the registry's adapter with its checked options, loaded (every path
    inside the root, the fingerprint), then the fast check cached by fingerprint
    (`load_for_run`)."""
    return load_for_run(DATASETS[name](options, root), cache, progress)


def load_for_run(
    adapter: DatasetAdapter, cache: Path | None, progress: bool = False
) -> LoadedDataset:
    """Load a dataset for `bench run`: loading checks, then the fast check, cached by fingerprint.

    Errors refuse the run, naming the first problems and the command that lists them all;
    warnings (duplicates, train/test overlap) are logged.
    """

    data = load_dataset(adapter)
    digest = data.info["fingerprint"]["digest"]
    cached = (
        None
        if cache is None
        else inside(cache, "data-checks", f"{digest}-v{FAST_CHECK_VERSION}.json")
    )
    report = None
    if cached is not None and cached.is_file():
        try:
            report = read_json(cached)
        except (OSError, ValueError):
            report = None
    if not (isinstance(report, dict) and {"errors", "warnings"} <= set(report)):
        report = fast_check(data, progress)
        if cached is not None:
            atomic_write_json(cached, report)
    for warning in report["warnings"][:MAX_SHOWN]:
        logging.getLogger("bench").warning("%s: %s", data.name, warning)
    if report["errors"]:
        errors = report["errors"]
        shown = "\n".join(f"  - {e}" for e in errors[:5])
        more = f"\n  ... and {len(errors) - 5} more" if len(errors) > 5 else ""
        root = f" --root {adapter.root}" if adapter.root is not None else ""
        raise DataError(
            f"{data.name}: the data check found {len(errors)} error(s):\n{shown}{more}\n"
            f"List them all with: bench data check --dataset {data.name}{root} --no-decode"
        )
    return data


def check(
    name: str,
    root: Path | None,
    sets: list[str] | tuple[str, ...] = (),
    strict: bool = False,
    decode: bool = True,
    progress: bool = True,
) -> dict[str, Any]:
    """Validate dataset `name` under `root`; the report says what was found and what is wrong."""

    cls = DATASETS[name]
    options: DatasetOptions = options_from_sets(cls.Options, sets, name)
    report: dict[str, Any] = {"dataset": name, "root": None if root is None else str(root)}
    report["options"] = {k: getattr(options, k) for k in hparams.specs(cls.Options)}
    try:
        data = load_dataset(cls(options, root))
    except DataError as exc:
        return {**report, "ok": False, "errors": [str(exc)], "warnings": [], "notes": []}
    report.update(dataset_stats(data))
    fast = fast_check(data)
    errors: list[str] = list(fast["errors"]) + (fast["warnings"] if strict else [])
    if decode and any(split.files is not None for split in data.splits.values()):  # not arrays
        report["images_decoded"], unreadable = unreadable_images(data, progress)
        errors += unreadable
    report["expected"] = cls.expected(options)
    mismatches = compare(report["expected"], report)
    report["mismatches"] = len(mismatches)
    report["warnings"] = [] if strict else fast["warnings"] + mismatches
    report["errors"] = errors + (mismatches if strict else [])
    report["notes"] = list(data.info.get("notes", []))
    report["ok"] = not report["errors"]
    return report


def format_report(report: dict[str, Any]) -> str:
    """The report as a few readable lines (the JSON form has everything)."""
    lines = [f"dataset   {report['dataset']}    root {report['root'] or '(embedded)'}"]
    if "splits" in report:
        lines.append("splits    " + "   ".join(f"{k} {v:,}" for k, v in report["splits"].items()))
        if report["val_is_test"]:
            lines[-1] += "   (val is the test split, as the protocol does)"
        tc = report["train_counts"]
        imbalance = (
            f", imbalance factor {tc['imbalance_factor']:g}" if tc["imbalance_factor"] else ""
        )
        lines.append(
            f"classes   {report['num_classes']:,}   (train images per class "
            f"{tc['max']:,} .. {tc['min']:,}{imbalance})"
        )
        lines.append("shots     " + "   ".join(f"{k} {v}" for k, v in report["shots"].items()))
        lines.append(f"groups    {report['groups'] if report['groups'] else '-'}")
    if "images_decoded" in report:
        lines.append(f"images    {report['images_decoded']:,} decoded")
    if report.get("expected"):
        n = report["mismatches"]
        lines.append(
            "official  " + ("all listed statistics match" if n == 0 else f"{n} mismatch(es)")
        )
    lines += [f"note: {n}" for n in report.get("notes", [])]
    lines += [f"warning: {w}" for w in report["warnings"]]
    lines += [f"error: {e}" for e in report["errors"]]
    return "\n".join(lines)
