"""`sd-ti`: Stable Diffusion with one textual-inversion token per class (Fill-Up Sec 3.1, App B.3).

Fit: per class, a placeholder token of `ti_vectors` x D embedding rows (Fill-Up: 4 x 768) is
learned with Stable Diffusion's VAE, UNet and text encoder frozen, by the denoising loss of
Gal et al. 2023 (Fill-Up Eq. 2) on the class's real training images. Only the new rows train: the
text encoder's embedding table is wrapped, never modified, so the tokenizer's own rows stay
bitwise what they were. Steps: min(max(100 n_images, 2000), 10000); a checkpoint every 100 steps.

Each class is an independent unit of work (`invert_class`: SLURM array tasks could fit disjoint
classes into one folder) and resumes from its last checkpoint: every step draws its images,
flips, noise and timesteps from its own seed (seed, class, step), and the checkpoint holds the
embedding and AdamW's moments, so an interrupted fit ends with the embedding an uninterrupted one
gives. The results are `tokens/<token>.safetensors` (the final embedding, read by the `sd`
backend's `token_embeddings`) and `checkpoints/<class>/step-NNNNNN.safetensors`.

Sampling: "*" in a request's prompt ("a photo of a *") becomes the class's token, and the
checkpoints are used evenly (Fill-Up App B.3): the i-th image of a class takes checkpoint
i mod K. Choices the paper leaves open are marked "ours" in the settings' sources.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from bench.errors import BenchError, ConfigError, DataError
from bench.generators.base import Capabilities, SynthesisRequest
from bench.generators.pretrained import encode_text, load_pipeline
from bench.generators.sd import SDSettings, StableDiffusionGenerator, vector_tokens
from bench.hparams import build, hp
from bench.io import atomic_write, atomic_write_json, read_json, remake_advice, seed_hash
from bench.progress import progress_bar

FILLUP = "Fill-Up App B.3"
TI_CODE = "rinongal/textual_inversion (the code Fill-Up's [52] released)"


@dataclass(frozen=True)
class InversionSettings(SDSettings):
    capabilities = Capabilities(prompts=True, inversion="text-token", pretrained=True)

    ti_vectors: int = hp(
        4,
        low=1,
        high=75,
        part="generator",
        source="Fill-Up Sec 3.1 / Fig. 2d: an embedding of 4 x 768 (1 x 768 is worse)",
        help="embedding rows per class token",
    )
    ti_init_word: str = hp(
        "object",
        part="generator",
        source="Fill-Up App C.3: initialised from the CLIP embedding of 'object'",
        help="every row starts as this word's embedding (the mean of its tokens' rows where the "
        "tokenizer splits it)",
    )
    ti_lr: float = hp(
        5e-3,
        gt=0.0,
        high=10.0,
        part="generator",
        source=FILLUP + ": learning rate 5.0e-3 (used as the AdamW LR; " + TI_CODE + " scales "
        "its base LR by the batch size, which Fill-Up does not mention)",
    )
    ti_weight_decay: float = hp(
        0.01,
        low=0.0,
        high=1.0,
        part="generator",
        source="ours: " + TI_CODE + " optimises with torch AdamW's defaults (weight decay 0.01)",
    )
    ti_batch_size: int = hp(2, low=1, high=4096, part="generator", source=FILLUP + ": batch 2")
    ti_steps_per_image: int = hp(
        100, low=1, high=100_000, part="generator", source=FILLUP + ": n_images x 100 steps"
    )
    ti_min_steps: int = hp(
        2000, low=1, high=10**7, part="generator", source=FILLUP + ": at least 2,000 steps"
    )
    ti_max_steps: int = hp(
        10_000, low=1, high=10**7, part="generator", source=FILLUP + ": at most 10,000 steps"
    )
    ti_checkpoint_every: int = hp(
        100,
        low=1,
        high=10**7,
        part="generator",
        source=FILLUP + ": a checkpoint every 100 steps, all used evenly for generation",
    )
    ti_prompt: str = hp(
        "a photo of a *",
        part="generator",
        source="ours: Fill-Up's generation prompt (Sec 3.1); " + TI_CODE + " samples small "
        "ImageNet templates instead",
        help="the training prompt; * is the class token",
    )
    ti_placeholder: str = hp(
        "<class-{label}>",
        part="generator",
        source="Fill-Up Sec 3.1: one new token '*' per class ({label} = the class index)",
        help="name of each class's token; must contain {label} and be new to the tokenizer",
    )

    def __post_init__(self) -> None:
        if "{label}" not in self.ti_placeholder:
            raise ConfigError(
                f"ti_placeholder={self.ti_placeholder!r} must contain {{label}} (one token per "
                "class), e.g. '<class-{label}>'."
            )
        if self.ti_min_steps > self.ti_max_steps:
            raise ConfigError(
                f"ti_min_steps={self.ti_min_steps} is more than ti_max_steps={self.ti_max_steps}."
            )
        if "*" not in self.ti_prompt:
            raise ConfigError(f"ti_prompt={self.ti_prompt!r} must contain * (the class token).")
        super().__post_init__()


def step_rule(n_images: int, per_image: int, low: int, high: int) -> int:
    """Fill-Up App B.3's rule min(max(per_image n_images, low), high) (100, 2000, 10000)."""
    return min(max(per_image * n_images, low), high)


