"""`bench data check | download | prepare` and the data root's precedence."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from fixtures.dataset_trees import write_cifar10, write_imagenet_lt
from helpers import bench_command, bench_env

from bench.cli import main
from bench.data import data_root_from_env
from bench.runs.config import resolve


def test_mismatch_is_a_warning_and_an_error_with_strict(tmp_path: Path, capsys) -> None:
    root = str(write_imagenet_lt(tmp_path).root)
    assert main(["data", "check", "--dataset", "imagenet-lt", "--root", root, "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "warning: splits.train: expected 115,846, found 13" in out
    assert "warning: shots.many: expected 385, found 0" in out
    args = ["data", "check", "--dataset", "imagenet-lt", "--root", root, "--strict", "--json"]
    assert main(args) == 2
    captured = capsys.readouterr()
    report = json.loads(captured.out)
    assert report["ok"] is False and report["warnings"] == []
    assert "num_classes: expected 1,000, found 4" in report["errors"]
    assert "train_counts.max: expected 1,280" in " ".join(report["errors"])  # the largest class
    assert "the check found 9 error(s)" in captured.err


def test_official_statistics_match_on_the_real_cifar_pool(tmp_path: Path, capsys) -> None:
    root = str(write_cifar10(tmp_path).root)
    for setting in ("imbalance_factor=100", "imb_factor=0.02", "imbalance_factor=10"):
        args = ["data", "check", "--dataset", "cifar10-lt", "--root", root, "--strict"]
        assert main([*args, "--json", "--set", setting]) == 0
        report = json.loads(capsys.readouterr().out)
        assert report["ok"] and report["errors"] == [] and report["expected"]["splits"]
        assert report["val_is_test"] is True and report["groups"] is None


def test_broken_tree_gives_json_with_the_error(tmp_path: Path, capsys) -> None:
    args = ["data", "check", "--dataset", "places-lt", "--root", str(tmp_path), "--json"]
    assert main(args) == 2
    report = json.loads(capsys.readouterr().out)
    assert report["ok"] is False and "places2.csail.mit.edu" in report["errors"][0]


DOWNLOAD_ALL = """
import sys
from pathlib import Path
from bench.data import DatasetAdapter
from bench.datasets import DATASETS
from bench.errors import DataError
for name in DATASETS:
    cls = DATASETS[name]
    try:
        cls(cls.Options(), Path(sys.argv[1]) / name).download()
        print(name, "DOWNLOADED")
    except DataError as exc:
        tag = "library" if cls.download is not DatasetAdapter.download else "manual"
        print(name, tag, str(exc).replace(chr(10), " "))
"""


def test_download_only_where_a_library_can_and_failures_are_clear(tmp_path, capsys) -> None:
    assert main(["data", "download", "--dataset", "imagenet-lt", "--root", str(tmp_path)]) == 2
    assert "cannot be downloaded automatically" in capsys.readouterr().err
    # A proxy on a closed port: every download fails at once, with or without a network.
    env = {**bench_env(), "http_proxy": "http://127.0.0.1:9", "https_proxy": "http://127.0.0.1:9"}
    env.pop("no_proxy", None)
    env.pop("NO_PROXY", None)
    out = subprocess.run(
        [sys.executable, "-c", DOWNLOAD_ALL, str(tmp_path)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr
    lines = dict(line.split(" ", 1) for line in out.stdout.splitlines())
    from bench.datasets import DATASETS

    assert set(lines) == set(DATASETS)
    library = {n for n, text in lines.items() if text.startswith("library")}
    assert library == {"cifar10-lt", "cifar100-lt", "caltech101", "flowers102", "pascal-voc"}
    for name, text in lines.items():
        if name in library:
            assert f"{name}: download into {tmp_path / name} failed" in text, text
        elif not DATASETS[name].needs_root:
            assert "ships with the harness: there is nothing to download" in text, text
        else:
            assert "cannot be downloaded automatically" in text, text
        assert DATASETS[name].download_hint in text


def test_prepare_on_a_dataset_without_derived_files_says_so(tmp_path, capsys) -> None:
    assert main(["data", "prepare", "--dataset", "places-lt", "--root", str(tmp_path)]) == 2
    assert "nothing to prepare" in capsys.readouterr().err


def test_data_root_precedence_and_it_is_not_part_of_the_run_id(tmp_path, monkeypatch) -> None:
    config = tmp_path / "run.yaml"
    config.write_text("method: erm\ndataset: digits-lt\ndata_root: /from/config\n")
    cfg = resolve(config_file=config)
    assert cfg.data_root == "/from/config"
    assert cfg.run_id == resolve("erm", "digits-lt").run_id
    assert "data_root" not in cfg.to_json()
    monkeypatch.delenv("BENCH_DATA_ROOT", raising=False)
    assert data_root_from_env(None, cfg.data_root) == Path("/from/config")
    monkeypatch.setenv("BENCH_DATA_ROOT", "/from/env")
    assert data_root_from_env(None, cfg.data_root) == Path("/from/env")
    assert data_root_from_env("/from/cli", cfg.data_root) == Path("/from/cli")


def test_unknown_dataset_suggests_close_names(capsys) -> None:
    assert main(["data", "check", "--dataset", "cifar10lt"]) == 2
    assert "Did you mean 'cifar10-lt'" in capsys.readouterr().err


def test_environment_root_is_used_by_the_check(tmp_path: Path) -> None:
    write_cifar10(tmp_path / "cifar10-lt")  # BENCH_DATA_ROOT/<name>/cifar-10-batches-py
    env = {**bench_env(), "BENCH_DATA_ROOT": str(tmp_path)}
    out = subprocess.run(
        bench_command("data", "check", "--dataset", "cifar10-lt", "--strict", "--quiet"),
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert "splits    train 12,406   val 10,000   test 10,000" in out.stdout
    assert os.path.join(str(tmp_path), "cifar10-lt") not in out.stderr


def test_help_lists_the_data_actions(capsys) -> None:
    with pytest.raises(SystemExit):
        main(["data", "check", "--help"])
    assert "--strict" in capsys.readouterr().out
