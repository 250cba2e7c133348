"""Generator fits that split into parts (sd-ti: one textual-inversion token per class): per-part
locks and markers, disjoint ranges fitted into one folder, and the sweep's range tasks."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
import yaml
from helpers import cli, tiny_sets

from bench.errors import ConfigError
from bench.generators.inversion import TextualInversionGenerator
from bench.io import file_lock, read_json
from bench.launch.spec import load_spec
from bench.launch.units import Env, Planning, plan
from bench.runs.config import resolve
from bench.runs.runner import fit_generator
from bench.synthesis.pipeline import part_done

# two steps a class, a checkpoint after each (the fits here are about classes, not steps)
TINY_TI = {"ti_steps_per_image": 1, "ti_min_steps": 2, "ti_max_steps": 2, "ti_checkpoint_every": 1}


@pytest.fixture(scope="module")
def sd_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from fixtures.tiny_pipelines import save_tiny_sd

    return save_tiny_sd(tmp_path_factory.mktemp("pipelines") / "sd")


@pytest.fixture(scope="module")
def whole(sd_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """One uninterrupted fit of every class, in one call: what split fits must equal."""
    config = resolve("fill-up", "digits-lt", 0, None, ti_sets(sd_dir))
    info = fit_generator(config, tmp_path_factory.mktemp("whole"), progress=False)
    assert info["cached"] is False and info["fitted_parts"] == list(range(10))
    return {**info, "done": read_json(Path(info["dir"]) / "done")}


def ti_sets(sd_dir: Path) -> list[str]:
    """Fill-Up with its sd-ti backend on the tiny random-weight pipeline (digits-lt: 10 classes)."""
    return [
        *tiny_sets("fill-up"),
        "method.generator=sd-ti",
        f"model_dir={sd_dir}",
        "resolution=32",
        "sampling_steps=2",
        "plan=fill:6",
        *(f"{k}={v}" for k, v in TINY_TI.items()),
    ]


def only_generator(results: Path) -> Path:
    (gen,) = [p for p in (results / "cache" / "generators").iterdir() if p.is_dir()]
    return gen


@pytest.mark.parametrize(
    ("per_task", "ranges"), [(3, [(0, 3), (3, 6), (6, 9), (9, 10)]), (50, [(0, 10)])]
)
def test_a_split_fit_is_one_generator_unit_per_class_range(sd_dir, tmp_path, per_task, ranges):
    config = resolve("fill-up", "digits-lt", 0, None, ti_sets(sd_dir))
    stages = dict(plan([config], Planning(Env(tmp_path), classes_per_task=per_task)).stages())
    assert [u.payload.parts for u in stages["generator"]] == ranges
    gens = {u.key for u in stages["generator"]}
    assert stages["synthesis"] and all(gens <= set(u.deps) for u in stages["synthesis"])
    (run,) = stages["classifier"]
    assert not gens & set(run.deps)  # the run waits on the synthesis, not the fit
    ddpm = dict(plan([resolve("ddpm-fill", "digits-lt", 0)], Planning(classes_per_task=1)).stages())
    assert [u.payload.parts for u in ddpm["generator"]] == [None]  # a whole fit: one unit


def test_classes_per_task_is_checked(tmp_path):
    path = tmp_path / "sweep.yaml"
    spec = {"methods": ["fill-up"], "datasets": ["digits-lt"], "classes_per_task": 0}
    path.write_text(yaml.safe_dump(spec), encoding="utf-8")
    line = path.read_text().splitlines().index("classes_per_task: 0") + 1
    with pytest.raises(ConfigError, match=f"line {line}: classes_per_task=0 is below its minimum"):
        load_spec(path)


def test_disjoint_class_ranges_fit_one_folder_bitwise_like_one_fit(
    sd_dir, whole, tmp_path, monkeypatch
):
    config = resolve("fill-up", "digits-lt", 0, None, ti_sets(sd_dir))
    split = tmp_path / "b"
    later = fit_generator(config, split, progress=False, parts=range(6, 10))
    assert later["fitted_parts"] == [6, 7, 8, 9] and later["complete"] is False
    gen = only_generator(split)
    assert not (gen / "done").exists() and not (gen / "generator.json").exists()
    assert [part_done(gen, p) for p in range(10)] == [False] * 6 + [True] * 4
    with monkeypatch.context() as patch:  # the range task fitting the last classes dies
        patch.setattr(TextualInversionGenerator, "save", Interrupt.throw)
        with pytest.raises(Interrupt):
            fit_generator(config, split, progress=False, parts=range(0, 6))
    assert all(part_done(gen, p) for p in range(10)) and not (gen / "done").exists()
    # any later call (the first synthesis task, a rerun of the range task) finishes the fit
    last = fit_generator(config, split, progress=False, parts=range(0, 6))
    assert last["fitted_parts"] == [] and last["cached"] is False
    a, b = whole["done"], read_json(gen / "done")
    assert a["files"] == b["files"] and a["identity"] == b["identity"]
    assert len([f for f in a["files"] if f.startswith("tokens/")]) == 10
    assert fit_generator(config, split, progress=False, parts=range(2, 3))["cached"] is True


class Interrupt(Exception):
    @staticmethod
    def throw(*args: object) -> None:
        raise Interrupt


def test_a_class_another_process_holds_is_left_to_it(sd_dir, whole, tmp_path):
    """A class whose lock is held is skipped while the others are fitted, then waited for;
    the fit ends bitwise like an uninterrupted one."""
    config = resolve("fill-up", "digits-lt", 0, None, ti_sets(sd_dir))
    results = tmp_path / "b"
    gen = results / "cache" / "generators" / whole["key"]
    out: dict = {}
    with file_lock(gen / "parts" / "3.lock"):  # "another process" fitting class 3
        thread = threading.Thread(
            target=lambda: out.update(fit_generator(config, results, progress=False))
        )
        thread.start()
        deadline = time.monotonic() + 300
        while not all(part_done(gen, p) for p in range(10) if p != 3):
            assert thread.is_alive() and time.monotonic() < deadline
            time.sleep(0.05)
        time.sleep(0.5)
        assert not part_done(gen, 3) and not (gen / "done").exists()
    thread.join(300)
    assert out["fitted_parts"] == [0, 1, 2, 4, 5, 6, 7, 8, 9, 3]
    assert read_json(gen / "done")["files"] == whole["done"]["files"]


def test_a_debug_sweep_fits_one_class_per_task_and_a_relaunch_submits_nothing(sd_dir, tmp_path):
    spec = tmp_path / "sweep.yaml"
    methods = [{"name": "fill-up", "set": ti_sets(sd_dir)}]
    body = {"methods": methods, "datasets": ["digits-lt"], "seeds": [0], "classes_per_task": 1}
    spec.write_text(yaml.safe_dump(body), encoding="utf-8")
    results = tmp_path / "results"
    args = ("sweep", str(spec), "--launcher", "debug", "--results", str(results))
    code, out, err = cli(*args)
    assert code == 0, (out, err)
    assert "submitted 10 generator, 1 synthesis, 1 classifier" in out
    gen = only_generator(results)
    assert all(part_done(gen, p) for p in range(10))
    assert read_json(gen / "done")["fitted_parts"] == [9]  # the last range task finished it
    assert len(list((results / "runs").glob("*/done"))) == 1
    code, out, _ = cli(*args)
    assert code == 0 and "submitted nothing (left alone: 12 done)" in out


FIT_SCRIPT = """
import json, sys, time
from pathlib import Path
from bench.runs.config import resolve
from bench.runs.runner import fit_generator
sets, results, me, other = json.loads(sys.argv[1])
config = resolve("fill-up", "digits-lt", 0, None, sets)
Path(me).touch()
while not Path(other).exists():  # both start fitting at once
    time.sleep(0.01)
