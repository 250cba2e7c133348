"""A catalogue of bad inputs: each ends in a clear error (exit 2, no traceback) naming the value,
file or line and what to do, and leaves everything already written as it was.

One module-scoped results folder holds a finished run; every case snapshots it (and the case's
own files) before and after.
"""

from __future__ import annotations

import json
import shutil
import struct
import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from fixtures.dataset_trees import (
    write_cifar10,
    write_coco,
    write_image,
    write_imagenet_lt,
    write_inat2018,
    write_places_lt,
    write_waterbirds,
)
from helpers import cli, run_digits

from bench.errors import DataError
from bench.runs.config import resolve
from bench.runs.records import run_dir_for
from bench.runs.runner import bind_data

SHORT = ["recipe.epochs=2", "recipe.steps_per_epoch=2", "recipe.batch_size=16"]


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A results folder with one finished erm run."""
    results = tmp_path_factory.mktemp("shared") / "results"
    run_digits("erm", results, SHORT)
    return results


def snapshot(*roots: Path) -> dict[str, bytes]:
    out = {}
    for root in roots:
        files = [root] if root.is_file() else sorted(root.rglob("*")) if root.exists() else []
        out.update({str(p): p.read_bytes() for p in files if p.is_file()})
    return out


def run_cmd(results: Path, *extra: str, method: str = "erm") -> list[str]:
    return ["run", "--method", method, "--dataset", "digits-lt", "--quiet",
            "--results", str(results), *extra]  # fmt: skip


def png_header(width: int, height: int) -> bytes:
    """A PNG whose header declares width x height (no pixel data needed for PIL to refuse it)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 64)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


# Each case: (tmp, results) -> (argv, [message fragments]); it may write its own input files.
Case = Callable[[Path, Path], tuple[list[str], list[str]]]


def config_not_utf8(tmp: Path, results: Path):
    path = tmp / "run.yaml"
    path.write_bytes(b"method: erm\nrecipe: {epochs: 2}  # caf\xe9\n")
    return run_cmd(results, "--config", str(path)), [f"config file {path}, line 2", "UTF-8"]


def config_duplicate_key(tmp: Path, results: Path):
    path = tmp / "run.yaml"
    path.write_text("method: erm\nrecipe:\n  epochs: 2\n  lr: 0.1\n  epochs: 3\n")
    return run_cmd(results, "--config", str(path)), [
        f"config file {path}",
        "recipe.epochs is given twice (lines 3 and 5)",
    ]


def config_top_key_twice(tmp: Path, results: Path):
    path = tmp / "run.yaml"
    path.write_text("seed: 1\nmethod: erm\nseed: 2\n")
    return run_cmd(results, "--config", str(path)), ["seed is given twice (lines 1 and 3)"]


def device_banana(tmp: Path, results: Path):
    return run_cmd(results, "--device", "banana"), ["--device 'banana' is not a torch device"]


def device_cuda7(tmp: Path, results: Path):
    return run_cmd(results, "--device", "cuda:7"), ["--device cuda:7", "CUDA device(s)"]


def device_checked_before_data(tmp: Path, results: Path):
    args = ["run", "--method", "erm", "--dataset", "imagenet-lt", "--data-root",
            str(tmp / "nowhere"), "--results", str(results), "--device", "banana"]  # fmt: skip
    return args, ["is not a torch device"]


def pretrained_not_a_checkpoint(tmp: Path, results: Path):
    path = tmp / "weights.pt"
    path.write_text("these are not weights\n")
    return run_cmd(results, f"--set=recipe.pretrained={path}"), [
        f"pretrained={path} is not a PyTorch state_dict checkpoint"
    ]


def pretrained_missing(tmp: Path, results: Path):
    return run_cmd(results, f"--set=recipe.pretrained={tmp / 'none.pt'}"), ["do not exist"]


def empty_unet_channels(tmp: Path, results: Path):
    return run_cmd(results, "--set=method.unet_channels=", method="ddpm-fill"), [
        "unet_channels needs at least one value"
    ]


