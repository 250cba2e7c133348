"""`bench run --smoke` of every (method, paper dataset) pair of the protocol table runs the
protocol's own backend class (`sd`, `sd-ti`, `unclip`, `sd-imgvar`, `ddpm`) as a tiny random-weight
pipeline, a tiny backbone of the protocol's family, every stage and every dependency, on a
fixture tree in the dataset's official format. One pair per backend and kind of dataset runs in
the default tier; the rest are marked slow (docs/testing.md states the time of all of them)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from helpers import cli

from bench.io import read_json
from bench.report import protocols

PAIRS = sorted(
    {(m, d) for e in protocols.load() for m in e.methods for d in e.datasets},
    key=lambda p: (p[1], p[0]),
)
DEFAULT_TIER = {
    ("fg-entropy", "places-lt"),  # unclip, x0 guidance, the feedback-classifier dependency,
    # the Meta Sampler stage
    ("augcond-embed-cutmix-dropout", "flowers102"),  # unclip + PNDM, a few-shot count
    ("fill-up", "inat2018"),  # sd-ti: textual inversion, Stage II
    ("fillup-template", "imagenet-lt"),  # sd
    ("cbdm", "cifar100-lt"),  # the baseline DDPM's shape (attention, dropout), tiny
    ("synaug", "waterbirds"),  # sd, cells, worst-group
    ("synaug", "utkface"),  # sd, cells, fairness metrics
}
TINY_BACKBONES = {"tiny-resnet", "tiny-resnext", "resnet32"}


def smoke(method: str, dataset: str, tmp_path: Path) -> tuple[dict, float]:
    from fixtures.dataset_trees import WRITERS

    tree = WRITERS[dataset](tmp_path / "tree")
    start = time.time()
    code, out, err = cli(
        "run", "--method", method, "--dataset", dataset, "--smoke", "--quiet",
        "--data-root", str(tree.root), "--results", str(tmp_path / "results"),
        *[f"--set=dataset.{s}" for s in tree.sets],
    )  # fmt: skip
    assert code == 0, err
    return read_json(Path(out.strip()) / "result.json"), time.time() - start


@pytest.mark.parametrize(
    ("method", "dataset"),
    [pytest.param(*p, marks=() if p in DEFAULT_TIER else pytest.mark.slow) for p in PAIRS],
)
def test_smoke_runs_the_protocol_backend(method: str, dataset: str, tmp_path: Path) -> None:
    from bench.methods import METHODS
    from bench.runs.config import resolve

    protocol = resolve(method, dataset)
    result, seconds = smoke(method, dataset, tmp_path)
    config, info = read_json(tmp_path / "results" / "runs" / next(
        p.name for p in (tmp_path / "results" / "runs").iterdir() if p.name.startswith(method)
    ) / "config.json"), result["info"]  # fmt: skip
    backend = protocol.hparams.get("generator") or METHODS[method].generator
    plan = info["synthetic_plan"]
    assert plan["backend"] == backend  # the protocol's backend class ...
    if backend != "ddpm":
        assert plan["weights"]["model_id"] == "tiny"  # ... with tiny random weights
    assert plan["num_images"] > 0 and sum(result["metrics"]["synthetic_counts"]) > 0
    assert config["recipe"]["backbone"] in TINY_BACKBONES
    stages = result["metrics"]["stages"]
    assert [s["name"] for s in stages] == ["main", *protocol.recipe["then"]]
    assert all(s["epochs_done"] == s["epochs"] for s in stages)
    test = result["metrics"]["test"]
    if dataset in ("waterbirds", "nicopp", "utkface"):
        assert "worst" in test["group"]
    if dataset == "utkface":
        assert {"dp", "eo", "ed"} <= set(test["fairness"])
    print(f"{method} on {dataset}: {seconds:.1f} s")
