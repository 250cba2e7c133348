"""augcond-<variant>: augmentation-conditioning (Chen, Zhang, Romero-Soriano 2025), ten variants.

Each synthetic image is conditioned on its class (prompt "{class_name}" on Stable unCLIP, the
label on the embedded `ddpm`) and on an image embedding made from real training images of the
same class (augcond Sec 3.2, Table 1):

    random-image             the embedding of one random training image
    dropout                  the same with Dropout p = 0.4 on the embedding
    mixup / cutmix           two random images, mixed in pixel space, then encoded
    embed-mixup / -cutmix    two random images, encoded, then mixed in embedding space
    ...-dropout              Dropout on the (augmented) embedding afterwards

Everything random (the pair's lambda, the CutMix box, the Dropout mask) is drawn from the
request's own seed, so a sample does not depend on its batch or shard. The classifier then
trains on 50/50 real:synthetic batches with Balanced Softmax (augcond Table 4, App D).

Choices the paper leaves open, marked "ours" in their sources (docs/augcond.md): lambda ~
Beta(1, 1) for Mixup and CutMix (the CutMix paper's default); Embed-CutMix replaces one
contiguous span of (1 - lambda) D embedding dimensions (CutMix's box, in one dimension);
Dropout rescales kept entries by 1 / (1 - p), as a Dropout layer does (footnote 1: "equivalent to
using a Dropout layer on the last layer of the CLIP image encoder"). A class with one training
image is paired with itself (bench.synthesis.plans.expand).

The shared machinery, `ImageConditioned`, also serves FG (methods/fg.py) and the LDM baselines
(methods/ldm_txt.py): the backend choice (`generator=ddpm|unclip`), the prompt, the number of
conditioning images and the embedding Dropout.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from bench.datasets import EMBEDDED
from bench.errors import ConfigError
from bench.generators import capabilities
from bench.generators.ddpm_settings import DDPMSettings
from bench.generators.unclip import UnCLIPSettings
from bench.hparams import hp
from bench.io import seed_hash
from bench.method import Method, SynthesisHparams

BACKENDS = ("ddpm", "unclip", "sd-imgvar")
TINY_DDPM = {
    "unet_channels": (8, 16),
    "train_steps": 3,
    "batch_size": 8,
    "sampling_steps": 4,  # PNDM's warm-up needs 4 (augcond samples with PNDM)
    "num_train_timesteps": 10,
    "pretrain_per_class": 1,  # a 10-image printed corpus
    "encoder_steps": 2,
}
# --smoke on the pretrained backends: the protocol's pipeline class with tiny random weights.
TINY_PIPELINE = {"model_dir": "tiny", "resolution": 32, "sample_batch_size": 4}
UNCLIP_SOURCE = (
    "FG Sec 3.2 / App F, augcond Sec 3.2 / Table 4: Stable unCLIP 2.1 "
    "(LDM-v2.1-unCLIP), local weights"
)
EMBEDDED_DDPM = (
    "ours: no web-pretrained generator runs offline on the embedded digits: the harness's ddpm "
    "with a jointly trained image encoder standing in for CLIP (docs/fg.md)"
)
# The embedded datasets' generator; everywhere else the papers' Stable unCLIP.
ON_EMBEDDED = {d: {"generator": ("ddpm", EMBEDDED_DDPM)} for d in EMBEDDED}
IMAGENET_LT_EPOCHS = (150, "augcond Table 4 / FG App F.2: 150 epochs on ImageNet-LT")


@dataclass(frozen=True)
class ConditionedHparams(SynthesisHparams, DDPMSettings, UnCLIPSettings):
    """Settings of every method conditioned on a class and on real images of it."""

    generator: str = hp(
        "unclip",
        choices=BACKENDS,
        part="generator",
        source=UNCLIP_SOURCE,
        help="unclip (model_dir / HF cache) | ddpm (trained by the harness, image_conditioning "
        "on; the default on the embedded datasets) | sd-imgvar (SD image variations, the image "
        "embedding only: Fill-Up's Image Variation; give its model_id)",
    )
    image_conditioning: bool = hp(
        True,
        part="generator",
        source="dual conditioning on the class and a real image's embedding (FG Sec 3.2; augcond "
        "Sec 3.2); on ddpm a jointly trained encoder stands in for CLIP",
    )
    prompt: str = hp(
        "{class_name}",
        part="synthesis",
        source="FG footnote 4: prompts 'in the format of class-label'; augcond Sec 3: the text "
        "class label (unclip only: the ddpm generator is conditioned on the label itself)",
    )
    cond_dropout: float = hp(
        0.4,
        low=0.0,
        high=1.0,
        part="synthesis",
        source="augcond Sec 3.2: Dropout p = 0.4 on the CLIP image embedding",
        help="Dropout probability on the conditioning image embedding (0 = none, 1 = all)",
    )
    guidance_scale: float = hp(
        2.0,
        low=0.0,
        high=100.0,
        part="synthesis",
        source="augcond App B / Sec 4.1.2: CFG 2.0 for long-tail (10.0 for few-shot, App C)",
        help="classifier-free guidance w: eps_u + w (eps_c - eps_u)",
    )
    sampling_steps: int = hp(
        30, low=1, high=10_000, part="synthesis", source="augcond Table 4: 30 denoising steps"
    )
    scheduler: str = hp(
        "pndm",
        choices=("ddim", "pndm", "ddpm"),
        part="synthesis",
        source="augcond Table 4: PNDM, the Hugging Face default (unclip only; the ddpm backend "
        "samples with DDIM)",
    )
    resolution: int = hp(
        768, low=8, high=2048, part="generator", source="Stable unCLIP 2.1: 768 x 768"
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        pretrained = capabilities(self.generator).pretrained  # diffusers' schedulers
        if pretrained and self.scheduler == "pndm" and self.sampling_steps < 4:
            raise ConfigError(
                f"sampling_steps={self.sampling_steps} with scheduler=pndm: diffusers' PNDM "
                "needs at least 4 steps (its Runge-Kutta warm-up). Use more steps or "
                "scheduler=ddim."
            )


class ImageConditioned(Method):
    """Shared machinery: a class plus an embedding of real images of it, on ddpm or unclip.

    Subclasses set how many images a request takes (`IMAGES`) and may add pixel / embedding
    augmentations (`mix_images`, `mix_embeddings`); Dropout at `cond_dropout` follows them.
    """

    Hparams = ConditionedHparams
    generator = "unclip"  # the default; each instance uses its `generator` setting
    IMAGES: ClassVar[int] = 1
    VERSION = 1
    RECIPE = {
        "loss": ("balanced-softmax", "FG Sec 4.1 / augcond Table 4: Balanced Softmax"),
        "prior": ("real", "Fill-Up Sec 3.2: only real samples are counted in n_i"),
        "real_fraction": (0.5, "FG Sec 4.1 fn 3 / augcond App D: 50% real, 50% synthetic"),
    }
    TINY: ClassVar[dict[str, Any]] = {**TINY_DDPM, **TINY_PIPELINE}
    DATASET_DEFAULTS = ON_EMBEDDED
    pixel_mix: ClassVar[str | None] = None  # "mixup" | "cutmix" on the images
    embed_mix: ClassVar[str | None] = None  # "mixup" | "cutmix" on the embeddings

    def __init__(self, hparams: Any, context: Any):
        super().__init__(hparams, context)
        self.generator = hparams.generator

    def prompt(self) -> str | None:
        return self.hparams.prompt if capabilities(self.generator).prompts else None

    def conditioning(self) -> int:
        return self.IMAGES

    def sampling_hooks(self, generator: Any) -> Any:
        hooks = super().sampling_hooks(generator)
        hooks.images = self.mix_images if self.pixel_mix else None
        hooks.embeddings = self.embedding_hook
        return hooks

    def mix_images(self, images: np.ndarray, requests: Sequence[Any]) -> np.ndarray:
        """Pixel Mixup / CutMix of each request's two images (uint8 N x 2 x H x W x C)."""
        out = np.empty_like(images[:, 0])
        for i, r in enumerate(requests):
            rng = request_rng(r, "pixel-mix")
            lam = rng.beta(1.0, 1.0)
            a, b = images[i, 0].astype(np.float32), images[i, 1].astype(np.float32)
            if self.pixel_mix == "mixup":
                mixed = lam * a + (1 - lam) * b
            else:
                mixed = a.copy()
                y0, y1, x0, x1 = cutmix_box(a.shape[0], a.shape[1], lam, rng)
                mixed[y0:y1, x0:x1] = b[y0:y1, x0:x1]
            out[i] = np.clip(np.rint(mixed), 0, 255).astype(np.uint8)
        return out

    def embedding_hook(self, embeds: Any, requests: Sequence[Any]) -> Any:
        """N x k x D raw embeddings -> N x D: the embedding augmentation, then Dropout."""
        # torch: heavy, imported where used (off the start-up path)
        import torch

        if self.embed_mix is None:
            out = embeds[:, 0]
        else:
            rows = []
            for i, r in enumerate(requests):
                rng = request_rng(r, "embed-mix")
                lam = float(rng.beta(1.0, 1.0))
                a, b = embeds[i, 0], embeds[i, 1]
                if self.embed_mix == "mixup":
                    rows.append(lam * a + (1 - lam) * b)
                else:
                    d = a.shape[-1]
                    width = round((1 - lam) * d)
                    start = int(rng.integers(0, d - width + 1))
                    mask = torch.zeros(d, dtype=torch.bool, device=a.device)
                    mask[start : start + width] = True
                    rows.append(torch.where(mask, b, a))
            out = torch.stack(rows)
        return embedding_dropout(out, requests, self.hparams.cond_dropout)


