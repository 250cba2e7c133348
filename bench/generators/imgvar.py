"""`sd-imgvar`: Stable Diffusion image variations through diffusers, local weights.

Lambda Labs' Stable Diffusion fine-tuned to take the CLIP image embedding of one image in place of
the text encoder's output (`StableDiffusionImageVariationPipeline`): Fill-Up Table 1's "Image
Variation" (Sec 3.1, App B.2: lambda-diffusers, based on SD v1.3; guidance 3.0 as "high"). Each
request is conditioned on the CLIP embedding of its real training image (`cond_ids`), after the
`images` / `embeddings` hooks (augmentation-conditioning's Dropout, Mixup, CutMix act here as on
`unclip`); the embedding is the UNet's one-token cross-attention context and the unconditional
branch is zeros of it, as in diffusers. No prompt: the pipeline has no text encoder.
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
)
from bench.generators.sd import LatentDenoiser, sample_latents
from bench.hparams import hp

IMGVAR = weights.repo_of("sd-image-variations")


@dataclass(frozen=True)
class ImageVariationSettings(PretrainedSettings):
    capabilities = Capabilities(images=True, needs_images=True, pretrained=True)

    model_id: str = hp(
        IMGVAR,
        part="generator",
        source="Fill-Up Sec 3.1 / App B.2: Image Variation (lambda-diffusers)",
    )


class StableDiffusionImageVariationGenerator(CLIPImageInput, PretrainedPipeline, Generator):
    """SD image variations: the CLIP embedding of a real image is the whole condition."""

    name = "sd-imgvar"
    Settings = ImageVariationSettings
    pipeline_class = "StableDiffusionImageVariationPipeline"

    def draw(
        self,
        requests: Sequence[SynthesisRequest],
        hooks: SamplingHooks,
        steps: int = 50,
        progress: bool = False,
    ) -> SampleBatch:
        # torch: heavy, imported where used (off the start-up path)
        import torch

        context = self.image_embeddings(requests, hooks)[:, None, :].to(self.pipe.unet.dtype)
        text = (context, torch.zeros_like(context))  # the image embedding is its only input
        denoiser = LatentDenoiser(self.pipe, self.settings, requests, text, None)
        return sample_latents(denoiser, requests, steps, hooks, progress)
