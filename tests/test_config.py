"""Config resolution: precedence, provenance, and bad input that fails before any work."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.errors import ConfigError
from bench.registry import UnknownNameError
from bench.runs.config import resolve


def test_precedence_defaults_dataset_method_file_cli(tmp_path: Path) -> None:
    cfg = resolve("ddpm-fill", "digits-lt")
    assert cfg.recipe["backbone"] == "small-cnn"  # dataset protocol beats harness default
    assert cfg.recipe["loss"] == "balanced-softmax"  # method tweak beats harness default
    assert cfg.recipe["momentum"] == 0.9  # harness default
    assert cfg.sources["recipe.backbone"].startswith("digits-lt default")
    assert cfg.sources["recipe.loss"].startswith("ddpm-fill default: FG Sec 4.1")
    assert cfg.sources["method.guidance_scale"].startswith("default: low guidance 1.0")

    path = tmp_path / "run.yaml"
    path.write_text(
        "method: ddpm-fill\ndataset:\n  name: digits-lt\n  imbalance_factor: 50\n"
        "recipe:\n  loss: ce\n  epochs: 3\nseed: 4\n"
    )
    cfg = resolve(config_file=path, sets=["recipe.epochs=5"])
    assert (cfg.method, cfg.dataset, cfg.seed) == ("ddpm-fill", "digits-lt", 4)
    assert cfg.recipe["loss"] == "ce"  # file beats method tweak
    assert cfg.recipe["epochs"] == 5  # command line beats file
    assert cfg.data["imbalance_factor"] == 50.0
    assert cfg.sources["recipe.loss"] == f"config file {path}"
    assert cfg.sources["recipe.epochs"] == "command line"
    assert resolve(config_file=path, seed=9).seed == 9  # --seed beats the file
    assert resolve(config_file=path, sets=["seed=7"], seed=9).seed == 7


def test_bare_keys_resolve_to_their_only_section() -> None:
    cfg = resolve(
        "ddpm-fill", "digits-lt", sets=["guidance_scale=2", "imbalance_factor=10", "epochs=3"]
    )
    assert cfg.hparams["guidance_scale"] == 2.0
    assert cfg.data["imbalance_factor"] == 10.0
    assert cfg.recipe["epochs"] == 3


def test_run_id_changes_with_every_setting_and_only_then() -> None:
    base = resolve("erm", "digits-lt")
    assert resolve("erm", "digits-lt").run_id == base.run_id
    assert resolve("erm", "digits-lt", sets=["recipe.lr=0.01"]).run_id != base.run_id
    assert resolve("erm", "digits-lt", seed=1).run_id != base.run_id
    assert resolve("erm", "digits-lt", sets=["split_seed=1"]).run_id != base.run_id
    # Saying a default out loud does not make a new experiment.
    assert resolve("erm", "digits-lt", sets=["recipe.epochs=12"]).run_id == base.run_id


@pytest.mark.parametrize(
    ("sets", "message"),
    [
        (["guidance=2"], r"unknown setting 'guidance'\. Did you mean 'method\.guidance_scale'"),
        (["lr=0.1"], r"ambiguous setting; write method\.lr or recipe\.lr"),
        (["recipe.epochs=abc"], r"epochs expects an integer, got 'abc'"),
        (["recipe.epochs=2.5"], r"epochs expects an integer, got '2\.5'"),
        (["imbalance_factor=-3"], r"imbalance_factor=-3\.0 is below its minimum 1\.0"),
        (["guidance_scale=-0.5"], r"guidance_scale=-0\.5 is below its minimum 0\.0"),
        (
            ["recipe.loss=balanced"],
            r"loss='balanced' is not allowed\. Did you mean "
            r"'balanced-softmax'\?",
        ),
        (["recipe.lr=nan"], r"lr expects a number, got 'nan'"),
        (["plan=most"], r"plan='most' is not a plan; write one of: fill:max"),
        (["plan=fill:0.5"], r"plan='fill:0.5': fill takes a whole number of images"),
        (["plan=cells:x"], r"plan='cells:x': 'x' is not a number"),
        (["recipe.warmup_epochs=20"], r"warmup_epochs=20 must be smaller than epochs=12"),
        (["few_threshold=500"], r"few_threshold=500 exceeds many_threshold=100"),
        (["recipe.epochs"], r"expected key=value"),
        (["nosection.x=1"], r"unknown section 'nosection'"),
        (["recipe.lrr=1"], r"unknown setting 'lrr'\. Did you mean 'lr'"),
        (["seed=-1"], r"seed=-1 is below its minimum 0"),
    ],
)
def test_bad_settings_fail_with_a_message_naming_value_and_choices(sets, message) -> None:
    with pytest.raises(ConfigError, match=message):
        resolve("ddpm-fill", "digits-lt", sets=sets)


def test_unknown_method_or_dataset_suggests() -> None:
    with pytest.raises(UnknownNameError, match="Did you mean 'balanced-softmax'"):
        resolve("balanced_softmax", "digits-lt")
    with pytest.raises(UnknownNameError, match="Did you mean 'digits-lt'"):
        resolve("erm", "digits")
    with pytest.raises(ConfigError, match="needs --method and --dataset"):
        resolve(None, "digits-lt")


def test_config_file_errors_name_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("method: erm\ndataset: digits-lt\nrecipe:\n  epochs: 3\n  lrate: 0.1\n")
    with pytest.raises(ConfigError, match=rf"{path}, line 5: recipe: unknown setting 'lrate'"):
        resolve(config_file=path)
    path.write_text("method: erm\ndatset: digits-lt\n")
    with pytest.raises(
        ConfigError,
        match=rf"{path}, line 2: unknown setting 'datset'\. Did you "
        r"mean 'dataset'",
    ):
        resolve(config_file=path)
    path.write_text("method: erm\nrecipe: [1, 2\n")
    with pytest.raises(ConfigError, match=rf"{path}, line \d+: not valid YAML"):
        resolve(config_file=path)
    with pytest.raises(ConfigError, match="does not exist"):
        resolve(config_file=tmp_path / "missing.yaml")


def test_resolved_config_round_trips_through_json() -> None:
    from bench.runs.config import RunConfig

    cfg = resolve("ddpm-fill", "digits-lt", sets=["unet_channels=8,16"])
    assert cfg.hparams["unet_channels"] == [8, 16]
    again = RunConfig.from_json(cfg.to_json())
    assert again.identity() == cfg.identity() and again.run_id == cfg.run_id
    assert again.method_settings.unet_channels == (8, 16)


def test_resolved_config_carries_its_settings_objects_and_pickles() -> None:
    import pickle

    cfg = resolve("ddpm-fill", "digits-lt", sets=["method.unet_channels=8,16", "recipe.lr=0.01"])
    assert cfg.method_settings.unet_channels == (8, 16) and cfg.recipe_settings.lr == 0.01
    again = pickle.loads(pickle.dumps(cfg))
    assert again == cfg and again.run_id == cfg.run_id
    assert again.recipe_settings == cfg.recipe_settings


def test_smoke_runs_have_their_own_identity_and_tiny_settings() -> None:
    plain = resolve("ddpm-fill", "digits-lt")
    smoke = resolve("ddpm-fill", "digits-lt", smoke=True)
    assert smoke.run_id != plain.run_id and "-smoke-" in smoke.run_name
    assert smoke.hparams["train_steps"] == 3 and smoke.recipe["epochs"] == 2
    assert smoke.sources["recipe.epochs"] == "smoke: bench run --smoke"
    # a --set still beats the smoke layer
    assert resolve("erm", "digits-lt", sets=["recipe.epochs=3"], smoke=True).recipe["epochs"] == 3
    # file-backed datasets get small images; the plain identity is unchanged by the smoke field
    assert resolve("erm", "imagenet-lt", smoke=True).data["image_size"] == 32
    assert "smoke" not in plain.identity()


@pytest.mark.parametrize(
    ("method", "sets", "message"),
    [
        ("erm", ["recipe.real_fraction=0.5"], "makes synthetic data"),
        ("erm", ["recipe.la_tau=2"], "loss is logit-adjusted"),
        ("erm", ["recipe.prior=batch"], "loss is balanced-softmax or logit-adjusted"),
        ("erm", ["recipe.mix_alpha=0.4"], "a batch_aug"),
        ("balanced-softmax", ["recipe.dro_eta=0.1"], "loss is group-dro"),
        ("crt", ["stage.crt.prior=batch"], "loss is balanced-softmax or logit-adjusted"),
    ],
)
def test_a_setting_no_stage_uses_is_refused(method, sets, message) -> None:
    """It would give the run a new id with the same numbers: a duplicate leaderboard row."""
    with pytest.raises(ConfigError, match=message) as err:
        resolve(method, "digits-lt", sets=sets)
    assert "does not apply to " + method in str(err.value) and sets[0].split("=")[0].split(".")[
        -1
    ] in str(err.value)


@pytest.mark.parametrize(
    ("method", "sets"),
    [
        ("ddpm-fill", ["recipe.real_fraction=0.5", "recipe.prior=batch"]),
        ("logit-adjustment", ["recipe.la_tau=2"]),
        ("erm", ["recipe.batch_aug=mixup", "recipe.mix_alpha=0.4"]),
        ("crt", ["stage.crt.loss=balanced-softmax", "recipe.prior=batch"]),  # a later stage's
        ("erm", ["recipe.la_tau=1.0"]),  # the default: the same run id, nothing to refuse
    ],
)
def test_a_setting_some_stage_uses_is_kept(method, sets) -> None:
    config = resolve(method, "digits-lt", sets=sets)
    assert config.run_name != resolve(method, "digits-lt").run_name or sets == ["recipe.la_tau=1.0"]
