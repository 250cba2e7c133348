"""Feature extractors for the generation metrics, all torch-fidelity `FeatureExtractorBase`s.

- inception: torch-fidelity's InceptionV3 (the TF-FID port: pool3 2048-d features for FID / KID /
  precision / recall, unbiased logits for IS), weights from a local file only;
- clip: a local CLIP vision model through transformers (`local_files_only=True`), its projected
  image embedding (the embedding torch-fidelity's own CLIP extractor returns);
- classifier: a finished bench run's classifier, its penultimate features (and logits for IS);
- small: a fixed random-weight CNN: no weights file, deterministic; for tests and smoke runs only.

Each builder takes the text after `NAME:` in `--extractor NAME:ARG` and returns an `Extractor`,
whose `identity` says what its features depend on (it keys the real-feature cache). Nothing is
ever downloaded: a missing file is an error that says which file to put where.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch_fidelity import register_feature_extractor
from torch_fidelity.feature_extractor_base import FeatureExtractorBase
from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3
from torch_fidelity.interpolate_compat_tensorflow import interpolate_bilinear_2d_like_tensorflow1x
from torch_fidelity.registry import FEATURE_EXTRACTORS_REGISTRY

from bench import weights
from bench.data.torchdata import mean_std
from bench.errors import BenchError, ConfigError
from bench.io import file_digest
from bench.metrics import EXTRACTORS

# The weights are entries of the manifest (bench/weights.yaml; `bench weights download`).
INCEPTION_URL = weights.url_of("inception-fid")
INCEPTION_FILE = INCEPTION_URL.rsplit("/", 1)[-1]
INCEPTION_ENV = "BENCH_INCEPTION_WEIGHTS"
CLIP_ENV = "BENCH_CLIP_MODEL"
# ViT-B/32 is torch-fidelity's default CLIP extractor and the model of Kynkäänniemi et al. 2023
# ("The role of ImageNet classes in Fréchet Inception Distance").
CLIP_DEFAULT = weights.repo_of("clip-vit-b32")
OPENAI_CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
OPENAI_CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


@dataclass
class Extractor:
    """A torch-fidelity feature extractor plus which of its outputs each metric uses."""

    name: str
    module: FeatureExtractorBase
    feature: str  # for FID, KID, precision / recall, density / coverage and PRD
    logits: str | None  # for IS; None where the extractor has no class logits
    identity: dict[str, Any] = field(default_factory=dict)
    device: str = "cpu"

    @torch.no_grad()
    def __call__(self, images: np.ndarray) -> dict[str, np.ndarray]:
        """uint8 N x H x W x 3 images -> {"features": N x D, "logits": N x C (if any)}."""
        x = torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).to(self.device)
        out = self.module.convert_features_tuple_to_dict(self.module(x))
        result = {"features": out[self.feature].float().cpu().numpy()}
        if self.logits is not None:
            result["logits"] = out[self.logits].float().cpu().numpy()
        return result


@dataclass(frozen=True)
class ExtractorContext:
    device: str = "cpu"
    image_size: int | None = None  # the real images' size (the classifier extractor's fallback)
    # Loads a run's classifier (bench.runs.models.load_classifier): given by the caller, so the
    # metrics never read run directories or configs themselves.
    load_classifier: Any = None


def build_extractor(spec: str, context: ExtractorContext | None = None) -> Extractor:
    """`NAME` or `NAME:ARG` (see EXTRACTORS) -> a ready, evaluation-mode Extractor."""

    name, _, arg = spec.partition(":")
    builder = EXTRACTORS[name]
    context = context or ExtractorContext()
    extractor = builder(arg or None, context)
    extractor.module.to(context.device).eval().requires_grad_(False)
    extractor.device = context.device
    return extractor


class BenchExtractorBase(FeatureExtractorBase):
    """What torch-fidelity asks of every extractor and is the same for ours."""

    @staticmethod
    def can_be_compiled() -> bool:
        return False  # small or external models: torch.compile would cost more than it saves

    @staticmethod
    def get_dummy_input_for_compile() -> torch.Tensor:
        return torch.zeros(1, 3, 4, 4, dtype=torch.uint8)


class FeaturesAndLogits(BenchExtractorBase):
    """An extractor with penultimate 'features' (FID, KID, PRC, ...) and class 'logits' (IS)."""

    @staticmethod
    def get_provided_features_list() -> tuple[str, ...]:
        return ("features", "logits")

    @staticmethod
    def get_default_feature_layer_for_metric(metric: str) -> str:
        return "logits" if metric == "isc" else "features"

    def requested(self, features: torch.Tensor, logits: torch.Tensor) -> tuple[torch.Tensor, ...]:
        out = {"features": features.float(), "logits": logits.float()}
        return tuple(out[name] for name in self.features_list)


# inception ---------------------------------------------------------------------------------------


def inception_weights(arg: str | None) -> Path:
    """The local InceptionV3 weights: ARG, else $BENCH_INCEPTION_WEIGHTS, else torch's hub cache."""
    hub_path = weights.torch_hub_file(INCEPTION_URL)
    candidates = [Path(p).expanduser() for p in (arg, os.environ.get(INCEPTION_ENV)) if p]
    for path in candidates or [hub_path]:
        if path.is_file():
            return path
    looked = ", ".join(str(p) for p in candidates or [hub_path])
    raise BenchError(
        f"InceptionV3 weights for FID not found (looked at {looked}); nothing is downloaded "
        f"here. Fetch {INCEPTION_URL} on a machine with internet (`bench weights download "
        f"inception-fid`) and put it at {hub_path} "
        f"(torch-fidelity's own cache), or point to it with --extractor inception:/path/to/"
        f"{INCEPTION_FILE} or {INCEPTION_ENV}=/path/to/{INCEPTION_FILE}."
    )


