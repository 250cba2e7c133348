"""Class balancing in the harness DDPM's training: label resampling and the CBDM regulariser.

Two training-loss components of the `ddpm` backend, selected by settings (all off by default,
which is the plain DDPM of bench/generators/ddpm.py):

- `label_sampling`: which training images a batch draws. `data` draws images uniformly (the
  dataset's own label frequencies); `uniform` and `sqrt` first draw a class uniformly or in
  proportion to the square root of its frequency, then an image of it: CBDM Table 1's generator
  baselines "+RS" and "+SQRT-RS" (re-sampling).
- `cbdm_tau > 0`: the distribution-adjustment regulariser of CBDM (Qin et al., CVPR 2023, Eq. 4,
  Alg. 1), added to the noise-prediction loss per sample:

      tau t (|| eps(x_t, y) - sg(eps(x_t, y')) ||^2 + gamma || sg(eps(x_t, y)) - eps(x_t, y') ||^2)

  with one Monte-Carlo label y' per sample drawn from the label set (Alg. 1 lines 6-10); the
  squared norms are means over pixels, as the noise loss is, following the official code
  (`qym7/CBDM-pytorch` diffusion.py: `w * F.mse_loss(h, h_bal.detach(), reduction='none')`,
  then `.mean()` with the main loss).

How tau is scaled. The paper's weight is tau * t with tau_0 = 0.001 at T = 1000 "so that the
weight does not surpass 1 at all steps" (Sec 4.3); the official code writes it as
`t / T * tau` with its flag `--tau 1.0` -- the same weight at T = 1000. Here `cbdm_tau` is the
paper's tau and the weight is `cbdm_tau * t * 1000 / T`, i.e. the official code's form with its
tau = 1000 * cbdm_tau, so the weight keeps the paper's range [0, 1) at any number of timesteps T
(t = 0..T-1 as in the official code).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from bench.errors import DataError
from bench.hparams import hp

CBDM = "CBDM (Qin et al. CVPR 2023)"
OFFICIAL = "qym7/CBDM-pytorch diffusion.py GaussianDiffusionTrainer"
LABEL_SETS = ("auto", "train", "bal", "sqrt")
SAMPLINGS = ("data", "uniform", "sqrt")


@dataclass(frozen=True)
class BalancingSettings:
    """Class-balancing settings of the `ddpm` backend's training (mixed into DDPMSettings)."""

    label_sampling: str = hp(
        "data",
        choices=SAMPLINGS,
        part="generator",
        source="plain DDPM draws training images uniformly; uniform / sqrt are CBDM Table 1's "
        "'+RS' / '+SQRT-RS' baselines",
        help="data | uniform (RS) | sqrt (RS-SQRT): the class distribution of training batches",
    )
    cbdm_tau: float = hp(
        0.0,
        low=0.0,
        high=1.0,
        part="generator",
        source="0 = no regulariser (plain DDPM); the cbdm method sets CBDM's tau_0 = 0.001 "
        "(Sec 4.3)",
        help="CBDM regularisation weight tau (per timestep at T = 1000; the weight is "
        "tau * t * 1000 / T, the official code's t / T * tau with its tau = 1000 x this)",
    )
    cbdm_commitment: float = hp(
        0.25,
        low=0.0,
        high=100.0,
        part="generator",
        source=f"{CBDM} Sec 3.3: gamma = 1/4 by default (hard-coded in the official code)",
        help="CBDM commitment weight gamma",
    )
    cbdm_label_set: str = hp(
        "auto",
        choices=LABEL_SETS,
        part="generator",
        source=f"{OFFICIAL}: y' ~ the training label frequencies from scratch (Alg. 1's "
        "Y^train), uniform (Y^bal) with --finetune; auto picks that way",
        help="auto | train | bal | sqrt: the distribution y' is drawn from (CBDM Sec 4.2)",
    )
    label_dropout_unit: str = hp(
        "sample",
        choices=("sample", "batch"),
        part="generator",
        source="classifier-free guidance drops each sample's label (Ho & Salimans 2022); "
        f"{OFFICIAL} drops the whole batch's (batch)",
        help="sample | batch: what label_dropout drops",
    )
    init_from: str | None = hp(
        None,
        path=True,
        part="generator",
        source=f"train from scratch (CBDM Alg. 1); a path fine-tunes a fitted DDPM ({CBDM} "
        "Sec 4.2 'fine-tuning', official --finetune)",
        help="directory of a fitted ddpm generator (generator.json, unet/) to start from",
    )

    def label_set(self) -> str:
        """The label set y' is drawn from (auto: train from scratch, bal when fine-tuning)."""
        if self.cbdm_label_set != "auto":
            return self.cbdm_label_set
        return "train" if self.init_from is None else "bal"


def class_distribution(counts: np.ndarray, kind: str) -> np.ndarray:
    """A distribution over classes: the data's (`train`/`data`), `uniform`/`bal`, or `sqrt`.

    `uniform` and `sqrt` put no mass on classes absent from the training split when drawing
    training images (there is nothing to draw); CBDM's Y^bal is uniform over all classes, as the
    official code's `randint(num_class)` is.
    """
    counts = np.asarray(counts, dtype=np.float64)
    if counts.sum() <= 0:
        raise DataError("the training split has no labelled image: no class distribution.")
    if kind in ("train", "data"):
        p = counts
    elif kind == "bal":
        p = np.ones_like(counts)
    elif kind == "uniform":
        p = (counts > 0).astype(np.float64)
    elif kind == "sqrt":
        p = np.sqrt(counts)
    else:
        raise ValueError(f"unknown class distribution {kind!r}")
    return p / p.sum()


def image_weights(labels: np.ndarray, num_classes: int, kind: str) -> np.ndarray:
    """Per-image draw weights so that a batch's classes follow `class_distribution(kind)`."""
    labels = np.asarray(labels)
    counts = np.bincount(labels, minlength=num_classes)
    p = class_distribution(counts, kind)
    return p[labels] / counts[labels]


def cbdm_weight(t: Any, tau: float, num_train_timesteps: int) -> Any:
    """Per-sample weight tau * t at T = 1000, rescaled to other T (module docstring)."""
    return tau * t.float() * (1000.0 / num_train_timesteps)


def cbdm_regulariser(pred: Any, pred_other: Any, weight: Any, gamma: float) -> Any:
    """CBDM's L_r + gamma L_rc (Eq. 4): `pred` = eps(x_t, y) gets gradient only through the
    first term, `pred_other` = eps(x_t, y') only through the commitment term (stop-gradients on
    the other side); each per-sample squared error is weighted by `weight` (shape B), then the
    mean over all elements is taken, as the noise-prediction loss is."""
    # torch: heavy, imported where used (off the start-up path)
    import torch

    reg = (pred - pred_other.detach()).pow(2) + gamma * (pred.detach() - pred_other).pow(2)
    w = weight.to(reg.dtype).reshape(-1, *([1] * (reg.dim() - 1)))
    return torch.mean(w * reg)