def checkpoint_marks(total: int, every: int) -> list[int]:
    """The steps a class is checkpointed at (each is used for generation); the last always."""
    steps = list(range(every, total + 1, every))
    return steps if steps and steps[-1] == total else [*steps, total]


def inversion_steps(n_images: int, s: InversionSettings) -> int:
    """Fill-Up App B.3: min(max(100 n_images, 2000), 10000)."""
    return step_rule(n_images, s.ti_steps_per_image, s.ti_min_steps, s.ti_max_steps)


def checkpoint_steps(n_images: int, s: InversionSettings) -> list[int]:
    return checkpoint_marks(inversion_steps(n_images, s), s.ti_checkpoint_every)


def load_state(state_file: Path, rows: Any, opt: Any) -> int:
    """Resume a class's fit: the rows and AdamW's moments of its last checkpoint; its step
    (0 without one)."""
    # safetensors, torch: heavy, imported where used (off the start-up path)
    import torch
    from safetensors.torch import load_file

    if not state_file.exists():
        return 0
    state = load_file(state_file)
    with torch.no_grad():
        rows.copy_(state["rows"].to(rows.device))
    opt.state[rows] = {
        "step": state["adam_step"].clone(),
        "exp_avg": state["exp_avg"].to(rows.device),
        "exp_avg_sq": state["exp_avg_sq"].to(rows.device),
    }
    return int(state["step"].item())


def save_checkpoint(cdir: Path, name: str, rows: Any, opt: Any, step: int) -> None:
    """`cdir/step-NNNNNN.safetensors` ({name: rows}, used for generation) and the resume state
    (rows, step, AdamW's moments) in `cdir/state.safetensors`."""
    # safetensors, torch: heavy, imported where used (off the start-up path)
    import torch
    from safetensors.torch import save_file

    vec = rows.detach().float().cpu().clone()
    ckpt = cdir / f"step-{step:06d}.safetensors"
    atomic_write(ckpt, lambda p: save_file({name: vec}, str(p)))
    adam = opt.state[rows]
    state = {
        "rows": vec,
        "step": torch.tensor(step),
        "adam_step": torch.as_tensor(adam["step"]).clone().cpu(),
        "exp_avg": adam["exp_avg"].detach().cpu().clone(),
        "exp_avg_sq": adam["exp_avg_sq"].detach().cpu().clone(),
    }
    atomic_write(cdir / "state.safetensors", lambda p: save_file(state, str(p)))


@dataclass
class RowsFit:
    """The optimisation loop of one class's learned rows (sd-ti's token, ddpm-ti's vector):
    `loss_at(step)` draws that step's batch from its own seed; a checkpoint at every step of
    `marks`; the final rows go to a file named `name` inside, and `cdir/done` marks the class."""

    rows: Any
    opt: Any
    cdir: Path
    name: str
    marks: set[int]
    desc: str

    def run(
        self,
        loss_at: Callable[[int], Any],
        step: int,
        total: int,
        progress: bool,
        on_step: Callable[[int, float], None] | None,
    ) -> None:
        bar = progress_bar(None, progress, total=total, initial=step, desc=self.desc)
        try:
            while step < total:
                loss = loss_at(step)
                self.opt.zero_grad(set_to_none=True)
                loss.backward()
                self.opt.step()
                step += 1
                bar.update(1)
                if on_step is not None:
                    on_step(step, float(loss.detach()))
                if step in self.marks:
                    save_checkpoint(self.cdir, self.name, self.rows, self.opt, step)
        finally:
            bar.close()

    def finish(self, final: Path, record: dict[str, Any]) -> Path:
        # safetensors: heavy, imported where used (off the start-up path)
        from safetensors.torch import save_file

        vec = self.rows.detach().float().cpu().clone()
        atomic_write(final, lambda p: save_file({self.name: vec}, str(p)))
        atomic_write_json(self.cdir / "done", record)
        return final


