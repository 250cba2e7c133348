"""The classifier recipe the harness owns: training stages, losses and batch augmentations.

A recipe is a list of stages. The first stage is `Recipe` itself (its per-stage fields plus the
settings that hold for the whole run: backbone, normalisation, model selection); the stages after
it are named in `Recipe.then` and each is a `Stage` (section `stage.<name>` of a run config, e.g.
`--set stage.crt.lr=0.01`). Each stage starts from the previous stage's weights. A `Stage` field
left at None takes the first stage's value (optimiser, LR, batch size, ...).

Methods differ only where their papers differ, and they say so by declaring recipe defaults
(`Method.RECIPE`, `Method.STAGES`); datasets set the benchmark's own protocol
(`DatasetAdapter.RECIPE`, e.g. a small CNN for 16x16 digits, the model-selection rule). The values
here are the fallbacks when neither says anything.

Losses, batch augmentations, samplers, optimisers and LR schedules are registries (`LOSSES`,
`BATCH_AUGS`, `SAMPLERS`, `OPTIMIZERS`, `LR_SCHEDULES`): a new one is a class or a function in
bench/train/losses.py, batchaug.py, samplers.py (the Meta Sampler: metasampler.py) or optim.py
plus one line here. Image augmentations (`AUGMENTS`) are the data layer's: a class or a function
in bench/data/imageaugs.py plus one line in bench/data/augment.py; a setting whose choices are a
registry accepts whatever it holds when checked. This module stays torch-free: config checks
import it.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from bench.data.augment import AUGMENTS
from bench.errors import ConfigError
from bench.hparams import hp
from bench.registry import Registry

CB = "classifier-balancing ImageNet-LT config (Kang et al. 2020), the codebase FG used"
KANG = "Kang et al. 2020 (classifier-balancing), Sec 4 / configs stage_2"
MIXUP = "Zhang et al. 2018 (mixup), official mixup-cifar10 code: alpha = 1"
LDAM = "Cao et al. 2019 (LDAM-DRW), official cifar_train.py"
DRO = "Sagawa et al. 2020 (Group DRO), official run_expt.py"
BALMS = (
    "Ren et al. 2020 (Balanced Meta-Softmax), official config/Places_LT/balms.yaml (the Meta "
    "Sampler FG App F.4 fine-tunes the last layer with)"
)

LOSSES = Registry(
    "loss",
    {
        "ce": "bench.train.losses:CrossEntropy",
        "balanced-softmax": "bench.train.losses:BalancedSoftmax",
        "logit-adjusted": "bench.train.losses:LogitAdjusted",
        "ldam-drw": "bench.train.losses:LDAMDRW",
        "group-dro": "bench.train.losses:GroupDRO",
    },
)
BATCH_AUGS = Registry(
    "batch augmentation",
    {
        "none": "bench.train.batchaug:no_mix",
        "mixup": "bench.train.batchaug:mixup",
        "cutmix": "bench.train.batchaug:cutmix",
    },
)
TRAINS = ("all", "head", "lws")
DATA = (
    "real+synthetic",
    "real",
    "synthetic",
    "class-balanced-subsample",
    "group-balanced-subsample",
)
SAMPLERS = Registry(
    "sampler",
    {
        "instance": "bench.train.samplers:Instance",
        "class-balanced": "bench.train.samplers:ClassBalanced",
        "sqrt": "bench.train.samplers:SqrtSize",
        "group-balanced": "bench.train.samplers:GroupBalanced",
        "meta": "bench.train.metasampler:MetaSampler",
    },
)
OPTIMIZERS = Registry(
    "optimizer",
    {
        "sgd": "bench.train.optim:sgd",
        "adam": "bench.train.optim:adam",
    },
)
LR_SCHEDULES = Registry(
    "LR schedule",
    {
        "cosine": "bench.train.optim:cosine",
        "constant": "bench.train.optim:constant",
        "step": "bench.train.optim:step_decay",
    },
)
SELECTION_METRICS = ("val_balanced", "val_acc", "val_worst_group")


def loss_is(*names: str) -> tuple[str, Any]:
    """`applies` of a loss's own parameter: it matters only when the stage uses that loss."""
    return (f"loss is {' or '.join(names)}", lambda st, synthetic: st.loss in names)