def sampling_steps_above_timesteps(tmp: Path, results: Path):
    sets = ["--set=method.sampling_steps=2000"]
    return run_cmd(results, *sets, method="ddpm-fill"), [
        "sampling_steps=2000 exceeds num_train_timesteps=1000"
    ]


def epochs_1e23(tmp: Path, results: Path):
    return run_cmd(results, "--set=recipe.epochs=1e23"), ["epochs=", "above its maximum 10000"]


def lr_huge(tmp: Path, results: Path):
    return run_cmd(results, "--set=recipe.lr=1e9"), ["lr=1000000000.0 is above its maximum"]


def imbalance_factor_huge(tmp: Path, results: Path):
    return run_cmd(results, "--set=imbalance_factor=1e30"), ["imbalance_factor", "maximum"]


def results_is_a_file(tmp: Path, results: Path):
    path = tmp / "results.txt"
    path.write_text("not a folder\n")
    return run_cmd(path), [f"--results {path} is a file"]


def leaderboard_results_is_a_file(tmp: Path, results: Path):
    path = tmp / "results.txt"
    path.write_text("not a folder\n")
    return ["leaderboard", "--results", str(path)], [f"--results {path} is a file"]


def show_case(what: str, content: str | None) -> Case:
    """`bench show` of a copy of the finished run whose `what` file is replaced."""

    def case(tmp: Path, results: Path):
        run_dir = next((results / "runs").iterdir())
        copy = tmp / run_dir.name
        shutil.copytree(run_dir, copy)
        target = copy / what
        target.unlink()
        if content is None:
            target.mkdir()
        else:
            target.write_text(content)
        return ["show", str(copy)], [str(target)]

    case.__name__ = f"show_{what}_{'dir' if content is None else content[:6]}"
    return case


def set_path(doc: dict, dotted: str, value: object) -> None:
    *parents, last = dotted.split(".")
    for key in parents:
        doc = doc[key]
    if value is DELETE:
        del doc[last]
    else:
        doc[last] = value


DELETE = object()
# Records failing the schema (bench.runs.schema): (file, field, value, message fragment).
BAD_RECORDS = [
    ("result", "seed", 7, "seed = 7 but config.json says 0: the result belongs to another run"),
    ("result", "run_id", "0123456789ab", "run_id = '0123456789ab' but config.json says"),
    ("result", "metrics.test.overall", "0.9", "metrics.test.overall = '0.9' is not int or float"),
    ("result", "metrics.test.overall", 1.5, "metrics.test.overall = 1.5 is not an accuracy"),
    ("result", "metrics.test.overall", True, "metrics.test.overall = True is not int or float"),
    ("result", "metrics.test.few", "x", "metrics.test.few = 'x' is not int or float or null"),
    ("result", "metrics.test.per_class", ["a"], "metrics.test.per_class = ['a'] holds a value"),
    ("result", "metrics", [1], "metrics = [1] is not a JSON object"),
    ("result", "metrics.test_best.overall", DELETE, "no 'metrics.test_best.overall'"),
    ("result", "timings", [], "timings = [] is not a JSON object"),
    ("config", "seed", True, "seed = True is not int"),
    ("config", "seed", -1, "seed = -1 is not a seed in [0, 2^32)"),
    ("config", "hparams", [], "hparams = [] is not a JSON object"),
    ("config", "method", "", "method = '' is empty"),
    ("config", "dataset", DELETE, "no 'dataset' (not a bench record)"),
]


def break_record(run_dir: Path, which: str, dotted: str, value: object) -> Path:
    path = run_dir / f"{which}.json"
    doc = json.loads(path.read_text())
    set_path(doc, dotted, value)
    path.write_text(json.dumps(doc))
    return path


def record_case(which: str, dotted: str, value: object, fragment: str) -> Case:
    """`bench show` of a copy of the finished run whose record fails the schema."""

    def case(tmp: Path, results: Path):
        run_dir = next((results / "runs").iterdir())
        copy = tmp / run_dir.name
        shutil.copytree(run_dir, copy)
        path = break_record(copy, which, dotted, value)
        return ["show", str(copy)], [str(path), "is not a valid bench run record", fragment]

    label = "deleted" if value is DELETE else str(value)[:8]
    case.__name__ = f"record_{which}_{dotted}_{label}"
    return case


