"""Generation metrics of a synthetic set against real images, from extracted features.

FID, KID, IS and precision / recall come from torch-fidelity's own functions (one pinned
implementation, as FID numbers differ between implementations; anchors §3.10); density and
coverage from `bench.metrics.manifold` (bounded memory, equal to the `prdc` package); F8 / F1/8 from
`bench.metrics.prd` (Sajjadi et al.'s algorithm, as CBDM reports).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from bench.data import FULL_TRAIN, SPLITS
from bench.hparams import hp
from bench.metrics.checks import check_enough, check_features, check_same_width
from bench.metrics.domain import domain_classifier_accuracy
from bench.metrics.imagesets import choose
from bench.metrics.manifold import prdc
from bench.metrics.prd import prd_scores

TF = "torch-fidelity 0.4 default"


@dataclass(frozen=True)
class GenerationSettings:
    """How `bench eval-gen` measures a synthetic set (each value's source says why)."""

    extractor: str = hp(
        "inception",
        source="FID convention: InceptionV3 pool3 (FG Table 4, CBDM Sec 5.1, Fill-Up App. "
        "Table A9, augcond Table 1 all report Inception FID)",
        help="inception | clip[:DIR] | classifier:RUN_DIR | small (tests only)",
    )
    split: str = hp(
        "test",
        choices=(*SPLITS, FULL_TRAIN),
        source="harness: the held-out split (augcond Table 1 uses the evaluation set; FG Table "
        "4 the ImageNet-LT val set; CBDM the balanced training set: set split accordingly)",
    )
    n: int | None = hp(
        None,
        low=2,
        source="all images (CBDM Sec 5.1 uses 50k generated; FG Table 4 20 per class)",
        help="use at most n images of each set, drawn with `seed`",
    )
    k: int = hp(
        5,
        low=1,
        source="CBDM Sec 5.1 (K = 5 for recall); prdc README / Naeem et al. 2020 (k = 5)",
        help="nearest neighbours for precision / recall / density / coverage",
    )
    kid_subsets: int = hp(100, low=1, source=TF)
    kid_subset_size: int = hp(1000, low=2, source=TF + " (lowered to the set sizes if larger)")
    isc_splits: int = hp(10, low=1, source=TF + "; CBDM score/both.py (splits=10)")
    prd_clusters_per_class: int = hp(
        20, low=1, source="CBDM Sec 5.1: 20 x the number of classes clusters for F_beta"
    )
    prd_runs: int = hp(10, low=1, source="Sajjadi et al. reference prd_score.py (num_runs=10)")
    prd_angles: int = hp(1001, low=3, source="Sajjadi et al. reference (num_angles=1001)")
    beta: float = hp(8.0, gt=0.0, source="Sajjadi et al. 2018 and CBDM: F8 and F1/8")
    domain_cls_n: int = hp(
        2500,
        low=2,
        high=10**7,
        source="SYNAuG Fig. 3a: 2.5k samples for each of the real and synthetic domains",
        help="samples per domain for the domain-classifier accuracy (null, with a note, when a "
        "set has fewer)",
    )
    domain_cls_held_out: float = hp(
        0.2,
        gt=0.0,
        high=0.9,
        source="ours: SYNAuG Fig. 3a states no train / test split; 20% of each domain held out",
    )
    domain_cls_c: float = hp(
        1.0,
        gt=0.0,
        high=1e6,
        source="ours: SYNAuG states no optimiser or regularisation for its FC layer; "
        "scikit-learn's LogisticRegression default C = 1 (L2), fitted to convergence (the loss "
        "is convex)",
        help="inverse L2 strength of the domain classifier (logistic regression)",
    )
    batch_size: int = hp(64, low=1, source=TF)
    seed: int = hp(2020, low=0, source=TF + " (rng_seed): subsets, KID subsets, k-means")


def generation_metrics(
    real: np.ndarray,
    fake: np.ndarray,
    fake_logits: np.ndarray | None,
    settings: GenerationSettings,
    num_classes: int,
) -> dict[str, Any]:
    """Every generation metric of `fake` against `real` features (samples x dims each)."""
    real = check_features(real, "real features").astype(np.float32)
    fake = check_features(fake, "fake features").astype(np.float32)
    check_same_width(real, fake, "real features", "fake features")
    for what, x in (("real features", real), ("fake features", fake)):
        check_enough(x, settings.k + 1, what, f"precision / recall with k={settings.k}")
    out: dict[str, Any] = {"n_real": len(real), "n_fake": len(fake), "k": settings.k}
    out.update(fidelity_metrics(real, fake, fake_logits, settings))
    density = prdc(real, fake, settings.k)
    out["density"], out["coverage"] = density["density"], density["coverage"]
    out.update(prd_metrics(real, fake, settings, num_classes))
    out.update(domain_metrics(real, fake, settings))
    return out


def domain_metrics(real: np.ndarray, fake: np.ndarray, settings: Any) -> dict[str, Any]:
    """SYNAuG's real-vs-synthetic domain-classifier accuracy (null where a set is too small)."""
    n = settings.domain_cls_n
    if min(len(real), len(fake)) < n:
        return {
            "domain_cls_acc": None,
            "domain_cls_note": f"not computed: domain_cls_n={n} per domain, got {len(real)} real "
            f"and {len(fake)} fake features; lower domain_cls_n or give more images",
        }
    return domain_classifier_accuracy(
        real, fake, n, settings.domain_cls_held_out, settings.seed, settings.domain_cls_c
    )


def frechet_distance(real: np.ndarray, fake: np.ndarray) -> float:
    """FID's Fréchet distance between Gaussians fitted to the two feature sets (samples x dims,
    covariance ddof 1): torch-fidelity's, the one implementation bench reports."""
    # torch, torch_fidelity: heavy, imported where used (off the start-up path)
    import torch
    from torch_fidelity.metric_fid import fid_features_to_statistics, fid_statistics_to_metric

    stats = [fid_features_to_statistics(torch.from_numpy(np.asarray(x))) for x in (fake, real)]
    return float(fid_statistics_to_metric(*stats, verbose=False)["frechet_inception_distance"])


def fidelity_metrics(
    real: np.ndarray, fake: np.ndarray, fake_logits: np.ndarray | None, settings: Any
) -> dict[str, Any]:
    """FID, KID, IS, precision and recall by torch-fidelity (input1 = fake, input2 = real)."""
    # torch, torch_fidelity: heavy, imported where used (off the start-up path)
    import torch
    from torch_fidelity.metric_isc import isc_features_to_metric
    from torch_fidelity.metric_kid import kid_features_to_metric
    from torch_fidelity.metric_prc import prc_features_to_metric

    fake_t, real_t = torch.from_numpy(fake), torch.from_numpy(real)
    subset = min(settings.kid_subset_size, len(real), len(fake))
    kid = kid_features_to_metric(
        fake_t,
        real_t,
        kid_subsets=settings.kid_subsets,
        kid_subset_size=subset,
        rng_seed=settings.seed,
        verbose=False,
    )
    prc = prc_features_to_metric(
        fake_t, real_t, prc_neighborhood=settings.k, save_cpu_ram=True, verbose=False
    )
    out: dict[str, Any] = {
        "fid": frechet_distance(real, fake),
        "kid_mean": kid["kernel_inception_distance_mean"],
        "kid_std": kid["kernel_inception_distance_std"],
        "kid_subset_size": subset,
        "precision": prc["precision"],
        "recall": prc["recall"],
        "is_mean": None,
        "is_std": None,
    }
    if fake_logits is not None:
        splits = min(settings.isc_splits, len(fake_logits))
        isc = isc_features_to_metric(
            torch.from_numpy(np.asarray(fake_logits, dtype=np.float32)), splits, True, settings.seed
        )
        out.update(
            is_mean=isc["inception_score_mean"], is_std=isc["inception_score_std"], is_splits=splits
        )
    return out


def prd_metrics(
    real: np.ndarray, fake: np.ndarray, settings: Any, num_classes: int
) -> dict[str, Any]:
    """F8 / F1/8 on equally many real and fake samples (the reference's enforce_balance)."""
    m = min(len(real), len(fake))
    clusters = settings.prd_clusters_per_class * num_classes
    names = (f"f{settings.beta:g}", f"f1_{settings.beta:g}")
    if 2 * m < clusters:
        return {
            names[0]: None,
            names[1]: None,
            "prd_note": f"not computed: {clusters} clusters need at least {clusters} samples, "
            f"got 2 x {m}",
        }
    real_sub = real[choose(len(real), m, settings.seed)]
    fake_sub = fake[choose(len(fake), m, settings.seed + 1)]
    scores = prd_scores(
        fake_sub,
        real_sub,
        num_clusters=clusters,
        beta=settings.beta,
        num_angles=settings.prd_angles,
        runs=settings.prd_runs,
        seed=settings.seed,
    )
    return {**scores, "prd_clusters": clusters, "prd_samples": m}
