"""Tiny random-weight pipelines of the real diffusers classes, built offline from configs.

`bench run --smoke` runs a protocol's own backend (`sd`, `sd-ti`, `unclip`, `sd-imgvar`) on
these instead of the multi-GB weights: the same pipeline class, the same sampling, guidance,
conditioning and inversion code, with 32 px images, 4 latent channels and CLIP widths of 32 (the
shapes of diffusers' own pipeline tests), in well under a second a batch on a CPU. Nothing is
downloaded or written: the pipeline is built in memory from a fixed seed, so every smoke run of a
backend sees the same weights. A settings object asks for one with `model_dir=tiny`.

The tests save the same pipelines with `save_pretrained` and load them back through the real
loading code (tests/fixtures/tiny_pipelines.py).
"""

from __future__ import annotations

from typing import Any

TINY = "tiny"
# Bumped when the pipelines below change shape: part of the cache keys of what they make.
VERSION = 1
SIZE = 32  # the side of the images the tiny pipelines make (a multiple of their 8x downsampling)


def is_tiny(settings: Any) -> bool:
    return getattr(settings, "model_dir", None) == TINY


def tokenizer() -> Any:
    """A CLIP tokenizer from an in-memory vocabulary (every byte character, no merges)."""
    # transformers: heavy, imported where used (off the start-up path)
    from transformers import CLIPTokenizer
    from transformers.convert_slow_tokenizer import bytes_to_unicode

    vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1}
    for c in bytes_to_unicode().values():
        vocab.setdefault(c, len(vocab))
        vocab.setdefault(c + "</w>", len(vocab))
    return CLIPTokenizer(vocab=vocab, merges=[], model_max_length=77)


def text_encoder(vocab_size: int) -> Any:
    # transformers: heavy, imported where used (off the start-up path)
    from transformers import CLIPTextConfig, CLIPTextModel

    config = CLIPTextConfig(
        hidden_size=32,
        intermediate_size=37,
        num_attention_heads=4,
        num_hidden_layers=2,
        vocab_size=vocab_size,
        projection_dim=32,
        bos_token_id=0,
        eos_token_id=1,
        pad_token_id=1,
    )
    return CLIPTextModel(config).eval()


def vae() -> Any:
    # diffusers: heavy, imported where used (off the start-up path)
    from diffusers import AutoencoderKL

    return AutoencoderKL(
        block_out_channels=[32, 64],
        in_channels=3,
        out_channels=3,
        down_block_types=["DownEncoderBlock2D", "DownEncoderBlock2D"],
        up_block_types=["UpDecoderBlock2D", "UpDecoderBlock2D"],
        latent_channels=4,
        sample_size=SIZE,
    )


def unet(**extra: Any) -> Any:
    # diffusers: heavy, imported where used (off the start-up path)
    from diffusers import UNet2DConditionModel

    return UNet2DConditionModel(
        block_out_channels=(32, 64),
        layers_per_block=1,
        sample_size=SIZE // 2,
        in_channels=4,
        out_channels=4,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=32,
        **extra,
    )


def vision(projection_dim: int = 32) -> Any:
    # transformers: heavy, imported where used (off the start-up path)
    from transformers import CLIPVisionConfig, CLIPVisionModelWithProjection

    return CLIPVisionModelWithProjection(
        CLIPVisionConfig(
            hidden_size=32,
            projection_dim=projection_dim,
            num_hidden_layers=2,
            num_attention_heads=4,
            intermediate_size=37,
            image_size=SIZE,
            patch_size=4,
        )
    ).eval()


def ddim(**extra: Any) -> Any:
    # diffusers: heavy, imported where used (off the start-up path)
    from diffusers import DDIMScheduler

    return DDIMScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", **extra)


def image_processor() -> Any:
    # transformers: heavy, imported where used (off the start-up path)
    from transformers import CLIPImageProcessor

    return CLIPImageProcessor(crop_size=SIZE, size=SIZE)


def stable_diffusion() -> Any:
    # diffusers: heavy, imported where used (off the start-up path)
    from diffusers import StableDiffusionPipeline

    tok = tokenizer()
    return StableDiffusionPipeline(
        vae=vae(),
        text_encoder=text_encoder(len(tok)),
        tokenizer=tok,
        unet=unet(),
        scheduler=ddim(clip_sample=False),
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )


def image_variation() -> Any:
    """SD image variations: a CLIP image encoder and a UNet attending to its embedding."""
    # diffusers: heavy, imported where used (off the start-up path)
    from diffusers import StableDiffusionImageVariationPipeline

    return StableDiffusionImageVariationPipeline(
        vae=vae(),
        image_encoder=vision(32),
        unet=unet(),
        scheduler=ddim(clip_sample=False),
        safety_checker=None,
        feature_extractor=image_processor(),
        requires_safety_checker=False,
    )


def stable_unclip() -> Any:
    """Stable unCLIP (img2img): the UNet takes the image embedding joined to its noise-level
    embedding (2 x 32) as a projected class embedding, v-prediction as unCLIP 2.1."""
    # diffusers: heavy, imported where used (off the start-up path)
    from diffusers import DDPMScheduler, StableUnCLIPImg2ImgPipeline
    from diffusers.pipelines.stable_diffusion.stable_unclip_image_normalizer import (
        StableUnCLIPImageNormalizer,
    )

    tok = tokenizer()
    return StableUnCLIPImg2ImgPipeline(
        feature_extractor=image_processor(),
        image_encoder=vision(32),
        image_normalizer=StableUnCLIPImageNormalizer(embedding_dim=32),
        image_noising_scheduler=DDPMScheduler(beta_schedule="squaredcos_cap_v2"),
        tokenizer=tok,
        text_encoder=text_encoder(len(tok)),
        unet=unet(class_embed_type="projection", projection_class_embeddings_input_dim=64),
        scheduler=ddim(prediction_type="v_prediction", set_alpha_to_one=False, steps_offset=1),
        vae=vae(),
    )


BUILDERS = {
    "StableDiffusionPipeline": stable_diffusion,
    "StableDiffusionImageVariationPipeline": image_variation,
    "StableUnCLIPImg2ImgPipeline": stable_unclip,
}


def build(cls_name: str, seed: int = 0) -> Any:
    """The tiny pipeline of class `cls_name`, its random weights drawn from `seed`."""
    # torch: heavy, imported where used (off the start-up path)
    import torch

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return BUILDERS[cls_name]()


def identity() -> dict[str, Any]:
    """What stands for the weights' identity in cache keys."""
    return {"model_id": TINY, "revision": f"v{VERSION}", "digest": f"tiny-v{VERSION}"}