def show_not_a_directory(tmp: Path, results: Path):
    path = tmp / "file"
    path.write_text("x")
    return ["show", str(path)], [f"{path} is not a directory"]


def truncated_config_of_unfinished_run(tmp: Path, results: Path):
    results = tmp / "results"
    run_dir = run_dir_for(results, bind_data(resolve("erm", "digits-lt", sets=[*SHORT, "seed=5"])))
    run_dir.mkdir(parents=True)
    (run_dir / "config.json").write_text('{"method": "erm", "datas')
    return run_cmd(results, *[f"--set={s}" for s in SHORT], "--seed", "5"), [
        str(run_dir / "config.json"),
        "cannot be read",
        "Move the run directory away",
    ]


def bad_set_syntax(tmp: Path, results: Path):
    return run_cmd(results, "--set", "epochs"), ["expected key=value"]


# Dataset trees in the official formats ---------------------------------------------------------

LT_TEST = "ImageNet_LT_test.txt"


def tree_run(tree, results: Path, dataset: str = "imagenet-lt") -> list[str]:
    # no pretrained weights: the data's own problems are under test, not the weights' preflight
    return ["run", "--method", "erm", "--dataset", dataset, "--data-root", str(tree.root),
            "--results", str(results), "--quiet", "--device", "cpu",
            "--set=recipe.pretrained=none", *[f"--set={s}" for s in tree.sets]]  # fmt: skip


def tree_check(tree, dataset: str = "imagenet-lt", *extra: str) -> list[str]:
    return ["data", "check", "--dataset", dataset, "--root", str(tree.root), "--quiet",
            *extra, *[f"--set={s}" for s in tree.sets]]  # fmt: skip


def imagenet_line(line: str, *fragments: str, check: bool = False) -> Case:
    """ImageNet-LT with `line` appended to its test split file: `bench run` (or `data check`)."""

    def case(tmp: Path, results: Path):
        tree = write_imagenet_lt(tmp / "root")
        outside = write_image(tmp / "secret" / "n01440764" / "x.JPEG", seed=1)
        (tree.root / "train" / "n01440764" / "link.JPEG").symlink_to(outside)
        split = tree.root / LT_TEST
        text = line.format(outside=outside, first=split.read_text().splitlines()[0])
        split.write_text(split.read_text() + text + "\n")
        number = len(split.read_text().splitlines())
        argv = tree_check(tree, "imagenet-lt", "--strict") if check else tree_run(tree, results)
        return argv, [f.format(split=split, number=number) for f in fragments]

    label = line.replace("{outside}", "absolute").replace("{first}", "duplicate")
    case.__name__ = f"imagenet_lt_{'check' if check else 'run'}_{label[:18]}"
    return case


def imagenet_split_not_utf8(tmp: Path, results: Path):
    tree = write_imagenet_lt(tmp / "root")
    split = tree.root / LT_TEST
    split.write_bytes(split.read_bytes() + b"val/caf\xe9.JPEG 1\n")
    number = len(split.read_bytes().splitlines())
    return tree_run(tree, results), [f"{split}:{number}: not UTF-8 text"]


def imagenet_train_image_in_test(tmp: Path, results: Path):
    tree = write_imagenet_lt(tmp / "root")
    train = (tree.root / "ImageNet_LT_train.txt").read_text().splitlines()[0]
    (tree.root / LT_TEST).write_text((tree.root / LT_TEST).read_text() + train + "\n")
    return tree_check(tree, "imagenet-lt", "--strict"), ["also training images"]


def imagenet_root_is_a_file(tmp: Path, results: Path):
    path = tmp / "root.txt"
    path.write_text("not a dataset\n")
    return ["run", "--method", "erm", "--dataset", "imagenet-lt", "--data-root", str(path),
            "--results", str(results), "--quiet"], [str(path)]  # fmt: skip