WITH_SYNTHETIC = (
    "the method makes synthetic data and the stage trains on it (data=real+synthetic)",
    lambda st, synthetic: synthetic and st.data == "real+synthetic",
)
WITH_META = (
    "sampler is meta",
    lambda st, synthetic: st.sampler == "meta",
)
WITH_BATCH_AUG = (
    "a batch_aug (mixup, cutmix, ...) is set",
    lambda st, synthetic: st.batch_aug != "none",
)


@dataclass(frozen=True)
class StageFields:
    """What one training stage does: what trains, on which data, with which loss and schedule."""

    trains: str = hp(
        "all",
        choices=TRAINS,
        source="end-to-end training (ERM)",
        help="all = the whole model; head = the last layer only (backbone frozen, in eval "
        "mode); lws = only LWS's per-class logit scales (Kang et al. 2020)",
    )
    reset_head: bool = hp(
        False,
        source="continue from the previous weights",
        help="re-initialise the last layer before this stage (cRT, DFR)",
    )
    data: str = hp(
        "real+synthetic",
        choices=DATA,
        source="all the training data the method has",
        help="real+synthetic (synthetic only where the method makes it), real, synthetic (the "
        "synthetic set alone: Fill-Up Table 1 / Table 5's synthetic-only rows), or a class- / "
        "group-balanced random subsample of the real training split (SYNAuG Alg. 1, DFR)",
    )
    sampler: str = hp(
        "instance",
        choices=SAMPLERS,
        source="ERM",
        help="how samples are drawn: per instance, class-balanced, class ~ sqrt(count) "
        "(CBDM's RS-SQRT), group-balanced, or meta (BALMS's Meta Sampler: learnt class weights, "
        "a head-only stage on real data)",
    )
    meta_lr: float = hp(
        0.001,
        gt=0.0,
        high=10.0,
        source=BALMS + ": sampler lr 0.001, Adam (run_networks.py optimizer_meta)",
        help="Adam learning rate of the Meta Sampler's class weights",
        applies=WITH_META,
        keyless_default=True,
    )
    meta_batch_size: int = hp(
        512,
        low=1,
        high=65_536,
        source=BALMS + ": meta_batch_size 512",
        help="class-balanced meta batch the Meta Sampler's meta step is evaluated on",
        applies=WITH_META,
        keyless_default=True,
    )
    meta_init_pow: float = hp(
        0.3,
        low=0.0,
        high=10.0,
        source=BALMS + ": init_pow 0.3",
        help="initial sigmoid(w_c) proportional to p_c^-pow (p_c the class's share of the "
        "training split), divided by the min + max over classes (MetaSampler.py)",
        applies=WITH_META,
        keyless_default=True,
    )
    meta_set: str = hp(
        "train",
        choices=("train", "val"),
        source="ours: the training split, as BALMS's main.py on CIFAR-LT; on ImageNet-LT / "
        "Places-LT it draws the meta set from the val split, which is this harness's "
        "model-selection split",
        help="where the meta batches come from: the training split (augmented as the stage's "
        "data), or the val split (unaugmented, as BALMS's Places-LT code; model selection then "
        "sees a split the sampler was tuned on)",
        applies=WITH_META,
        keyless_default=True,
    )
    real_fraction: float | None = hp(
        None,
        gt=0.0,
        high=1.0,
        source="none: real and synthetic data pooled",
        help="share of real images in each mini-batch when synthetic data is present "
        "(FG and augcond use 0.5)",
        applies=WITH_SYNTHETIC,
    )
    loss: str = hp("ce", choices=tuple(LOSSES), source="ERM", help="a name from the loss registry")
    prior: str = hp(
        "real",
        choices=("real", "real+synthetic", "batch"),
        source="Fill-Up Sec 3.2: only real samples are counted in n_i",
        help="class frequencies Balanced Softmax / logit adjustment add: real counts, real + "
        "synthetic counts, or what the sampler actually puts in a batch",
        applies=loss_is("balanced-softmax", "logit-adjusted"),
    )
    la_tau: float = hp(
        1.0,
        gt=0.0,
        high=10.0,
        source="Menon et al. 2021 Sec 5: tau = 1",
        help="logit-adjusted loss scale",
        applies=loss_is("logit-adjusted"),
    )
    ldam_max_m: float = hp(
        0.5, gt=0.0, source=LDAM + ": max_m = 0.5", high=10.0, applies=loss_is("ldam-drw")
    )
    ldam_s: float = hp(
        30.0, gt=0.0, source=LDAM + ": s = 30", high=1000.0, applies=loss_is("ldam-drw")
    )
    drw_start: float = hp(
        0.8,
        low=0.0,
        high=1.0,
        source=LDAM + ": re-weighting from epoch 160 of 200",
        help="fraction of the stage's epochs after which DRW re-weights classes",
        applies=loss_is("ldam-drw"),
    )
    drw_beta: float = hp(
        0.9999, low=0.0, high=1.0, source=LDAM + ": beta = 0.9999", applies=loss_is("ldam-drw")
    )
    dro_eta: float = hp(
        0.01,
        gt=0.0,
        source=DRO + ": robust_step_size = 0.01",
        high=100.0,
        applies=loss_is("group-dro"),
    )
    batch_aug: str = hp(
        "none",
        choices=tuple(BATCH_AUGS),
        source="ERM",
        help="a name from the batch-augmentation registry",
    )
    randaugment: bool = hp(
        False,
        source="no RandAugment (classifier-balancing configs)",
        help="RandAugment (Cubuk et al. 2020, N = 2, M = 9) on top of `augment`, per training "
        "sample (Fill-Up Sec 4.2 '+RandAug')",
    )
    mix_alpha: float = hp(
        1.0,
        gt=0.0,
        source=MIXUP + "; CutMix (Yun et al. 2019) beta = 1",
        high=100.0,
        applies=WITH_BATCH_AUG,
    )
    mix_pairs: str = hp(
        "batch",
        choices=("batch", "real", "real-synthetic"),
        source="Mixup: any two samples of the batch",
        help="batch = any two samples; real = real samples among themselves (synthetic ones "
        "untouched); real-synthetic = each real sample with a synthetic one (SYNAuG's domain "
        "Mixup)",
    )
    optimizer: str = hp("sgd", choices=OPTIMIZERS, source=CB)
    lr: float = hp(0.2, gt=0.0, source=CB + "; augcond Table 4 (LR 0.2)", high=10.0)
    momentum: float = hp(0.9, low=0.0, high=1.0, source=CB)
    weight_decay: float = hp(5e-4, low=0.0, source=CB, high=1.0)
    batch_size: int = hp(512, low=1, source=CB + "; FG Sec 4.1 (batch 512)", high=65_536)
    epochs: int = hp(90, low=0, source=CB, help="0 skips the stage", high=10_000)
    steps_per_epoch: int | None = hp(
        None,
        low=1,
        source="one pass over the stage's data",
        help="optimisation steps per epoch; none = one pass",
        high=10_000_000,
    )
    schedule: str = hp(
        "cosine",
        choices=LR_SCHEDULES,
        source=CB,
        help="step = x step_gamma every step_epochs epochs (after warm-up)",
    )
    step_epochs: int = hp(
        30, low=1, source="Fill-Up App B.4 Stage I: x0.1 every 30 epochs", high=10_000
    )
    step_gamma: float = hp(0.1, gt=0.0, high=1.0, source="Fill-Up App B.4: x0.1")
    warmup_epochs: int = hp(0, low=0, source=CB, high=10_000)
    augment: str = hp(
        "standard",
        choices=AUGMENTS,
        source=CB,
        help="standard = random-resized crop + flip + colour jitter (files) or "
        "pad-crop + flip (arrays); shift = small translations only; flip-rotate = flip + "
        "RandomRotation(15) (DA-Fusion); standard-blur-gray = standard + Gaussian blur "
        "(p 0.5, sigma 0.1-2) + grayscale (p 0.2) on files (FG App F.2; SimCLR's "
        "probabilities), standard on arrays",
    )

    def __post_init__(self) -> None:
        epochs, warmup = getattr(self, "epochs", None), getattr(self, "warmup_epochs", None)
        if epochs and warmup is not None and warmup >= epochs:
            raise ConfigError(f"warmup_epochs={warmup} must be smaller than epochs={epochs}.")
        if self.batch_aug == "none" and self.mix_pairs != "batch":
            raise ConfigError(
                f"mix_pairs={self.mix_pairs!r} needs a batch_aug; choose one of "
                f"{', '.join(a for a in BATCH_AUGS if a != 'none')}."
            )
        if self.sampler == "meta":
            check_meta(self)


