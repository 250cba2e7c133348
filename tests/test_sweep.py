"""bench sweep without a cluster: specs, the planner, profiles, the debug and local launchers."""

from __future__ import annotations

import json
import os
import sys
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
    sets = ["slurm.classifier.tasks_per_node=2", "slurm.gpus_per_task=1"]
    profile = load_profile("gpu-a100", sets)
    params = profile.stages["classifier"].executor_parameters()
    assert params["tasks_per_node"] == 2 and params["gpus_per_node"] == 2  # a GPU per rank
    assert {"--ntasks=2", "--gpus-per-node=2"} <= set(profile.stages["classifier"].sbatch_options())
    assert profile.stages["synthesis"].executor_parameters()["tasks_per_node"] == 1


def executor_parameters(common: dict, **stage) -> dict:
    base = {"nodes": 1, "slurm_signal_delay_s": 90, "tasks_per_node": 1, "gpus_per_node": 1}
    return {**base, **common, **stage}


A100 = {
    "slurm_partition": "gpu",
    "slurm_account": "my-lab",
    "slurm_constraint": "a100",
    "slurm_array_parallelism": 64,
    "cpus_per_task": 8,
}
H100 = {
    "slurm_partition": "gpu-h100",
    "slurm_account": "my-lab",
    "slurm_qos": "normal",
    "slurm_constraint": "h100",
    "slurm_array_parallelism": 32,
    "cpus_per_task": 12,
}
GPU_PROFILES = {
    "gpu-a100": {
        "dependency": executor_parameters(A100, timeout_min=720, mem_gb=64.0),
        "generator": executor_parameters(A100, timeout_min=720, mem_gb=96.0),
        "synthesis": executor_parameters(A100, timeout_min=180, mem_gb=48.0),
        "classifier": executor_parameters(A100, timeout_min=720, mem_gb=120.0, cpus_per_task=16),
        "evaluation": executor_parameters(A100, timeout_min=120, mem_gb=64.0),
    },
    "gpu-h100-multi": {
        "dependency": executor_parameters(
            H100, timeout_min=480, mem_gb=1000.0, tasks_per_node=8, gpus_per_node=8
        ),
        "generator": executor_parameters(H100, timeout_min=720, mem_gb=160.0),
        "synthesis": executor_parameters(H100, timeout_min=120, mem_gb=120.0),
        "classifier": executor_parameters(
            H100,
            timeout_min=720,
            mem_gb=1000.0,
            tasks_per_node=8,
            gpus_per_node=8,
            slurm_array_parallelism=4,
        ),
        "evaluation": executor_parameters(H100, timeout_min=120, mem_gb=120.0),
    },
}


@pytest.mark.parametrize("name", sorted(GPU_PROFILES))
def test_gpu_profiles_ask_submitit_for_exactly_their_resources(name):
    profile = load_profile(name)
    asked = {stage: r.executor_parameters() for stage, r in profile.stages.items()}
    assert asked == GPU_PROFILES[name]


def sbatch_lines(script: str) -> list[str]:
    return sorted({line for line in script.splitlines() if line.startswith("#SBATCH")})


