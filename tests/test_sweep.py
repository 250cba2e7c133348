"""bench sweep without a cluster: specs, the planner, profiles, the debug and local launchers."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import yaml
from helpers import TINY_RECIPE, cli, tiny_sets

from bench.errors import BenchError, ConfigError
from bench.io import read_json
from bench.launch import units as units_mod
from bench.launch.launchers import classify
from bench.launch.profiles import load_profile
from bench.launch.spec import Range, load_spec
from bench.launch.sweep import launch, open_sweep
from bench.launch.units import Env, GeneratorKind, Planning, Unit, add_unit, plan
from bench.runs.config import resolve


def write_spec(tmp_path: Path, **spec) -> Path:
    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump(spec), encoding="utf-8")
    return path


def tiny_spec(tmp_path: Path, **extra) -> Path:
    spec = {"methods": ["erm", "balanced-softmax"], "datasets": ["digits-lt"], "seeds": [0, 1]}
    return write_spec(tmp_path, **{**spec, "set": TINY_RECIPE, **extra})


# Specs ------------------------------------------------------------------------------------------


def test_spec_expands_methods_datasets_seeds_and_grid(tmp_path):
    spec = load_spec(tiny_spec(tmp_path, grid={"recipe.lr": [0.1, 0.01]}))
    configs = spec.configs()
    assert len(configs) == 2 * 2 * 2
    assert {(c.method, c.seed, c.recipe["lr"]) for c in configs} == {
        (m, s, lr) for m in ("erm", "balanced-softmax") for s in (0, 1) for lr in (0.1, 0.01)
    }
    assert all(c.recipe["epochs"] == 2 for c in configs)


def test_search_seed_zero_is_the_paper_defaults_and_draws_are_seeded(tmp_path):
    search = {
        "trials": 4,
        "ranges": {
            "recipe.lr": {"low": 1e-4, "high": 1e-1, "log": True},
            "recipe.batch_size": {"choices": [16, 32]},
            "recipe.epochs": {"low": 1, "high": 3},
        },
    }
    spec = load_spec(write_spec(tmp_path, methods=["erm"], datasets=["digits-lt"], search=search))
    configs = spec.configs()
    assert len(configs) == 4
    assert configs[0] == resolve("erm", "digits-lt", 0)  # trial 0: nothing drawn
    drawn = configs[1:]
    assert all(1e-4 <= c.recipe["lr"] <= 1e-1 for c in drawn)
    assert all(c.recipe["batch_size"] in (16, 32) and 1 <= c.recipe["epochs"] <= 3 for c in drawn)
    assert len({c.recipe["lr"] for c in drawn}) == 3
    assert [c.run_id for c in load_spec(spec.path).configs()] == [c.run_id for c in configs]
    # a setting's stream does not depend on the other ranges
    assert Range("recipe.lr", 1e-4, 1e-1, log=True).draw(2) == repr(configs[2].recipe["lr"])


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"methods": ["ermm"], "datasets": ["digits-lt"]}, "Did you mean 'erm'"),
        ({"methods": ["erm"], "datasets": ["digit-lt"]}, "Did you mean 'digits-lt'"),
        ({"methods": ["erm"], "datasets": ["digits-lt"], "seed": [1]}, "Did you mean 'seeds'"),
        (
            {"methods": ["erm"], "datasets": ["digits-lt"], "set": ["recipe.epoch=2"]},
            "Did you mean 'epochs'",
        ),
        (
            {
                "methods": ["erm"],
                "datasets": ["digits-lt"],
                "search": {"trials": 2, "ranges": {"recipe.lr": {"low": 0.1, "high": 0.01}}},
            },
            "low 0.1 is above high 0.01",
        ),
        (
            {
                "methods": ["erm"],
                "datasets": ["digits-lt"],
                "search": {"trials": 2, "ranges": {"recipe.lr": {"low": 0, "hi": 1}}},
            },
            "Did you mean 'high'",
        ),
        ({"methods": [], "datasets": ["digits-lt"]}, "`methods:` is missing or empty"),
    ],
)
def test_bad_specs_fail_before_anything_runs(tmp_path, spec, message):
    path = write_spec(tmp_path, **spec)
    with pytest.raises(BenchError, match=message) as info:
        load_spec(path).configs()
    assert str(path) in str(info.value)


# Planner ----------------------------------------------------------------------------------------


def test_planner_runs_a_unit_shared_by_several_runs_once(tmp_path):
    config = resolve("erm", "digits-lt", 0)
    the_plan = plan([config, config, resolve("erm", "digits-lt", 1)])
    assert len(the_plan.units) == 2
    assert [stage for stage, _ in the_plan.stages()] == ["classifier"]


def test_dependency_runs_are_units_of_their_own_shared_by_the_runs_needing_them():
    fg = [resolve(m, "digits-lt", 0) for m in ("fg-entropy", "fg-loss")]
    the_plan = plan([*fg, resolve("fg-entropy", "digits-lt", 1), resolve("erm", "digits-lt", 0)])
    stages = {stage: [u.key for u in units] for stage, units in the_plan.stages()}
    feedback = {c.dependencies["classifier"].run_name for c in fg}
    assert len(feedback) == 1  # both FG criteria need the same erm run: planned once
    assert list(stages) == ["dependency", "generator", "synthesis", "classifier"]
    assert len(stages["dependency"]) == 2
    for config in fg:
        unit = the_plan.units[config.run_name]
        erm = config.dependencies["classifier"].run_name
        assert unit.deps[0] == erm and len(unit.deps) == 2
        synthesis = the_plan.units[unit.deps[1]]  # FG's guidance reads the erm classifier
        assert synthesis.kind == "synthesis" and erm in synthesis.deps
    # the plain erm run of seed 0 is the feedback run itself: a run unit, after its dependency
    # unit of the same key was planned, would be two units with one key
    assert the_plan.units[next(iter(feedback))].stage == "dependency"
    erm_first = plan([resolve("erm", "digits-lt", 0), *fg])  # the run asked for before
    assert erm_first.units[next(iter(feedback))].stage == "dependency"
    assert sum(u.kind in ("run", "dependency") for u in erm_first.units.values()) == 3


def test_planner_orders_dependencies_into_earlier_stages():
    units: dict[str, Unit] = {}
    add_unit(units, Unit("run", "feedback-erm", "dependency", None))
    add_unit(units, Unit("run", "fg-run", "classifier", None, ("feedback-erm",)))
    add_unit(units, Unit("run", "fg-run", "classifier", None, ("feedback-erm",)))  # shared
    the_plan = units_mod.Plan(units)
    assert [s for s, _ in the_plan.stages()] == ["dependency", "classifier"]
    assert the_plan.dependents({"feedback-erm"}) == {"fg-run"}
    with pytest.raises(BenchError, match="earlier stage"):
        add_unit(units, Unit("run", "bad", "dependency", None, ("fg-run",)))
    with pytest.raises(BenchError, match="not planned before it"):
        add_unit(units, Unit("run", "orphan", "classifier", None, ("missing",)))


def stage_units(the_plan: units_mod.Plan) -> dict[str, list[Unit]]:
    return dict(the_plan.stages())


def test_runs_sharing_a_generator_share_one_fit_and_runs_sharing_a_set_its_synthesis():
    fill = [resolve("ddpm-fill", "digits-lt", 0, None, [f"recipe.lr={lr}"]) for lr in (0.1, 0.01)]
    fg = [resolve(m, "digits-lt", 0) for m in ("fg-entropy", "fg-loss")]
    seed1 = resolve("ddpm-fill", "digits-lt", 1)
    refit = resolve("ddpm-fill", "digits-lt", 1, None, ["method.generator_seed=none"])
    stages = stage_units(plan([*fill, seed1, refit, *fg]))
    assert list(stages) == ["dependency", "generator", "synthesis", "classifier"]
    # ddpm-fill's generator is fitted once for every run seed (generator_seed 0): the two recipes
    # of seed 0 and seed 1 share one fit (the recipes also one set), generator_seed=none refits
    # per run seed; both FG criteria share their generator (not their set)
    assert len(stages["generator"]) == 3 and all(not u.deps for u in stages["generator"])
    run_deps = {u.key: u.deps for u in stages["classifier"]}
    assert run_deps[fill[0].run_name] == run_deps[fill[1].run_name]
    synthesis = {u.key: u for u in stages["synthesis"]}
    assert len(synthesis) == 5  # each digits-lt set is 4 shards: one task each
    fill_fits = [synthesis[run_deps[c.run_name][0]].deps for c in (fill[0], seed1, refit)]
    assert fill_fits[0] == fill_fits[1] != fill_fits[2]
    fg_sets = [synthesis[run_deps[c.run_name][-1]] for c in fg]
    assert fg_sets[0].key != fg_sets[1].key and fg_sets[0].deps == fg_sets[1].deps
    gens = {u.key for u in stages["generator"]}
    assert all(len(gens & set(u.deps)) == 1 for u in synthesis.values())
    assert all(g.startswith("generator-") for g in gens)


@pytest.mark.parametrize(
    ("per_task", "ranges"),
    [(16, [(0, 11)]), (4, [(0, 4), (4, 8), (8, 11)]), (1, [(i, i + 1) for i in range(11)])],
)
def test_a_set_of_n_shards_is_ceil_n_over_k_synthesis_units(tmp_path, per_task, ranges):
    config = resolve("ddpm-fill", "digits-lt", 0, None, ["method.plan=fill:300"])  # 11 shards
    stages = stage_units(plan([config], Planning(Env(tmp_path), per_task)))
    assert [u.payload.shards for u in stages["synthesis"]] == ranges
    (run,) = stages["classifier"]
    assert set(run.deps) == {u.key for u in stages["synthesis"]}  # the run waits on every range
    spec = tiny_spec(tmp_path, methods=["ddpm-fill"], seeds=[0], shards_per_task=per_task)
    sweep = open_sweep(spec, "debug", {}, ("method.plan=fill:300",), Env(tmp_path / "r"))
    assert len(stage_units(sweep.plan)["synthesis"]) == len(ranges)


def test_shards_per_task_is_checked(tmp_path):
    path = tiny_spec(tmp_path, shards_per_task=0)
    line = path.read_text().splitlines().index("shards_per_task: 0") + 1
    with pytest.raises(ConfigError, match=f"line {line}: shards_per_task=0 is below its minimum"):
        load_spec(path)


# Profiles ---------------------------------------------------------------------------------------


def test_local_profile_and_overrides_per_stage():
    profile = load_profile("local", ["slurm.timeout_min=5", "slurm.classifier.mem_gb=3"])
    assert profile.stages["generator"].timeout_min == 5
    assert profile.stages["classifier"].mem_gb == 3.0
    assert profile.stages["generator"].mem_gb == 2.0
    params = profile.stages["classifier"].executor_parameters()
    assert params["slurm_partition"] == "debug" and params["slurm_array_parallelism"] == 2
    assert "--partition=debug" in profile.stages["classifier"].sbatch_options()


def test_classifier_stage_with_several_tasks_per_node():
    profile = load_profile("local", ["slurm.classifier.tasks_per_node=2", "slurm.gpus_per_task=1"])
    params = profile.stages["classifier"].executor_parameters()
    assert params["tasks_per_node"] == 2 and params["gpus_per_node"] == 2  # a GPU per rank
    assert {"--ntasks=2", "--gpus-per-node=2"} <= set(profile.stages["classifier"].sbatch_options())
    assert profile.stages["synthesis"].executor_parameters()["tasks_per_node"] == 1


@pytest.mark.parametrize(
    ("name", "sets", "message"),
    [
        ("locl", [], "Did you mean 'local'"),
        ("local", ["slurm.timeout=5"], "Did you mean 'timeout_min'"),
        ("local", ["slurm.classifer.mem_gb=3"], "Did you mean 'classifier'"),
        ("local", ["slurm.mem_gb=-1"], "greater than 0"),
        ("local", ["slurm.partition=debug\nrm -rf /"], "characters SLURM names never use"),
        ("local", ["partition=debug"], "slurm.KEY=VALUE"),
        ("local", ["slurm.tasks_per_node=2"], "only the dependency and classifier stages"),
    ],
)
def test_bad_profiles_and_slurm_keys(name, sets, message):
    with pytest.raises(ConfigError, match=message):
        load_profile(name, sets)


def test_missing_sbatch_is_a_clear_error_before_submitting(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    sweep = open_sweep(tiny_spec(tmp_path), "slurm", {}, (), Env(tmp_path / "results"))
    with pytest.raises(BenchError, match="sbatch is not on PATH"):
        launch(sweep)
    assert not (tmp_path / "results" / "sweeps" / "sweep" / "state.json").exists()


def test_a_partition_slurm_rejects_shows_slurms_message(tmp_path, monkeypatch):
    fake = tmp_path / "bin" / "sbatch"
    fake.parent.mkdir()
    fake.write_text(
        "#!/bin/sh\necho 'sbatch: error: invalid partition specified: gpux' >&2\nexit 1\n"
    )
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake.parent}{os.pathsep}{os.environ['PATH']}")
    options = {"sets": ["slurm.partition=gpux"]}
    sweep = open_sweep(tiny_spec(tmp_path), "slurm", options, (), Env(tmp_path / "results"))
    with pytest.raises(ConfigError, match="invalid partition specified: gpux") as info:
        launch(sweep)
    assert "nothing was submitted" in str(info.value)
    assert not sweep.state.path.exists()


def fake_slurm(tmp_path: Path, monkeypatch) -> Path:
    """sbatch and srun stand-ins on PATH: sbatch keeps each job script it is sent (sent/1.sh,
    2.sh, ...) and answers job ids 1, 2, ...; `sbatch --test-only` accepts anything."""
    bin_dir, sent = tmp_path / "bin", tmp_path / "sent"
    bin_dir.mkdir()
    sent.mkdir()
    (bin_dir / "srun").write_text("#!/bin/sh\nexit 0\n")
    # sacct answers the states written to sent/states (JobID|State|NodeList lines)
    (bin_dir / "sacct").write_text(
        f"#!/bin/sh\necho 'JobID|State|NodeList'\ncat {sent}/states 2>/dev/null\n"
    )
    (bin_dir / "sbatch").write_text(
        "#!/bin/sh\n"
        'case "$*" in *--test-only*) cat > /dev/null; exit 0;; esac\n'
        f"n=$(($(ls {sent} | grep -c sh) + 1))\n"
        f'cp "$1" {sent}/$n.sh\n'
        'echo "Submitted batch job $n"\n'
    )
    for tool in ("srun", "sbatch", "sacct"):
        (bin_dir / tool).chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    return sent


def test_each_slurm_array_waits_afterok_on_the_arrays_it_needs(tmp_path, monkeypatch):
    """What the launcher sends SLURM: the synthesis array waits on the generator's, the run's
    on the synthesis tasks', `afterok` (a failed task holds back, and with kill-on-invalid-dep
    cancels, what waits on it), never `afterany`."""
    import re

    sent = fake_slurm(tmp_path, monkeypatch)
    spec, results = fill_spec(tmp_path, shards_per_task=3), tmp_path / "results"
    code, out, err = cli("sweep", str(spec), "--results", str(results))
    assert code == 0, err
    assert "submitted 1 generator, 2 synthesis, 1 classifier" in out
    scripts = [(sent / f"{n}.sh").read_text() for n in (1, 2, 3)]
    names = [re.search(r"#SBATCH --job-name=(\S+)", s).group(1) for s in scripts]
    assert names == ["bench-generator", "bench-synthesis", "bench-classifier"]
    waits = [re.findall(r"#SBATCH --dependency=(\S+)", s) for s in scripts]
    assert waits == [[], ["afterok:1"], ["afterok:2_0:2_1"]]  # an array of one is job 1
    assert all("#SBATCH --kill-on-invalid-dep=yes" in s for s in scripts)


def test_a_relaunch_waits_only_on_units_not_done(tmp_path, monkeypatch):
    """A unit done on disk is no dependency any more: after the generator finished (its job
    long gone from SLURM's memory, where an afterok on it would be invalid and cancel the
    array), the resubmitted synthesis array waits on nothing, the run on the new synthesis."""
    import re

    sent = fake_slurm(tmp_path, monkeypatch)
    spec, results = fill_spec(tmp_path, shards_per_task=3), tmp_path / "results"
    args = ["sweep", str(spec), "--results", str(results)]
    assert cli(*args)[0] == 0
    units = read_json(results / "sweeps" / "sweep" / "state.json")["units"]
    (key,) = [k.removeprefix("generator-") for k in units if k.startswith("generator-")]
    (results / "cache" / "generators" / key).mkdir(parents=True)
    (results / "cache" / "generators" / key / "done").write_text("{}")
    (sent / "states").write_text("1|COMPLETED|n\n2_0|FAILED|n\n2_1|FAILED|n\n3|FAILED|n\n")
    code, out, err = cli(*args, "--retry-failed")
    assert code == 0, err
    assert "submitted 2 synthesis, 1 classifier" in out
    waits = [
        re.findall(r"#SBATCH --dependency=(\S+)", (sent / f"{n}.sh").read_text()) for n in (4, 5)
    ]
    assert waits == [[], ["afterok:4_0:4_1"]]


# Launching in-process ---------------------------------------------------------------------------


def test_debug_sweep_runs_everything_and_a_relaunch_submits_nothing(tmp_path):
    spec, results = tiny_spec(tmp_path, seeds=[0]), tmp_path / "results"
    code, out, err = cli("sweep", str(spec), "--launcher", "debug", "--results", str(results))
    assert code == 0, err
    assert "submitted 2 classifier" in out
    assert len(list((results / "runs").glob("*/done"))) == 2
    state = read_json(results / "sweeps" / "sweep" / "state.json")
    assert len(state["units"]) == 2
    code, out, _ = cli("sweep", str(spec), "--launcher", "debug", "--results", str(results))
    assert code == 0 and "submitted nothing (left alone: 2 done)" in out
    code, out, _ = cli("leaderboard", "--results", str(results))
    assert "| erm " in out and "| balanced-softmax " in out


def fill_spec(tmp_path: Path, **extra) -> Path:
    methods = [{"name": "ddpm-fill", "set": tiny_sets("ddpm-fill")}]
    return write_spec(tmp_path, methods=methods, datasets=["digits-lt"], seeds=[0], **extra)


def test_generator_and_synthesis_tasks_fill_the_set_and_the_run_only_trains(tmp_path):
    spec, results = fill_spec(tmp_path, shards_per_task=3), tmp_path / "results"
    args = ("sweep", str(spec), "--launcher", "debug", "--results", str(results))
    code, out, err = cli(*args)
    assert code == 0, (out, err)
    assert "submitted 1 generator, 2 synthesis, 1 classifier" in out  # 4 shards, 3 per task
    state = read_json(results / "sweeps" / "sweep" / "state.json")["units"]
    stages = sorted(u["stage"] for u in state.values())
    assert stages == ["classifier", "generator", "synthesis", "synthesis"]
    (store,) = (results / "cache" / "synthetic").glob("*/done")
    (run_dir,) = (results / "runs").glob("ddpm-fill-*")
    info = read_json(run_dir / "result.json")["info"]
    # the classifier task found its set complete: no generator loaded, no shard generated
    assert info["synthesis"] == {"key": store.parent.name, "generated_shards": 0, "cached": True}
    assert info["generator"]["loaded"] is False
    assert "fit-generator" not in read_json(run_dir / "result.json")["timings"]
    code, out, _ = cli(*args)
    assert code == 0 and "submitted nothing (left alone: 4 done)" in out


def test_a_failed_generator_fit_holds_back_what_waits_on_it_until_retried(tmp_path, monkeypatch):
    def broken(self, unit, env):
        raise RuntimeError("the generator fit broke")

    spec, results = fill_spec(tmp_path), tmp_path / "results"
    args = ("sweep", str(spec), "--launcher", "debug", "--results", str(results))
    with monkeypatch.context() as patch:
        patch.setattr(GeneratorKind, "execute", broken)
        code, out, _ = cli(*args)
        assert code == 1
        table = out.splitlines()
        assert any(line.split()[:4] == ["synthesis", "1", "0", "0"] for line in table), out
        assert "failed (rerun with --retry-failed" in out
        assert not (results / "cache" / "synthetic").exists()  # nothing ran after the failure
        assert not list((results / "runs").glob("*/config.json"))
        code, out, _ = cli(*args)  # a plain relaunch: the fit stays failed, the rest waits
        assert "left alone: 1 failed" in out and not (results / "cache" / "synthetic").exists()
    failure = read_json(next((results / "cache" / "generators").glob("*/failure.json")))
    assert "the generator fit broke" in failure["error"]
    code, out, err = cli(*args, "--retry-failed")
    assert code == 0 and "submitted 1 generator, 1 synthesis, 1 classifier" in out, (out, err)
    assert not list((results / "cache" / "generators").glob("*/failure.json"))


def test_a_failed_task_is_reported_and_retried_after_the_cause_is_removed(tmp_path):
    spec, results = tiny_spec(tmp_path, methods=["erm"]), tmp_path / "results"
    bad = resolve("erm", "digits-lt", 1, None, TINY_RECIPE)
    from bench.runs.runner import bind_data

    run_dir = results / "runs" / bind_data(bad).run_name  # named with its data's fingerprint
    run_dir.mkdir(parents=True)  # the cause: a config.json of another run in its directory
    (run_dir / "config.json").write_text(json.dumps(resolve("erm", "digits-lt", 0).to_json()))
    args = ("sweep", str(spec), "--launcher", "debug", "--results", str(results))
    code, out, _ = cli(*args)
    assert code == 1
    assert "failed (rerun with --retry-failed" in out and bad.run_name in out
    failure = read_json(run_dir / "failure.json")
    assert "holds a run of another config" in failure["error"] and failure["log"]
    code, out, _ = cli(*args, "--status")
    assert code == 0 and f"{bad.run_name}  job debug-classifier-1  log " in out
    code, out, _ = cli(*args)  # a plain relaunch leaves the failed unit alone
    assert "submitted nothing (left alone: 1 done, 1 failed)" in out
    (run_dir / "config.json").unlink()
    code, out, _ = cli(*args, "--retry-failed")
    assert code == 0 and "submitted 1 classifier" in out
    assert (run_dir / "done").exists() and not (run_dir / "failure.json").exists()


def test_local_launcher_runs_tasks_in_processes(tmp_path):
    spec, results = tiny_spec(tmp_path, methods=["erm"]), tmp_path / "results"
    args = ("sweep", str(spec), "--launcher", "local", "--concurrency", "2")
    code, out, err = cli(*args, "--results", str(results))
    assert code == 0, (out, err)
    assert len(list((results / "runs").glob("*/done"))) == 2
    logs = sorted((results / "sweeps" / "sweep" / "logs").glob("local-*.log"))
    assert len(logs) == 2 and all("done:" in p.read_text() for p in logs)


def test_dry_run_and_launcher_options(tmp_path):
    spec = tiny_spec(tmp_path)
    results = tmp_path / "r"
    code, out, _ = cli(
        "sweep", str(spec), "--launcher", "debug", "--dry-run", "--results", str(results)
    )
    assert code == 0 and "4 run(s), 0 dependency run(s)" in out
    assert "would submit 4 classifier" in out  # planned on the (embedded) data
    assert "cluster check: skipped (--launcher debug)" in out and not results.exists()
    code, _, err = cli("sweep", str(spec), "--launcher", "local", "--profile", "local")
    assert code == 2 and "apply to --launcher slurm only" in err


@pytest.mark.parametrize(
    ("state", "expected"),
    [
        ("PENDING", "pending"),
        ("REQUEUED", "pending"),
        ("UNKNOWN", "pending"),  # sacct has not seen a new job yet
        ("RUNNING", "running"),
        ("CANCELLED by 0", "cancelled"),
        ("FAILED", "failed"),
        ("TIMEOUT", "failed"),
        ("OUT_OF_MEMORY", "failed"),
        ("COMPLETED", "failed"),  # ended without the unit's done marker
    ],
)
def test_scheduler_states_of_units_not_done(state, expected):
    assert classify(state) == expected
