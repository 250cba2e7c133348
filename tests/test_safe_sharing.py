"""Safe on a shared results folder: no code runs from a checkpoint, no symlink is followed for a
lock or log file, and written files honour the umask."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from bench.errors import BenchError
from bench.io import atomic_write, atomic_write_text, file_lock, open_no_follow
from bench.launch.state import SweepState
from bench.runs.config import resolve
from bench.runs.records import run_dir_for, run_lock
from bench.runs.runner import bind_data, log_to
from bench.train.loop import TrainState, load_state, save_state
from bench.train.losses import CrossEntropy

SHORT = ["recipe.epochs=2", "recipe.steps_per_epoch=2", "recipe.batch_size=16"]


class Planted:
    """A pickled object that would create a file if unpickled (stands in for any code)."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def tiny_model():
    from bench.train.backbones import build_classifier

    model = build_classifier("small-cnn", 3, 1)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda e: 1.0)
    return model, opt, sched


def test_training_checkpoint_round_trips_with_weights_only(tmp_path: Path) -> None:
    model, opt, sched = tiny_model()
    state = TrainState(epoch=3, best_epoch=2, best_score=0.5, history=[{"epoch": 1, "x": 0.1}])
    state.best_weights = {k: v.clone() for k, v in model.state_dict().items()}
    save_state(tmp_path / "train_state.pt", state, model, opt, sched, CrossEntropy(None, None))
    torch.load(tmp_path / "train_state.pt", weights_only=True)  # plain containers only
    back, blob = load_state(tmp_path / "train_state.pt", tiny_model()[0], device="cpu")
    assert blob is not None and set(blob) >= {"model", "opt", "sched", "loss"}
    assert (back.epoch, back.best_epoch, back.best_score, back.history) == (
        3,
        2,
        0.5,
        state.history,
    )


def test_a_planted_checkpoint_runs_no_code(tmp_path: Path) -> None:
    marker = tmp_path / "code-ran"
    model = tiny_model()[0]
    blob = {"state": Planted(marker), "model": model.state_dict()}
    torch.save(blob, tmp_path / "train_state.pt")
    state, blob = load_state(tmp_path / "train_state.pt", model, device="cpu")
    assert blob is None and state.epoch == 0 and not marker.exists()  # refused, started afresh
    assert list((tmp_path / "attempts").iterdir())  # the planted file is kept, not deleted


@pytest.mark.parametrize("opener", ["run_lock", "file_lock", "log_to", "sweep_lock"])
def test_lock_and_log_files_never_follow_a_planted_symlink(tmp_path: Path, opener: str) -> None:
    target = tmp_path / "victim.txt"
    target.write_text("precious\n")
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    name = {"run_lock": ".lock", "file_lock": "gen.lock", "log_to": "log.txt"}.get(opener, ".lock")
    (run_dir / name).symlink_to(target)
    sweep = SweepState(tmp_path, "run")
    sweep.dir = run_dir
    context = {
        "run_lock": lambda: run_lock(run_dir),
        "file_lock": lambda: file_lock(run_dir / name),
        "log_to": lambda: log_to(run_dir / name),
        "sweep_lock": sweep.lock,
    }[opener]
    with pytest.raises(BenchError, match="is a symbolic link"), context():
        pass
    assert target.read_text() == "precious\n"


def test_a_fifo_or_directory_in_place_of_a_lock_is_refused(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "fifo")
    (tmp_path / "dir").mkdir()
    for name in ("fifo", "dir"):
        with pytest.raises(BenchError, match=r"regular file|not usable"):
            open_no_follow(tmp_path / name, "a")


def test_bench_run_refuses_a_planted_lock(tmp_path: Path) -> None:
    from helpers import cli

    results = tmp_path / "results"
    run_dir = run_dir_for(results, bind_data(resolve("erm", "digits-lt", sets=SHORT)))
    run_dir.mkdir(parents=True)
    target = tmp_path / "victim.txt"
    target.write_text("precious\n")
    (run_dir / ".lock").symlink_to(target)
    args = ["run", "--method", "erm", "--dataset", "digits-lt", "--results", str(results)]
    code, _, err = cli(*args, "--quiet", *[f"--set={s}" for s in SHORT])
    assert code == 2 and ".lock is a symbolic link" in err
    assert target.read_text() == "precious\n"


@pytest.mark.parametrize("umask", [0o022, 0o002, 0o077])
def test_written_files_honour_the_umask(tmp_path: Path, umask: int) -> None:
    import torch
    from safetensors.torch import save_file

    old = os.umask(umask)
    try:
        atomic_write_text(tmp_path / "result.json", "{}\n")
        # a writer that makes its file anew (safetensors does): the mode is set after it wrote
        weights = {"w": torch.zeros(2)}
        atomic_write(tmp_path / "model.safetensors", lambda tmp: save_file(weights, tmp))
    finally:
        os.umask(old)
    for name in ("result.json", "model.safetensors"):
        assert (tmp_path / name).stat().st_mode & 0o777 == 0o666 & ~umask, name
