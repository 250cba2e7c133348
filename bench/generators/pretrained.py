"""What the pretrained latent-diffusion backends (`sd`, `sd-ti`, `unclip`, `sd-imgvar`) share.

Weights are named by a Hugging Face model id plus a revision (defaults: entries of the weights
manifest, bench/weights.yaml) and read from a local directory (`model_dir`, a `save_pretrained`
layout) or the Hugging Face cache, always with `local_files_only`: nothing is downloaded. The
weights' identity (id, revision and a digest of the configs and file sizes found) is part of
every cache key. A run checks the files before any work (`weights_needed`, bench.runs.preflight);
without them the error names the model id and how to stage it.

On a GPU the pipelines run in bfloat16 (`dtype=auto`) with PyTorch's SDPA attention (diffusers'
default processor on torch 2) and sample `sample_batch_size` requests at once; on the CPU they
run in float32 (tests use tiny random-weight pipelines built from configs).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from bench import weights
from bench.errors import BenchError, ConfigError
from bench.generators import tiny
from bench.generators.base import SynthesisRequest, conditioning_embeddings, torch_dtype
from bench.hparams import hp

SCHEDULERS = ("ddim", "pndm", "ddpm")


@dataclass(frozen=True)
class PretrainedSettings:
    """Where a pretrained pipeline's weights are and how it runs."""

    model_id: str = hp(
        weights.repo_of("sd-2.1-base"),
        part="generator",
        source="a Hugging Face model id (read from the local cache only)",
    )
    revision: str = hp(
        "main", part="generator", source="the model's revision (branch, tag or commit)"
    )
    model_dir: str | None = hp(
        None,
        path=True,
        part="generator",
        source="harness: the Hugging Face cache unless a local pipeline folder is given",
        help="a folder written by save_pretrained (model_index.json and components), or "
        "'tiny': the pipeline class with tiny random weights built from configs (--smoke)",
    )
    dtype: str = hp(
        "auto",
        choices=("auto", "float32", "float16", "bfloat16"),
        part="generator",
        source="harness: bfloat16 on GPU, float32 on CPU",
    )
    resolution: int = hp(
        512,
        low=8,
        high=2048,
        part="generator",
        source="SD 2.1-base / Fill-Up: 512 x 512",
        help="side of the generated images (a multiple of 8)",
    )
    scheduler: str = hp(
        "ddim",
        choices=SCHEDULERS,
        part="synthesis",
        source="DDIM (Fill-Up Sec 3.1: DDIM 50 steps; FG App F: DDIM 30)",
    )
    negative_prompt: str = hp(
        "", part="synthesis", source="the empty prompt as CFG's unconditional branch (FG code)"
    )

    def __post_init__(self) -> None:
        if self.resolution % 8:
            raise ConfigError(
                f"resolution={self.resolution}: a latent-diffusion pipeline needs a multiple of 8 "
                "(its autoencoder downsamples 8x)."
            )
        parent = getattr(super(), "__post_init__", None)
        if parent is not None:
            parent()


def weights_dir(settings: Any) -> Path:
    """The local folder of the pipeline's weights (never downloaded)."""
    if settings.model_dir:
        path = Path(settings.model_dir).expanduser()
        if not (path / "model_index.json").is_file():
            raise BenchError(
                f"model_dir={path} holds no pipeline (no model_index.json). Point it at a folder "
                f"written by save_pretrained, e.g. a download of {settings.model_id}."
            )
        return path
    folder, found = weights.resolve_snapshot(settings.model_id, settings.revision)
    if folder is None:
        raise BenchError(
            f"the weights of {settings.model_id} (revision {settings.revision}) are not on this "
            f"machine ({found}), and bench never downloads while running. "
            + staging_hint(settings.model_id)
        )
    return folder


def staging_hint(model_id: str) -> str:
    """How to put a pipeline's weights where bench reads them."""
    entry = weights.find(repo=model_id)
    fetch = f"bench weights download {entry.name}" if entry else f"hf download {model_id}"
    return (
        f"On a machine with network: `{fetch}`, then copy "
        f"{weights.hf_repo_dir(model_id).name} into this machine's Hugging Face cache "
        f"({weights.hf_hub_cache()}; HF_HUB_CACHE or HF_HOME/hub); or save the pipeline to a "
        "folder and pass --set model_dir=FOLDER."
    )


def weights_digest(path: Path) -> str:
    """A digest of the configs and weight-file sizes of a pipeline folder (cheap: no weights
    are read), so replaced weights make new cache keys."""
    h = hashlib.sha256()
    for file in sorted(p for p in path.rglob("*") if p.is_file()):
        rel = file.relative_to(path).as_posix()
        h.update(rel.encode())
        if file.suffix in (".json", ".txt"):
            h.update(file.read_bytes())
        else:
            h.update(str(file.stat().st_size).encode())
    return h.hexdigest()[:16]


def pretrained_identity(settings: Any) -> dict[str, Any]:
    if tiny.is_tiny(settings):
        return tiny.identity()
    path = weights_dir(settings)
    return {
        "model_id": settings.model_id,
        "revision": settings.revision,
        "digest": weights_digest(path),
    }


