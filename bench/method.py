"""The narrow interface a method plugs into; the harness owns everything else.

A method is one file in methods/ plus one registry line. It declares:
- `Hparams`: a frozen dataclass of `hp(...)` fields, each default with its paper source; a
  method that synthesises derives it from `SynthesisHparams` and from its generator backend's
  `Settings` (declared once in bench/generators/, not copied field by field);
- `DATASET_DEFAULTS`: per-dataset paper values, {dataset: {name: (value, source)}}: a bare
  name is a method setting, `recipe.NAME` the classifier recipe's, `stage.STAGE.NAME` a later
  stage's, `dep.DEP.SECTION.NAME` a dependency run's (a paper's protocol on that dataset);
- `PAPER_DATASETS`: the datasets its paper used (elsewhere its defaults are borrowed);
- `RECIPE`: its training tweaks to the harness's classifier recipe, {name: (value, source)},
  including `then`, the names of its later training stages;
- `STAGES`: the settings of those later stages, {stage: {name: (value, source)}} (e.g. cRT's
  classifier re-training, Fill-Up's Stage II);
- `generator`: the backend it synthesises with (bench.generators.GENERATORS), or None;
- `DEPENDENCIES`: runs it needs first (e.g. FG's feedback classifier, an `erm` run on the same
  data), {name: Dependency}; the harness resolves, runs and loads them.
and may override the synthesis hooks: `prompt`, `conditioning` (real images per request) and
`sampling_hooks` (classifier-free guidance by default; FG adds x0 guidance). Budgets (the plan),
the generator fit, sharding, caching, resuming, classifier training and evaluation belong to the
harness, so methods stay comparable.

Method modules must not import torch at module level: `bench list` and config checks load them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

from bench.data import LoadedDataset
from bench.generators import SETTINGS
from bench.generators.base import CFG, SamplingHooks
from bench.hparams import build, hp, specs
from bench.methods import METHODS
from bench.synthesis.plans import parse_plan


@dataclass(frozen=True)
class NoHparams:
    """A method without hyperparameters of its own."""


@dataclass(frozen=True)
class SynthesisHparams:
    """Settings shared by methods that synthesise training images."""

    plan: str = hp(
        "fill:max",
        part="synthesis",
        source="fill every class up to the largest class count (FG App F.2; Fill-Up Sec 3.1)",
        help="fill:max | fill:N | add:N | cells:N | cells:max | ratio:R (bench/synthesis/plans.py)",
    )
    sampling_steps: int = hp(
        50, low=1, high=10_000, part="synthesis", source="DDIM 50 steps (Fill-Up Sec 3.1)"
    )
    guidance_scale: float = hp(
        1.0,
        low=0.0,
        high=100.0,
        part="synthesis",
        source="low guidance 1.0 (Fill-Up Sec 4.4)",
        help="classifier-free guidance w: eps_u + w (eps_c - eps_u); 1 = conditional only",
    )
    sample_batch_size: int = hp(
        64,
        low=1,
        high=4096,
        part="synthesis",
        source="harness: requests sampled per batch (each from its own seed)",
    )

    def __post_init__(self) -> None:
        parse_plan(self.plan)
        parent = getattr(super(), "__post_init__", None)
        if parent is not None:  # a backend's settings mixed in after this class check theirs
            parent()


@dataclass(frozen=True)
class Dependency:
    """Another run a method needs first: its method, its settings, what the method receives."""

    method: str
    source: str
    sets: tuple[str, ...] = ()  # --set items of the dependency run (beyond its defaults)


@dataclass
class MethodContext:
    """What the harness hands a method: the data, where it runs, how it is seeded, and the
    loaded results of its dependencies (name -> bench.runs.models.LoadedClassifier)."""

    data: LoadedDataset
    seed: int
    device: str
    progress: bool = True
    dependencies: dict[str, Any] = field(default_factory=dict)


class Method:
    """Base class. Subclasses override the class attributes and the hooks they need."""

    Hparams: ClassVar[type] = NoHparams
    DATASET_DEFAULTS: ClassVar[dict[str, dict[str, tuple[Any, str]]]] = {}
    RECIPE: ClassVar[dict[str, tuple[Any, str]]] = {}
    DEPENDENCIES: ClassVar[dict[str, Dependency]] = {}
    STAGES: ClassVar[dict[str, dict[str, tuple[Any, str]]]] = {}
    VERSION: ClassVar[int] = 1
    paper: ClassVar[str] = ""
    # The datasets the method's paper ran it on (its protocol there is DATASET_DEFAULTS'); on
    # any other dataset its defaults are borrowed, and `bench run --dry-run` says so.
    PAPER_DATASETS: ClassVar[tuple[str, ...]] = ()
    generator: ClassVar[str | None] = None
    # The smallest settings that still exercise every code path (registry tests, --smoke).
    TINY: ClassVar[dict[str, Any]] = {}

    def __init__(self, hparams: Any, context: MethodContext):
        self.hparams = hparams
        self.context = context

    @classmethod
    def uses_synthetic_data(cls) -> bool:
        return cls.generator is not None

    # Synthesis hooks ---------------------------------------------------------------------

    def generator_settings(self, settings_cls: type) -> Any:
        """The backend's settings object, taken from this method's hparams."""

        names = specs(settings_cls)
        values = {k: getattr(self.hparams, k) for k in names if hasattr(self.hparams, k)}
        return build(settings_cls, values, f"{self.generator} generator")

    def prompt(self) -> str | None:
        """The prompt template of every request ({class_name}, {context}, ...), or None."""
        return getattr(self.hparams, "prompt", None)

    def conditioning(self) -> int:
        """Real training images each request is conditioned on (0: none)."""
        return 0

    def modifiers(self) -> dict[int, list[str]] | None:
        """Per class, the words the prompt's {modifier} takes (used evenly), or None."""
        return None

    def sampling_hooks(self, generator: Any) -> Any:
        """How sampling is steered: classifier-free guidance at `guidance_scale` by default."""

        return SamplingHooks(noise=CFG(getattr(self.hparams, "guidance_scale", 1.0)))

    @property
    def generator_seed(self) -> int:
        """The seed the generator is fitted with (see `generator_seed_of`)."""
        return generator_seed_of(vars_of(self.hparams), self.context.seed)


def generator_seed_of(hparams: dict[str, Any], run_seed: int) -> int:
    """A method's `generator_seed` setting, or the run's seed where it has none (or it is None).

    Papers fix their (pretrained) generator across seeds and vary synthesis and the classifier;
    methods that fit their own generator offer `generator_seed` to do the same.
    """
    value = hparams.get("generator_seed")
    return run_seed if value is None else int(value)


def vars_of(hparams: Any) -> dict[str, Any]:
    return dict(vars(hparams)) if hasattr(hparams, "__dict__") else {}


def other_backends_settings(method: str, hparams: dict[str, Any]) -> set[str]:
    """The settings of a method's `hparams` that belong only to generator backends other than
    the one it uses (a method that can run on several backends declares all their settings);
    `bench run --dry-run` and the protocol table leave them out."""

    active = hparams.get("generator") or METHODS[method].generator
    if active is None:
        return set()
    keep = set(specs(SETTINGS[active])) | set(specs(SynthesisHparams))
    others = {n for name in SETTINGS if name != active for n in specs(SETTINGS[name])}
    return (others - keep) & set(hparams)