def check_every_class_has_images(data: Any) -> None:
    """A class without a real training image cannot be inverted: an error before any fitting."""
    counts = np.bincount(np.asarray(data.train.targets), minlength=data.num_classes)
    empty = [c for c in range(data.num_classes) if counts[c] == 0]
    if empty:
        name = data.class_names[empty[0]]
        raise DataError(
            f"class {empty[0]} ({name}) has no real training image to invert ({len(empty)} such "
            f"class(es): {empty[:10]}). Textual inversion learns each class from its own images; "
            "use a dataset split where every class has one, or the fillup-template method."
        )


def token_of(s: InversionSettings, label: int) -> str:
    return s.ti_placeholder.format(label=label)


def check_new_tokens(tokenizer: Any, tokens: Sequence[str]) -> None:
    vocab = tokenizer.get_vocab()
    clash = [t for t in tokens if t in vocab]
    if clash:
        raise ConfigError(
            f"placeholder token {clash[0]!r} is already in the tokenizer: textual inversion needs "
            "new tokens. Choose another ti_placeholder (it must contain {label}), e.g. "
            "'<class-{label}>'."
        )


def init_vector(pipe: Any, word: str) -> Any:
    """The embedding `word` starts from: its token's row, or the mean of its tokens' rows."""
    ids = pipe.tokenizer(word, add_special_tokens=False).input_ids
    if not ids:
        raise ConfigError(f"ti_init_word={word!r} gives no token.")
    table = pipe.text_encoder.get_input_embeddings().weight
    return table[ids].detach().float().mean(0)


