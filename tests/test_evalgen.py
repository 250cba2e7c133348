"""`bench eval-gen` end to end on digits-lt: synthetic sets in both formats, the real-feature
cache and its invalidation, run records and the leaderboard, and the CLI's errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from helpers import TINY_RECIPE

from bench.cli import main
from bench.datasets import DATASETS
from bench.errors import BenchError
from bench.io import atomic_write_json, read_json
from bench.runs.config import resolve
from bench.runs.evalgen import eval_gen

# Keep the k-means of F8 / F1/8 cheap: 2 clusters per class, one run.
FAST = ["extractor=small", "prd_runs=1", "prd_clusters_per_class=2"]


def digits_split(name: str) -> np.ndarray:
    data = DATASETS["digits-lt"](resolve("erm", "digits-lt").dataset_settings).load()
    return data.splits[name]


def write_bench_synthetic_set(store: Path, images: np.ndarray, labels: np.ndarray) -> Path:
    """A synthetic set as bench's store writes it (shards of 256 + manifest)."""
    from helpers import write_arrays

    return write_arrays(store, images, labels)


def write_png_folder(folder: Path, images: np.ndarray) -> Path:
    from PIL import Image

    folder.mkdir(parents=True)
    for i, image in enumerate(images):
        Image.fromarray(image[..., 0]).save(folder / f"{i:04d}.png")
    return folder


def test_the_real_split_as_synthetic_set_scores_perfectly(tmp_path: Path) -> None:
    test = digits_split("test")
    store = write_bench_synthetic_set(tmp_path / "syn", test.images, test.targets)
    out = eval_gen("digits-lt", store, sets=FAST, results=tmp_path / "results", progress=False)
    assert out["n_real"] == out["n_fake"] == 500  # two shards read back in order
    # (KID's unbiased estimator is slightly negative for identical sets, so it is not checked.)
    assert abs(out["fid"]) < 1e-6
    assert out["coverage"] == 1.0 and out["precision"] == 1.0 and out["recall"] == 1.0
    assert out["f8"] == pytest.approx(1.0, abs=1e-6) and out["f1_8"] == pytest.approx(1.0, abs=1e-6)
    assert out["prd_clusters"] == 20 and out["extractor"] == "small"


def test_another_split_scores_worse_than_the_same_split(tmp_path: Path) -> None:
    folder = write_png_folder(tmp_path / "pngs", digits_split("train").images)
    noise = np.random.default_rng(0).integers(0, 256, (278, 16, 16, 1), dtype=np.uint8)
    noise_folder = write_png_folder(tmp_path / "noise", noise)
    results = tmp_path / "results"
    digits = eval_gen("digits-lt", folder, sets=FAST, results=results, progress=False)
    random = eval_gen("digits-lt", noise_folder, sets=FAST, results=results, progress=False)
    assert 0 < digits["fid"] < random["fid"] and digits["kid_mean"] < random["kid_mean"]
    assert digits["coverage"] > random["coverage"] and digits["density"] > random["density"]
    assert digits["n_fake"] == 278 and digits["is_mean"] > 1.0
    # SYNAuG's domain classifier: 2,500 per domain by default, more than these sets hold
    assert digits["domain_cls_acc"] is None and "domain_cls_n=2500" in digits["domain_cls_note"]
    sets = [*FAST, "domain_cls_n=250"]
    noise_gap = eval_gen("digits-lt", noise_folder, sets=sets, results=results, progress=False)
    assert noise_gap["domain_cls_acc"] > 0.95 and noise_gap["domain_cls_n_test"] == 100


def test_real_features_are_cached_and_invalidated(tmp_path: Path) -> None:
    folder = write_png_folder(tmp_path / "pngs", digits_split("val").images)
    results = tmp_path / "results"

    def real_cache(*extra: str) -> dict:
        out = eval_gen("digits-lt", folder, sets=[*FAST, *extra], results=results, progress=False)
        return out["real_features"]

    first = real_cache()
    assert first["cached"] is False
    again = real_cache()
    assert again == {**first, "cached": True}
    cached = np.load(Path(first["dir"]) / "features.npy")
    assert cached.shape == (500, 64) and cached.dtype == np.float32
    meta = read_json(Path(first["dir"]) / "meta.json")
    assert meta["key"]["split"] == "test" and meta["key"]["image_size"] == 16
    # Each of: split, image size (a dataset option), n changes the entry.
    for extra in (["split=val"], ["dataset.image_size=32"], ["n=300"]):
        other = real_cache(*extra)
        assert other["cached"] is False and other["dir"] != first["dir"], extra
        assert real_cache(*extra)["cached"] is True


