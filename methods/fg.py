"""fg-<criterion>: feedback-guided synthesis (Askari Hemmat et al., TMLR 2024).

A classifier trained on the real long-tailed data (an `erm` run, a dependency the harness runs
first) steers the sampler towards samples it finds informative: every k-th DDIM step the
predicted x0 is decoded, the criterion C(x, y, f) is evaluated by the classifier, and the sample
moves by omega times its normalised gradient, on top of classifier-free guidance gamma (FG Eq. 3;
the normalisation and x0 blend of fg_pipe.py, in bench.generators.base.X0Guidance). Criteria
(FG Sec 3.1.1), each a value to increase:

    loss        CE(f(x), y): lower probability of the true class (Eq. 4-5)
    entropy     H(softmax f(x)) (Eq. 6)
    hardness    (phi(x) - mu_y)^T Sigma_y^-1 (phi(x) - mu_y), phi the classifier's penultimate
                features, (mu_y, Sigma_y) their Gaussian over the real training images of class y
                (Eq. 7-8, after Sehwag et al. CVPR 2022; FG's code has none)
    combined    each sample one of the three with probability 1/3, drawn from its seed (App F.2)

Dual conditioning (FG Sec 3.2): the embedding of one random real training image of the class with
Dropout p, plus the prompt "{class_name}" ("{class_name} in {context}" on NICO++, each cell filled
to 811, Sec 4.3). Runs on Stable unCLIP (`generator=unclip`, local weights) or offline on the
embedded `ddpm` with image conditioning. Batched: a batch of requests is guided at once.

The classifier sees the decoded image as it saw real data: [-1, 1] -> [0, 1] (no clamping, so the
gradient does not vanish outside the range; fg_pipe.py min-max normalises instead), resized to its
input size, converted to its channels (ITU-R 601 luma for grayscale), normalised its way.
Hardness covariances are shrunk towards the pooled within-class covariance with `kappa`
pseudo-images, Sigma_y = (n_y S_y + kappa S_pooled) / (n_y + kappa) + eps I, so one-image classes
stay invertible (choices ours; docs/fg.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from bench.errors import ConfigError
from bench.generators.base import X0Guidance
from bench.hparams import hp
from bench.io import seed_hash
from bench.method import Dependency
from bench.methods.augcond import (
    IMAGENET_LT_EPOCHS,
    ON_EMBEDDED,
    ConditionedHparams,
    ImageConditioned,
)

CRITERIA = ("loss", "entropy", "hardness")
PLACES = "FG App F.4 (Places-LT)"
OURS = "ours: FG says 'tuned' for ImageNet-LT; the Places-LT value (App F.4)"


@dataclass(frozen=True)
class FGHparams(ConditionedHparams):
    feedback_scale: float = hp(
        0.03,
        low=0.0,
        high=10.0,
        part="synthesis",
        source=OURS + " omega = 0.03, also NICO++'s best (Table 7)",
        help="omega: the step along the criterion's normalised gradient (0 = plain sampling)",
    )
    guidance_every: int = hp(
        5,
        low=1,
        high=10_000,
        part="synthesis",
        source="FG App F: the criterion every 5 steps of 30 ('5 is optimal')",
        help="k: guide at steps 0, k, 2k, ... (1..sampling_steps)",
    )
    x0_blend: bool = hp(
        True,
        part="synthesis",
        source="FG fg_pipe.py cond_fn: sqrt(1-a) x0 + (1 - sqrt(1-a)) x_t is decoded",
    )
    hardness_shrinkage: float = hp(
        10.0,
        low=0.0,
        high=1e9,
        part="synthesis",
        source="ours: kappa pseudo-images of the pooled covariance per class (FG App F and "
        "Sehwag et al. 2022 give none; few-shot classes need it to be invertible)",
    )
    cond_dropout: float = hp(
        0.5, low=0.0, high=1.0, part="synthesis", source=OURS + " p = 0.5 on the embedding"
    )
    guidance_scale: float = hp(
        3.0,
        low=0.0,
        high=100.0,
        part="synthesis",
        source=OURS + " gamma = 3 (classifier-free guidance)",
    )
    sampling_steps: int = hp(
        30, low=1, high=10_000, part="synthesis", source="FG App F: 30 DDIM steps"
    )
    scheduler: str = hp(
        "ddim", choices=("ddim", "pndm", "ddpm"), part="synthesis", source="FG App F: DDIM"
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.guidance_every > self.sampling_steps:
            raise ConfigError(
                f"guidance_every={self.guidance_every} is more than sampling_steps="
                f"{self.sampling_steps}: FG guides every k-th of the steps, so k must be in "
                f"1..{self.sampling_steps}."
            )


FEEDBACK = "FG App F: the ImageNet-LT feedback classifier"
# FG's ImageNet-LT protocol (Sec 4.1, App F.2): shared with the LDM baselines of its Table 1.
FG_IMAGENET_LT = {
    "plan": ("fill:1300", "FG Sec 4.1: 'as many samples as required to obtain 1,300 per class'"),
    "recipe.epochs": IMAGENET_LT_EPOCHS,
    "recipe.augment": (
        "standard-blur-gray",
        "FG App F.2: random cropping, colour jittering, blur and grayscale",
    ),
}
FG_PLACES_LT = {
    "recipe.then": (("meta",), "FG Sec 4.2 / App F.4: two stages (Ren et al. 2020)"),
    "stage.meta.trains": ("head", "FG App F.4: fine-tune the last layer"),
    "stage.meta.reset_head": (False, "FG App F.4: fine-tune (the stage-one layer, not a new one)"),
    "stage.meta.epochs": (10, "FG App F.4: 10 epochs"),
    "stage.meta.sampler": ("meta", "FG App F.4: Meta Sampler (Ren et al. 2020)"),
    "stage.meta.loss": ("balanced-softmax", "FG App F.4: Balanced Softmax"),
    "stage.meta.data": (
        "real",
        "ours: FG App F.4 does not say; Ren et al.'s second stage re-samples the real long-"
        "tailed training set (the Meta Sampler does the balancing)",
    ),
    "stage.meta.meta_set": (
        "val",
        "ours: FG is silent; Ren et al.'s code (BALMS main.py) draws the Places-LT meta set "
        "from the val split, which also selects its best epoch (as here)",
    ),
}
FG_NICOPP_ERM = {
    "recipe.loss": ("ce", "FG App F.3: 'we only apply ERM without any extra algorithmic changes'"),
    "recipe.real_fraction": (None, "FG App F.3: ERM on the pooled real and synthetic images"),
}
FG_PROTOCOLS = {
    "imagenet-lt": {
        **FG_IMAGENET_LT,
        "dep.classifier.recipe.lr": (0.1, FEEDBACK + ": learning rate 0.1 (decaying)"),
        "dep.classifier.recipe.weight_decay": (5e-4, FEEDBACK + ": weight decay 0.0005"),
        "dep.classifier.recipe.batch_size": (32, FEEDBACK + ": batch size 32"),
    },
    "places-lt": {
        "cond_dropout": (0.5, PLACES + ": p = 0.5"),
        "guidance_scale": (3.0, PLACES + ": gamma = 3"),
        "feedback_scale": (0.03, PLACES + ": omega = 0.03"),
        **FG_PLACES_LT,
    },
    "nicopp": {
        "prompt": ("{class_name} in {context}", "FG Sec 4.3: 'class-label in context'"),
        "plan": ("cells:811", "FG Sec 4.3: each group balanced to 811 (the largest)"),
        "feedback_scale": (0.03, "FG Table 7: the best omega on NICO++"),
        **FG_NICOPP_ERM,
    },
}


class FeedbackGuided(ImageConditioned):
    """Shared FG machinery; the variants set `criterion`."""

    Hparams = FGHparams
    criterion: ClassVar[str] = "entropy"
    paper = "FG (Askari Hemmat et al., TMLR 2024)"
    DEPENDENCIES = {
        "classifier": Dependency(
            "erm",
            source="FG App F: the feedback classifier is an ERM classifier on the same real "
            "long-tailed data (its ImageNet-LT recipe: the dataset defaults below)",
        )
    }
    DATASET_DEFAULTS = {**ON_EMBEDDED, **FG_PROTOCOLS}
    PAPER_DATASETS = ("imagenet-lt", "places-lt", "nicopp")
    TINY = {**ImageConditioned.TINY, "sampling_steps": 2, "guidance_every": 1}

    def sampling_hooks(self, generator: Any) -> Any:
        hooks = super().sampling_hooks(generator)
        h = self.hparams
        if h.feedback_scale > 0:
            feedback = Feedback(self.context.dependencies["classifier"], self.context, h)
            hooks.guidance = X0Guidance(
                getattr(feedback, self.criterion), h.feedback_scale, h.guidance_every, h.x0_blend
            )
        return hooks


class Feedback:
    """The criteria of one feedback classifier: differentiable in the decoded images."""

    def __init__(self, classifier: Any, context: Any, hparams: Any):
        # torch: heavy, imported where used (off the start-up path)
        import torch

        self.classifier = classifier
        self.model = classifier.model
        self.model.requires_grad_(False)
        self.size = classifier.image_size or context.data.image_size
        self.device = next(self.model.parameters()).device
        # torch: heavy, imported where used (off the start-up path)
        from bench.data.torchdata import mean_std

        mean, std = mean_std(classifier.normalize, classifier.channels)
        self.mean, self.std = mean.to(self.device), std.to(self.device)
        self.context, self.hparams = context, hparams
        self._gauss: tuple[Any, Any] | None = None
        self.torch = torch

    # Inputs -------------------------------------------------------------------------------

    def inputs(self, images: Any) -> Any:
        """Decoded images in [-1, 1] (N x C x H x W) -> the classifier's normalised input."""
        # torch: heavy, imported where used (off the start-up path)
        import torch.nn.functional as F

        x = (images.float().to(self.device) + 1.0) / 2.0
        c = self.classifier.channels
        if x.shape[1] == 3 and c == 1:
            w = x.new_tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)
            x = (x * w).sum(1, keepdim=True)
        elif x.shape[1] == 1 and c == 3:
            x = x.expand(-1, 3, -1, -1)
        if x.shape[-1] != self.size or x.shape[-2] != self.size:
            x = F.interpolate(x, size=(self.size, self.size), mode="bilinear", antialias=True)
        return (x - self.mean) / self.std

    def labels(self, requests: Sequence[Any]) -> Any:
        return self.torch.tensor([r.label for r in requests], device=self.device)

    # Criteria (per-sample values to increase) ----------------------------------------------

    def loss(self, images: Any, requests: Sequence[Any]) -> Any:
        # torch: heavy, imported where used (off the start-up path)
        import torch.nn.functional as F

        logits = self.model(self.inputs(images))
        return F.cross_entropy(logits, self.labels(requests), reduction="none")

    def entropy(self, images: Any, requests: Sequence[Any]) -> Any:
        logp = self.model(self.inputs(images)).log_softmax(-1)
        return -(logp.exp() * logp).sum(-1)

    def hardness(self, images: Any, requests: Sequence[Any]) -> Any:
        mean, precision = self.gaussians()
        y = self.labels(requests)
        diff = self.model.features(self.inputs(images)).float() - mean[y]
        return self.torch.einsum("nd,nde,ne->n", diff, precision[y], diff)

    def combined(self, images: Any, requests: Sequence[Any]) -> Any:
        """Each sample guided by one criterion, drawn with probability 1/3 from its seed."""
        pick = self.torch.tensor(
            [seed_hash(r.seed, "fg-combined") % 3 for r in requests], device=self.device
        )
        values = self.torch.stack(
            [getattr(self, name)(images, requests) for name in CRITERIA], dim=1
        )
        return values.gather(1, pick[:, None])[:, 0]

    # Hardness statistics -----------------------------------------------------------------

    def gaussians(self) -> tuple[Any, Any]:
        """Per-class feature means (C x D) and shrunk precisions (C x D x D), computed once."""
        if self._gauss is None:
            self._gauss = class_gaussians(
                self.real_features(),
                self.context.data.train.targets,
                self.classifier.num_classes,
                self.hparams.hardness_shrinkage,
            )
            self._gauss = tuple(t.to(self.device) for t in self._gauss)
        return self._gauss

    def real_features(self) -> Any:

        # torch: heavy, imported where used (off the start-up path)
        from bench.data.torchdata import SplitImages

        torch = self.torch
        images = SplitImages(self.context.data.train, self.size, self.classifier.channels)
        out = []
        with torch.no_grad():
            for start in range(0, len(images), 256):
                ids = np.arange(start, min(start + 256, len(images)))
                x = torch.as_tensor(images.read(ids)).permute(0, 3, 1, 2).float() / 127.5 - 1.0
                out.append(self.model.features(self.inputs(x)).double().cpu())
        return torch.cat(out)


