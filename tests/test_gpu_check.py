"""benchmarks/gpu_check.sh: the real shapes it builds, and its CPU mode (the same code at tiny
configs) measuring every row of the table it writes."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from helpers import REPO

SCRIPT = REPO / "benchmarks" / "gpu_check.sh"
ROWS = [
    "SD 2.1-base sampling 32 px",
    "SD 2.1-base sampling 48 px",
    "Stable unCLIP sampling 32 px",
    "Stable unCLIP sampling 48 px",
    "FG plain sampling 48 px",
    "FG guided sampling 48 px",
    "FG guided / plain",
    "augcond-random-image conditioning",
    "augcond-cutmix conditioning",
    "augcond-cutmix / random-image sampling",
    "augcond-embed-cutmix-dropout conditioning",
    "augcond-embed-cutmix-dropout / random-image sampling",
    "classifier training, 1 process",
    "DDP training, 2 processes",
    "DDP speed-up",
]


def check(*args: str, timeout: int, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(SCRIPT), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "BENCH_PYTHON": sys.executable, **env},
    )


def test_the_real_shapes_have_the_published_sizes(monkeypatch):
    """SD 2.1's UNet has 865 M parameters; the others as their configs give (on the meta
    device: nothing is allocated)."""
    import torch

    monkeypatch.syspath_prepend(str(REPO / "benchmarks"))
    import sd_shapes

    from bench.generators import tiny

    def count(module) -> int:
        return sum(p.numel() for p in module.parameters())

    from diffusers.models.attention_processor import Attention

    with torch.device("meta"):
        unet = sd_shapes.unet(512)
        assert count(unet) == 865_910_724
        # Stability's configs: num_head_channels 64 in every attention layer
        attention = [m for m in unet.modules() if isinstance(m, Attention)]
        assert len(attention) == 32 and {m.inner_dim // m.heads for m in attention} == {64}
        assert count(sd_shapes.unet(768, **sd_shapes.UNCLIP_UNET)) == 870_173_124
        assert count(sd_shapes.vae(768)) == 83_653_863
        assert count(sd_shapes.text_encoder(tiny.tokenizer())) == 340_387_840
        assert count(sd_shapes.image_encoder()) == 632_076_800


def test_a_batch_out_of_memory_is_halved_until_it_fits(monkeypatch):
    import torch

    monkeypatch.syspath_prepend(str(REPO / "benchmarks"))
    import gpu_check

    calls = []

    def sample(n: int, warm_up: bool) -> None:
        calls.append((n, warm_up))
        if n > 4:
            raise torch.OutOfMemoryError("CUDA out of memory")

    seconds, batch = gpu_check.fitted("cpu", 16, sample)
    assert batch == 4 and seconds >= 0
    assert calls == [(16, True), (8, True), (4, True), (4, False)]  # timed once, after a warm-up

    def broken(n: int, warm_up: bool) -> None:
        raise ValueError("not a memory problem")

    with pytest.raises(ValueError):  # any other error is the check's failure, not a retry
        gpu_check.fitted("cpu", 16, broken)


def test_without_a_gpu_it_says_how_to_run_on_the_cpu(tmp_path):
    out = check("--out", str(tmp_path / "x.json"), timeout=300, CUDA_VISIBLE_DEVICES="")
    assert out.returncode == 2, out.stderr
    assert "no CUDA device here; --cpu-tiny runs the same code on the CPU" in out.stdout
    assert not (tmp_path / "x.json").exists()


@pytest.mark.slow
def test_the_cpu_tiny_check_measures_every_row_and_writes_its_table(tmp_path):
    path = tmp_path / "out" / "gpu-check.json"
    out = check("--cpu-tiny", "--out", str(path), timeout=1200)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    table = json.loads(path.read_text())
    assert table["mode"] == "cpu-tiny"
    assert [row["measure"] for row in table["rows"]] == ROWS
    for row in table["rows"]:
        assert isinstance(row["value"], float) and row["value"] > 0, row
        assert f"{row['measure']:<54}" in out.stdout  # the printed table has the row
    assert f"{len(ROWS)} rows in " in out.stdout


@pytest.mark.gpu
def test_the_gpu_check_fits_in_eight_minutes_on_one_gpu(tmp_path):
    """The check itself (benchmarks/gpu_check.sh stops it at 480 s): every row measured."""
    path = tmp_path / "gpu-check.json"
    out = check("--out", str(path), timeout=600)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    rows = {row["measure"]: row for row in json.loads(path.read_text())["rows"]}
    assert {"SD 2.1-base sampling 768 px", "Stable unCLIP sampling 768 px"} <= set(rows)
    assert rows["FG guided / plain"]["value"] > 1.0
