"""Evaluation metrics.

Classification (numpy only): `shot_accuracy`, `group_accuracy`, `fairness`.
Generation: `prdc`, `prd_scores`, `domain_classifier_accuracy` (numpy, with torch /
scikit-learn / scipy imported inside the functions), and FID / KID / IS / precision / recall
through torch-fidelity (`bench.metrics.generation`; its `frechet_distance` is torch-fidelity's
FID) on features from the extractors in `EXTRACTORS` (imported only when one is built, so
importing this package never imports torch).
"""

from bench.metrics.accuracy import per_class_accuracy, shot_accuracy
from bench.metrics.checks import MetricInputError
from bench.metrics.domain import domain_classifier_accuracy
from bench.metrics.fairness import fairness
from bench.metrics.group import group_accuracy
from bench.metrics.manifold import prdc
from bench.metrics.prd import prd_curve, prd_scores
from bench.registry import Registry

# Feature extractors by name: `--extractor NAME` or `NAME:ARG` (a weights file, model directory
# or run directory). Each entry builds a torch-fidelity FeatureExtractorBase.
EXTRACTORS = Registry(
    "feature extractor",
    {
        "inception": "bench.metrics.extractors:build_inception",
        "clip": "bench.metrics.extractors:build_clip",
        "classifier": "bench.metrics.extractors:build_classifier_extractor",
        "small": "bench.metrics.extractors:build_small",
    },
)

__all__ = [
    "EXTRACTORS",
    "MetricInputError",
    "domain_classifier_accuracy",
    "fairness",
    "group_accuracy",
    "per_class_accuracy",
    "prd_curve",
    "prd_scores",
    "prdc",
    "shot_accuracy",
]
