"""Each paper's protocol is a method's default on its datasets, held against a transcription of
the papers' stated values (results/published/protocols.yaml), and docs/protocols.md is what
`bench protocols` writes."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import REPO, cli

from bench.report import protocols, published
from bench.runs.config import resolve


@pytest.fixture(scope="module")
def entries() -> list[protocols.Entry]:
    return protocols.load()


def test_every_stated_setting_matches_or_is_a_declared_deviation(entries) -> None:
    undeclared = protocols.undeclared(entries, resolve)
    assert not undeclared, "\n".join(undeclared)


def test_a_changed_transcription_is_an_undeclared_difference(entries) -> None:
    """The check can fail: one transcribed value changed (FG's Places-LT omega) is caught."""
    changed = []
    for e in entries:
        settings = dict(e.settings)
        if e.paper == "fg" and e.datasets == ("places-lt",):
            settings["method.feedback_scale"] = (0.05, "changed on purpose")
        changed.append(protocols.Entry(e.paper, e.datasets, e.methods, settings))
    lines = [
        x
        for g in protocols.groups(changed, resolve)
        if g.dataset == "places-lt" and "fg-entropy" in g.methods
        for x in g.lines
    ]
    (omega,) = [x for x in lines if x.key == "method.feedback_scale"]
    assert omega.status == "UNDECLARED" and omega.ours == 0.03
    assert any("fg-entropy on places-lt: method.feedback_scale" in u
               for u in protocols.undeclared(changed, resolve))  # fmt: skip


def test_docs_protocols_md_is_generated_and_current(tmp_path: Path) -> None:
    out = tmp_path / "protocols.md"
    code, _, err = cli("protocols", "--write", str(out))
    assert code == 0, err
    current = (REPO / "docs" / "protocols.md").read_text(encoding="utf-8")
    assert out.read_text(encoding="utf-8") == current, (
        "docs/protocols.md is stale: run `bench protocols --write docs/protocols.md`"
    )


def test_every_paper_method_row_of_the_published_tables_is_transcribed(entries) -> None:
    """A paper's own method on its paper's dataset (a published row) has the paper's
    protocol transcribed, so no such row runs on settings nobody compared."""
    from bench.methods import METHODS

    pairs = protocols.published_pairs(published.load(published.default_directory()))
    missing = [
        f"{paper} {sorted(tables)}: {method} on {dataset}"
        for (paper, method, dataset), tables in pairs.items()
        if dataset in METHODS[method].PAPER_DATASETS
        and not protocols.stated(entries, method, dataset)
    ]
    assert not missing, "\n".join(missing)


def dry_run(method: str, dataset: str) -> str:
    code, out, err = cli("run", "--method", method, "--dataset", dataset, "--dry-run")
    assert code == 0, err
    return out


def setting(text: str, key: str) -> str:
    """The value a dry-run prints for `key` ("  key = value    # source")."""
    for line in text.splitlines():
        if line.strip().startswith(f"{key} = "):
            return line.split(" = ", 1)[1].split("    #", 1)[0]
    raise AssertionError(f"{key} not in the dry-run")


def test_fg_entropy_on_places_lt_is_fg_table_2() -> None:
    out = dry_run("fg-entropy", "places-lt")
    method = out.split("\ndataset:\n")[0]
    assert setting(method, "generator") == '"unclip"'
    assert setting(method, "model_id") == '"stabilityai/stable-diffusion-2-1-unclip"'
    assert setting(method, "guidance_scale") == "3.0"
    assert setting(method, "feedback_scale") == "0.03"
    assert setting(method, "cond_dropout") == "0.5"
    assert setting(method, "sampling_steps") == "30"
    assert setting(method, "scheduler") == '"ddim"'
    assert setting(method, "guidance_every") == "5"
    assert "unet_channels" not in method  # the ddpm backend's settings are not shown
    recipe = out.split("\nrecipe:\n")[1].split("\nstage.meta:\n")[0]
    assert setting(recipe, "backbone") == '"resnet152"'
    assert setting(recipe, "then") == '["meta"]'
    stage = out.split("\nstage.meta:\n")[1]
    assert setting(stage, "trains") == '"head"'
    assert setting(stage, "epochs") == "10"
    assert setting(stage, "sampler") == '"meta"'
    assert setting(stage, "loss") == '"balanced-softmax"'


def test_cbdm_on_cifar100_lt_is_the_baseline_ddpm() -> None:
    out = dry_run("cbdm", "cifar100-lt")
    assert setting(out, "unet_channels") == "[128, 256, 256, 256]"
    assert setting(out, "layers_per_block") == "2"
    assert setting(out, "attention_levels") == "[1]"
    assert setting(out, "dropout") == "0.1"
    assert setting(out, "optimizer") == '"adam"'
    assert setting(out, "lr") == "0.0002"
    assert setting(out, "lr_schedule") == '"warmup-constant"'
    assert setting(out, "warmup_steps") == "5000"
    assert setting(out, "ema_decay") == "0.9999"
    assert setting(out, "batch_size") == "128"
    assert setting(out, "hflip") == "true"
    assert setting(out, "num_train_timesteps") == "1000"


def test_the_cifar_baseline_ddpm_has_35_7_million_parameters() -> None:
    from bench.generators.ddpm import build_unet

    settings = resolve("cbdm", "cifar100-lt").method_settings
    unet = build_unet(settings, 32, 3)
    assert round(sum(p.numel() for p in unet.parameters()) / 1e6, 1) == 35.7


def test_fill_up_on_inat2018_has_its_400_epoch_stage_ii() -> None:
    out = dry_run("fill-up", "inat2018")
    stage = out.split("\nstage.ft:\n")[1]
    assert setting(stage, "epochs") == "400"
    assert setting(stage, "lr") == "0.01"
    assert setting(stage, "schedule") == '"cosine"'
    recipe = out.split("\nrecipe:\n")[1]
    assert setting(recipe, "batch_size") == "2048"
    assert setting(recipe, "backbone") == '"resnet50"'


@pytest.mark.parametrize("method", ["augcond-embed-cutmix-dropout", "augcond-mixup"])
def test_augcond_on_flowers102_asks_for_synthetic_images(method: str, tmp_path: Path) -> None:
    from fixtures.dataset_trees import WRITERS

    from bench.data.check import load_for_run
    from bench.datasets import DATASETS
    from bench.synthesis.plans import make_plan

    out = dry_run(method, "flowers102")
    assert setting(out, "plan") == '"ratio:15"'
    assert setting(out, "guidance_scale") == "10.0"
    assert setting(out, "loss") == '"ce"'
    tree = WRITERS["flowers102"](tmp_path / "tree")
    config = resolve(method, "flowers102", sets=[f"dataset.{s}" for s in tree.sets])
    data = load_for_run(DATASETS["flowers102"](config.dataset_settings, tree.root), None, False)
    plan = make_plan(config.hparams["plan"], data)
    assert plan.total == 15 * len(data.train.targets) > 0


def test_a_method_away_from_its_papers_datasets_says_its_defaults_are_borrowed() -> None:
    out = dry_run("fg-entropy", "cifar100-lt")
    assert "fg-entropy's paper ran it on imagenet-lt, places-lt, nicopp, not cifar100-lt" in out
    assert "borrowed" not in dry_run("fg-entropy", "places-lt")


def test_the_embedded_generator_stays_the_default_on_embedded_data() -> None:
    for method in ("fg-entropy", "augcond-dropout", "ldm-txt", "synaug", "fillup-template"):
        assert setting(dry_run(method, "digits-lt"), "generator") == '"ddpm"'
    assert setting(dry_run("fill-up", "digits-lt"), "generator") == '"ddpm-ti"'


def test_synaug_on_imagenet100_lt_is_its_fig_4_row() -> None:
    out = dry_run("synaug", "imagenet100-lt")
    assert setting(out, "generator") == '"sd"'
    assert setting(out, "prompt") == '"a photo of {class_name}"'
    assert setting(out, "plan") == '"fill:500"'
    assert setting(out, "resolution") == "256"
    assert setting(out, "backbone") == '"resnet50"'
    stage = out.split("\nstage.ft:\n")[1]
    assert setting(stage, "trains") == '"head"'