def class_gaussians(features: Any, targets: Any, num_classes: int, kappa: float) -> tuple[Any, Any]:
    """Class means and precisions of features (N x D) with covariance shrinkage.

    Sigma_y = (n_y S_y + kappa S_pooled) / (n_y + kappa) + eps I, S_y the class's (biased)
    covariance, S_pooled the pooled within-class covariance, eps = 1e-4 tr(S_pooled) / D.
    """
    # torch: heavy, imported where used (off the start-up path)
    import torch

    f = features.double()
    y = torch.as_tensor(targets, dtype=torch.long)
    d = f.shape[1]
    means = torch.zeros(num_classes, d, dtype=torch.float64)
    covs = torch.zeros(num_classes, d, d, dtype=torch.float64)
    counts = torch.bincount(y, minlength=num_classes).double()
    for c in range(num_classes):
        rows = f[y == c]
        if len(rows):
            means[c] = rows.mean(0)
            centred = rows - means[c]
            covs[c] = centred.T @ centred / len(rows)
    pooled = (covs * counts[:, None, None]).sum(0) / counts.sum()
    eps = 1e-4 * torch.trace(pooled) / d + 1e-12
    weight = (counts / (counts + kappa).clamp_min(1e-12)).view(-1, 1, 1)
    shrunk = weight * covs + (1 - weight) * pooled
    shrunk = shrunk + eps * torch.eye(d, dtype=torch.float64)
    precision = torch.linalg.inv(shrunk)
    return means.float(), precision.float()


def fg_variant(criterion: str, doc: str) -> type:
    return type(
        "FG" + criterion.title(),
        (FeedbackGuided,),
        {"__doc__": doc, "__module__": __name__, "criterion": criterion},
    )


FGLoss = fg_variant("loss", "FG with the loss criterion: raise the classifier's CE (Eq. 4-5).")
FGEntropy = fg_variant("entropy", "FG with the entropy criterion: raise H(f(x)) (Eq. 6).")
FGHardness = fg_variant(
    "hardness", "FG with the hardness criterion: Mahalanobis distance to the class (Eq. 7-8)."
)
FGCombined = fg_variant(
    "combined", "FG combined: each sample loss, entropy or hardness with prob. 1/3 (App F.2)."
)