def build_inception(arg: str | None, context: ExtractorContext) -> Extractor:
    path = inception_weights(arg)
    try:
        module = FeatureExtractorInceptionV3(
            "inception-v3-compat",
            ["2048", "logits_unbiased"],
            feature_extractor_weights_path=str(path),
        )
    except (RuntimeError, OSError, KeyError) as exc:
        raise BenchError(
            f"{path} is not torch-fidelity's InceptionV3 state dict ({exc}). Use {INCEPTION_URL}."
        ) from exc
    identity = {"name": "inception", "weights": INCEPTION_FILE, "sha256": file_digest(path)}
    return Extractor("inception", module, "2048", "logits_unbiased", identity)


# clip --------------------------------------------------------------------------------------------


def clip_model_dir(source: str) -> Path:
    """A local directory, or a Hugging Face repo id already in the local cache (never fetched)."""
    path = Path(source).expanduser()
    if path.is_dir():
        return path
    if path.is_absolute() or source.startswith("."):
        raise BenchError(f"CLIP model directory {path} does not exist.")
    folder, found = weights.resolve_snapshot(source, "main")
    if folder is not None:
        return folder
    entry = weights.find(repo=source)
    fetch = f"bench weights download {entry.name}" if entry else f"hf download {source}"
    raise BenchError(
        f"CLIP model {source!r} is not on this machine ({found}); nothing is downloaded here. "
        "Pass --extractor clip:/path/to/model-dir (a directory written by save_pretrained: "
        f"config.json + model.safetensors), or set {CLIP_ENV}, or fill the Hugging Face cache "
        f"on a machine with internet (`{fetch}`) and copy it over."
    )


class ClipExtractor(BenchExtractorBase):
    """CLIP image embeddings of a local transformers checkpoint (torch-fidelity: 'bench-clip')."""

    def __init__(self, name: str, features_list: list[str], bench_clip_dir: str = "", **kwargs):
        super().__init__(name, features_list)
        # transformers: heavy, imported where used (off the start-up path)
        from transformers import CLIPVisionModel, CLIPVisionModelWithProjection

        model_dir = Path(bench_clip_dir)
        try:
            model, info = CLIPVisionModelWithProjection.from_pretrained(
                model_dir, local_files_only=True, output_loading_info=True
            )
        except (OSError, ValueError) as exc:
            raise BenchError(f"cannot load a CLIP vision model from {model_dir}: {exc}") from exc
        self.embedding = "projection"
        if any(k.startswith("visual_projection") for k in info["missing_keys"]):
            # A vision tower saved without its projection: use the pooled output rather than a
            # randomly initialised projection.
            model = CLIPVisionModel.from_pretrained(model_dir, local_files_only=True)
            self.embedding = "pooler"
        self.model = model.eval()
        self.resolution = int(model.config.image_size)
        mean, std = clip_normalisation(model_dir)
        self.register_buffer("mean", torch.tensor(mean).view(1, 3, 1, 1) * 255)
        self.register_buffer("std", torch.tensor(std).view(1, 3, 1, 1) * 255)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:

        # The resize and normalisation of torch-fidelity's CLIP extractor.
        x = interpolate_bilinear_2d_like_tensorflow1x(
            x.float(), size=(self.resolution, self.resolution), align_corners=False
        )
        out = self.model(pixel_values=(x - self.mean) / self.std)
        emb = out.image_embeds if self.embedding == "projection" else out.pooler_output
        return (emb.float(),)

    @staticmethod
    def get_provided_features_list() -> tuple[str, ...]:
        return ("clip",)

    @staticmethod
    def get_default_feature_layer_for_metric(metric: str) -> str:
        return "clip"


def clip_normalisation(model_dir: Path) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """image_mean / image_std of the checkpoint's preprocessor, else OpenAI CLIP's."""
    config = model_dir / "preprocessor_config.json"
    if config.is_file():
        values = json.loads(config.read_text(encoding="utf-8"))
        if "image_mean" in values and "image_std" in values:
            return tuple(values["image_mean"]), tuple(values["image_std"])
    return OPENAI_CLIP_MEAN, OPENAI_CLIP_STD


