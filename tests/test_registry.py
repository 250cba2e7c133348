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
            assert spec.stage in ("generator", "synthesis"), f"{name}.{spec.name}: set a stage"
    recipe_specs = hparams.specs(Recipe)
    for key, (value, source) in cls.RECIPE.items():
        assert source.strip()
        hparams.check_value(recipe_specs[key], value, f"{name}.RECIPE")
    for dataset, values in cls.DATASET_DEFAULTS.items():
        DATASETS.check(dataset)
        for key, (value, source) in values.items():
            assert source.strip()
            hparams.check_value(hparams.specs(cls.Hparams)[key], value, name)
    hparams.build(cls.Hparams, cls.TINY, f"{name}.TINY")


@pytest.mark.parametrize("name", list(DATASETS))
def test_dataset_entry_is_complete(name: str) -> None:
    cls = DATASETS[name]
    assert issubclass(cls, DatasetAdapter)
    assert issubclass(cls.Options, DatasetOptions)
    assert cls.__doc__
    for spec in hparams.specs(cls.Options).values():
        assert spec.source.strip(), f"{name}.{spec.name} has no source"
        assert spec.stage == "data"
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
