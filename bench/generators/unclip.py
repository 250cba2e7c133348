"""`unclip`: Stable unCLIP 2.1 (image variations with a prompt) through diffusers, local weights.

Each request is conditioned on a text prompt and on the CLIP image embedding of real training
images (its `cond_ids`), the dual conditioning of FG (Sec 3.2) and augmentation-conditioning.
The raw CLIP embedding passes the `embeddings` hook (dropout, Mixup, CutMix) and the `images`
hook acts on the real images before CLIP encodes them (pixel Mixup / CutMix); only then is the
embedding normalised, noised by `noise_level` and joined to its noise-level embedding, as the
pipeline does (the unconditional branch is zeros of that vector, as in diffusers).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from bench import weights
from bench.generators.base import (
    Capabilities,
    Generator,
    SampleBatch,
    SamplingHooks,
    SynthesisRequest,
)
from bench.generators.pretrained import (
    CLIPImageInput,
    PretrainedPipeline,
    PretrainedSettings,
    encode_text,
)
from bench.generators.sd import LatentDenoiser, sample_latents
from bench.hparams import hp

UNCLIP = weights.repo_of("sd-unclip-2.1")


@dataclass(frozen=True)
class UnCLIPSettings(PretrainedSettings):
    capabilities = Capabilities(prompts=True, images=True, needs_images=True, pretrained=True)

    model_id: str = hp(
        UNCLIP, part="generator", source="FG Sec 3.2 / augcond: LDM-v2.1-unCLIP (Stable unCLIP)"
    )
    resolution: int = hp(
        768, low=8, high=2048, part="generator", source="Stable unCLIP 2.1: 768 x 768"
    )
    noise_level: int = hp(
        0,
        low=0,
        high=1000,
        part="synthesis",
        source="diffusers StableUnCLIPImg2ImgPipeline default noise_level=0",
    )


class StableUnCLIPGenerator(CLIPImageInput, PretrainedPipeline, Generator):
    """Stable unCLIP: a prompt plus the CLIP embedding of real images, from local weights."""

    name = "unclip"
    Settings = UnCLIPSettings
    pipeline_class = "StableUnCLIPImg2ImgPipeline"

    def draw(
        self,
        requests: Sequence[SynthesisRequest],
        hooks: SamplingHooks,
        steps: int = 30,
        progress: bool = False,
    ) -> SampleBatch:
        # torch: heavy, imported where used (off the start-up path)
        import torch

        raw = self.image_embeddings(requests, hooks)
        noise = torch.stack(
            [
                torch.randn(raw.shape[1:], generator=torch.Generator().manual_seed(r.seed + 1))
                for r in requests
            ]
        ).to(raw.device, raw.dtype)
        with torch.no_grad():
            embeds = self.pipe.noise_image_embeddings(raw, self.settings.noise_level, noise=noise)
        image = (embeds, torch.zeros_like(embeds))
        text = encode_text(self.pipe, requests, self.settings.negative_prompt)
        denoiser = LatentDenoiser(self.pipe, self.settings, requests, text, image)
        return sample_latents(denoiser, requests, steps, hooks, progress)