def request_rng(request: Any, tag: str) -> np.random.Generator:
    """A random stream of one request (its own seed and a purpose tag)."""
    return np.random.default_rng(seed_hash(request.seed, tag))


def cutmix_box(h: int, w: int, lam: float, rng: np.random.Generator) -> tuple[int, int, int, int]:
    """CutMix's box (Yun et al. 2019): area (1 - lam) of the image, centre uniform, clipped."""
    cut = np.sqrt(1.0 - lam)
    ch, cw = int(h * cut), int(w * cut)
    cy, cx = int(rng.integers(h)), int(rng.integers(w))
    return (
        max(cy - ch // 2, 0),
        min(cy + ch // 2, h),
        max(cx - cw // 2, 0),
        min(cx + cw // 2, w),
    )


def embedding_dropout(embeds: Any, requests: Sequence[Any], p: float) -> Any:
    """Dropout on N x D embeddings, each row's mask from its request's seed; kept entries are
    scaled by 1 / (1 - p) as a Dropout layer does; p = 1 zeroes them (no conditioning image)."""
    # torch: heavy, imported where used (off the start-up path)
    import torch

    if p <= 0.0:
        return embeds
    if p >= 1.0:
        return torch.zeros_like(embeds)
    rows = []
    for i, r in enumerate(requests):
        g = torch.Generator().manual_seed(seed_hash(r.seed, "embedding-dropout"))
        keep = (torch.rand(embeds.shape[1:], generator=g) >= p).to(embeds.device, embeds.dtype)
        rows.append(embeds[i] * keep / (1.0 - p))
    return torch.stack(rows)


@dataclass(frozen=True)
class NoDropoutHparams(ConditionedHparams):
    cond_dropout: float = hp(
        0.0,
        low=0.0,
        high=1.0,
        part="synthesis",
        source="augcond Table 1: this variant has no Dropout",
        help="Dropout probability on the conditioning image embedding (0 = none, 1 = all)",
    )


FEW_SHOT = ("caltech101", "flowers102", "pascal-voc", "coco")
FEW_SHOT_PROTOCOL = {
    "guidance_scale": (10.0, "augcond App C: CFG 10.0 beats 2.0 on all four few-shot datasets"),
    "plan": (
        "ratio:15",
        "ours: augcond Sec 4.2 follows DA-Fusion (Trabucco et al. 2023) and states no count; "
        "DA-Fusion's train_classifier.py --num-synthetic 15 images per real image",
    ),
    "recipe.loss": ("ce", "augcond App D Table 4: CrossEntropy for few-shot fine-tuning"),
}
AUGCOND_PROTOCOLS = {
    **ON_EMBEDDED,
    "imagenet-lt": {"recipe.epochs": IMAGENET_LT_EPOCHS},
    **{d: FEW_SHOT_PROTOCOL for d in FEW_SHOT},
}


def variant(name: str, images: int, pixel: str | None, embed: str | None, dropout: bool) -> type:
    """One registered augcond variant (augcond Table 1)."""
    doc = f"augcond {name}: " + (
        f"{'pixel' if pixel else 'embedding'} {(pixel or embed).title()} of two same-class images"
        if pixel or embed
        else "one random same-class image"
    )
    doc += ", Dropout p = 0.4 on the embedding" if dropout else ""
    return type(
        "AugCond" + name.title().replace("-", ""),
        (ImageConditioned,),
        {
            "__doc__": doc + " (Chen et al. 2025, Table 1).",
            "__module__": __name__,
            "Hparams": ConditionedHparams if dropout else NoDropoutHparams,
            "IMAGES": images,
            "pixel_mix": pixel,
            "embed_mix": embed,
            "paper": f"augcond Table 1 '{name}'",
            "DATASET_DEFAULTS": AUGCOND_PROTOCOLS,
            "PAPER_DATASETS": ("imagenet-lt", *FEW_SHOT),
            # v2: the two images of a pair are distinct where the class has two
            "VERSION": 2 if images == 2 else 1,
        },
    )


AugCondRandomImage = variant("random-image", 1, None, None, False)
AugCondDropout = variant("dropout", 1, None, None, True)
AugCondMixup = variant("mixup", 2, "mixup", None, False)
AugCondMixupDropout = variant("mixup-dropout", 2, "mixup", None, True)
AugCondEmbedMixup = variant("embed-mixup", 2, None, "mixup", False)
AugCondEmbedMixupDropout = variant("embed-mixup-dropout", 2, None, "mixup", True)
AugCondCutmix = variant("cutmix", 2, "cutmix", None, False)
AugCondCutmixDropout = variant("cutmix-dropout", 2, "cutmix", None, True)
AugCondEmbedCutmix = variant("embed-cutmix", 2, None, "cutmix", False)
AugCondEmbedCutmixDropout = variant("embed-cutmix-dropout", 2, None, "cutmix", True)