class PretrainedPipeline:
    """What the pretrained backends declare: the diffusers class they load (`pipeline_class`),
    the weights that names (checked before any work) and the identity that keys their caches."""

    pipeline_class: ClassVar[str] = "StableDiffusionPipeline"

    @classmethod
    def weights_identity(cls, settings: Any) -> dict[str, Any]:
        return pretrained_identity(settings)

    @classmethod
    def weights_needed(cls, settings: Any) -> list[weights.Requirement]:
        if tiny.is_tiny(settings):  # a smoke run's pipeline is built from configs: no files
            return []
        return [
            weights.pipeline_requirement(
                settings.model_id, settings.revision, settings.model_dir, cls.pipeline_class
            )
        ]

    def __init__(self, pipe: Any, settings: Any):
        self.pipe, self.settings = pipe, settings
        self.image_size, self.channels = settings.resolution, 3
        check_resolution(self.image_size, pipe.unet, pipe.vae)

    @classmethod
    def for_data(cls, settings: Any, data: Any, device: str = "cpu") -> Any:
        """The backend on its pipeline class, loaded from local files (`load_pipeline`)."""
        return cls(load_pipeline(settings, device, cls.pipeline_class), settings)


def load_pipeline(settings: Any, device: str, cls_name: str = "StableDiffusionPipeline") -> Any:
    """A diffusers pipeline from local files only, on `device`, in the settings' dtype."""
    # diffusers: heavy, imported where used (off the start-up path)
    import diffusers

    if tiny.is_tiny(settings):  # a smoke run: the real class, random weights from configs
        pipe = tiny.build(cls_name)
        pipe.set_progress_bar_config(disable=True)
        return pipe.to(device)
    path = weights_dir(settings)
    cls = getattr(diffusers, cls_name)
    kwargs: dict[str, Any] = {"dtype": torch_dtype(settings.dtype, device)}
    if cls_name in ("StableDiffusionPipeline", "StableDiffusionImageVariationPipeline"):
        kwargs.update(safety_checker=None, requires_safety_checker=False)
    try:
        pipe = cls.from_pretrained(path, local_files_only=True, **kwargs)
    except (OSError, ValueError) as exc:
        raise BenchError(
            f"cannot load {settings.model_id} from {path} as a {cls_name}: {exc}"
        ) from None
    pipe.set_progress_bar_config(disable=True)
    return pipe.to(device)


def make_scheduler(name: str, config: Any) -> Any:
    # diffusers: heavy, imported where used (off the start-up path)
    from diffusers import DDIMScheduler, DDPMScheduler, PNDMScheduler

    cls = {"ddim": DDIMScheduler, "pndm": PNDMScheduler, "ddpm": DDPMScheduler}[name]
    return cls.from_config(config)


def prompts_of(requests: Sequence[SynthesisRequest]) -> list[str]:
    return [r.prompt or "" for r in requests]


def encode_text(pipe: Any, requests: Sequence[SynthesisRequest], negative: str) -> tuple[Any, Any]:
    """(conditional, unconditional) text embeddings of the requests' prompts."""
    prompts = prompts_of(requests)
    cond, uncond = pipe.encode_prompt(
        prompts,
        pipe.device,
        1,
        True,
        negative_prompt=[negative] * len(prompts),
    )
    return cond, uncond


def decode_latents(vae: Any, latents: Any) -> Any:
    """VAE latents -> pixels in [-1, 1] (differentiable, for x0 guidance)."""
    return vae.decode(latents / vae.config.scaling_factor).sample


def check_resolution(size: int, unet: Any, vae: Any) -> None:
    factor = 2 ** (len(vae.config.block_out_channels) - 1) * 2 ** (
        len(unet.config.block_out_channels) - 1
    )
    if size % factor:
        raise ConfigError(
            f"resolution={size}: this pipeline needs a multiple of {factor} "
            "(its autoencoder and UNet downsampling)."
        )


class CLIPImageInput:
    """The real images a CLIP-image-conditioned pipeline (`unclip`, `sd-imgvar`) embeds: read
    at the image encoder's crop size, RGB, embedded by the pipeline's own processor + encoder."""

    name: str
    pipe: Any
    real_images: Any = None

    def image_embeddings(self, requests: Sequence[SynthesisRequest], hooks: Any) -> Any:
        """The raw CLIP embedding each request is conditioned on (after the `images` /
        `embeddings` hooks); every request of these pipelines needs a conditioning image."""

        if self.real_images is None:
            raise ConfigError(f"the {self.name} generator needs the real images (set_real_images).")
        raw = conditioning_embeddings(requests, self.real_images.read, self.encode_images, hooks)
        if raw is None:
            raise ConfigError(
                f"every {self.name} request needs a conditioning image (the method's "
                "conditioning())."
            )
        return raw

    def set_real_images(self, split: Any, channels: int) -> None:
        # torch: heavy, imported where used (off the start-up path)
        from bench.data.torchdata import SplitImages

        crop = self.pipe.feature_extractor.crop_size
        side = int(getattr(crop, "height", None) or crop["height"])
        self.real_images = SplitImages(split, side, 3)  # CLIP sees RGB at its crop size

    def encode_images(self, images: Any) -> Any:
        """CLIP image embeddings of uint8 N x H x W x 3 images (the raw vector)."""
        # torch: heavy, imported where used (off the start-up path)
        import torch

        pixels = self.pipe.feature_extractor(images=list(images), return_tensors="pt").pixel_values
        encoder = self.pipe.image_encoder
        with torch.no_grad():
            return encoder(pixels.to(self.pipe.device, encoder.dtype)).image_embeds
