"""Sweep spec keys: reproduces, published_only, dataset ids, a method's datasets, data_root, and
the errors for unknown keys, a table that is not published, an empty grid."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from bench.errors import ConfigError
from bench.launch.spec import load_spec
from bench.launch.units import Env


def write(tmp_path: Path, name: str = "spec.yaml", **spec) -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")
    return path


BASE = {"methods": ["erm"], "datasets": ["digits-lt"]}


def test_dataset_ids_and_a_methods_datasets_restrict_the_pairs(tmp_path):
    path = write(
        tmp_path,
        datasets=[
            {"name": "digits-lt", "id": "if10", "set": ["dataset.imbalance_factor=10"]},
            {"name": "digits-lt", "id": "if50", "set": ["dataset.imbalance_factor=50"]},
        ],
        methods=["erm", {"name": "balanced-softmax", "datasets": ["if50"]}],
        seeds=[0, 1],
    )
    spec = load_spec(path)
    assert [(m.name, d.id) for m, d in spec.pairs()] == [
        ("erm", "if10"),
        ("erm", "if50"),
        ("balanced-softmax", "if50"),
    ]
    assert spec.size() == 6
    configs = spec.configs()
    assert len(configs) == 6
    assert {(c.method, c.data["imbalance_factor"]) for c in configs} == {
        ("erm", 10),
        ("erm", 50),
        ("balanced-softmax", 50),
    }


def test_reproduces_and_published_only_are_read(tmp_path):
    path = write(
        tmp_path,
        reproduces={"paper": "fg", "table": "Table 2"},
        published_only={"mislas": "no bench method"},
        **BASE,
    )
    spec = load_spec(path)
    assert spec.reproduces == ("fg", "Table 2")
    assert spec.published_only == {"mislas": "no bench method"}


def test_relative_data_root_is_read_from_the_specs_folder_for_runs_and_dependencies(
    tmp_path, monkeypatch
):
    folder = tmp_path / "specs"
    folder.mkdir()
    path = write(folder, methods=["fg-entropy"], datasets=["digits-lt"], data_root="../data")
    monkeypatch.chdir(tmp_path / "specs")  # not where the spec's folder resolves relative paths
    monkeypatch.delenv("BENCH_DATA_ROOT", raising=False)
    (config,) = load_spec(path).configs()
    want = str((tmp_path / "data").resolve())
    assert config.data_root == want
    assert config.dependencies["classifier"].data_root == want
    assert str(Env(tmp_path).data_root_for(config)) == want
    assert str(Env(tmp_path, Path("/cli/root")).data_root_for(config)) == "/cli/root"


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"reproduce": {"paper": "fg", "table": "Table 2"}}, "Did you mean 'reproduces'"),
        ({"reproduces": {"paper": "fg", "tabel": "Table 2"}}, "Did you mean 'table'"),
        ({"reproduces": {"paper": "fg", "table": "Table 99"}}, "a row that names no published"),
        ({"reproduces": {"paper": "fgg", "table": "Table 2"}}, "published papers: augcond"),
        (
            {"reproduces": {"paper": "fg", "table": "Table 2"}, "published_only": {"mislsa": "x"}},
            "Did you mean 'mislas'",
        ),
        ({"published_only": {"mislas": "x"}}, "published_only needs `reproduces:`"),
        (
            {"reproduces": {"paper": "fg", "table": "Table 2"}, "published_only": {"mislas": ""}},
            "give the reason",
        ),
        ({"grid": {}}, "the grid is empty"),
        ({"grid": {"recipe.lr": []}}, "grid recipe.lr has no values"),
        ({"search": {"trials": 2, "range": {}}}, "Did you mean 'ranges'"),
        ({"methods": [{"name": "erm", "dataset": ["x"]}]}, "Did you mean 'datasets'"),
        ({"methods": [{"name": "erm", "datasets": ["digit-lt"]}]}, "Did you mean 'digits-lt'"),
        ({"methods": [{"name": "erm", "datasets": []}]}, "`datasets:` is empty"),
        ({"datasets": [{"name": "digits-lt", "idd": "a"}]}, "Did you mean 'id'"),
        ({"datasets": ["digits-lt", "digits-lt"]}, "digits-lt given twice"),
        ({"data_root": ""}, "data_root is a folder path"),
    ],
)
def test_bad_keys_are_errors_naming_the_file_and_the_known_keys(tmp_path, extra, message):
    path = write(tmp_path, **{**BASE, **extra})
    with pytest.raises(ConfigError, match=message) as info:
        load_spec(path)
    assert str(path) in str(info.value)


def test_an_unknown_key_lists_the_known_ones(tmp_path):
    path = write(tmp_path, **BASE, reproduced_by="x")
    with pytest.raises(ConfigError, match="Valid settings: name, reproduces, published_only"):
        load_spec(path)


def test_a_spec_of_no_run_is_an_error(tmp_path):
    path = write(tmp_path, **BASE, seeds=[])
    with pytest.raises(ConfigError, match="asks for no run"):
        load_spec(path)