def waterbirds_csv_outside(tmp: Path, results: Path):
    tree = write_waterbirds(tmp / "wb")
    outside = write_image(tmp / "secret" / "x.jpg", seed=1)
    metadata = next(tree.root.rglob("metadata.csv"))
    lines = metadata.read_text().splitlines()
    header, row = lines[0].split(","), lines[1].split(",")
    row[header.index("img_filename")] = str(outside)
    metadata.write_text("\n".join([lines[0], ",".join(row), *lines[2:]]) + "\n")
    return tree_run(tree, results, "waterbirds"), [f"{metadata}:2: image", "resolves to"]


def coco_json_outside(tmp: Path, results: Path):
    tree = write_coco(tmp / "coco")
    write_image(tmp / "secret" / "x.jpg", seed=1)
    annotations = next(tree.root.rglob("instances_val2017.json"))
    obj = json.loads(annotations.read_text())
    obj["images"][0]["file_name"] = "../../secret/x.jpg"
    annotations.write_text(json.dumps(obj))
    return tree_check(tree, "coco"), ["outside the data root"]


def places_line_outside(tmp: Path, results: Path):
    tree = write_places_lt(tmp / "places")
    split = tree.root / "Places_LT_test.txt"
    split.write_text(split.read_text() + "../../etc/passwd 1\n")
    number = len(split.read_text().splitlines())
    return tree_run(tree, results, "places-lt"), [
        f"{split}:{number}: '../../etc/passwd' is in neither Places365 layout"
    ]


def inat_json_outside(tmp: Path, results: Path):
    tree = write_inat2018(tmp / "inat")
    path = tree.root / "val2018.json"
    obj = json.loads(path.read_text())
    obj["images"][0]["file_name"] = "/etc/passwd"
    path.write_text(json.dumps(obj))
    return tree_run(tree, results, "inat2018"), [str(path), "outside the data root"]


def cifar_root_missing(tmp: Path, results: Path):
    root = tmp / "no-cifar"
    return ["run", "--method", "erm", "--dataset", "cifar10-lt", "--data-root", str(root),
            "--results", str(results), "--quiet"], [str(root)]  # fmt: skip


def cifar_batch_truncated(tmp: Path, results: Path):
    tree = write_cifar10(tmp / "cifar")
    batch = next(p for p in tree.root.rglob("data_batch_1"))
    batch.write_bytes(batch.read_bytes()[:100])
    return tree_run(tree, results, "cifar10-lt"), [str(batch)]


# Results folders and caches ----------------------------------------------------------------------


def leaderboard_results_missing(tmp: Path, results: Path):
    return ["leaderboard", "--results", str(tmp / "nope")], [f"--results {tmp / 'nope'} does not"]


def leaderboard_output_is_a_directory(tmp: Path, results: Path):
    return ["leaderboard", "--results", str(results), "--output", str(tmp)], ["is a directory"]


def show_missing_run(tmp: Path, results: Path):
    return ["show", str(tmp / "nope")], [f"{tmp / 'nope'} is not a directory"]


def show_directory_without_config(tmp: Path, results: Path):
    (tmp / "empty").mkdir()
    return ["show", str(tmp / "empty")], [f"{tmp / 'empty'} is not a run directory"]


def small_store(tmp: Path) -> Path:
    from helpers import write_arrays

    images = np.arange(300 * 4 * 4, dtype=np.uint8).reshape(300, 4, 4, 1)
    return write_arrays(tmp / "store", images, np.arange(300) % 3)


def synth_export_flipped_shard(tmp: Path, results: Path):
    store = small_store(tmp)
    shard = store / "shard-00001.npy"
    data = bytearray(shard.read_bytes())
    data[-1] ^= 0xFF
    shard.write_bytes(bytes(data))
    return ["synth", "export", "--synthetic", str(store), "--png", str(tmp / "out")], [
        f"{shard}: it does not match the sha256",
        "--rebuild-cache",
    ]


def synth_export_truncated_manifest(tmp: Path, results: Path):
    store = small_store(tmp)
    (store / "manifest.json").write_text('{"version": 2, "num_')
    return ["synth", "export", "--synthetic", str(store), "--png", str(tmp / "out")], [
        f"{store / 'manifest.json'}: it cannot be read"
    ]


