"""synaug: SYNAuG (Ye-Bin et al.), uniformise with synthetic data, domain Mixup, last layer.

Alg. 1: (1) uniformise the class distribution with Stable Diffusion images: prompts
"a photo of {modifier} {class}" with 20 modifiers per class (SYNAuG Sec 3; the paper's came from
ChatGPT and are unpublished: ours ship in methods/synaug_modifiers.yaml, editable, or
`modifiers_file`), ImageNet100-LT filled to 500 per class (classes above get none); (2) train
encoder + classifier with Mixup across real and synthetic images (`mix_pairs=real-synthetic`);
(3) fine-tune the last layer on uniformly subsampled real data (stage `ft`; the weaker
re-training variant is `stage.ft.reset_head=true`).

Ablation switches (SYNAuG Tables 2-3) are recipe settings: no Mixup =
`recipe.batch_aug=none recipe.mix_pairs=batch`, no fine-tuning = `stage.ft.epochs=0`.
Fairness-aware uniformisation (UTKFace, Table 3d) fills
every (class, sensitive attribute) cell, `plan=cells:max`, with "Portrait face photo of {race}
{gender}, {age} year old" (ages: those of the cell's class in the real data, used evenly; ours);
SYNAuG* is the class-only `plan=fill:max`. Waterbirds fills its (bird, place) groups and the last
stage is DFR (a group-balanced subsample; `stage.ft.reset_head=true` for DFR's re-training).

The last stage subsamples the real data group-balanced with `groups=auto`: on datasets without
attributes the groups are the classes (SYNAuG's uniform subsample); on datasets with them every
(class, attribute) cell keeps as many images as the smallest (so classes are balanced too).
On digits-lt / colored-digits the generator is the harness's class-conditional `ddpm` (no
prompts): what differs is in docs/synaug.md. Fairness-aware uniformisation on colored-digits
(colour = the sensitive attribute) is `plan=cells:max condition=cell`: the ddpm conditioned on
the (class, attribute) cell; a cells: plan with the class-conditional ddpm is refused.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bench.datasets import EMBEDDED as EMBEDDED_DATASETS
from bench.errors import ConfigError
from bench.generators import capabilities
from bench.generators.ddpm_settings import DDPMSettings
from bench.generators.sd import SDSettings
from bench.hparams import hp
from bench.method import Method, SynthesisHparams
from bench.methods.augcond import TINY_PIPELINE
from bench.methods.fillup import TINY_DDPM
from bench.synthesis.plans import load_class_lists, per_class_lists

SYNAUG = "SYNAuG (Ye-Bin et al.)"
ALG1 = f"{SYNAUG} Alg. 1"
SHIPPED = Path(__file__).with_name("synaug_modifiers.yaml")
EMBEDDED = (
    "ours: no offline text-to-image model for the embedded digits: the harness's class-"
    "conditional ddpm (docs/synaug.md)"
)
UTK_PROMPT = "Portrait face photo of {attribute} {class_name}, {modifier} year old"


@dataclass(frozen=True)
class Hparams(SynthesisHparams, DDPMSettings, SDSettings):
    generator: str = hp(
        "sd",
        choices=("sd", "ddpm"),
        part="generator",
        source=f"{SYNAUG} Sec 3: Stable Diffusion (version not stated; the sd default model)",
        help="sd (Stable Diffusion, local weights) | ddpm (the embedded benchmarks)",
    )
    prompt: str = hp(
        "a photo of {modifier} {class_name}",
        part="synthesis",
        source=f"{SYNAUG} Sec 3: 'a photo of {{modifier}} {{class}}'",
    )
    modifiers_file: str | None = hp(
        None,
        part="synthesis",
        source="ours: SYNAuG's ChatGPT modifiers are unpublished; the shipped "
        "methods/synaug_modifiers.yaml (20 per class)",
        help="a YAML file {class name: [modifiers]}, '*' for every other class",
    )
    plan: str = hp(
        "fill:max",
        part="synthesis",
        source=f"{ALG1} step 1: uniformise the class distribution (to the largest class)",
        help="fill:max | fill:N (ImageNet100-LT: fill:500) | cells:max (fairness-aware) | ...",
    )
    guidance_scale: float = hp(
        7.5,
        low=0.0,
        high=100.0,
        part="synthesis",
        source=f"ours: {SYNAUG} states no guidance scale; Stable Diffusion's default 7.5",
    )
    sampling_steps: int = hp(
        50,
        low=1,
        high=10_000,
        part="synthesis",
        source=f"{SYNAUG} Fig. 4: 50 steps, the middle of its {{3, 10, 50, 100, 300}} ablation "
        "(the main tables' value is not stated)",
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.modifiers_file is not None and not Path(self.modifiers_file).is_file():
            raise ConfigError(f"modifiers_file={self.modifiers_file}: no such file.")


class SYNAuG(Method):
    """Uniformise with synthetic data, Mixup real with synthetic, fine-tune the last layer."""

    Hparams = Hparams
    paper = f"{ALG1} (uniformisation, domain Mixup, last-layer fine-tuning)"
    generator = "sd"  # the default; each instance uses its `generator` setting
    RECIPE = {
        "loss": ("ce", f"{ALG1}: cross-entropy with Mixup (no re-weighting)"),
        "batch_aug": ("mixup", f"{ALG1} step 2: Mixup"),
        "mix_pairs": (
            "real-synthetic",
            f"{SYNAUG} Sec 3: Mixup across the real and synthetic domains",
        ),
        "mix_alpha": (1.0, f"ours: {SYNAUG} states no alpha; Zhang et al. 2018's alpha = 1"),
        "groups": ("auto", "SubpopBench: without attributes the groups are the classes"),
        "then": (("ft",), f"{ALG1} step 3: last-layer fine-tuning"),
    }
    STAGES = {
        "ft": {
            "trains": ("head", f"{ALG1} step 3: only the last layer"),
            "reset_head": (False, f"{SYNAUG} Sec 3: fine-tuning (re-training is weaker)"),
            "data": (
                "group-balanced-subsample",
                f"{ALG1} step 3: uniformly subsampled real data (groups = classes without "
                "attributes; Waterbirds: DFR's group-balanced subsample, SYNAuG Sec 4.1)",
            ),
            "sampler": ("instance", "the subsample is already uniform"),
            "epochs": (10, "ours: SYNAuG states none; cRT's 10 epochs (Kang et al. 2020)"),
        }
    }
    DATASET_DEFAULTS = {
        **{d: {"generator": ("ddpm", EMBEDDED)} for d in EMBEDDED_DATASETS},
        "imagenet100-lt": {
            "plan": ("fill:500", f"{SYNAUG} Sec 3: 500 samples per class"),
            "prompt": (
                "a photo of {class_name}",
                f"{SYNAUG} Sec 3: 'a photo of {{class}}, ...' on ImageNet100-LT (the words after "
                "the comma are not given)",
            ),
            "resolution": (256, f"{SYNAUG} Sec 3: 256 x 256 on ImageNet100-LT"),
        },
        "utkface": {
            "plan": ("cells:max", f"{SYNAUG} Sec 3: equalise gender within each race"),
            "prompt": (
                UTK_PROMPT,
                f"{SYNAUG} Sec 3: 'Portrait face photo of {{race}} {{gender}}, {{age}} year old'",
            ),
        },
        "waterbirds": {
            "plan": ("cells:max", f"{SYNAUG} Sec 3: birds in both places ('water bird in land')"),
            "prompt": ("The photo of {class_name} in {attribute}", f"{SYNAUG} Sec 3"),
        },
    }
    TINY = {**TINY_DDPM, **TINY_PIPELINE}
    PAPER_DATASETS = ("cifar100-lt", "imagenet100-lt", "utkface", "waterbirds")

    def __init__(self, hparams: Any, context: Any):
        super().__init__(hparams, context)
        self.generator = hparams.generator

    def prompt(self) -> str | None:
        return self.hparams.prompt if capabilities(self.generator).prompts else None

    def modifiers(self) -> dict[int, list[str]] | None:
        prompt = self.prompt()
        if prompt is None or "{modifier}" not in prompt:
            return None
        data = self.context.data
        if "year old" in prompt and "age" in (
            getattr(data.train, "extra", None) or {}
        ):  # UTKFace: the class's real ages
            return class_ages(data)
        path = Path(self.hparams.modifiers_file) if self.hparams.modifiers_file else SHIPPED
        return per_class_lists(load_class_lists(path), data.class_names, path)


def class_ages(data: Any) -> dict[int, list[str]]:
    """UTKFace: per class, the ages of its real training images, each once, in order."""
    ages = np.asarray(data.train.extra["age"])
    targets = np.asarray(data.train.targets)
    every = [str(int(a)) for a in np.unique(ages)]
    return {
        c: [str(int(a)) for a in np.unique(ages[targets == c])] or every
        for c in range(data.num_classes)
    }