def test_gpu_profile_batch_scripts(tmp_path, monkeypatch):
    """The #SBATCH lines submitit writes for a GPU profile's arrays: an 8-GPU classifier of 8
    ranks on one H100 node; an A100 synthesis array of two tasks, a GPU each."""
    sent = fake_slurm(tmp_path, monkeypatch)
    spec = tiny_spec(tmp_path, methods=["erm"], seeds=[0])
    results = tmp_path / "results"
    code, out, err = cli(
        "sweep", str(spec), "--profile", "gpu-h100-multi", "--results", str(results)
    )
    assert code == 0, (out, err)
    logs = results / "sweeps" / "sweep" / "logs"
    assert sbatch_lines((sent / "1.sh").read_text()) == [
        "#SBATCH --account=my-lab",
        "#SBATCH --constraint=h100",
        "#SBATCH --cpus-per-task=12",
        f"#SBATCH --error={logs}/%j_0_log.err",
        "#SBATCH --gpus-per-node=8",
        "#SBATCH --job-name=bench-classifier",
        "#SBATCH --kill-on-invalid-dep=yes",
        "#SBATCH --mem=1000GB",
        "#SBATCH --nodes=1",
        "#SBATCH --ntasks-per-node=8",
        "#SBATCH --open-mode=append",
        f"#SBATCH --output={logs}/%j_0_log.out",
        "#SBATCH --partition=gpu-h100",
        "#SBATCH --qos=normal",
        "#SBATCH --signal=USR2@90",
        "#SBATCH --time=720",
        "#SBATCH --wckey=submitit",
    ]
    fill = fill_spec(tmp_path, shards_per_task=3, name="fill")
    code, out, err = cli("sweep", str(fill), "--profile", "gpu-a100", "--results", str(results))
    assert code == 0 and "submitted 1 generator, 2 synthesis, 1 classifier" in out, (out, err)
    logs = results / "sweeps" / "fill" / "logs"
    assert sbatch_lines((sent / "3.sh").read_text()) == [
        "#SBATCH --account=my-lab",
        "#SBATCH --array=0-1%2",  # submitit: at most the array's size
        "#SBATCH --constraint=a100",
        "#SBATCH --cpus-per-task=8",
        "#SBATCH --dependency=afterok:2",
        f"#SBATCH --error={logs}/%A_%a_0_log.err",
        "#SBATCH --gpus-per-node=1",
        "#SBATCH --job-name=bench-synthesis",
        "#SBATCH --kill-on-invalid-dep=yes",
        "#SBATCH --mem=48GB",
        "#SBATCH --nodes=1",
        "#SBATCH --ntasks-per-node=1",
        "#SBATCH --open-mode=append",
        f"#SBATCH --output={logs}/%A_%a_0_log.out",
        "#SBATCH --partition=gpu",
        "#SBATCH --signal=USR2@90",
        "#SBATCH --time=180",
        "#SBATCH --wckey=submitit",
    ]


@pytest.mark.parametrize(
    ("name", "sets", "message"),
    [
        ("gpu-h100-multi", ["slurm.gpus_per_task=2"], "asks for 16 gpus per node .* has 8"),
        ("gpu-a100", ["slurm.synthesis.gres=gpu:a100:8"], "stage synthesis.*8 gpus per node"),
        ("gpu-a100", ["slurm.classifier.cpus_per_task=72"], "asks for 72 cpus per node .* has 64"),
        ("gpu-a100", ["slurm.mem_gb=512"], "asks for 512 mem gb per node .* has 480"),
        ("local", ["slurm.gpus_per_task=1"], "asks for 1 gpus per node .* has 0 .*node.gpus"),
    ],
)
def test_a_request_larger_than_the_profiles_node_is_refused(name, sets, message):
    with pytest.raises(ConfigError, match=message):
        load_profile(name, sets)


def test_more_gpus_than_a_node_has_submits_nothing(tmp_path, monkeypatch):
    sent = fake_slurm(tmp_path, monkeypatch)
    spec, results = tiny_spec(tmp_path), tmp_path / "results"
    args = ["sweep", str(spec), "--profile", "gpu-a100", "--results", str(results)]
    code, _, err = cli(*args, "--set", "slurm.classifier.gpus_per_task=8")
    assert code == 2 and "asks for 8 gpus per node" in err and "nothing was submitted" in err
    assert not list(sent.iterdir()) and not (results / "sweeps").exists()
    profile = tmp_path / "odd.yaml"
    profile.write_text("node: {gpu: 4}\n")
    code, _, err = cli(*args[:2], "--profile", str(profile), "--results", str(results))
    assert code == 2 and "Did you mean 'gpus'" in err


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


def fg_spec(tmp_path: Path) -> Path:
    methods = [{"name": "fg-entropy", "set": tiny_sets("fg-entropy")}]
    return write_spec(tmp_path, methods=methods, datasets=["digits-lt"], seeds=[0])


def fail_in_a_job(unit: Unit, results: Path, log: Path, monkeypatch) -> None:
    """Run `unit` as a SLURM job would, its work raising: the job's stderr is `log`."""
    from bench.launch import task as task_mod
    from bench.runs.records import code_version

    def broken(self, unit, env):
        print("loading the erm recipe", file=sys.stderr)
        raise RuntimeError("CUDA out of memory (planted)")

    class Job:  # what submitit.JobEnvironment() says inside a job
        job_id = "1"
        paths = type("Paths", (), {"stderr": log})()

    with monkeypatch.context() as patch, open(log, "a", encoding="utf-8") as stderr:
        patch.setattr(task_mod, "job_environment", lambda: Job)
        patch.setattr(units_mod.DependencyKind, "execute", broken)
        patch.setattr(sys, "stderr", stderr)
        with pytest.raises(RuntimeError, match="planted"):
            task_mod.UnitTask(unit, Env(results), code_version())()


