"""Damaged cache entries: a cached synthetic shard or generator file that no longer matches the
checksum recorded when it was written is an error naming it and `--rebuild-cache`; with the flag,
exactly the damaged entries are made again, bitwise as before, and the run ends with the numbers
an intact cache gives."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from helpers import cli, tiny_sets
from test_store import finished_store

from bench.errors import CorruptCacheError
from bench.generators.base import SampleBatch, SynthesisRequest
from bench.synthesis.store import StoreWriter, SyntheticSet, drop_damaged, shard_stem


def flip_byte(path: Path, offset: int | None = None) -> None:
    data = bytearray(path.read_bytes())
    i = len(data) // 2 if offset is None else offset
    data[i] ^= 0xFF
    path.write_bytes(bytes(data))


def cache_files(results: Path) -> dict[str, bytes]:
    """Every cached generator and synthetic-set file (locks excluded; a generator's `done`
    by the checksums it records, without its fitting time)."""
    root = results / "cache"
    out = {}
    for p in sorted(root.rglob("*")):
        if p.is_file() and p.suffix != ".lock" and "data-checks" not in p.parts:
            generator_done = p.name == "done" and p.parent.parent.name == "generators"
            text = json.dumps(json.loads(p.read_text())["files"]) if generator_done else None
            out[str(p.relative_to(root))] = text.encode() if text else p.read_bytes()
    return out


def test_a_flipped_byte_in_a_shard_is_reported_with_the_fix(tmp_path: Path) -> None:
    store = finished_store(tmp_path)
    shard = shard_stem(store, 1).with_suffix(".npy")
    flip_byte(shard, shard.stat().st_size - 3)  # an image byte: header and size stay right
    with pytest.raises(CorruptCacheError, match="does not match the sha256") as caught:
        SyntheticSet(store)
    message = str(caught.value)
    assert message.startswith(f"{shard}: ") and "--rebuild-cache" in message
    assert caught.value.paths == [shard]


@pytest.mark.parametrize("what", ["meta", "index", "manifest", "two-shards"])
def test_damaged_store_files_are_named_and_rebuilt_alone(tmp_path: Path, what: str) -> None:
    store = finished_store(tmp_path)
    intact = {p.name: p.read_bytes() for p in store.iterdir() if p.suffix != ".lock"}
    damaged = {
        "meta": [shard_stem(store, 2).with_suffix(".json")],
        "index": [store / "index.npz"],
        "manifest": [store / "manifest.json"],
        "two-shards": [shard_stem(store, 0).with_suffix(".npy"), shard_stem(store, 2)],
    }[what]
    if what == "two-shards":
        flip_byte(damaged[0])
        damaged[1] = damaged[1].with_suffix(".npy")
        damaged[1].write_bytes(damaged[1].read_bytes()[:-1])  # truncated
    else:
        damaged[0].write_bytes(damaged[0].read_bytes()[:20])
    with pytest.raises(CorruptCacheError) as caught:
        SyntheticSet(store)
    assert caught.value.paths == damaged and str(caught.value).startswith(f"{damaged[0]}: ")
    kept = {p: store / p for p in intact if store / p not in damaged}
    before = {name: path.stat().st_mtime_ns for name, path in kept.items() if path.is_file()}
    shards = drop_damaged(store, caught.value.paths)
    assert shards == sorted({int(p.stem.split("-")[1]) for p in damaged if "shard" in p.name})
    # the intact shards were not touched; done and the index go (the writer writes them again)
    for name, mtime in before.items():
        if name.startswith("shard-") and int(name[6:11]) not in shards:
            assert (store / name).stat().st_mtime_ns == mtime
    assert not (store / "done").exists()
    manifest = {"key": "k", "num_images": 600, "image_size": 4, "channels": 1, "dtype": "uint8"}
    writer = StoreWriter(store, manifest)
    requests = [SynthesisRequest(i, i % 5, i) for i in range(600)]
    made = []

    def generate(batch):
        made.append(batch[0].index // 256)
        return SampleBatch(np.stack([np.full((4, 4, 1), r.index % 256, np.uint8) for r in batch]))

    writer.fill(requests, generate, progress=False)
    assert writer.finish() and made == shards  # only the damaged shards were generated again
    assert {p.name: p.read_bytes() for p in store.iterdir() if p.suffix != ".lock"} == intact
    assert len(SyntheticSet(store)) == 600


def ddpm_args(results: Path, *extra: str) -> list[str]:
    sets = [f"--set={s}" for s in tiny_sets("ddpm-fill")]
    return ["run", "--method", "ddpm-fill", "--dataset", "digits-lt", "--smoke", "--quiet",
            "--results", str(results), *sets, *extra]  # fmt: skip


def test_damaged_cache_is_an_error_then_rebuilt_to_the_same_numbers(tmp_path: Path) -> None:
    shared, straight = tmp_path / "shared", tmp_path / "straight"
    code, _, err = cli(*ddpm_args(shared))  # fits the generator, fills the set
    assert code == 0, err
    shutil.copytree(shared, straight)  # an intact copy of the cache
    intact = cache_files(shared)
    (generator,) = (shared / "cache" / "generators").glob("*/unet/*.safetensors")
    (shard,) = (shared / "cache" / "synthetic").glob("*/shard-00000.npy")
    flip_byte(generator)
    flip_byte(shard, shard.stat().st_size - 5)
    other_lr = "--set=recipe.lr=0.05"  # another classifier: the same generator and set

    def files() -> dict[str, bytes]:
        return {str(p): p.read_bytes() for p in shared.rglob("*") if p.is_file()}

    before = files()
    # a new set from the damaged generator: the generator file is named
    code, _, err = cli(*ddpm_args(shared, "--set=method.guidance_scale=0.5"))
    assert code == 2 and "Traceback" not in err
    assert f"error: {generator}: the cached generator" in err and "--rebuild-cache" in err
    # the damaged set: the shard is named
    code, _, err = cli(*ddpm_args(shared, other_lr))
    assert code == 2 and f"error: {shard}: " in err and "--rebuild-cache" in err, err
    after = files()
    assert {p: after.get(p) for p in before} == before  # nothing already written changed

    code, out, err = cli(*ddpm_args(shared, other_lr, "--rebuild-cache"))
    assert code == 0, err
    rebuilt = cache_files(shared)
    assert {k: rebuilt.get(k) for k in intact} == intact  # the same bytes as before the damage
    code, out2, err = cli(*ddpm_args(straight, other_lr))
    assert code == 0, err
    from bench.runs.records import load_run

    a, b = load_run(Path(out.strip())), load_run(Path(out2.strip()))
    assert a["done"] and a["result"]["metrics"] == b["result"]["metrics"]


def test_sweep_tasks_pass_rebuild_cache_to_their_runs(tmp_path: Path, monkeypatch) -> None:
    import bench.launch.units
    from bench.cli import build_parser
    from bench.launch.units import Env, RunKind, Unit
    from bench.runs.config import resolve

    seen = []
    monkeypatch.setattr(bench.launch.units, "run", lambda *a, **k: seen.append(k))
    args = build_parser().parse_args(["sweep", "spec.yaml", "--rebuild-cache"])
    assert args.rebuild_cache
    config = resolve("erm", "digits-lt")
    for flag in (False, True):
        RunKind().execute(Unit("run", "k", "classifier", config), Env(tmp_path, None, "cpu", flag))
    assert [k["rebuild_cache"] for k in seen] == [False, True]
