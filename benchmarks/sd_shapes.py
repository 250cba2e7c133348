"""Stable Diffusion 2.1-base and Stable unCLIP 2.1 at their published shapes, in random weights.

The classes the real weights load into (diffusers' UNet2DConditionModel and AutoencoderKL,
transformers' CLIP text and vision models), built from configs on the device itself: nothing is
downloaded, and a benchmark sees the real FLOPs and memory. The configs, from the published
files:

- SD 2.1-base (stabilityai/stable-diffusion-2-1-base, unet/config.json): block_out_channels
  320/640/1280/1280, layers_per_block 2, three CrossAttnDownBlock2D then a DownBlock2D (and the
  mirror image up), attention_head_dim 5/10/20/20, cross_attention_dim 1024,
  use_linear_projection true, upcast_attention false, sample_size 64 (512 px); epsilon
  prediction, scaled_linear betas 0.00085-0.012.
- Stable unCLIP 2.1 (stabilityai/stable-diffusion-2-1-unclip; Stability's
  v2-1-stable-unclip-h-inference.yaml): the same UNet (model_channels 320, channel_mult 1/2/4/4,
  num_head_channels 64, use_linear_in_transformer, context_dim 1024) at image_size 96 (768 px),
  with `adm_in_channels: 2048`, which diffusers loads as class_embed_type "projection" with
  projection_class_embeddings_input_dim 2048: the 1024-d CLIP ViT-H image embedding joined to
  its 1024-d noise-level embedding (noise augmentation: 1000 steps, squaredcos_cap_v2);
  parameterization "v".
- VAE (both): block_out_channels 128/256/512/512, layers_per_block 2, 4 latent channels.
- Text encoder (both): OpenCLIP ViT-H's text tower up to its penultimate layer, as CLIPTextModel:
  hidden 1024, 23 layers, 16 heads, MLP 4096, GELU, 77 positions, vocabulary 49,408.
- Image encoder (unCLIP): CLIP ViT-H/14 as CLIPVisionModelWithProjection: hidden 1280, 32 layers,
  16 heads, MLP 5120, patch 14 at 224 px, projection 1024; its processor crops 224.

Parameters: UNet 865.9 M (unCLIP's 870.2 M with the projection), VAE 83.7 M, text encoder
340.4 M, image encoder 632.1 M (tests/test_gpu_check.py counts them). The tokenizer is
bench.generators.tiny's (every byte, no merges; the real vocabulary needs its files): it pads
to the same 77 tokens.
"""

from __future__ import annotations

from typing import Any

import torch

UNET = {
    "block_out_channels": (320, 640, 1280, 1280),
    "layers_per_block": 2,
    "down_block_types": ("CrossAttnDownBlock2D",) * 3 + ("DownBlock2D",),
    "up_block_types": ("UpBlock2D",) + ("CrossAttnUpBlock2D",) * 3,
    "attention_head_dim": (5, 10, 20, 20),
    "cross_attention_dim": 1024,
    "use_linear_projection": True,
    "in_channels": 4,
    "out_channels": 4,
}
UNCLIP_UNET = {"class_embed_type": "projection", "projection_class_embeddings_input_dim": 2048}
TEXT = {
    "vocab_size": 49408,
    "hidden_size": 1024,
    "intermediate_size": 4096,
    "num_hidden_layers": 23,
    "num_attention_heads": 16,
    "max_position_embeddings": 77,
    "hidden_act": "gelu",
    "projection_dim": 512,
}
IMAGE = {
    "hidden_size": 1280,
    "intermediate_size": 5120,
    "num_hidden_layers": 32,
    "num_attention_heads": 16,
    "patch_size": 14,
    "image_size": 224,
    "projection_dim": 1024,
    "hidden_act": "gelu",
}
NATIVE = {"StableDiffusionPipeline": 512, "StableUnCLIPImg2ImgPipeline": 768}


