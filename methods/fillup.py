"""fill-up and fillup-template: Fill-Up (Shin et al. 2023), long-tailed data filled up with
Stable Diffusion images, then two-stage training.

`fill-up` (Sec 3.1, App B.3): one textual-inversion token per class, 4 x 768 rows initialised
from "object", learned on the class's real images (LR 5e-3, batch 2, min(max(100 n, 2000), 10000)
steps, a checkpoint every 100 steps; the `sd-ti` backend, bench/generators/inversion.py); every
class is filled up to 1,300 or 2,600 images (`plan=fill:1300|fill:2600`) with "a photo of a *",
DDIM 50 steps, guidance 1.0, the checkpoints used evenly. `fillup-template` is the paper's
"single template" baseline: "a photo of a {CLS}" on plain Stable Diffusion, no inversion.

Classifier (Sec 3.2, App B.4): Stage I trains the whole model on the filled set with Balanced
Softmax counting only the real images, plus RandAugment; Stage II (`ft`) fine-tunes the whole
model on the real data only (LR 1e-3, x0.1 every 10 epochs, 5 warm-up epochs, 30 epochs), still
with Balanced Softmax. Stage I's optimiser is the dataset's protocol (Fill-Up's ImageNet one,
100 epochs / batch 256 / LR 0.1 x0.1 every 30, is a config in docs/fillup.md).

The embedded benchmarks (digits-lt, colored-digits) have no offline text-to-image model to
invert: there `fill-up` inverts the harness's class-conditional DDPM instead (`ddpm-ti`,
bench/generators/ddpm_inversion.py: one learned vector per class in the label-table space, the
model frozen, the checkpoints used evenly) and `fillup-template` samples the same DDPM with the
class's own label row (the "class name"). Both take the `ddpm` backend's settings, so
`pretrained_generator=printed-digits` gives both the pretrained printed-digits model (issue 14;
docs/fillup.md, docs/printed-digits.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import weights
from bench.datasets import EMBEDDED as EMBEDDED_DATASETS
from bench.errors import ConfigError
from bench.generators import capabilities
from bench.generators.ddpm_settings import DDPMInversionSettings, DDPMSettings
from bench.generators.inversion import InversionSettings
from bench.generators.sd import SDSettings
from bench.hparams import hp
from bench.io import clip
from bench.method import Method, SynthesisHparams
from bench.methods.augcond import TINY_PIPELINE
from bench.synthesis.plans import PromptTemplate, load_class_lists, per_class_lists

PAPER = "Fill-Up (Shin et al. 2023)"
B4 = "Fill-Up App B.4"
EMBEDDED = (
    "ours: no offline text-to-image model for the embedded digits: the harness's class-"
    "conditional ddpm, sampled with each class's label row (the class name; docs/fillup.md)"
)
EMBEDDED_TI = (
    "ours: no offline text-to-image model for the embedded digits: Fill-Up's textual inversion "
    "on the harness's class-conditional ddpm, a learned vector per class in place of its label "
    "row (bench/generators/ddpm_inversion.py; docs/fillup.md)"
)
PLAN = {
    "part": "synthesis",
    "source": "Fill-Up Sec 4.2 'balanced Fill-Up': every class up to the largest (ImageNet: "
    "1,300 or 2,600, dataset defaults)",
    "help": "fill:max | fill:N (Fill-Up: fill:1300 or fill:2600) | ...",
}
# SD 1.5's weights (the manifest's entry); its first repository (runwayml/stable-diffusion-v1-5)
# was taken down.
SD15 = weights.repo_of("sd-1.5")
CLIP_TEMPLATES = Path(__file__).with_name("fillup_clip_templates.yaml")
MODEL = {
    "part": "generator",
    "source": "Fill-Up Sec 2.1: Stable Diffusion v1.5 unless stated (4 x 768 tokens: SD 1.x's "
    "CLIP width)",
}
TINY_DDPM = {
    "unet_channels": (8, 16),
    "train_steps": 3,
    "batch_size": 8,
    "sampling_steps": 2,
    "num_train_timesteps": 10,
    "pretrain_per_class": 1,  # a 10-image printed corpus (pretrained_generator=printed-digits)
    "encoder_steps": 2,
}
STAGE_II = {
    "trains": (
        "all",
        "Fill-Up Sec 3.2: the whole model is fine-tuned (beats cRT's classifier only)",
    ),
    "reset_head": (False, B4 + ": continue from the last Stage I checkpoint"),
    "data": ("real", B4 + ": only real data"),
    "sampler": ("instance", "Fill-Up Sec 3.2: no re-sampling or re-weighting"),
    "loss": ("balanced-softmax", "Fill-Up Sec 3.2: Balanced Softmax in both stages"),
    "prior": ("real", "Fill-Up Sec 3.2: only real samples are counted in n_i"),
    "lr": (1e-3, B4 + ": initial LR 1e-3"),
    "schedule": ("step", B4 + ": decayed by 0.1"),
    "step_epochs": (10, B4 + ": every ten epochs"),
    "step_gamma": (0.1, B4 + ": by a factor of 0.1"),
    "warmup_epochs": (5, B4 + ": five warm-up epochs"),
    "epochs": (30, B4 + ": 30 epochs"),
    "randaugment": (True, "Fill-Up Sec 4.2: 'With RandAugment, our models are trained ...'"),
}
# Fill-Up App B.4 "For all Stage I training ... the standard ResNet50 training protocol for
# ImageNet" (Sec 4.2: ResNet50 for all experiments; Places-LT from a pretrained ResNet152).
STAGE_I = {
    "recipe.backbone": ("resnet50", "Fill-Up Sec 4.2: ResNet50 for all experiments"),
    "recipe.pretrained": (None, B4 + ": the standard ResNet50 ImageNet protocol, from scratch"),
    "recipe.epochs": (100, B4 + ": 100 epochs"),
    "recipe.batch_size": (256, B4 + ": batch size 256"),
    "recipe.lr": (0.1, B4 + ": initial learning rate 0.1"),
    "recipe.schedule": ("step", B4 + ": decayed by 0.1 every 30 epochs"),
    "recipe.step_epochs": (30, B4 + ": every 30 epochs"),
    "recipe.step_gamma": (0.1, B4 + ": by a factor of 0.1"),
    "recipe.warmup_epochs": (0, B4 + ": no warm-up in Stage I"),
    "recipe.augment": ("standard", B4 + ": random 224 crop, horizontal flip, colour jitter"),
}
PLACES_STAGE_I = {
    **{k: v for k, v in STAGE_I.items() if k not in ("recipe.backbone", "recipe.pretrained")},
    "recipe.backbone": ("resnet152", "Fill-Up Sec 4.2: Places-LT from a pretrained ResNet152"),
    "recipe.pretrained": ("hf-cache", "Fill-Up Sec 4.2: ImageNet-pretrained (conventional)"),
}
INAT = "Fill-Up Sec 4.2 / App B.4: iNaturalist2018"
INAT_STAGES = {
    **STAGE_I,
    "recipe.batch_size": (2048, INAT + ": batch size 2,048 'to accelerate training'"),
    "stage.ft.epochs": (400, INAT + ": PaCo-style Stage II of 400 epochs"),
    "stage.ft.lr": (0.01, INAT + ": initial learning rate 0.01"),
    "stage.ft.schedule": ("cosine", INAT + ": decayed by the cosine schedule"),
}
RECIPE = {
    "loss": ("balanced-softmax", "Fill-Up Sec 3.2: Balanced Softmax (following Park et al.)"),
    "prior": ("real", "Fill-Up Sec 3.2: only real samples are counted in n_i"),
    "sampler": ("instance", "Fill-Up Sec 3.2: no re-sampling (the filled set is balanced)"),
    "randaugment": (True, "Fill-Up Sec 4.2 / Table 5 '+ RandAug'"),
    "then": (("ft",), "Fill-Up Sec 3.2: Stage II fine-tunes on real data"),
}
PROTOCOLS = {
    "imagenet-lt": {
        "plan": ("fill:2600", "Fill-Up Sec 4.3 / Table 5: 2,600 per class is best"),
        **STAGE_I,
    },
    "places-lt": PLACES_STAGE_I,
    "inat2018": INAT_STAGES,
    "imagenet100-lt": {
        "plan": ("fill:1300", "Fill-Up Sec 3.1: 1,300 images per class on IN100"),
        **STAGE_I,
    },
}


@dataclass(frozen=True)
class FillUpHparams(SynthesisHparams, DDPMInversionSettings, InversionSettings):
    generator: str = hp(
        "sd-ti",
        choices=("sd-ti", "ddpm-ti"),
        part="generator",
        source="Fill-Up Sec 3.1: textual inversion on Stable Diffusion (local weights)",
        help="sd-ti (Stable Diffusion + a learned token per class) | ddpm-ti (the harness's "
        "class-conditional DDPM + a learned class vector per class; the embedded benchmarks)",
    )
    prompt: str = hp(
        "a photo of a *",
        part="synthesis",
        source="Fill-Up Sec 3.1: 'a photo of a *' (* = the class's learned token)",
    )
    plan: str = hp("fill:max", **PLAN)
    model_id: str = hp(SD15, **MODEL)

    def __post_init__(self) -> None:
        super().__post_init__()
        caps = capabilities(self.generator)
        if caps.inversion and caps.prompts and "*" not in self.prompt:
            raise ConfigError(
                f"prompt={self.prompt!r} has no * for the learned class token; Fill-Up samples "
                "'a photo of a *' (the single-template baseline is the fillup-template method)."
            )


@dataclass(frozen=True)
class TemplateHparams(SynthesisHparams, DDPMSettings, SDSettings):
    generator: str = hp(
        "sd",
        choices=("sd", "ddpm"),
        part="generator",
        source="Fill-Up Sec 3.1 'single template': plain Stable Diffusion",
        help="sd (Stable Diffusion, local weights) | ddpm (the embedded benchmarks)",
    )
    prompt: str = hp(
        "a photo of a {class_name}",
        part="synthesis",
        source="Fill-Up Sec 3.1: the single template 'a photo of a {CLS}'",
    )
    prompts: str = hp(
        "single",
        path=True,
        part="synthesis",
        keyless_default=True,
        source="Fill-Up Sec 3.1: the single template (Table 1's prompt-to-image baseline)",
        help="single (the `prompt` template) | clip-templates (Fill-Up Fig. A9's 80 CLIP "
        "templates, used evenly) | PATH of a YAML file {class name: [prompts]} ('*' for every "
        "other class; a prompt may name {class_name}), used evenly: prompts made outside bench "
        "by T5, Flan-T5 XXL, Prompt-Extend or BLIP-2 captions (Fill-Up Table 1, App B.1-B.3)",
    )
    plan: str = hp("fill:max", **PLAN)
    model_id: str = hp(SD15, **MODEL)

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.prompts == "single":
            return
        if not capabilities(self.generator).prompts:
            raise ConfigError(
                f"prompts={self.prompts!r}: the {self.generator} generator has no text encoder "
                "(it is conditioned on the class); prompt lists need generator=sd."
            )
        if self.prompts != "clip-templates" and not Path(self.prompts).is_file():
            raise ConfigError(
                f"prompts={self.prompts!r} is neither 'single', 'clip-templates' nor a file. "
                "Give a YAML file {class name: [prompts]} ('*' for every other class)."
            )


class FillUp(Method):
    """Textual inversion per class on Stable Diffusion, fill up, Stage I + Stage II."""

    Hparams = FillUpHparams
    paper = f"{PAPER} Sec 3 / App B (textual inversion, two-stage training)"
    generator = "sd-ti"  # the default; each instance uses its `generator` setting
    VERSION = 2  # v2: on the embedded digits, a learned class vector (ddpm-ti), not plain ddpm
    RECIPE = RECIPE
    STAGES = {"ft": STAGE_II}
    PAPER_DATASETS = ("imagenet-lt", "places-lt", "inat2018")
    DATASET_DEFAULTS = {
        **PROTOCOLS,
        **{d: {"generator": ("ddpm-ti", EMBEDDED_TI)} for d in EMBEDDED_DATASETS},
    }
    TINY = {
        **TINY_DDPM,
        **TINY_PIPELINE,
        "ti_min_steps": 2,
        "ti_max_steps": 2,
        "ti_checkpoint_every": 1,
        "token_min_steps": 2,
        "token_max_steps": 2,
        "token_checkpoint_every": 1,
        "token_batch_size": 4,
    }

    def __init__(self, hparams: Any, context: Any):
        super().__init__(hparams, context)
        self.generator = hparams.generator

    def prompt(self) -> str | None:
        return self.hparams.prompt if capabilities(self.generator).prompts else None


class FillUpTemplate(FillUp):
    """Fill-Up's single-template baseline: 'a photo of a {CLS}', no inversion; same stages."""

    Hparams = TemplateHparams
    paper = f"{PAPER} Sec 3.1 'single template'"
    generator = "sd"
    VERSION = 1
    DATASET_DEFAULTS = {
        **PROTOCOLS,
        **{d: {"generator": ("ddpm", EMBEDDED)} for d in EMBEDDED_DATASETS},
    }
    TINY = {**TINY_DDPM, **TINY_PIPELINE}

    def prompt(self) -> str | None:
        if not capabilities(self.generator).prompts:
            return None
        return self.hparams.prompt if self.hparams.prompts == "single" else "{modifier}"

    def modifiers(self) -> dict[int, list[str]] | None:
        """With a prompt list, each class's prompts (its {class_name} filled in), used evenly."""
        if self.prompt() != "{modifier}":
            return None
        return class_prompts(self.hparams.prompts, self.context.data)


def class_prompts(prompts: str, data: Any) -> dict[int, list[str]]:
    """Per class, its prompts from the shipped CLIP templates or a user's YAML file."""
    path = CLIP_TEMPLATES if prompts == "clip-templates" else Path(prompts)
    table = per_class_lists(load_class_lists(path, "prompts"), data.class_names, path, "prompts")
    templates = {}  # each distinct text checked once ('*' lists are shared by every class)
    for text in {t for texts in table.values() for t in texts}:
        template = PromptTemplate(text)
        try:
            template.check(data)
        except ConfigError as exc:
            raise ConfigError(f"{path}: {exc}") from None
        if set(template.fields()) - {"class_name", "label"}:
            shown = clip(repr(text), 120)
            raise ConfigError(f"{path}: prompt {shown}: only {{class_name}} is filled in.")
        templates[text] = template
    return {
        label: [templates[t].render(data, label, None) for t in texts]
        for label, texts in table.items()
    }