def test_a_relaunch_after_a_failed_dependency_submits_nothing_doomed(tmp_path, monkeypatch):
    """FG's erm run fails (its generator fit finished), SLURM cancels the synthesis and the
    classifier waiting on it: a plain relaunch exits 1 naming the failure, its error and its
    log's end, and the --retry-failed command, and submits nothing (an `afterok` on the failed
    job would be cancelled at once); --retry-failed resubmits the erm run and the chain after it,
    each array waiting on the new jobs only."""
    import re

    sent = fake_slurm(tmp_path, monkeypatch)
    spec, results = fg_spec(tmp_path), tmp_path / "results"
    args = ["sweep", str(spec), "--results", str(results)]
    code, out, err = cli(*args)
    assert code == 0 and "submitted 1 dependency, 1 generator, 1 synthesis, 1 classifier" in out
    sweep = open_sweep(spec, "slurm", {}, (), Env(results))
    stage = {u.stage: u for u in sweep.plan.units.values()}
    log = tmp_path / "1_0_log.err"
    fail_in_a_job(stage["dependency"], results, log, monkeypatch)
    failure = read_json(
        units_mod.DependencyKind().workdir(stage["dependency"], Env(results)) / "failure.json"
    )
    assert failure["job_id"] == "1" and failure["log"] == str(log)
    assert failure["log_tail"][0] == "loading the erm recipe"
    assert failure["log_tail"][-1] == "RuntimeError: CUDA out of memory (planted)"
    fitted = results / "cache" / "generators" / stage["generator"].payload.key
    fitted.mkdir(parents=True)
    (fitted / "done").write_text("{}")
    (sent / "states").write_text("1|FAILED|n\n2|COMPLETED|n\n3|CANCELLED by 0|n\n4|CANCELLED|n\n")
    code, out, err = cli(*args)
    assert code == 1, (out, err)
    assert "submitted nothing (left alone: 1 done, 1 failed, 2 waiting on a failure)" in out
    assert not (sent / "5.sh").exists()  # nothing doomed was submitted
    assert f"  {stage['dependency'].key}  job 1  log " in out
    assert "    error: RuntimeError: CUDA out of memory (planted)" in out
    assert "    | RuntimeError: CUDA out of memory (planted)" in out  # the log's end
    assert "not submitted: 2 unit(s) wait on these failures" in out
    assert f"\n  bench sweep {spec} --results {results} --retry-failed\n" in out
    code, out, err = cli(*args, "--retry-failed")
    assert code == 0 and "submitted 1 dependency, 1 synthesis, 1 classifier" in out, (out, err)
    waits = [
        re.findall(r"#SBATCH --dependency=(\S+)", (sent / f"{n}.sh").read_text()) for n in (5, 6, 7)
    ]
    assert waits == [[], ["afterok:5"], ["afterok:5:6"]]  # the new jobs, never the failed one


def test_a_failed_job_without_an_error_record_shows_its_log(tmp_path, monkeypatch):
    """A job killed before it could write a failure record (out of memory): the report shows
    the end of the job's own log instead."""
    sent = fake_slurm(tmp_path, monkeypatch)
    spec, results = tiny_spec(tmp_path, methods=["erm"], seeds=[0]), tmp_path / "results"
    args = ["sweep", str(spec), "--results", str(results)]
    assert cli(*args)[0] == 0
    state = read_json(results / "sweeps" / "sweep" / "state.json")
    (job,) = [u["jobs"][-1] for u in state["units"].values()]
    Path(job["log"]).parent.mkdir(parents=True, exist_ok=True)
    Path(job["log"]).write_text("epoch 1/2\nslurmstepd: error: Detected 1 oom_kill event\n")
    (sent / "states").write_text("1|OUT_OF_MEMORY|n\n")
    code, out, _ = cli(*args)
    assert code == 1 and "no error record from this job" in out
    assert "    | slurmstepd: error: Detected 1 oom_kill event" in out


# Smoke ------------------------------------------------------------------------------------------


