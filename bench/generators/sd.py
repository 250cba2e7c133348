"""`sd`: Stable Diffusion (1.5 / 2.1) text-to-image through diffusers, from local weights.

Requests carry a prompt ("a photo of a {class_name}", Fill-Up's learned "a photo of a *", ...);
learned textual-inversion tokens can be added per class (`add_tokens`, or `token_embeddings`:
a folder of `<token>.safetensors` files written by a fit stage). Sampling runs through the
shared loop of bench.generators.base, so classifier-free guidance and x0-criterion guidance
(through the VAE decoder) are hooks, and each request's latent noise comes from its own seed.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from bench.errors import BenchError
from bench.generators.base import (
    Capabilities,
    Generator,
    SampleBatch,
    SamplingHooks,
    SynthesisRequest,
    denoise,
    per_sample_noise,
    to_uint8,
)
from bench.generators.pretrained import (
    PretrainedPipeline,
    PretrainedSettings,
    decode_latents,
    encode_text,
    make_scheduler,
)
from bench.hparams import hp


@dataclass(frozen=True)
class SDSettings(PretrainedSettings):
    capabilities = Capabilities(prompts=True, pretrained=True)

    token_embeddings: str | None = hp(
        None,
        path=True,
        part="generator",
        source="harness: no learned tokens (Fill-Up's textual inversion writes them)",
        help="a folder of <token>.safetensors files added to the tokenizer",
    )


class StableDiffusionGenerator(PretrainedPipeline, Generator):
    """Stable Diffusion text-to-image from local weights."""

    name = "sd"
    Settings = SDSettings
    pipeline_class = "StableDiffusionPipeline"

    def __init__(self, pipe: Any, settings: SDSettings):
        super().__init__(pipe, settings)
        self.multi: dict[str, str] = {}  # learned token -> its rows' tokenizer entries
        if settings.token_embeddings:
            self.add_token_files(Path(settings.token_embeddings))

    def add_tokens(self, embeddings: dict[str, Any]) -> None:
        """Add learned token embeddings ({token: D or k x D tensor}) to the text encoder.

        A k x D embedding (k > 1, Fill-Up's 4 x 768) becomes k tokenizer entries token.0 ...
        token.(k-1); a prompt names the token once and `expand_prompts` spells out its rows.
        """
        tokenizer, encoder = self.pipe.tokenizer, self.pipe.text_encoder
        rows: dict[str, Any] = {}
        for token, vector in embeddings.items():
            matrix = vector.reshape(-1, vector.shape[-1]) if vector.ndim > 1 else vector[None]
            names = vector_tokens(token, len(matrix))
            self.multi[token] = " ".join(names)
            rows.update(zip(names, matrix, strict=True))
        vocab = tokenizer.get_vocab()
        clash = [t for t in [*embeddings, *rows] if t in vocab]
        if clash:
            raise BenchError(
                f"token {clash[0]!r} is already in the tokenizer: learned tokens need new names."
            )
        tokenizer.add_tokens(list(rows))
        encoder.resize_token_embeddings(len(tokenizer))
        table = encoder.get_input_embeddings().weight
        for token, vector in rows.items():
            if vector.shape[-1] != table.shape[1]:
                raise BenchError(
                    f"learned token {token!r} has {vector.shape[-1]} dimensions, but this text "
                    f"encoder's embeddings have {table.shape[1]}: it was learned for another model."
                )
            index = tokenizer.convert_tokens_to_ids(token)
            table.data[index] = vector.to(table.device, table.dtype)

    def expand_prompts(self, requests: Sequence[SynthesisRequest]) -> list[SynthesisRequest]:
        """Requests whose prompts name multi-row learned tokens, with every row spelled out."""
        multi = {t: names for t, names in self.multi.items() if names != t}
        if not multi:
            return list(requests)
        pattern = re.compile("|".join(re.escape(t) for t in sorted(multi, key=len, reverse=True)))
        return [
            replace(r, prompt=pattern.sub(lambda m: multi[m.group(0)], r.prompt)) if r.prompt else r
            for r in requests
        ]

    def text_embeddings(self, requests: Sequence[SynthesisRequest]) -> tuple[Any, Any]:
        """(conditional, unconditional) text embeddings of the requests' prompts."""
        return encode_text(self.pipe, self.expand_prompts(requests), self.settings.negative_prompt)

    def add_token_files(self, folder: Path) -> None:
        # safetensors: heavy, imported where used (off the start-up path)
        from safetensors.torch import load_file

        files = sorted(folder.glob("*.safetensors"))
        if not files:
            raise BenchError(f"token_embeddings={folder} holds no <token>.safetensors files.")
        self.add_tokens({f.stem: next(iter(load_file(f).values())) for f in files})

    def draw(
        self,
        requests: Sequence[SynthesisRequest],
        hooks: SamplingHooks,
        steps: int = 50,
        progress: bool = False,
    ) -> SampleBatch:
        denoiser = LatentDenoiser(
            self.pipe,
            self.settings,
            requests,
            self.text_embeddings(requests),
            None,
        )
        return sample_latents(denoiser, requests, steps, hooks, progress)


def sample_latents(
    denoiser: LatentDenoiser,
    requests: Sequence[SynthesisRequest],
    steps: int,
    hooks: SamplingHooks,
    progress: bool,
) -> SampleBatch:
    """The shared loop on a latent-diffusion pipeline, the VAE decode, and the guidance
    criterion per sample (`sd`, `unclip`, `sd-imgvar`)."""
    # torch: heavy, imported where used (off the start-up path)
    import torch

    x, criterion = denoise(denoiser, requests, steps, hooks, progress)
    with torch.no_grad():
        images = denoiser.decode(x)
    values = None if criterion is None else criterion.cpu().numpy()
    return SampleBatch(to_uint8(images), values)


class LatentDenoiser:
    """A latent-diffusion UNet (+ optional image embedding) as the shared loop sees it."""

    def __init__(
        self,
        pipe: Any,
        settings: Any,
        requests: Sequence[SynthesisRequest],
        text: tuple[Any, Any],
        image_embeds: tuple[Any, Any] | None,
    ):
        self.pipe = pipe
        self.scheduler = make_scheduler(settings.scheduler, pipe.scheduler.config)
        self.text = {"cond": text[0], "uncond": text[1]}
        self.image = (
            None if image_embeds is None else {"cond": image_embeds[0], "uncond": image_embeds[1]}
        )
        self.size = settings.resolution

    def initial(self, requests: Sequence[SynthesisRequest]) -> Any:
        unet, vae = self.pipe.unet, self.pipe.vae
        down = 2 ** (len(vae.config.block_out_channels) - 1)
        shape = (unet.config.in_channels, self.size // down, self.size // down)
        return per_sample_noise(requests, shape, self.pipe.device, unet.dtype)

    def predict(self, x: Any, t: Any, branch: str) -> Any:
        extra = {} if self.image is None else {"class_labels": self.image[branch]}
        return self.pipe.unet(x, t, encoder_hidden_states=self.text[branch], **extra).sample

    def decode(self, x: Any) -> Any:
        return decode_latents(self.pipe.vae, x)


def vector_tokens(token: str, k: int) -> list[str]:
    """The tokenizer entries of a k-row learned token: itself, or token.0 ... token.(k-1)."""
    return [token] if k == 1 else [f"{token}.{i}" for i in range(k)]