def test_new_extractor_weights_invalidate_the_cache(tmp_path: Path) -> None:
    import torch

    from bench.train.backbones import build_classifier

    config = resolve("erm", "digits-lt")
    run_dir = tmp_path / "runs" / config.run_name
    atomic_write_json(run_dir / "config.json", config.to_json())
    folder = write_png_folder(tmp_path / "pngs", digits_split("val").images)
    dirs = []
    for seed in (0, 1, 1):
        torch.manual_seed(seed)
        torch.save(build_classifier("small-cnn", 10, 1).state_dict(), run_dir / "model_best.pt")
        sets = [*FAST, f"extractor=classifier:{run_dir}"]
        out = eval_gen("digits-lt", folder, sets=sets, results=tmp_path / "r", progress=False)
        dirs.append(out["real_features"]["dir"])
        assert out["extractor_identity"]["checkpoint"] == "model_best.pt"
    assert dirs[0] != dirs[1] and dirs[1] == dirs[2]


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real (tiny) ERM run on digits-lt, finished by the runner."""
    from bench.runs.runner import run

    results = tmp_path_factory.mktemp("results")
    return run(resolve("erm", "digits-lt", sets=TINY_RECIPE), results, progress=False)


def test_run_record_gets_generation_metrics_and_leaderboard_shows_them(
    finished_run: Path, tmp_path: Path
) -> None:
    from bench.report import layout
    from bench.report.render import render
    from bench.runs.records import finished_runs

    done_before = (finished_run / "done").read_text()
    folder = write_png_folder(tmp_path / "pngs", digits_split("train").images)
    eval_gen(synthetic=folder, run_dir=finished_run, sets=FAST, progress=False)
    result = read_json(finished_run / "result.json")
    assert result["generation"]["small"]["fid"] > 0
    assert result["metrics"]["test"]["overall"] is not None  # the rest is kept
    assert (finished_run / "done").read_text() == done_before
    # The feature cache went to the run's results directory.
    assert (finished_run.parents[1] / "cache" / "features").is_dir()

    report = layout.collect(finished_runs(finished_run.parents[1]))
    md = render(report, "md")
    assert "FID (small)" in md and "Coverage (small)" in md and "nan" not in md.lower()
    assert "Domain cls acc (small)" not in md  # null for every run (2,500 per domain asked)
    fid = result["generation"]["small"]["fid"]
    assert f"{fid:.2f}" in md


def test_run_without_synthetic_set_asks_for_one(finished_run: Path) -> None:
    with pytest.raises(BenchError, match="has no synthetic set"):
        eval_gen(run_dir=finished_run, sets=FAST, progress=False)
    with pytest.raises(BenchError, match="disagrees with the run's dataset"):
        eval_gen("other", "x", run_dir=finished_run, sets=FAST, progress=False)


def test_run_default_synthetic_set_is_the_one_it_trained_on(
    finished_run: Path, tmp_path: Path
) -> None:
    # Give the run a synthesis record in the form the runner writes (info.synthesis.key).
    import shutil

    run_dir = tmp_path / "results" / "runs" / finished_run.name
    shutil.copytree(finished_run, run_dir)
    result = read_json(run_dir / "result.json")
    result["info"]["synthesis"] = {"key": "abc123"}
    atomic_write_json(run_dir / "result.json", result)
    val = digits_split("val")
    store = tmp_path / "results" / "cache" / "synthetic" / "abc123"
    write_bench_synthetic_set(store, val.images, val.targets)
    out = eval_gen(run_dir=run_dir, sets=FAST, progress=False)
    assert out["synthetic"] == str(store) and out["n_fake"] == 100


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--dataset", "digits-lt", "--synthetic", "/no/such/dir"], "/no/such/dir does not exist"),
        (["--dataset", "digits-lt", "--synthetic", "x", "--extractor", "incepton"], "'inception'"),
        (["--dataset", "digits-lt", "--synthetic", "x", "--set", "kk=3"], "Did you mean 'k'"),
        (["--dataset", "digit-lt", "--synthetic", "x"], "Did you mean 'digits-lt'"),
        (["--synthetic", "x"], "needs --dataset"),
        (["--dataset", "digits-lt", "--synthetic", "x", "--n", "1"], "n=1"),
    ],
)
def test_cli_errors(argv: list[str], message: str, capsys: pytest.CaptureFixture) -> None:
    assert main(["eval-gen", "--quiet", *argv]) == 2
    assert message in capsys.readouterr().err


def test_cli_prints_json(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    folder = write_png_folder(tmp_path / "pngs", digits_split("val").images)
    argv = ["eval-gen", "--quiet", "--dataset", "digits-lt", "--synthetic", str(folder)]
    argv += ["--results", str(tmp_path / "r"), "--n", "80"]
    argv += [item for s in FAST for item in ("--set", s)]
    assert main(argv) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["n_real"] == out["n_fake"] == 80 and out["settings"]["n"] == 80


def test_missing_inception_weights_fail_at_once_in_the_cli(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    monkeypatch.delenv("BENCH_INCEPTION_WEIGHTS", raising=False)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    folder = write_png_folder(tmp_path / "pngs", digits_split("val").images[:10])
    argv = ["eval-gen", "--quiet", "--dataset", "digits-lt", "--synthetic", str(folder)]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "weights-inception-2015-12-05-6726825d.pth" in err and "Traceback" not in err


def test_unfinished_run_is_refused_before_any_work(tmp_path: Path) -> None:
    config = resolve("erm", "digits-lt")
    run_dir = tmp_path / "runs" / config.run_name
    atomic_write_json(run_dir / "config.json", config.to_json())
    with pytest.raises(BenchError, match="is not finished"):
        eval_gen(run_dir=run_dir, synthetic=tmp_path / "does-not-matter", progress=False)