def unet(size: int, **extra: Any) -> Any:
    from diffusers import UNet2DConditionModel

    return UNet2DConditionModel(sample_size=size // 8, **UNET, **extra)


def vae(size: int) -> Any:
    from diffusers import AutoencoderKL

    return AutoencoderKL(
        block_out_channels=(128, 256, 512, 512),
        down_block_types=("DownEncoderBlock2D",) * 4,
        up_block_types=("UpDecoderBlock2D",) * 4,
        layers_per_block=2,
        latent_channels=4,
        sample_size=size,
    )


def ddim(prediction: str) -> Any:
    from diffusers import DDIMScheduler

    return DDIMScheduler(
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        prediction_type=prediction,
        clip_sample=False,
        set_alpha_to_one=False,
        steps_offset=1,
    )


def text_encoder(tokenizer: Any) -> Any:
    from transformers import CLIPTextConfig, CLIPTextModel

    # bos / eos / pad of the tokenizer used (the real ones are 0 / 2 / 1 of the real vocabulary)
    ids = {"bos_token_id": 0, "eos_token_id": tokenizer.eos_token_id, "pad_token_id": 1}
    return CLIPTextModel(CLIPTextConfig(**TEXT, **ids)).eval()


def image_encoder() -> Any:
    from transformers import CLIPVisionConfig, CLIPVisionModelWithProjection

    return CLIPVisionModelWithProjection(CLIPVisionConfig(**IMAGE)).eval()


def sd_modules(tokenizer: Any) -> dict[str, Any]:
    size = NATIVE["StableDiffusionPipeline"]
    return {"vae": vae(size), "text_encoder": text_encoder(tokenizer), "unet": unet(size)}


def unclip_modules(tokenizer: Any) -> dict[str, Any]:
    from diffusers.pipelines.stable_diffusion.stable_unclip_image_normalizer import (
        StableUnCLIPImageNormalizer,
    )

    size = NATIVE["StableUnCLIPImg2ImgPipeline"]
    return {
        "image_encoder": image_encoder(),
        "image_normalizer": StableUnCLIPImageNormalizer(embedding_dim=1024),
        "text_encoder": text_encoder(tokenizer),
        "unet": unet(size, **UNCLIP_UNET),
        "vae": vae(size),
    }


def stable_diffusion(tokenizer: Any, modules: dict[str, Any]) -> Any:
    from diffusers import StableDiffusionPipeline

    return StableDiffusionPipeline(
        **modules,
        tokenizer=tokenizer,
        scheduler=ddim("epsilon"),
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )


def stable_unclip(tokenizer: Any, modules: dict[str, Any]) -> Any:
    from diffusers import DDPMScheduler, StableUnCLIPImg2ImgPipeline
    from transformers import CLIPImageProcessor

    return StableUnCLIPImg2ImgPipeline(
        **modules,
        feature_extractor=CLIPImageProcessor(crop_size=224, size=224),
        image_noising_scheduler=DDPMScheduler(
            num_train_timesteps=1000, beta_schedule="squaredcos_cap_v2"
        ),
        tokenizer=tokenizer,
        scheduler=ddim("v_prediction"),
    )


BUILDERS = {
    "StableDiffusionPipeline": (sd_modules, stable_diffusion),
    "StableUnCLIPImg2ImgPipeline": (unclip_modules, stable_unclip),
}


def build(cls_name: str, device: str, dtype: torch.dtype, seed: int = 0) -> Any:
    """The pipeline of class `cls_name` at its published shapes: its networks' random weights
    drawn on `device` itself from `seed` (schedulers and processors stay on the CPU, as
    from_pretrained makes them), in `dtype`."""
    from bench.generators import tiny

    modules, pipeline = BUILDERS[cls_name]
    tokenizer = tiny.tokenizer()
    torch.manual_seed(seed)
    with torch.device(device):
        networks = modules(tokenizer)
    pipe = pipeline(tokenizer, networks)
    pipe.set_progress_bar_config(disable=True)
    return pipe.to(device, dtype)
