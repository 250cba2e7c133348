"""Every registered method and dataset, checked with no per-entry test code."""

from __future__ import annotations

import subprocess
import sys

import pytest

from bench import hparams
from bench.data import DatasetAdapter, DatasetOptions
from bench.datasets import DATASETS
from bench.errors import BenchError
from bench.method import Method
from bench.methods import METHODS
from bench.registry import Registry, UnknownNameError
from bench.train.recipe import Recipe


@pytest.mark.parametrize("name", list(METHODS))
def test_method_entry_is_complete(name: str) -> None:
    cls = METHODS[name]
    assert issubclass(cls, Method)
    assert cls.__doc__, f"{name}: the class docstring is its one-line summary in `bench list`"
    for spec in hparams.specs(cls.Hparams).values():
        assert spec.source.strip(), f"{name}.{spec.name} has no source"
        hparams.check_value(spec, spec.default, name)  # defaults satisfy their own bounds
        if cls.uses_synthetic_data():
            assert spec.part in ("generator", "synthesis"), f"{name}.{spec.name}: set its part"
    recipe_specs = hparams.specs(Recipe)
    for key, (value, source) in cls.RECIPE.items():
        assert source.strip()
        hparams.check_value(recipe_specs[key], value, f"{name}.RECIPE")
    for dataset in cls.DATASET_DEFAULTS:
        DATASETS.check(dataset)
    hparams.build(cls.Hparams, cls.TINY, f"{name}.TINY")


PROTOCOL_PAIRS = [(m, d) for m in METHODS for d in METHODS[m].DATASET_DEFAULTS]


@pytest.mark.parametrize(("name", "dataset"), PROTOCOL_PAIRS)
def test_per_dataset_defaults_resolve_with_their_sources(name: str, dataset: str) -> None:
    """Every value a method declares for a dataset (method, recipe.X, stage.S.X, dep.D.S.X)
    is what the run resolves to there, with the declared source."""
    from bench.runs.config import DEP_PREFIX, dataset_sections, resolve

    config = resolve(name, dataset)
    for section, declared in dataset_sections(METHODS[name], dataset).items():
        run, where = config, section
        if section.startswith(DEP_PREFIX):
            run = config.dependencies[section.removeprefix(DEP_PREFIX)]
        for key, (value, source) in declared.items():
            assert source.strip(), f"{name} on {dataset}: {section}.{key} has no source"
            if section.startswith(DEP_PREFIX):
                where, key = key.rsplit(".", 1)
            values = {
                "method": run.hparams,
                "dataset": run.data,
                "recipe": run.recipe,
            }.get(where) or run.stages[where.removeprefix("stage.")]
            expected = list(value) if isinstance(value, tuple) else value
            assert values[key] == expected, f"{name} on {dataset}: {section}.{key}"
            assert source in run.sources[f"{where}.{key}"]


@pytest.mark.parametrize("name", list(DATASETS))
def test_dataset_entry_is_complete(name: str) -> None:
    cls = DATASETS[name]
    assert issubclass(cls, DatasetAdapter)
    assert issubclass(cls.Options, DatasetOptions)
    assert cls.__doc__
    for spec in hparams.specs(cls.Options).values():
        assert spec.source.strip(), f"{name}.{spec.name} has no source"
        assert spec.part == "data"
    recipe_specs = hparams.specs(Recipe)
    for key, (value, source) in cls.RECIPE.items():
        assert source.strip()
        hparams.check_value(recipe_specs[key], value, f"{name}.RECIPE")
    if cls.needs_root:
        assert cls.download_hint, f"{name}: say where to get the data"


def test_registered_modules_do_not_import_torch() -> None:
    # `bench list` and config checks import every entry; torch must stay out of module level.
    code = (
        "import sys\n"
        "from bench.methods import METHODS\nfrom bench.datasets import DATASETS\n"
        "[METHODS[n] for n in METHODS]; [DATASETS[n] for n in DATASETS]\n"
        "print('torch' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "False", out.stderr


def test_unknown_name_suggests_close_matches() -> None:
    with pytest.raises(UnknownNameError, match=r"Did you mean 'ddpm-fill'\?"):
        METHODS["ddpm_fil"]
    with pytest.raises(UnknownNameError, match=r"Available datasets: .*digits-lt"):
        DATASETS["imagenet"]
    assert isinstance(UnknownNameError("x"), BenchError)


def test_registry_is_lazy_and_read_only() -> None:
    reg = Registry("thing", {"a": "no.such.module:Thing"})
    assert list(reg) == ["a"] and len(reg) == 1  # listing imports nothing
    with pytest.raises(ModuleNotFoundError):
        reg["a"]
    assert reg.target("a") == "no.such.module:Thing"