def check_meta(st: StageFields) -> None:
    """The Meta Sampler (BALMS) steps a copy of the last layer on real samples drawn one at a
    time from the training split: a head-only stage on real data, nothing that mixes them."""
    refused = (
        ("trains", st.trains != "head", "its meta step differentiates through one step of the "
         "last layer alone (BALMS freezes the features; FG App F.4 fine-tunes the last layer)",
         "trains=head"),
        ("data", st.data != "real", "it draws from the whole real training split, whose class "
         "frequencies initialise its weights", "data=real"),
        ("batch_aug", st.batch_aug != "none", "its meta step weights each drawn sample, and a "
         "mixed sample is two", "batch_aug=none"),
        ("loss", st.loss == "group-dro", "its inner step averages the per-sample losses, which "
         "is not Group DRO's objective", "loss=balanced-softmax (BALMS) or ce"),
        ("prior", st.prior == "batch", "the sampler's class shares change every step",
         "prior=real (BALMS's Balanced Softmax counts)"),
    )  # fmt: skip
    for key, bad, reason, fix in refused:
        if bad:
            raise ConfigError(
                f"sampler='meta' does not work with {key}={getattr(st, key)!r}: {reason}. Use "
                f"{fix}, or another sampler."
            )


@dataclass(frozen=True)
class Recipe(StageFields):
    """The first stage plus the settings of the whole run."""

    backbone: str = hp(
        "resnext50_32x4d",
        source=CB + "; FG Sec 4.1 (ResNeXt50)",
        help="'small-cnn', 'resnet32' (CIFAR, LDAM-DRW), a torchvision ResNet/ResNeXt "
        "('tv-resnet50', ...) or any timm model name",
    )
    pretrained: str | None = hp(
        None,
        path=True,
        source="from scratch, as the ImageNet-LT protocol",
        help="path to a local state_dict, 'torch-hub' for torchvision's IMAGENET1K_V1 file in the "
        "torch hub cache, or 'hf-cache' for timm weights in the Hugging Face cache (never "
        "downloaded)",
    )
    normed_head: bool = hp(
        False,
        source="a plain linear classifier",
        help="cosine classifier (NormedLinear), as LDAM-DRW's official code uses with LDAM",
    )
    then: tuple[str, ...] = hp(
        (),
        source="one stage",
        help="names of the stages after the first, in order; each is configured as stage.<name>",
    )
    groups: str = hp(
        "dataset",
        choices=("dataset", "auto"),
        source="the dataset's groups",
        help="what group-balanced data / sampling and Group DRO use: the dataset's groups "
        "(an error where it has none), or auto = its groups, else the classes (SubpopBench)",
    )
    resize: str = hp(
        "crop",
        choices=("crop", "square"),
        source=CB + ": resize the short side, crop the centre (random-resized crop in training)",
        help="crop, or square = Resize((size, size)) of the whole image (DA-Fusion)",
    )
    normalize: str = hp(
        "imagenet",
        choices=("imagenet", "half"),
        source=CB,
        help="imagenet mean/std, or half = scale to [-1, 1]",
    )
    selection: str = hp(
        "best-val",
        choices=("best-val", "last"),
        source="TDE / KaihuaTang #15: test at the best-validation epoch",
        help="which checkpoint of the last stage the headline test numbers come from (both are "
        "recorded)",
    )
    selection_metric: str = hp(
        "val_balanced",
        choices=SELECTION_METRICS,
        source="long-tail convention: best balanced validation accuracy",
        help="the validation score best-val maximises (datasets declare their papers' rule)",
    )
    precision: str = hp(
        "auto",
        choices=("auto", "fp32", "bf16"),
        source="harness: bf16 autocast + channels_last on GPU, fp32 on CPU",
    )
    eval_batch_size: int = hp(256, low=1, source="harness", high=65_536)
    num_workers: int | None = hp(
        None,
        low=0,
        source="harness: none = 0 for in-memory data, else one loader process per core "
        "(at most 8), leaving one core to the training process",
        high=256,
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        if len(set(self.then)) != len(self.then):
            raise ConfigError(f"then={list(self.then)}: every stage name must appear once.")
        for name in self.then:
            if not name.replace("-", "").replace("_", "").isalnum():
                raise ConfigError(f"then: stage name {name!r} must be letters, digits, - or _.")


# Stage fields a later stage takes from the first stage when it leaves them at None.
INHERITED = (
    "optimizer",
    "lr",
    "momentum",
    "weight_decay",
    "batch_size",
    "steps_per_epoch",
    "schedule",
    "augment",
)


@dataclass(frozen=True)
class Stage(StageFields):
    """A stage after the first; defaults are cRT's classifier re-training (Kang et al. 2020)."""

    trains: str = hp("head", choices=TRAINS, source=KANG + ": only the classifier is re-trained")
    reset_head: bool = hp(True, source=KANG + ": cRT re-initialises the classifier")
    data: str = hp("real", choices=DATA, source=KANG + ": the real training set")
    sampler: str = hp("class-balanced", choices=SAMPLERS, source=KANG + ": class-balanced sampling")
    epochs: int = hp(10, low=0, source=KANG + ": 10 epochs", high=10_000)
    optimizer: str | None = hp(None, choices=OPTIMIZERS, source="the first stage's")
    lr: float | None = hp(None, gt=0.0, source="the first stage's (" + KANG + ")", high=10.0)
    momentum: float | None = hp(None, low=0.0, high=1.0, source="the first stage's")
    weight_decay: float | None = hp(None, low=0.0, source="the first stage's", high=1.0)
    batch_size: int | None = hp(None, low=1, source="the first stage's", high=65_536)
    steps_per_epoch: int | None = hp(None, low=1, source="the first stage's", high=10_000_000)
    schedule: str | None = hp(None, choices=LR_SCHEDULES, source="the first stage's")
    augment: str | None = hp(None, choices=AUGMENTS, source="the first stage's")


FIRST_STAGE = "main"


def check_data(recipe: Recipe, stages: dict[str, Stage], synthetic: bool, method: str) -> None:
    """Stages training on the synthetic set alone (`data=synthetic`) need one, and nothing that
    counts real images or reads group labels (synthetic images have none). Checked when the
    settings are resolved, before any generator fit or synthesis."""
    every = [(FIRST_STAGE, stage_fields(recipe))]
    every += [(name, stage_fields(recipe, st)) for name, st in stages.items()]
    for name, st in every:
        if st.data != "synthetic" or st.epochs == 0:
            continue
        where = "recipe" if name == FIRST_STAGE else f"stage.{name}"
        if not synthetic:
            raise ConfigError(
                f"{where}.data='synthetic': {method} makes no synthetic data to train on. Use "
                "data=real, or a method that synthesises (fillup-template, fill-up, ...)."
            )
        if st.loss in ("balanced-softmax", "logit-adjusted") and st.prior == "real":
            raise ConfigError(
                f"{where}: loss={st.loss!r} with prior='real' counts real images, and "
                "data='synthetic' trains on none. Use prior=real+synthetic or prior=batch (the "
                "synthetic set's class frequencies), or loss=ce (Fill-Up Table 1)."
            )
        if st.sampler == "group-balanced" or st.loss == "group-dro":
            what = (
                "sampler='group-balanced'" if st.sampler == "group-balanced" else "loss='group-dro'"
            )
            raise ConfigError(
                f"{where}: {what} needs group labels, and data='synthetic' has none (synthetic "
                "images carry their class only). Use data=real+synthetic or a class-level choice."
            )


def stage_fields(recipe: Recipe, stage: Stage | None = None) -> StageFields:
    """The effective settings of one stage: the first (stage None) or a later one, with its
    None fields taken from the first stage."""
    names = [f.name for f in fields(StageFields)]
    if stage is None:
        return StageFields(**{n: getattr(recipe, n) for n in names})
    values: dict[str, Any] = {n: getattr(stage, n) for n in names}
    for name in INHERITED:
        if values[name] is None:
            values[name] = getattr(recipe, name)
    return StageFields(**values)