def synth_export_not_a_store(tmp: Path, results: Path):
    (tmp / "folder").mkdir()
    return ["synth", "export", "--synthetic", str(tmp / "folder"), "--png", str(tmp / "o")], [
        "is not a synthetic set"
    ]


def synth_export_no_output(tmp: Path, results: Path):
    store = small_store(tmp)
    return ["synth", "export", "--synthetic", str(store)], ["needs --png DIR"]


# The command line and config files ---------------------------------------------------------------


def unknown_method(tmp: Path, results: Path):
    return ["run", "--method", "ermm", "--dataset", "digits-lt"], ["ermm", "Did you mean 'erm'"]


def unknown_dataset(tmp: Path, results: Path):
    return ["run", "--method", "erm", "--dataset", "digit-lt"], ["digit-lt"]


def unknown_setting(tmp: Path, results: Path):
    return run_cmd(results, "--set=recipe.epoch=3"), [
        "--set recipe: unknown setting 'epoch'. Did you mean 'epochs'"
    ]


def setting_of_the_wrong_type(tmp: Path, results: Path):
    return run_cmd(results, "--set=recipe.epochs=three"), ["epochs", "three"]


def config_file_missing(tmp: Path, results: Path):
    return run_cmd(results, "--config", str(tmp / "none.yaml")), [str(tmp / "none.yaml")]


def config_file_a_list(tmp: Path, results: Path):
    path = tmp / "run.yaml"
    path.write_text("- method\n- erm\n")
    return run_cmd(results, "--config", str(path)), [str(path)]


def config_unknown_section(tmp: Path, results: Path):
    path = tmp / "run.yaml"
    path.write_text("method: erm\nrecipes:\n  epochs: 2\n")
    return run_cmd(results, "--config", str(path)), ["recipes"]


def sweep_spec_missing(tmp: Path, results: Path):
    return ["sweep", str(tmp / "none.yaml"), "--results", str(results)], [str(tmp / "none.yaml")]


CASES: list[Case] = [
    config_not_utf8,
    config_duplicate_key,
    config_top_key_twice,
    device_banana,
    device_cuda7,
    device_checked_before_data,
    pretrained_not_a_checkpoint,
    pretrained_missing,
    empty_unet_channels,
    sampling_steps_above_timesteps,
    epochs_1e23,
    lr_huge,
    imbalance_factor_huge,
    results_is_a_file,
    leaderboard_results_is_a_file,
    show_case("config.json", '{"method": "erm", "data'),  # truncated
    show_case("config.json", '{"hello": "world"}'),  # foreign
    show_case("config.json", None),  # a directory
    show_case("result.json", '{"metrics": {"te'),
    show_case("result.json", "[1, 2, 3]"),
    show_case("result.json", None),
    *[record_case(*bad) for bad in BAD_RECORDS],
    show_not_a_directory,
    truncated_config_of_unfinished_run,
    bad_set_syntax,
    imagenet_line("../secret/n01440764/x.JPEG 0", "{split}:{number}", "outside the data root"),
    imagenet_line("{outside} 0", "{split}:{number}", "outside the data root"),
    imagenet_line("train/n01440764/link.JPEG 0", "{split}:{number}", "outside the data root"),
    imagenet_line("../../../../etc/passwd 12", "{split}:{number}: label 12 is out of range"),
    imagenet_line("../../../../etc/passwd 0", "{split}:{number}: image", "does not exist"),
    imagenet_line("{first}", "{split}:{number}", "listed twice", check=True),
    imagenet_line("val/n01440764/none.JPEG 0", "{split}:{number}"),
    imagenet_line("val/n01440764/x.JPEG", "{split}:{number}"),
    imagenet_line("val/n01440764/x.JPEG 999", "{split}:{number}", "999"),
    imagenet_split_not_utf8,
    imagenet_train_image_in_test,
    imagenet_root_is_a_file,
    waterbirds_csv_outside,
    coco_json_outside,
    places_line_outside,
    inat_json_outside,
    cifar_root_missing,
    cifar_batch_truncated,
    leaderboard_results_missing,
    leaderboard_output_is_a_directory,
    show_missing_run,
    show_directory_without_config,
    synth_export_flipped_shard,
    synth_export_truncated_manifest,
    synth_export_not_a_store,
    synth_export_no_output,
    unknown_method,
    unknown_dataset,
    unknown_setting,
    setting_of_the_wrong_type,
    config_file_missing,
    config_file_a_list,
    config_unknown_section,
    sweep_spec_missing,
]