print(json.dumps(fit_generator(config, Path(results), progress=False)["fitted_parts"]))
"""


@pytest.mark.slow  # two processes importing torch: about 30 s on 2 loaded cores
def test_two_processes_fitting_every_class_at_once_share_the_classes(sd_dir, whole, tmp_path):
    import json
    import os
    import subprocess
    import sys

    results = tmp_path / "results"
    import torch

    # the thread count of the reference fit in this process (float sums differ with it): 1 in
    # an xdist worker, the cores in the one-process slow tier
    threads = str(torch.get_num_threads())
    env = {**os.environ, "OMP_NUM_THREADS": threads, "MKL_NUM_THREADS": threads}
    ready = [tmp_path / "ready-0", tmp_path / "ready-1"]
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-c",
                FIT_SCRIPT,
                json.dumps([ti_sets(sd_dir), str(results), str(ready[i]), str(ready[1 - i])]),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for i in range(2)
    ]
    outs = [p.communicate(timeout=600) for p in procs]
    assert all(p.returncode == 0 for p in procs), [err[-2000:] for _, err in outs]
    fitted = [json.loads(out.strip().splitlines()[-1]) for out, _ in outs]
    assert sorted(fitted[0] + fitted[1]) == list(range(10)), fitted  # each class fitted once
    gen = results / "cache" / "generators" / whole["key"]
    assert read_json(gen / "done")["files"] == whole["done"]["files"]