class InvertedEmbedding:
    """The text encoder's token embedding plus trainable rows for ids from `start` on.

    A wrapper module: the original table is read, never written, so only the new rows change.
    """

    def __new__(cls, base: Any, start: int, rows: Any) -> Any:
        # torch: heavy, imported where used (off the start-up path)
        import torch

        class _Inverted(torch.nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.base, self.start, self.rows = base, start, rows

            @property
            def weight(self) -> Any:  # what get_input_embeddings().weight readers expect
                return self.base.weight

            def forward(self, ids: Any) -> Any:
                new = ids >= self.start
                out = self.base(ids.clamp(max=self.base.weight.shape[0] - 1))
                if bool(new.any()):
                    extra = self.rows.to(out.dtype)[(ids - self.start).clamp(min=0)]
                    out = torch.where(new[..., None], extra, out)
                return out

        return _Inverted()


@dataclass
class ClassImages:
    """The real training images of one class at the pipeline's resolution (uint8 N x H x W x 3)."""

    label: int
    read: Callable[[np.ndarray], np.ndarray]
    ids: np.ndarray

    def batch(self, rng: Any, size: int) -> np.ndarray:
        # torch: heavy, imported where used (off the start-up path)
        import torch

        pick = torch.randint(len(self.ids), (size,), generator=rng).numpy()
        images = self.read(self.ids[pick])
        flip = torch.rand(size, generator=rng) < 0.5  # TI code: random horizontal flip
        return np.stack([im[:, ::-1] if f else im for im, f in zip(images, flip, strict=True)])


def invert_class(
    pipe: Any,
    images: ClassImages,
    settings: InversionSettings,
    seed: int,
    outdir: Path,
    progress: bool = False,
    on_step: Callable[[int, float], None] | None = None,
) -> Path:
    """Learn one class's token into `outdir` (resumable); returns its final token file.

    `outdir/checkpoints/<label>/` holds the checkpoints and the resume state; the final
    embedding goes to `outdir/tokens/<token>.safetensors`. A class already done is skipped.
    """
    # diffusers, torch: heavy, imported where used (off the start-up path)
    import torch
    from diffusers import DDPMScheduler

    s, label = settings, images.label
    token = token_of(s, label)
    final = outdir / "tokens" / f"{token}.safetensors"
    cdir = outdir / "checkpoints" / str(label)
    if (cdir / "done").exists() and final.exists():
        return final
    if len(images.ids) == 0:
        raise DataError(f"class {label} has no real training image to invert.")
    total = inversion_steps(len(images.ids), s)
    tokenizer, encoder, unet, vae = pipe.tokenizer, pipe.text_encoder, pipe.unet, pipe.vae
    device = pipe.device
    names, start = add_class_tokens(tokenizer, token, s.ti_vectors, label)
    rows = torch.nn.Parameter(init_vector(pipe, s.ti_init_word).repeat(s.ti_vectors, 1).to(device))
    opt = torch.optim.AdamW([rows], lr=s.ti_lr, weight_decay=s.ti_weight_decay)
    step = load_state(cdir / "state.safetensors", rows, opt)  # resume from the last checkpoint
    noise_sched = DDPMScheduler.from_config(pipe.scheduler.config)
    prompt = s.ti_prompt.replace("*", " ".join(names))
    ids_in = tokenizer(
        prompt, padding="max_length", max_length=tokenizer.model_max_length, truncation=True,
        return_tensors="pt",
    ).input_ids.to(device)  # fmt: skip
    base = encoder.get_input_embeddings()
    for module in (encoder, unet, vae):
        module.requires_grad_(False)
    encoder.set_input_embeddings(InvertedEmbedding(base, start, rows))
    marks = set(checkpoint_steps(len(images.ids), s))

    loss_at = InversionLoss(pipe, images, s, seed, noise_sched, ids_in)

    try:
        fit = RowsFit(rows, opt, cdir, token, marks, f"invert class {label}")
        fit.run(loss_at, step, total, progress, on_step)
    finally:
        encoder.set_input_embeddings(base)
    return fit.finish(final, {"label": label, "steps": total, "token": token})


def add_class_tokens(tokenizer: Any, token: str, vectors: int, label: int) -> tuple[list, int]:
    """The class's `vectors` tokens added to the tokenizer (where new): their names and the
    first of their consecutive ids."""
    names = vector_tokens(token, vectors)
    tokenizer.add_tokens([t for t in names if t not in tokenizer.get_vocab()])
    ids = tokenizer.convert_tokens_to_ids(names)
    start = min(ids)
    if sorted(ids) != list(range(start, start + len(ids))):
        raise BenchError(f"the tokens of class {label} did not get consecutive ids: {ids}.")
    return names, start


@dataclass
class InversionLoss:
    """The textual-inversion loss at a step: the denoising MSE of a batch of the class's
    images, noised at random timesteps, under the prompt with the learned token; every draw
    from a generator seeded by (seed, label, step), so a resumed inversion sees the same."""

    pipe: Any
    images: ClassImages
    settings: InversionSettings
    seed: int
    scheduler: Any
    ids_in: Any

    def __call__(self, step: int) -> Any:
        # torch: heavy, imported where used (off the start-up path)
        import torch
        import torch.nn.functional as F

        vae, device, sched = self.pipe.vae, self.pipe.device, self.scheduler
        rng = torch.Generator().manual_seed(seed_hash(self.seed, "ti", self.images.label, step))
        batch = self.images.batch(rng, self.settings.ti_batch_size)
        x = torch.as_tensor(batch).permute(0, 3, 1, 2).float() / 127.5 - 1.0
        x = x.to(device=device, dtype=vae.dtype)
        with torch.no_grad():
            dist = vae.encode(x).latent_dist
            eps = torch.randn(dist.mean.shape, generator=rng).to(device, dist.mean.dtype)
            latents = (dist.mean + dist.std * eps) * vae.config.scaling_factor
        noise = torch.randn(latents.shape, generator=rng).to(device, latents.dtype)
        t = torch.randint(sched.config.num_train_timesteps, (len(x),), generator=rng)
        t = t.to(device)
        noisy = sched.add_noise(latents, noise, t)
        text = self.pipe.text_encoder(self.ids_in.expand(len(x), -1))[0]
        pred = self.pipe.unet(noisy, t, encoder_hidden_states=text).sample
        if sched.config.prediction_type == "v_prediction":
            target = sched.get_velocity(latents, noise, t)
        else:
            target = noise
        return F.mse_loss(pred.float(), target.float())


def class_images(data: Any, size: int) -> dict[int, ClassImages]:
    # torch: heavy, imported where used (off the start-up path)
    from bench.data.torchdata import SplitImages

    split = SplitImages(data.train, size, 3)
    targets = np.asarray(data.train.targets)
    return {
        c: ClassImages(c, split.read, np.flatnonzero(targets == c)) for c in range(data.num_classes)
    }


def check_inversion(pipe: Any, data: Any, s: InversionSettings) -> None:
    """Fail before any fitting: classes without images, tokens already in the tokenizer."""
    check_every_class_has_images(data)
    tokens = []
    for c in range(data.num_classes):
        token = token_of(s, c)
        tokens += [token, *vector_tokens(token, s.ti_vectors)]
    check_new_tokens(pipe.tokenizer, list(dict.fromkeys(tokens)))


class TextualInversionGenerator(StableDiffusionGenerator):
    """Stable Diffusion plus one learned token per class; samples 'a photo of a *'."""

    name = "sd-ti"
    Settings = InversionSettings
    trains = True

    def __init__(self, pipe: Any, settings: InversionSettings, num_classes: int = 0):
        super().__init__(pipe, settings)
        self.num_classes = num_classes
        self.checkpoints: dict[int, Any] = {}  # label -> K x k x D (checkpoints in step order)
        self.by_class: dict[int, ClassImages] | None = None  # the fit's images, once checked

    @classmethod
    def for_data(cls, settings: InversionSettings, data: Any, device: str = "cpu") -> Any:
        return cls(load_pipeline(settings, device), settings, data.num_classes)

    # One part per class: each class's token is learned on its own (`invert_class`).
    fit_by_class = True

    def fit_part(self, data: Any, workdir: Path, seed: int, part: int, progress: bool) -> None:
        if self.by_class is None:  # checked once per process, before its first class
            check_inversion(self.pipe, data, self.settings)
            self.by_class = class_images(data, self.settings.resolution)
        invert_class(self.pipe, self.by_class[part], self.settings, seed, Path(workdir), progress)

    def save(self, workdir: Path) -> None:
        atomic_write_json(
            Path(workdir) / "generator.json",
            {
                "backend": self.name,
                "num_classes": self.num_classes,
                "settings": dataclasses.asdict(self.settings),
            },
        )

    @classmethod
    def load(cls, workdir: Path, device: str = "cpu") -> Any:
        meta = read_json(Path(workdir) / "generator.json")
        settings = build(InversionSettings, meta["settings"], "sd-ti generator")
        out = cls(load_pipeline(settings, device), settings, meta["num_classes"])
        out.load_checkpoints(Path(workdir))
        return out

    def load_checkpoints(self, workdir: Path) -> None:
        """Every class's checkpoints, in step order; its tokens added to the tokenizer."""
        # safetensors, torch: heavy, imported where used (off the start-up path)
        import torch
        from safetensors.torch import load_file

        s = self.settings
        for label in range(self.num_classes):
            files = sorted((workdir / "checkpoints" / str(label)).glob("step-*.safetensors"))
            if not files:
                raise BenchError(
                    f"{workdir}: class {label} has no textual-inversion checkpoint: "
                    f"{remake_advice(workdir)}."
                )
            token = token_of(s, label)
            self.checkpoints[label] = torch.stack([load_file(f)[token] for f in files])
            self.add_tokens({token: self.checkpoints[label][-1]})

    def checkpoint_of(self, request: SynthesisRequest) -> int:
        """Checkpoints used evenly: the i-th image of a cell takes checkpoint i mod K."""
        return request.rank % len(self.checkpoints[request.label])

    def text_embeddings(self, requests: Sequence[SynthesisRequest]) -> tuple[Any, Any]:
        """'*' becomes the class token, its rows set to the request's checkpoint first."""
        # torch: heavy, imported where used (off the start-up path)
        import torch

        s = self.settings
        texts: list[Any] = [None] * len(requests)
        groups: dict[tuple[int, int], list[int]] = {}
        for i, r in enumerate(requests):
            groups.setdefault((r.label, self.checkpoint_of(r)), []).append(i)
        table = self.pipe.text_encoder.get_input_embeddings().weight
        for (label, ckpt), members in groups.items():
            token = token_of(s, label)
            ids = self.pipe.tokenizer.convert_tokens_to_ids(vector_tokens(token, s.ti_vectors))
            with torch.no_grad():
                table.data[ids] = self.checkpoints[label][ckpt].to(table.device, table.dtype)
            subset = [
                replace(requests[i], prompt=(requests[i].prompt or "*").replace("*", token))
                for i in members
            ]
            cond, uncond = encode_text(self.pipe, self.expand_prompts(subset), s.negative_prompt)
            for j, i in enumerate(members):
                texts[i] = (cond[j], uncond[j])
        return torch.stack([t[0] for t in texts]), torch.stack([t[1] for t in texts])