def build_clip(arg: str | None, context: ExtractorContext) -> Extractor:
    model_dir = clip_model_dir(arg or os.environ.get(CLIP_ENV) or CLIP_DEFAULT)
    module = ClipExtractor("bench-clip", ["clip"], bench_clip_dir=str(model_dir))
    weights = sorted(p for p in model_dir.iterdir() if p.suffix in (".safetensors", ".bin"))
    identity = {
        "name": "clip",
        "source": str(model_dir),
        "embedding": module.embedding,
        "weights": {p.name: file_digest(p) for p in weights},
    }
    return Extractor("clip", module, "clip", None, identity)


# classifier --------------------------------------------------------------------------------------


class ClassifierExtractor(FeaturesAndLogits):
    """Penultimate features and logits of a bench run's classifier ('bench-classifier')."""

    def __init__(
        self,
        name: str,
        features_list: list[str],
        bench_classifier: Any = None,
        bench_image_size: int | None = None,
        **kwargs,
    ):
        super().__init__(name, features_list)

        if bench_classifier is None:
            raise ConfigError("the classifier extractor needs a loaded classifier.")
        self.model, self.channels = bench_classifier.model, bench_classifier.channels
        self.checkpoint = bench_classifier.checkpoint
        self.image_size = int(bench_classifier.image_size or bench_image_size or 0)
        if not self.image_size:
            raise ConfigError(
                f"{bench_classifier.run_dir}: its dataset has no image_size option; give the "
                "classifier's input size (eval-gen passes the dataset's)."
            )
        mean, std = mean_std(bench_classifier.normalize, self.channels)
        self.register_buffer("mean", mean[None])
        self.register_buffer("std", std[None])

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        x = x.float() / 255.0
        if self.channels == 1:  # a grayscale classifier sees the mean of the RGB channels
            x = x.mean(dim=1, keepdim=True)
        if x.shape[-2:] != (self.image_size, self.image_size):
            size = (self.image_size, self.image_size)
            x = F.interpolate(x, size=size, mode="bilinear", antialias=True)
        features = self.model.features((x - self.mean) / self.std)
        return self.requested(features, self.model.head(features))


def build_classifier_extractor(arg: str | None, context: ExtractorContext) -> Extractor:
    if not arg:
        raise ConfigError(
            "the classifier extractor needs a run: --extractor classifier:results/runs/<run>."
        )
    if context.load_classifier is None:
        raise ConfigError("the classifier extractor needs a run loader (bench eval-gen gives one).")
    module = ClassifierExtractor(
        "bench-classifier",
        ["features", "logits"],
        bench_classifier=context.load_classifier(arg),
        bench_image_size=context.image_size,
    )
    identity = {
        "name": "classifier",
        "run": Path(arg).name,
        "checkpoint": module.checkpoint.name,
        "sha256": file_digest(module.checkpoint),
        "image_size": module.image_size,
    }
    return Extractor("classifier", module, "features", "logits", identity)


# small -------------------------------------------------------------------------------------------


class SmallExtractor(FeaturesAndLogits):
    """A fixed random-weight CNN (seed 0): 64-d features and 10 logits, no weights file.

    Its numbers mean nothing against published FIDs; it exists so the whole generation-metric
    path (extraction, caching, torch-fidelity, records) runs offline in tests ('bench-small').
    """

    SEED = 0
    SIZE = 32
    VERSION = 1

    def __init__(self, name: str, features_list: list[str], **kwargs):
        super().__init__(name, features_list)
        g = torch.Generator().manual_seed(self.SEED)
        # He-scaled random weights on standardised pixels: features of order 1, so that FID and
        # the nearest-neighbour metrics see spreads of a useful size.
        self.w1 = torch.nn.Parameter(torch.randn(16, 3, 3, 3, generator=g) * (2 / 27) ** 0.5)
        self.w2 = torch.nn.Parameter(torch.randn(32, 16, 3, 3, generator=g) * (2 / 144) ** 0.5)
        self.head = torch.nn.Parameter(torch.randn(10, 64, generator=g) * 0.5)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        x = F.interpolate(
            x.float() / 255.0, size=(self.SIZE, self.SIZE), mode="bilinear", antialias=True
        )
        x = (x - 0.5) / 0.25
        x = F.relu(F.conv2d(x, self.w1, stride=2, padding=1))
        x = F.relu(F.conv2d(x, self.w2, stride=2, padding=1))
        features = torch.cat([x.mean(dim=(2, 3)), x.amax(dim=(2, 3))], dim=1)
        return self.requested(features, features @ self.head.T)


def build_small(arg: str | None, context: ExtractorContext) -> Extractor:
    module = SmallExtractor("bench-small", ["features", "logits"])
    identity = {"name": "small", "seed": SmallExtractor.SEED, "version": SmallExtractor.VERSION}
    return Extractor("small", module, "features", "logits", identity)


def register_with_torch_fidelity() -> None:
    """Make 'bench-small', 'bench-clip' and 'bench-classifier' usable in calculate_metrics."""

    for name, cls in (
        ("bench-small", SmallExtractor),
        ("bench-clip", ClipExtractor),
        ("bench-classifier", ClassifierExtractor),
    ):
        if name not in FEATURE_EXTRACTORS_REGISTRY:
            register_feature_extractor(name, cls)


register_with_torch_fidelity()
