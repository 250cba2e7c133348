"""Cluster profiles: the SLURM resources of each stage, from `slurm/<name>.yaml` and --set.

    # slurm/<your-cluster>.yaml (slurm/gpu-a100.yaml and gpu-h100-multi.yaml are examples)
    node: {gpus: 4, cpus: 64, mem_gb: 512}   # what one node has: a stage asking for more fails
    default:                 # every stage
      partition: gpu
      account: my-lab
      timeout_min: 240
      array_parallelism: 64
    stages:                  # per stage, over `default`
      generator: {gpus_per_task: 1, cpus_per_task: 8, mem_gb: 64}
      evaluation: {partition: cpu, gpus_per_task: 0}

`node:` declares the cluster's nodes (every job of a sweep is one node): a stage whose request
per node (GPUs: gpus_per_task x tasks_per_node or the gres count; CPUs; memory) is more than a
node has is an error before anything is submitted, which SLURM would otherwise queue forever or
reject one array at a time. An undeclared field is not checked.

`--set slurm.KEY=VALUE` sets KEY for every stage, `--set slurm.STAGE.KEY=VALUE` for one. Every
key and value is checked like a run's settings (unknown keys get close matches), and strings
are restricted to characters SLURM names use, because submitit writes them into the batch
script as `#SBATCH` lines.
"""

from __future__ import annotations

import dataclasses
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import hparams
from bench.errors import ConfigError
from bench.hparams import hp
from bench.io import read_yaml
from bench.launch.units import STAGES
from bench.registry import unknown_name_message

SAFE = re.compile(r"^[A-Za-z0-9_.,:=+/@%-]+$")
# Stages that train a classifier: several tasks of one job are the ranks of one training.
DISTRIBUTED_STAGES = ("dependency", "classifier")
REPO_PROFILES = Path(__file__).resolve().parents[2] / "slurm"


@dataclass(frozen=True)
class StageResources:
    """What one stage's array asks SLURM for (None: the cluster's default)."""

    partition: str | None = hp(None, source="convention: the cluster's default partition")
    account: str | None = hp(None, source="convention: the user's default account")
    qos: str | None = hp(None, source="convention: the partition's default QOS")
    gres: str | None = hp(None, source="convention: none (e.g. gpu:a100:1); beats gpus_per_task")
    gpus_per_task: int = hp(0, low=0, source="convention: CPU only unless a profile asks")
    cpus_per_task: int = hp(1, low=1, source="convention: SLURM's default, one CPU per task")
    tasks_per_node: int = hp(
        1,
        low=1,
        source="convention: one process per job; more (classifier and dependency stages only) "
        "train one classifier with torch.distributed, a rank per task (docs/recipe.md)",
    )
    mem_gb: float = hp(4.0, gt=0, source="convention: enough for the embedded digits runs")
    timeout_min: int = hp(60, low=1, source="convention: one hour; requeued past it")
    array_parallelism: int = hp(
        64, low=1, source="convention: at most 64 tasks of one array at once (submitit default 256)"
    )
    signal_delay_s: int = hp(
        90, low=0, source="submitit default: USR2 this long before the time limit to checkpoint"
    )
    max_requeues: int = hp(
        3, low=0, source="submitit default max_num_timeout: requeues after a time-out"
    )
    constraint: str | None = hp(None, source="convention: no node features required")

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if isinstance(value, str) and not SAFE.match(value):
                raise ValueError(
                    f"{f.name}={value!r} has characters SLURM names never use; allowed: letters, "
                    "digits and _ . , : = + / @ % -"
                )

    def executor_parameters(self) -> dict[str, Any]:
        """The submitit AutoExecutor parameters for this stage."""
        out: dict[str, Any] = {
            "timeout_min": self.timeout_min,
            "mem_gb": self.mem_gb,
            "cpus_per_task": self.cpus_per_task,
            "tasks_per_node": self.tasks_per_node,
            "nodes": 1,
            "slurm_array_parallelism": self.array_parallelism,
            "slurm_signal_delay_s": self.signal_delay_s,
        }
        optional = {
            "slurm_partition": self.partition,
            "slurm_account": self.account,
            "slurm_qos": self.qos,
            "slurm_constraint": self.constraint,
        }
        if self.gres:
            optional["slurm_gres"] = self.gres
        elif self.gpus_per_task:
            optional["gpus_per_node"] = self.gpus_per_task * self.tasks_per_node
        out.update({k: v for k, v in optional.items() if v is not None})
        return out

    def sbatch_options(self) -> list[str]:
        """The same request as sbatch options (for `sbatch --test-only` before submitting)."""
        opts = [
            f"--time={self.timeout_min}",
            f"--mem={max(1, round(self.mem_gb * 1024))}M",
            f"--cpus-per-task={self.cpus_per_task}",
            f"--ntasks={self.tasks_per_node}",
        ]
        named = {"partition": self.partition, "account": self.account, "qos": self.qos}
        named["constraint"] = self.constraint
        opts += [f"--{k}={v}" for k, v in named.items() if v is not None]
        if self.gres:
            opts.append(f"--gres={self.gres}")
        elif self.gpus_per_task:
            opts.append(f"--gpus-per-node={self.gpus_per_task * self.tasks_per_node}")
        return opts

    def gpus_per_node(self) -> int:
        """GPUs one job asks for on its node: the gres count of its `gpu` entries, else a GPU
        per task (gpus_per_task x tasks_per_node)."""
        if not self.gres:
            return self.gpus_per_task * self.tasks_per_node
        total = 0
        for entry in self.gres.split(","):
            name, *rest = entry.split(":")
            if name == "gpu":
                total += int(rest[-1]) if rest and rest[-1].isdigit() else 1
        return total


