"""The synthetic store: killed and resumed bitwise, filled by two processes at once, streamed."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from bench.errors import DataError
from bench.synthesis.store import StoreWriter, SyntheticSet, shard_stem

FILL = [sys.executable, str(Path(__file__).parent / "fixtures" / "fill_store.py")]
DELAY = 0.5  # seconds each shard of the kill trial takes at least


def files_of(store: Path) -> dict[str, bytes]:
    """Every file that makes up the finished set (locks excluded)."""
    return {
        p.name: p.read_bytes()
        for p in sorted(store.iterdir())
        if p.suffix in (".npy", ".json", ".npz") or p.name == "done"
    }


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    store = tmp_path_factory.mktemp("ref") / "set"
    subprocess.run([*FILL, str(store)], check=True, capture_output=True, timeout=600)
    return files_of(store)


def wait_for_shards(store: Path, n: int, proc: subprocess.Popen, timeout: float = 300) -> None:
    end = time.time() + timeout
    while len(list(store.glob("shard-*.json"))) < n:
        assert proc.poll() is None, proc.communicate()
        assert time.time() < end, "no shard appeared"
        time.sleep(0.02)


# A random kill point in the quick tier; the slow tier adds fixed ones (tests/test_kill_trials.py
# lists every kill trial).
KILL_SEEDS = [None, *[pytest.param(s, marks=pytest.mark.slow) for s in (101, 102, 103, 104, 105)]]


@pytest.mark.parametrize("trial", KILL_SEEDS)
def test_killed_synthesis_resumes_to_a_bitwise_identical_set(
    tmp_path: Path, reference, trial: int | None
) -> None:
    default = random.randrange(10**6) if trial is None else trial
    seed = int(os.environ.get("BENCH_KILL_SEED", default))
    rng = random.Random(seed)
    print(f"kill trial seed {seed} (replay with BENCH_KILL_SEED={seed})")
    store = tmp_path / "set"
    # Each shard takes at least DELAY, so the kill lands inside the shard after the ones waited
    # for, however fast the machine (on a fast CI machine all six once finished before it).
    proc = subprocess.Popen(
        [*FILL, str(store), "--delay", str(DELAY)], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    wait_for_shards(store, rng.randint(1, 3), proc)
    time.sleep(rng.uniform(0.0, 0.8 * DELAY))  # somewhere inside a later shard
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    before = len(list(store.glob("shard-*.json")))
    assert 1 <= before < 6 and not (store / "done").exists()
    out = subprocess.run([*FILL, str(store)], check=True, capture_output=True, text=True)
    written = json.loads(out.stdout)["written"]
    assert len(written) == 6 - before  # only the missing shards were generated again
    assert files_of(store) == reference


def test_two_processes_fill_one_set_each_sample_exactly_once(tmp_path: Path, reference) -> None:
    store = tmp_path / "set"
    procs = [
        subprocess.Popen(
            [*FILL, str(store), "--delay", "0.3"], stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        for _ in range(2)
    ]
    outs = [p.communicate(timeout=600) for p in procs]
    assert all(p.returncode == 0 for p in procs), outs
    written = [json.loads(out)["written"] for out, _ in outs]
    assert sorted(written[0] + written[1]) == list(range(6))  # no shard twice, none missing
    assert written[0] and written[1]  # both did work
    assert files_of(store) == reference
    reader = SyntheticSet(store)
    assert len(reader) == 6 * 256 - 40 and np.array_equal(
        reader.targets, np.arange(len(reader)) % 3
    )


def finished_store(tmp_path: Path) -> Path:
    store = tmp_path / "small"
    manifest = {"key": "k", "num_images": 600, "image_size": 4, "channels": 1, "dtype": "uint8"}
    writer = StoreWriter(store, manifest)
    from bench.generators.base import SampleBatch, SynthesisRequest

    requests = [SynthesisRequest(i, i % 5, i) for i in range(600)]

    def generate(batch):
        return SampleBatch(np.stack([np.full((4, 4, 1), r.index % 256, np.uint8) for r in batch]))

    writer.fill(requests, generate, progress=False)
    assert writer.finish()
    return store


def test_reader_streams_images_with_a_few_shards_open(tmp_path: Path) -> None:
    reader = SyntheticSet(finished_store(tmp_path), open_shards=2)
    assert len(reader) == 600 and reader.class_counts(5).tolist() == [120] * 5
    order = np.random.default_rng(0).permutation(600)
    for i in order[:100]:
        assert reader.image(i)[0, 0, 0] == i % 256
        assert len(reader._open) <= 2  # open shard files
    batch = reader.read(np.array([599, 0, 300]))
    assert batch[:, 0, 0, 0].tolist() == [599 % 256, 0, 300 % 256]
    assert reader.verify() == []


def test_truncated_shard_is_reported_with_its_path(tmp_path: Path) -> None:
    store = finished_store(tmp_path)
    shard = shard_stem(store, 1).with_suffix(".npy")
    shard.write_bytes(shard.read_bytes()[:200])
    fix = r"shard-00001\.npy: it cannot be read .*truncated or corrupt.*--rebuild-cache"
    with pytest.raises(DataError, match=fix):
        SyntheticSet(store)


def test_shard_of_another_image_size_is_reported(tmp_path: Path) -> None:
    store = finished_store(tmp_path)
    np.save(shard_stem(store, 0).with_suffix(".npy"), np.zeros((256, 8, 8, 1), np.uint8))
    with pytest.raises(DataError, match=r"holds uint8 \(256, 8, 8, 1\), but manifest.json says"):
        SyntheticSet(store)


def test_missing_shard_names_the_file_and_the_fix(tmp_path: Path) -> None:
    store = finished_store(tmp_path)
    shard_stem(store, 2).with_suffix(".json").unlink()
    with pytest.raises(DataError, match=r"shard-00002\.json is missing.*Rerun the bench run"):
        SyntheticSet(store)


def test_a_writer_with_another_manifest_touches_nothing(tmp_path: Path) -> None:
    store = finished_store(tmp_path)
    before = files_of(store)
    other = {"key": "k", "num_images": 600, "image_size": 8, "channels": 1, "dtype": "uint8"}
    with pytest.raises(DataError, match="image_size=4 but this set needs 8"):
        StoreWriter(store, other)
    assert files_of(store) == before
