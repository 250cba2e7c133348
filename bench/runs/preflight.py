"""Before any work: every pretrained artefact a run (and each run it depends on) will load.

What a run needs is read from its resolved `RunConfig`, never from a per-method list: the
generator backend its method synthesises with and that backend's settings (`model_id`,
`revision`, `model_dir`: `Generator.weights_needed`), the recipe's `backbone` + `pretrained`
(`bench.train.backbones.pretrained_requirement`), and the same for every dependency, recursively
(FG's `erm` feedback classifier). Later training stages reuse the first stage's backbone, so they
add nothing. `preflight` checks them all on disk (bench.weights.check: no network, no weights
read) and fails with the whole list and how to stage each, before the data loads, before any
generator fits, with nothing written.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from bench import weights
from bench.errors import BenchError
from bench.generators import GENERATORS, capabilities
from bench.hparams import specs
from bench.methods import METHODS
from bench.runs.config import RunConfig
from bench.train.pretrained import pretrained_requirement


class WeightsMissing(BenchError):
    """Pretrained artefacts a run needs are not on this machine (or not the expected ones)."""

    def __init__(self, message: str, statuses: list[weights.Status]):
        super().__init__(message)
        self.statuses = statuses


@dataclass(frozen=True)
class Needed:
    """One artefact a run loads: what it is, which run loads it as what, and the --set items
    that point it elsewhere or do without it."""

    requirement: weights.Requirement
    role: str  # "the generator (unclip)", "the classifier backbone resnet152"
    run: str  # "fg-entropy on places-lt", "its dependency 'classifier' (erm)"
    instead: tuple[str, ...]  # --set alternatives (prefixed for a dependency)


def needed_weights(config: RunConfig, dependencies: bool = True) -> list[Needed]:
    """Every pretrained artefact `config` loads, its dependencies' included."""
    return list(walk(config, "", f"{config.method} on {config.dataset}", dependencies))


def walk(config: RunConfig, prefix: str, run: str, dependencies: bool) -> Iterable[Needed]:
    yield from generator_needs(config, prefix, run)
    yield from backbone_needs(config, prefix, run)
    if not dependencies:
        return
    for name, dep in config.dependencies.items():
        label = f"{run}'s dependency {name!r} ({dep.method})"
        yield from walk(dep, f"{prefix}dep.{name}.", label, dependencies)


def generator_of(config: RunConfig) -> tuple[Any, Any] | None:
    """(backend class, its settings) of the run's synthesis, as the runner builds them, or None
    where the method synthesises nothing."""

    method = METHODS[config.method](config.method_settings, None)  # no data: settings only
    if not method.generator:
        return None
    backend = GENERATORS[method.generator]
    return backend, method.generator_settings(backend.Settings)


def generator_needs(config: RunConfig, prefix: str, run: str) -> list[Needed]:
    found = generator_of(config)
    if found is None:
        return []
    backend, settings = found
    instead = [f"{prefix}method.model_dir=FOLDER (a save_pretrained folder)"]
    embedded = [c for c in generator_choices(config) if not capabilities(str(c)).pretrained]
    if embedded and backend.capabilities.pretrained:
        instead.append(
            f"{prefix}method.generator={embedded[0]} (the embedded generator, trained here)"
        )
    role = f"the generator ({backend.name})"
    return [Needed(r, role, run, tuple(instead)) for r in backend.weights_needed(settings)]


def generator_choices(config: RunConfig) -> tuple[Any, ...]:
    spec = specs(type(config.method_settings)).get("generator")
    return tuple(spec.choices or ()) if spec is not None else ()


def backbone_needs(config: RunConfig, prefix: str, run: str) -> list[Needed]:
    recipe = config.recipe_settings
    req = pretrained_requirement(recipe.backbone, recipe.pretrained)
    if req is None:
        return []
    role = f"the classifier backbone {recipe.backbone} (recipe.pretrained={recipe.pretrained})"
    instead = (
        f"{prefix}recipe.pretrained=PATH (a local state_dict)",
        f"{prefix}recipe.pretrained=none",
    )
    return [Needed(req, role, run, instead)]


def check_weights(
    configs: Iterable[RunConfig], dependencies: bool = True
) -> list[tuple[weights.Status, list[Needed]]]:
    """Each distinct artefact the runs need, checked, with who needs it."""
    grouped: dict[tuple[Any, ...], list[Needed]] = {}
    for config in configs:
        for need in needed_weights(config, dependencies):
            users = grouped.setdefault(need.requirement.key, [])
            if need not in users:
                users.append(need)
    return [(weights.check(users[0].requirement), users) for users in grouped.values()]


def preflight(configs: Iterable[RunConfig], dependencies: bool = True) -> None:
    """Refuse runs whose pretrained artefacts are not all here, listing every one at once."""
    bad = [(s, users) for s, users in check_weights(configs, dependencies) if not s.ok]
    if not bad:
        return
    lines = [
        f"{len(bad)} pretrained artefact(s) the run needs are not usable on this machine "
        "(checked before any work; nothing was loaded or written):"
    ]
    for status, users in bad:
        lines += describe_problem(status, users)
    names = sorted({s.requirement.artefact.name for s, _ in bad if s.requirement.artefact})
    if names:
        lines.append(
            "On a machine with network, `bench weights download " + " ".join(names) + "` fetches "
            f"the manifest's files into its Hugging Face cache ({weights.hf_hub_cache()} here) "
            "and torch hub cache; copy them here, or set HF_HUB_CACHE / TORCH_HOME to a shared "
            "copy. `bench weights check` lists what this machine has."
        )
    raise WeightsMissing("\n".join(lines), [s for s, _ in bad])


def describe_problem(status: weights.Status, users: list[Needed]) -> list[str]:
    req = status.requirement
    name = f" ({req.artefact.name})" if req.artefact else ""
    out = [f"  - {req.what}{name} [{req.source}]: {status.state}"]
    if status.detail:
        out.append(f"      {status.detail}")
    for need in users:
        out.append(f"      needed as {need.role} of {need.run}")
    instead = [item for need in users for item in need.instead]
    if instead:
        out.append("      or instead: --set " + "; --set ".join(dict.fromkeys(instead)))
    return out