@dataclass(frozen=True)
class Node:
    """What one node of the cluster has (None: not declared, not checked)."""

    gpus: int | None = hp(None, low=0, source="convention: not declared, not checked")
    cpus: int | None = hp(None, low=1, source="convention: not declared, not checked")
    mem_gb: float | None = hp(None, gt=0, source="convention: not declared, not checked")


@dataclass(frozen=True)
class Profile:
    name: str
    stages: dict[str, StageResources]
    node: Node = Node()


def find_profile(name: str) -> Path:
    """A profile by name (BENCH_SLURM_PROFILES, ./slurm, the repo's slurm/) or by path."""
    if name.endswith((".yaml", ".yml")) or os.sep in name:
        path = Path(name)
        if not path.is_file():
            raise ConfigError(f"SLURM profile {path} does not exist.")
        return path
    dirs = [Path(d) for d in os.environ.get("BENCH_SLURM_PROFILES", "").split(os.pathsep) if d]
    dirs += [Path("slurm"), REPO_PROFILES]
    for folder in dirs:
        if (folder / f"{name}.yaml").is_file():
            return folder / f"{name}.yaml"
    known = sorted({p.stem for d in dirs if d.is_dir() for p in d.glob("*.yaml")})
    raise ConfigError(
        unknown_name_message("SLURM profile", name, known)
        + f" Profiles are slurm/<name>.yaml files (looked in {', '.join(map(str, dirs))})."
    )


def load_profile(name: str, sets: list[str] | tuple[str, ...] = ()) -> Profile:
    """The profile's resources per stage, with `slurm.` --set overrides applied and checked."""
    path = find_profile(name)
    data = read_yaml(path, "SLURM profile")[0] or {}
    if not isinstance(data, dict) or set(data) - {"node", "default", "stages"}:
        raise ConfigError(
            f"SLURM profile {path}: expected the keys `node:`, `default:` and `stages:`."
        )
    node = hparams.build(Node, data.get("node") or {}, f"SLURM profile {path} (node)")
    per_stage = data.get("stages") or {}
    for stage in per_stage:
        check_stage(str(stage), f"SLURM profile {path}")
    layers = {s: {**(data.get("default") or {}), **(per_stage.get(s) or {})} for s in STAGES}
    for item in sets:
        stage, key, value = parse_slurm_set(item)
        for s in [stage] if stage else STAGES:
            layers[s][key] = value
    where = {s: f"SLURM profile {path} (stage {s}, after --set)" for s in STAGES}
    stages = {s: hparams.build(StageResources, layers[s], where[s]) for s in STAGES}
    for s, resources in stages.items():
        if resources.tasks_per_node > 1 and s not in DISTRIBUTED_STAGES:
            raise ConfigError(
                f"{where[s]}: tasks_per_node={resources.tasks_per_node}, but only the "
                f"{' and '.join(DISTRIBUTED_STAGES)} stages train with several processes; "
                f"set it per stage (slurm.classifier.tasks_per_node=N)."
            )
        check_fits(resources, node, where[s])
    return Profile(path.stem, stages, node)


def check_fits(resources: StageResources, node: Node, where: str) -> None:
    """A stage's request must fit on one node of the profile's `node:`."""
    asked = {
        "gpus": (resources.gpus_per_node(), "gpus_per_task x tasks_per_node (or gres)"),
        "cpus": (
            resources.cpus_per_task * resources.tasks_per_node,
            "cpus_per_task x tasks_per_node",
        ),
        "mem_gb": (resources.mem_gb, "mem_gb"),
    }
    for key, (value, how) in asked.items():
        has = getattr(node, key)
        if has is not None and value > has:
            raise ConfigError(
                f"{where}: asks for {value:g} {key.replace('_', ' ')} per node ({how}), but the "
                f"profile's node has {has:g} (node.{key}); nothing was submitted. Ask for at most "
                f"{has:g}, or correct node.{key} if the cluster's nodes have more."
            )


def parse_slurm_set(item: str) -> tuple[str | None, str, str]:
    """`slurm.KEY=VALUE` -> (None, KEY, VALUE); `slurm.STAGE.KEY=VALUE` -> (STAGE, KEY, VALUE)."""
    key, value = hparams.split_assignment(item) or ("", "")
    parts = key.split(".")
    if parts[0] != "slurm" or len(parts) not in (2, 3):
        raise ConfigError(
            f"--set {item!r}: SLURM settings are slurm.KEY=VALUE or slurm.STAGE.KEY=VALUE."
        )
    stage = parts[1] if len(parts) == 3 else None
    if stage:
        check_stage(stage, f"--set {item}")
    name = parts[-1]
    valid = list(hparams.specs(StageResources))
    if name not in valid:
        raise ConfigError(hparams.unknown_key_message(f"--set {key}", name, valid))
    return stage, name, value


def check_stage(stage: str, where: str) -> None:
    if stage not in STAGES:
        raise ConfigError(f"{where}: {unknown_name_message('stage', stage, list(STAGES))}")