@pytest.mark.parametrize("case", CASES, ids=[c.__name__ for c in CASES])
def test_bad_input_is_a_clear_error(case: Case, finished: Path, tmp_path: Path) -> None:
    argv, fragments = case(tmp_path, finished)
    before = snapshot(finished, tmp_path)
    code, out, err = cli(*argv)
    assert code == 2, err
    assert err.startswith("error: ") and "Traceback" not in err + out
    for fragment in fragments:  # `bench data check` prints its problems on stdout
        assert fragment in err + out, f"{fragment!r} not in {err + out!r}"
    after = snapshot(finished, tmp_path)  # new files (a lock, a cached check) may appear, but
    assert {path: after.get(path) for path in before} == before  # nothing written changed


@pytest.mark.parametrize(
    "bad", BAD_RECORDS, ids=[f"{b[0]}-{b[1]}-{b[2]!s:.8}" for b in BAD_RECORDS]
)
def test_the_leaderboard_never_counts_a_record_failing_the_schema(
    bad: tuple, finished: Path, tmp_path: Path
) -> None:
    results = tmp_path / "results"
    shutil.copytree(finished / "runs", results / "runs")
    good = next((results / "runs").iterdir())
    copy = results / "runs" / f"{good.name}-copy"
    shutil.copytree(good, copy)
    path = break_record(copy, *bad[:3])
    code, out, err = cli("leaderboard", "--results", str(results))
    assert code == 0, err
    row = next(line for line in out.splitlines() if line.startswith("| erm"))
    assert row.split("|")[-2].strip() == "1"  # one seed: the broken copy is not a second one
    assert f"skipping {path}: {bad[3]}" in err
    assert "1 run record(s) could not be read or failed validation and were skipped" in out


def test_a_decompression_bomb_is_reported_not_raised(tmp_path: Path) -> None:
    from bench.data.torchdata import open_image

    tree = write_imagenet_lt(tmp_path)
    bomb = tree.root / "train" / "n01440764" / "n01440764_0.JPEG"
    bomb.write_bytes(png_header(20_000, 20_000))
    args = ["data", "check", "--dataset", "imagenet-lt", "--root", str(tree.root), "--quiet"]
    code, out, err = cli(*args, *[f"--set={s}" for s in tree.sets])
    assert code == 2 and "Traceback" not in err
    assert f"image {bomb} cannot be decoded (DecompressionBombError" in out
    with pytest.raises(DataError, match=f"cannot read image {bomb} \\(DecompressionBombError"):
        open_image(str(bomb), "RGB")


def test_every_numeric_setting_has_an_upper_bound() -> None:
    import typing

    from bench import hparams
    from bench.datasets import DATASETS
    from bench.methods import METHODS
    from bench.train.recipe import Recipe

    schemas = [Recipe, *(METHODS[n].Hparams for n in METHODS)]
    schemas += [DATASETS[n].Options for n in DATASETS]
    unbounded = []
    for schema in schemas:
        for name, spec in hparams.specs(schema).items():
            kinds = set(typing.get_args(spec.type)) | {spec.type}
            kinds |= {a for k in kinds for a in typing.get_args(k)}
            numeric = kinds & {int, float}
            if numeric and spec.choices is None and spec.high is None and not spec.unbounded:
                unbounded.append(f"{schema.__module__}.{schema.__qualname__}.{name}")
    assert unbounded == []


def test_show_names_the_data_a_run_used(finished: Path) -> None:
    run_dir = next((finished / "runs").iterdir())
    code, out, _ = cli("show", str(run_dir))
    config = json.loads((run_dir / "config.json").read_text())
    assert code == 0 and f"data      {config['data_fingerprint']}" in out
    assert "train 278  val 100  test 500" in out and "root (embedded)" in out