def test_smoke_shrinks_every_run_and_every_dependency_as_bench_run_smoke_does(tmp_path):
    spec = write_spec(tmp_path, methods=["erm", "fg-entropy"], datasets=["digits-lt"], seeds=[0])
    full = open_sweep(spec, "debug", {}, (), Env(tmp_path / "r"))
    sweep = open_sweep(spec, "debug", {"smoke": True}, (), Env(tmp_path / "r"))
    fg = resolve("fg-entropy", "digits-lt", 0, smoke=True)  # what `bench run --smoke` resolves
    units = {u.kind: u for u in sweep.plan.units.values()}
    assert units["run"].payload == fg
    assert units["dependency"].payload == fg.dependencies["classifier"]
    assert units["dependency"].payload == resolve("erm", "digits-lt", 0, smoke=True)
    for kind in ("generator", "synthesis"):  # fitted and drawn with the smoke run's settings
        assert units[kind].payload.config == fg
    configs = [getattr(u.payload, "config", u.payload) for u in sweep.plan.units.values()]
    assert len(configs) == 4 and all(c.smoke for c in configs)
    assert all(
        "-smoke-" in u.key for u in sweep.plan.units.values() if u.kind in ("run", "dependency")
    )
    # without --smoke the erm dependency runs its full recipe; with it, the tiny one
    (full_erm,) = [u.payload for u in full.plan.units.values() if u.kind == "dependency"]
    assert full_erm.recipe["epochs"] > units["dependency"].payload.recipe["epochs"] == 2
    assert set(full.plan.units).isdisjoint(sweep.plan.units)  # not one unit shared


def test_a_smoke_sweep_runs_and_is_recorded_as_smoke_runs(tmp_path):
    spec = write_spec(tmp_path, methods=["fg-entropy"], datasets=["digits-lt"], seeds=[0])
    results = tmp_path / "results"
    args = ("sweep", str(spec), "--launcher", "debug", "--smoke", "--results", str(results))
    code, out, err = cli(*args)
    assert code == 0, (out, err)
    assert "submitted 1 dependency, 1 generator, 1 synthesis, 1 classifier" in out
    runs = sorted((results / "runs").glob("*/done"))
    assert [p.parent.name.split("-smoke-")[0] for p in runs] == [
        "erm-digits-lt-s0",
        "fg-entropy-digits-lt-s0",
    ]
    assert all(read_json(p.parent / "config.json")["smoke"] is True for p in runs)
    code, out, _ = cli("leaderboard", "--results", str(results))
    assert "2 smoke run(s) left out" in out
    code, out, _ = cli("leaderboard", "--results", str(results), "--include-smoke")
    assert "| fg-entropy" in out and "[smoke]" in out


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
    retry = f"bench sweep {spec} --launcher debug --results {results} --retry-failed"
    with monkeypatch.context() as patch:
        patch.setattr(GeneratorKind, "execute", broken)
        code, out, _ = cli(*args)
        assert code == 1
        table = out.splitlines()
        assert any(line.split()[:4] == ["synthesis", "1", "0", "0"] for line in table), out
        assert "(rerun with --retry-failed once the cause is fixed)" in out
        assert f"to retry once the cause is fixed:\n  {retry}" in out
        assert not (results / "cache" / "synthetic").exists()  # nothing ran after the failure
        assert not list((results / "runs").glob("*/config.json"))
        code, out, _ = cli(*args)  # a plain relaunch: the fit stays failed, the rest waits
        assert code == 1 and "left alone: 1 failed, 2 waiting on a failure" in out, out
        assert "error: RuntimeError: the generator fit broke" in out and retry in out
        assert not (results / "cache" / "synthetic").exists()
    failure = read_json(next((results / "cache" / "generators").glob("*/failure.json")))
    assert "the generator fit broke" in failure["error"]
    # the log's end: the task wrote its traceback there before recording the failure
    assert "RuntimeError: the generator fit broke" in failure["log_tail"][-1]
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
    assert "(rerun with --retry-failed once the cause is fixed)" in out and bad.run_name in out
    failure = read_json(run_dir / "failure.json")
    assert "holds a run of another config" in failure["error"] and failure["log"]
    code, out, _ = cli(*args, "--status")
    assert code == 0 and f"{bad.run_name}  job debug-classifier-1  log " in out
    code, out, _ = cli(*args)  # a plain relaunch leaves the failed unit alone, and says so
    assert code == 1 and "submitted nothing (left alone: 1 done, 1 failed)" in out
    assert "holds a run of another config" in out and "--retry-failed" in out
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
