"""With no weights and no network, `bench run` and `bench sweep` of each paper method on its paper
dataset stop within seconds, before the data loads or anything is written, listing every
pretrained artefact the run and its dependencies would load, without trying the network.

What each run is expected to list is read here from its resolved config (the generator setting
and model id, the recipe's backbone and pretrained, the same for each dependency), so the test
follows the defaults as they change.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from fixtures.dataset_trees import WRITERS
from helpers import cli

from bench.methods import METHODS
from bench.runs.config import RunConfig, resolve

# (method, a dataset of its paper, --set items). FG's unCLIP is named until it is the default.
PAPER_PAIRS = [
    ("fg-entropy", "places-lt", ()),
    ("fg-entropy", "places-lt", ("method.generator=unclip",)),
    ("fg-loss", "imagenet-lt", ()),
    ("fg-combined", "nicopp", ()),
    ("augcond-embed-cutmix-dropout", "imagenet-lt", ()),
    ("augcond-dropout", "flowers102", ()),
    ("ldm-txt-img", "places-lt", ()),
    ("fill-up", "imagenet-lt", ()),
    ("fill-up", "inat2018", ()),
    ("fillup-template", "places-lt", ()),
    ("cbdm", "cifar100-lt", ()),
    ("synaug", "waterbirds", ()),
    ("synaug", "utkface", ()),
    ("synaug", "imagenet100-lt", ()),
    ("synaug", "cifar10-lt", ()),
]
# The generator backends that load a pretrained pipeline (model_id / revision / model_dir).
PIPELINE_BACKENDS = {"sd", "sd-ti", "unclip", "sd-imgvar"}
HARNESS_BACKBONES = {"small-cnn", "resnet32"}


def expected(config: RunConfig, run: str) -> Iterator[str]:
    """Fragments the refusal must hold for `config` and each dependency: the model id of a
    pretrained generator, the backbone of pretrained classifier weights, and whose they are."""
    generator = config.hparams.get("generator") or METHODS[config.method].generator
    if generator in PIPELINE_BACKENDS:
        yield config.hparams["model_id"]
        yield f"needed as the generator ({generator}) of {run}"
    recipe = config.recipe
    if recipe["pretrained"] and recipe["backbone"] not in HARNESS_BACKBONES:
        yield f"needed as the classifier backbone {recipe['backbone']} "
        yield f"recipe.pretrained={recipe['pretrained']}) of {run}"
    for name, dep in config.dependencies.items():
        yield from expected(dep, f"{run}'s dependency {name!r} ({dep.method})")


@pytest.fixture
def offline(tmp_path, monkeypatch) -> list[str]:
    """Empty weight caches, no network (every attempt recorded), and a data loader and sweep
    planner that fail the test if reached: the refusal must come before them."""
    import bench.launch.sweep
    import bench.runs.runner

    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    attempts: list[str] = []

    def refuse(*args, **kwargs):
        attempts.append(repr(args[:2]))
        raise OSError("network disabled by the test")

    def reached(*args, **kwargs):
        raise AssertionError("work started before the weights were checked")

    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(bench.runs.runner, "load_data", reached)
    monkeypatch.setattr(bench.launch.sweep, "plan", reached)
    return attempts


def paper_run(method: str, dataset: str, sets: tuple[str, ...], tmp_path: Path):
    tree = WRITERS[dataset](tmp_path / "data")
    options = [f"dataset.{s}" for s in tree.sets]  # the tree's dataset options
    all_sets = [*options, *sets]
    return tree, all_sets, resolve(method, dataset, sets=all_sets)


@pytest.mark.parametrize("command", ["run", "sweep"])
@pytest.mark.parametrize(("method", "dataset", "sets"), PAPER_PAIRS)
def test_paper_runs_without_weights_stop_at_once(
    method, dataset, sets, command, tmp_path, offline
) -> None:
    tree, all_sets, config = paper_run(method, dataset, sets, tmp_path)
    fragments = list(expected(config, f"{method} on {dataset}"))
    if not fragments:  # e.g. CBDM's DDPM is trained from scratch: nothing to refuse
        from bench.runs.preflight import preflight

        preflight([config])
        return
    results = tmp_path / "results"
    if command == "run":
        argv = ["run", "--method", method, "--dataset", dataset, "--data-root", str(tree.root)]
        argv += ["--results", str(results), *[f"--set={s}" for s in all_sets]]
    else:
        spec = tmp_path / "paper.yaml"
        entry = {"methods": [method], "datasets": [dataset], "seeds": [0], "set": all_sets}
        spec.write_text(yaml.safe_dump({**entry, "data_root": str(tree.root)}))
        argv = ["sweep", str(spec), "--launcher", "debug", "--results", str(results)]
    start = time.time()
    code, out, err = cli(*argv)
    seconds = time.time() - start
    assert code == 2, err
    assert seconds < 10, f"{seconds:.1f} s"
    for fragment in fragments:
        assert fragment in err, f"{fragment!r} not in:\n{err}"
    assert "bench weights download" in err and "Retrying" not in err + out
    assert offline == [] and not results.exists()


def test_the_fix_for_a_missing_backbone_reaches_the_dependency(tmp_path, offline) -> None:
    """The --set items the refusal suggests for the backbone are accepted, and with them neither
    the run nor its dependency needs backbone weights."""
    from bench.runs.preflight import needed_weights

    tree, all_sets, _ = paper_run("fg-entropy", "places-lt", (), tmp_path)
    argv = ["run", "--method", "fg-entropy", "--dataset", "places-lt", "--data-root"]
    argv += [str(tree.root), "--results", str(tmp_path / "r"), *[f"--set={s}" for s in all_sets]]
    _, _, err = cli(*argv)
    suggested = [s for s in err.split("--set ")[1:] if "=none" in s]
    items = [s.split()[0].rstrip(";") for s in suggested]
    assert items == ["recipe.pretrained=none", "dep.classifier.recipe.pretrained=none"]
    left = needed_weights(resolve("fg-entropy", "places-lt", sets=[*all_sets, *items]))
    assert [need.role for need in left if "backbone" in need.role] == []


def test_without_dependencies_only_the_run_itself_is_checked() -> None:
    """`bench run --no-deps` runs no dependency, so their weights are not asked for."""
    from bench.runs.preflight import needed_weights

    config = resolve("fg-entropy", "places-lt")
    runs = {need.run for need in needed_weights(config)}
    assert runs == {
        "fg-entropy on places-lt",
        "fg-entropy on places-lt's dependency 'classifier' (erm)",
    }
    assert {need.run for need in needed_weights(config, dependencies=False)} == {
        "fg-entropy on places-lt"
    }
