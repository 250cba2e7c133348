"""Every registered method runs end to end on the embedded data with tiny budgets."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from helpers import cli, run_digits, tiny_sets

from bench.io import read_json
from bench.methods import METHODS

# Every method runs in these registry loops. Methods that synthesise share the harness's fitting,
# synthesis and training code: one per generator code path runs in the default tier (`make
# test`), the others are marked slow (`make test-all` and CI run them). Methods that do not
# synthesise are cheap and always run.
DEFAULT_TIER = {
    "ddpm-fill",  # class-conditional ddpm, plain fill
    "cbdm",  # ddpm trained with the CBDM regulariser, CFG sampling
    "fg-entropy",  # feedback classifier dependency + x0 guidance on an image-conditioned ddpm
    "augcond-embed-cutmix-dropout",  # conditioning on mixed embeddings of real images
    "augcond-cutmix-dropout",  # conditioning on mixed real images (pixel space)
}


def tiered(*datasets: str) -> list:
    """pytest params of every method (x each dataset given): synthesising methods outside
    DEFAULT_TIER are marked slow, and on the class-balanced colored-digits (nothing to fill)
    every synthesising method but ddpm-fill is."""
    params = []
    for dataset in datasets or (None,):
        for method in METHODS:
            tier = {"ddpm-fill"} if dataset == "colored-digits" else DEFAULT_TIER
            fast = not METHODS[method].uses_synthetic_data() or method in tier
            values = (method,) if dataset is None else (method, dataset)
            params.append(pytest.param(*values, marks=() if fast else pytest.mark.slow))
    return params


def run_tiny(
    method: str, results: Path, *extra: str, seed: int = 0, dataset: str = "digits-lt"
) -> Path:
    return run_digits(
        method, results, [*tiny_sets(method), *extra], "--seed", str(seed), dataset=dataset
    )


def run_info(run_dir: Path) -> dict:
    return read_json(run_dir / "result.json")["info"]


@pytest.mark.parametrize(("method", "dataset"), tiered("digits-lt", "colored-digits"))
def test_method_runs_end_to_end(method: str, dataset: str, results: Path) -> None:
    # colored-digits is class-balanced: a fill-up plan asks for nothing, which is an error
    # (test_a_plan_asking_for_nothing_is_refused) unless asked for on purpose
    nothing = ["method.plan=add:0"] if dataset == "colored-digits" else []
    run_dir = run_tiny(
        method,
        results,
        *(nothing if METHODS[method].uses_synthetic_data() else []),
        dataset=dataset,
    )
    result = read_json(run_dir / "result.json")
    test = result["metrics"]["test"]
    assert 0.0 <= test["overall"] <= 1.0 and len(test["per_class"]) == 10
    assert set(result["metrics"]["shot_buckets"]) == {"many", "medium", "few"}
    stages = result["metrics"]["stages"]
    assert [s["name"] for s in stages] == ["main", *METHODS[method].STAGES]
    assert all(s["epochs_done"] == s["epochs"] for s in stages)
    rule = "val_worst_group" if dataset == "colored-digits" else "val_balanced"
    assert result["metrics"]["selection_metric"] == rule
    if dataset == "colored-digits":
        assert "worst" in test["group"]
    timed = set(result["timings"])
    if METHODS[method].uses_synthetic_data() and dataset == "digits-lt":
        assert {"fit-generator", "synthesise"} <= timed
        real = np.array(result["metrics"]["train_counts"])
        synthetic = np.array(result["metrics"]["synthetic_counts"])
        assert (real + synthetic == real.max()).all()  # filled up to the head class
    else:  # colored-digits with plan=add:0: nothing synthesised, on purpose
        assert result["metrics"]["synthetic_counts"] is None
    code, table, _ = cli("leaderboard", "--results", str(results))
    assert code == 0 and f"| {method} " in table


def test_synthetic_stages_are_cached_across_classifier_settings(results: Path) -> None:
    first = run_info(run_tiny("ddpm-fill", results))
    second = run_info(run_tiny("ddpm-fill", results, "recipe.lr=0.002"))
    assert first["generator"]["cached"] is False and second["generator"]["cached"] is True
    assert second["synthesis"]["key"] == first["synthesis"]["key"]
    assert second["synthesis"]["generated_shards"] == 0
    third = run_info(run_tiny("ddpm-fill", results, "guidance_scale=2"))
    assert third["generator"]["cached"] is True  # a sampling setting reuses the generator
    assert third["synthesis"]["key"] != first["synthesis"]["key"]


def test_run_seeds_share_the_generator_but_draw_their_own_samples(results: Path) -> None:
    first = run_info(run_tiny("ddpm-fill", results))
    second = run_info(run_tiny("ddpm-fill", results, seed=1))
    assert second["generator"]["cached"] is True  # generator_seed=0: one generator for all seeds
    assert second["synthesis"]["key"] != first["synthesis"]["key"]
    assert second["synthesis"]["generated_shards"] == second["synthesis"]["num_shards"]


def test_fill_to_n_gives_classes_at_or_above_n_none_and_records_them(results: Path) -> None:
    result = read_json(run_tiny("ddpm-fill", results, "plan=fill:50") / "result.json")
    real, synthetic = (np.array(result["metrics"][k]) for k in ("train_counts", "synthetic_counts"))
    assert real.tolist() == [114, 68, 40, 24, 14, 8, 5, 3, 1, 1]
    assert synthetic.tolist() == [0, 0, 10, 26, 36, 42, 45, 47, 49, 49]
    skipped = result["info"]["synthetic_plan"]["skipped_cells"]
    assert set(skipped) == {"0", "1"} and "already has 114 >= 50" in skipped["0"]


def test_fill_to_a_fixed_count(results: Path) -> None:
    metrics = read_json(run_tiny("ddpm-fill", results, "plan=fill:120") / "result.json")["metrics"]
    total = np.add(metrics["train_counts"], metrics["synthetic_counts"])
    assert total.tolist() == [120] * 10


@pytest.mark.gpu
@pytest.mark.parametrize("method", list(METHODS))
def test_method_runs_on_cuda(method: str, results: Path) -> None:
    import torch

    if not torch.cuda.is_available():
        pytest.fail("the gpu marker was selected but torch sees no CUDA device")
    run_dir = run_digits(method, results, tiny_sets(method), "--device", "cuda")
    device = read_json(run_dir / "result.json")["environment"]["device"]
    assert device["name"] == "cuda" and device["gpu"]


def test_generator_is_a_function_of_its_settings_not_of_the_process(tmp_path: Path) -> None:
    import torch
    from safetensors.torch import load_file

    weights = []
    for process_seed in (1, 2):  # every new process starts torch's generator at a random seed
        torch.manual_seed(process_seed)
        run_dir = run_tiny("ddpm-fill", tmp_path / str(process_seed))
        key = run_info(run_dir)["generator"]["key"]
        unet = tmp_path / str(process_seed) / "cache" / "generators" / key / "unet"
        weights.append(load_file(unet / "diffusion_pytorch_model.safetensors"))
    assert weights[0].keys() == weights[1].keys()
    assert all(torch.equal(weights[0][k], weights[1][k]) for k in weights[0])


def test_smoke_run_of_a_file_backed_dataset_is_recorded_as_smoke(tmp_path: Path) -> None:
    from fixtures.dataset_trees import WRITERS

    tree = WRITERS["imagenet-lt"](tmp_path / "tree")
    code, out, err = cli(
        "run",
        "--method",
        "erm",
        "--dataset",
        "imagenet-lt",
        "--smoke",
        "--quiet",
        "--data-root",
        str(tree.root),
        "--results",
        str(tmp_path / "results"),
    )
    assert code == 0, err
    run_dir = Path(out.strip())
    assert read_json(run_dir / "config.json")["smoke"] is True
    result = read_json(run_dir / "result.json")
    assert result["metrics"]["epochs"] == 2


@pytest.mark.parametrize("dataset", ["imagenet-lt", "imagenet100-lt", "cifar10-lt", "inat2018"])
def test_ddpm_fill_runs_on_file_backed_datasets(dataset: str, tmp_path: Path) -> None:
    """The generator trains on the files (resized to its size) and fills the classes up."""
    from fixtures.dataset_trees import WRITERS

    tree = WRITERS[dataset](tmp_path / "tree")
    code, out, err = cli(
        "run",
        "--method",
        "ddpm-fill",
        "--dataset",
        dataset,
        "--smoke",
        "--quiet",
        "--data-root",
        str(tree.root),
        "--results",
        str(tmp_path / "results"),
        *[f"--set=dataset.{s}" for s in tree.sets],
    )
    assert code == 0, err
    result = read_json(Path(out.strip()) / "result.json")
    real = np.array(result["metrics"]["train_counts"])
    synthetic = np.array(result["metrics"]["synthetic_counts"])
    # a smoke run fills at most 2 images per class; classes at the head count get none; on
    # CIFAR-LT ddpm-fill adds 5,000 per class (CBDM Table 4), capped at 2
    wanted = np.full_like(real, 5000) if dataset == "cifar10-lt" else real.max() - real
    assert synthetic.tolist() == np.minimum(wanted, 2).tolist()
    assert result["info"]["generator"]["cached"] is False


def test_synthesis_shards_can_be_filled_by_separate_tasks(tmp_path: Path) -> None:
    """Array tasks fill disjoint shard ranges; the last one completes the set; the run reuses it."""
    from bench.runs.config import resolve
    from bench.runs.runner import synthesise_shards

    config = resolve("ddpm-fill", "digits-lt", sets=[*tiny_sets("ddpm-fill")])
    results = tmp_path / "results"
    first = synthesise_shards(config, results, [0, 2], progress=False)
    assert first["complete"] is False and first["generated_shards"] == 2
    second = synthesise_shards(config, results, [1, 3], progress=False)
    assert second["complete"] is True and second["key"] == first["key"]
    run_dir = run_digits("ddpm-fill", results, tiny_sets("ddpm-fill"))
    assert run_info(run_dir)["synthesis"]["generated_shards"] == 0


@pytest.mark.parametrize("method", tiered())
def test_every_method_smokes_on_a_file_backed_dataset(method: str, tmp_path: Path) -> None:
    """`bench run --smoke` of any method on a real-format dataset tree, in seconds."""
    from fixtures.dataset_trees import WRITERS

    tree = WRITERS["imagenet-lt"](tmp_path / "tree")
    code, out, err = cli(
        "run",
        "--method",
        method,
        "--dataset",
        "imagenet-lt",
        "--smoke",
        "--quiet",
        "--data-root",
        str(tree.root),
        "--results",
        str(tmp_path / "results"),
    )
    assert code == 0, err
    config = read_json(Path(out.strip()) / "config.json")
    assert config["smoke"] is True and config["data"]["image_size"] == 32


def test_synaug_stages_domain_mixup_then_last_layer_on_balanced_real(results: Path) -> None:
    run_dir = run_tiny(
        "ddpm-fill",
        results,
        "recipe.batch_aug=mixup",
        "recipe.mix_pairs=real-synthetic",
        "recipe.then=ft",
        "stage.ft.epochs=1",
        "stage.ft.reset_head=false",
        "stage.ft.data=class-balanced-subsample",
    )
    metrics = read_json(run_dir / "result.json")["metrics"]
    main, ft = metrics["stages"]
    real, synthetic = sum(metrics["train_counts"]), sum(metrics["synthetic_counts"])
    assert main["train_samples"] == real + synthetic and main["batch_aug"] == "mixup"
    assert ft["train_samples"] == 10 * min(metrics["train_counts"]) and ft["trains"] == "head"


def test_a_plan_asking_for_nothing_is_refused(results: Path) -> None:
    """colored-digits is class-balanced: fill:max would silently train on real data only."""
    sets = [*tiny_sets("ddpm-fill"), "recipe.epochs=1"]
    code, _, err = cli(
        "run", "--method", "ddpm-fill", "--dataset", "colored-digits", "--results",
        str(results), "--quiet", *[f"--set={s}" for s in sets],
    )  # fmt: skip
    assert code == 2
    assert "plan='fill:max' asks for no synthetic image on colored-digits" in err
    assert "plan=add:0" in err
    # refused before the generator fit: nothing fitted, synthesised or trained
    assert not (results / "cache" / "generators").exists()
    assert not list(results.glob("runs/*/train_state.pt")) and not list(results.glob("runs/*/done"))
