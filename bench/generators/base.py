"""The one interface every generator backend implements, and the sampling loop they share.

A backend (one file in bench/generators/ plus a line in `GENERATORS`) is a `Generator`:

    fit(data, workdir, progress)      optional: train or adapt on the real data (the harness
                                      caches `workdir`; pretrained backends skip it)
    save(workdir) / load(workdir)     what `fit` produced (or where the pretrained weights are)
    sample(requests, hooks) -> SampleBatch
                                      one uint8 image per `SynthesisRequest`, deterministic in
                                      each request's own seed

Its settings are one frozen dataclass of `hp` fields (`Settings`), declared once in the backend
and reused by the methods that use it (they derive their `Hparams` from it).

Sampling runs through `denoise()`, the loop all diffusion backends share: a backend supplies a
`Denoiser` (initial noise per request, the noise prediction of its network for the conditional
and the unconditional branch, and a decoder from its sample space to pixels); `SamplingHooks`
steer the loop without forking it:
- `noise` (`NoisePredHook`): combines the conditional and unconditional predictions at every
  step; classifier-free guidance (`CFG`) is one such hook;
- `guidance` (`X0Guidance`): every k-th step, decode the predicted x0, evaluate a differentiable
  criterion on it and step the sample along omega times its normalised gradient (FG Eq. 3; the
  criterion comes from the method, e.g. the entropy of a classifier);
- `images`: a function on the real conditioning images (uint8 N x k x H x W x C, k images per
  request) before they are encoded, returning one image per request (pixel Mixup / CutMix);
- `embeddings`: a function on the raw conditioning image embeddings (N x k x D) before the
  model uses them (before unCLIP noises them), returning N x D (embedding dropout, Mixup,
  CutMix of augmentation-conditioning and FG). Without it, k must be 1.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Protocol

import numpy as np

from bench.errors import ConfigError
from bench.progress import progress_bar


@dataclass(frozen=True)
class SynthesisRequest:
    """One image to generate: its class, optional group / context, prompt, conditioning images
    (indices into the real training split), its own seed and its rank within its cell (the
    i-th image of the cell; e.g. Fill-Up spreads a cell's images evenly over checkpoints)."""

    index: int
    label: int
    seed: int
    group: int | None = None
    prompt: str | None = None
    cond_ids: tuple[int, ...] = ()
    rank: int = 0


@dataclass
class SampleBatch:
    """Generated images (uint8 N x H x W x C) plus what the sampler measured per sample."""

    images: np.ndarray
    criterion: np.ndarray | None = None  # the guidance criterion at the last guided step

    def __len__(self) -> int:
        return len(self.images)


class NoisePredHook(Protocol):
    """Combines the network's predictions at one step (e.g. classifier-free guidance)."""

    needs_unconditional: bool

    def __call__(self, step: int, cond: Any, uncond: Any | None) -> Any: ...


@dataclass(frozen=True)
class CFG:
    """Classifier-free guidance: uncond + w (cond - uncond) (Ho & Salimans 2022).

    w = 1 is the purely conditional prediction (no unconditional pass is made), w = 0 the
    unconditional one; CBDM's (1 + omega) eps_c - omega eps_u is w = 1 + omega.
    """

    scale: float = 1.0

    @property
    def needs_unconditional(self) -> bool:
        return self.scale != 1.0

    def __call__(self, step: int, cond: Any, uncond: Any | None) -> Any:
        if uncond is None:
            return cond
        if self.scale == 0.0:
            return uncond
        return uncond + self.scale * (cond - uncond)


@dataclass
class X0Guidance:
    """Guidance by a differentiable criterion of the decoded predicted x0 (FG Eq. 3).

    At every `every`-th step (steps 0, k, 2k, ...), with the sample x_t requiring grad: predict
    x0 with the conditional branch, decode it to pixels in [-1, 1], evaluate
    `criterion(images, requests)` (one value per sample, to be increased), and move x_t by
    `scale * ||x_t|| * g / ||g||` per sample, g its gradient (FG fg_pipe.py: norms over the whole
    sample). `blend` uses FG's x0 estimate sqrt(1-a) x0 + (1 - sqrt(1-a)) x_t instead of x0.
    """

    criterion: Callable[[Any, Sequence[SynthesisRequest]], Any]
    scale: float
    every: int = 5
    blend: bool = True

    def __post_init__(self) -> None:
        if self.scale < 0:
            raise ConfigError(f"guidance scale omega={self.scale} must be at least 0.")
        if self.every < 1:
            raise ConfigError(f"guidance every={self.every} must be at least 1 (every k-th step).")

    def active(self, step: int) -> bool:
        return self.scale > 0 and step % self.every == 0


@dataclass
class SamplingHooks:
    """What a method changes in sampling, without forking the sampler."""

    noise: NoisePredHook = field(default_factory=CFG)
    guidance: X0Guidance | None = None
    images: Callable[[np.ndarray, Sequence[SynthesisRequest]], np.ndarray] | None = None
    embeddings: Callable[[Any, Sequence[SynthesisRequest]], Any] | None = None


def conditioning_embeddings(
    requests: Sequence[SynthesisRequest],
    read: Callable[[np.ndarray], np.ndarray],
    encode: Callable[[np.ndarray], Any],
    hooks: SamplingHooks,
) -> Any | None:
    """The image embedding each request is conditioned on (N x D), or None without images.

    `read` gives real training images by id (uint8 M x H x W x C), `encode` embeds them.
    """
    counts = {len(r.cond_ids) for r in requests}
    if counts == {0}:
        return None
    if len(counts) > 1:
        raise ConfigError(
            "the requests of one batch name different numbers of conditioning images."
        )
    k = counts.pop()
    ids = np.array([r.cond_ids for r in requests], dtype=np.int64)
    images = read(ids.reshape(-1))
    images = images.reshape(len(requests), k, *images.shape[1:])
    if hooks.images is not None:
        images = hooks.images(images, requests)[:, None]
    embeds = encode(images.reshape(-1, *images.shape[2:]))
    embeds = embeds.reshape(len(requests), images.shape[1], -1)
    if hooks.embeddings is not None:
        return hooks.embeddings(embeds, requests)
    if embeds.shape[1] != 1:
        raise ConfigError(
            f"requests name {k} conditioning images each, but no hook combines them into one "
            "(a method's images or embeddings hook, e.g. Mixup)."
        )
    return embeds[:, 0]


@dataclass(frozen=True)
class Capabilities:
    """What a generator can be asked for, declared once by its settings class (torch-free, so
    config checks read it without importing the backend; `capabilities(name)` in
    bench.generators). Methods ask these instead of testing generator names."""

    prompts: bool = False  # requests may carry text prompts (a text encoder)
    labels: bool = False  # conditioned on the class label itself
    images: bool = False  # requests may carry conditioning images (`cond_ids`)
    needs_images: bool = False  # every request needs an image embedding (zeroed if unwanted)
    # learns one thing per class before sampling: "text-token" (a prompt token, ti_* settings)
    # or "class-vector" (a label row, token_* settings); None: nothing learned per class
    inversion: str | None = None
    pretrained: bool = False  # starts from pretrained weights (a diffusers pipeline)


class Generator:
    """Base class of generator backends. See the module docstring."""

    name: ClassVar[str] = ""
    Settings: ClassVar[type] = object
    # Trained by the harness (`fit`) or loaded pretrained (`fit` only records where).
    trains: ClassVar[bool] = False
    # Its settings class's `capabilities`; whether requests may carry prompts / conditioning
    # images follows from them.
    capabilities: ClassVar[Capabilities] = Capabilities()
    takes_prompts: ClassVar[bool] = False
    takes_images: ClassVar[bool] = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        caps = getattr(cls.Settings, "capabilities", None)
        if isinstance(caps, Capabilities):
            cls.capabilities = caps
            cls.takes_prompts, cls.takes_images = caps.prompts, caps.images

    image_size: int
    channels: int
    real_images: Any = None  # the real training images conditioning ids index into

    @classmethod
    def for_data(cls, settings: Any, data: Any, device: str = "cpu") -> Generator:
        """A generator for this dataset: untrained (to `fit`) or loaded from its weights."""
        raise NotImplementedError(f"{cls.__name__} must implement for_data()")

    @classmethod
    def load(cls, workdir: Path, device: str = "cpu") -> Generator:
        """What `fit` saved under `workdir`."""
        raise NotImplementedError(f"{cls.__name__} must implement load()")

    @classmethod
    def weights_identity(cls, settings: Any) -> dict[str, Any]:
        """What names the pretrained weights a generator starts from (part of cache keys)."""
        return {}

    @classmethod
    def weights_needed(cls, settings: Any) -> list[Any]:
        """The pretrained artefacts `for_data` loads (bench.weights.Requirement), checked by a
        run before any work. Default: none (the generator is trained by the harness)."""
        return []

    @classmethod
    def check_data(cls, settings: Any, data: Any) -> None:
        """Fail before any work on data these settings cannot serve (e.g. a pretrained model
        of other classes or geometry). Default: anything goes."""

    def fit(self, data: Any, workdir: Path, seed: int, progress: bool = True) -> None:
        """Train on `data` (a LoadedDataset) into `workdir`; resumable. Default: a fit split by
        class fits every part in turn, then saves; otherwise nothing to fit."""
        if self.fit_by_class:
            for label in range(data.num_classes):
                self.fit_part(data, workdir, seed, label, progress)
            self.save(workdir)

    # A fit split into one independent part per class (sd-ti, ddpm-ti: one token or vector
    # learned per class, `fit_part`).
    fit_by_class = False

    @classmethod
    def fit_parts(cls, settings: Any, data: Any) -> int:
        """How many independent parts the fit splits into (0: one indivisible `fit`).

        A backend whose fit splits (`fit_by_class`: one part per class) implements `fit_part`
        and `save`; the harness then fits every part, in any processes at once, each under its
        own lock, and calls `save` once all are done, instead of calling `fit`."""
        return data.num_classes if cls.fit_by_class else 0

    def fit_part(self, data: Any, workdir: Path, seed: int, part: int, progress: bool) -> None:
        """Fit part `part` (0 <= part < fit_parts) into `workdir`; resumable, and independent
        of which other parts this process or another fitted before it."""
        raise NotImplementedError(f"{type(self).__name__} must implement fit_part()")

    def save(self, workdir: Path) -> None:
        raise NotImplementedError(f"{type(self).__name__} must implement save()")

    def set_real_images(self, split: Any, channels: int) -> None:
        """The real training split, read at this generator's size for conditioning images."""
        # torch: heavy, imported where used (off the start-up path)
        from bench.data.torchdata import SplitImages

        self.real_images = SplitImages(split, self.image_size, channels)

    # Channels of the images `sample` returns (the sd family: RGB; ddpm: its data's).
    sample_channels = 3

    def sample(
        self,
        requests: Sequence[SynthesisRequest],
        hooks: SamplingHooks | None = None,
        *args: Any,
        **options: Any,
    ) -> SampleBatch:
        """Images for the requests (uint8 N x H x W x C), each from its own seed; no request, an
        empty batch without touching the model. `options`: the backend's (`steps`, `progress`)."""
        if not requests:
            shape = (0, self.image_size, self.image_size, self.sample_channels)
            return SampleBatch(np.zeros(shape, np.uint8))
        return self.draw(requests, hooks or SamplingHooks(), *args, **options)

    def draw(self, requests: Sequence[SynthesisRequest], hooks: SamplingHooks, *args, **kw) -> Any:
        """`sample` for a non-empty list of requests."""
        raise NotImplementedError(f"{type(self).__name__} must implement draw()")

    @classmethod
    def check_requests(
        cls, requests: Sequence[SynthesisRequest], num_train: int, settings: Any = None
    ) -> None:
        """Fail before any work on requests this backend (with these settings) cannot serve."""
        for r in requests:
            if r.prompt is not None and not cls.takes_prompts:
                raise ConfigError(f"the {cls.name} generator takes no prompts (got {r.prompt!r}).")
            if r.cond_ids and not cls.takes_images:
                raise ConfigError(f"the {cls.name} generator takes no conditioning images.")
            bad = [i for i in r.cond_ids if not 0 <= i < num_train]
            if bad:
                raise ConfigError(
                    f"conditioning image id {bad[0]} of request {r.index} is out of range: the "
                    f"training split has {num_train} images (ids 0..{num_train - 1})."
                )


class Denoiser(Protocol):
    """What a diffusion backend gives the shared loop."""

    scheduler: Any

    def initial(self, requests: Sequence[SynthesisRequest]) -> Any: ...

    def predict(self, x: Any, t: Any, branch: str) -> Any:
        """The network output for branch "cond" or "uncond" (same batch order as `x`)."""

    def decode(self, x: Any) -> Any:
        """Sample space -> pixels in [-1, 1] (differentiable)."""


def per_sample_noise(
    requests: Sequence[SynthesisRequest], shape: tuple[int, ...], device: Any, dtype: Any
) -> Any:
    """Initial noise drawn from each request's own seed: a sample does not depend on its batch."""
    # torch: heavy, imported where used (off the start-up path)
    import torch

    rows = [
        torch.randn(shape, generator=torch.Generator().manual_seed(int(r.seed))) for r in requests
    ]
    return torch.stack(rows).to(device=device, dtype=dtype)


def predicted_x0(scheduler: Any, x: Any, output: Any, t: Any, blend: bool) -> Any:
    """x0 from the network output (epsilon or v prediction) at timestep t.

    With `blend`, FG's estimate sqrt(1-a) x0 + (1 - sqrt(1-a)) x_t (fg_pipe.py cond_fn).
    """
    a = scheduler.alphas_cumprod.to(x.device)[int(t)].to(x.dtype)
    b = 1 - a
    kind = scheduler.config.prediction_type
    if kind == "epsilon":
        x0 = (x - b.sqrt() * output) / a.sqrt()
    elif kind == "v_prediction":
        x0 = a.sqrt() * x - b.sqrt() * output
    elif kind == "sample":
        x0 = output
    else:  # pragma: no cover - diffusers has no other kind
        raise ConfigError(f"unsupported prediction type {kind!r}")
    if blend:
        return x0 * b.sqrt() + x * (1 - b.sqrt())
    return x0


def guidance_step(
    denoiser: Denoiser,
    guidance: X0Guidance,
    x: Any,
    t: Any,
    requests: Sequence[SynthesisRequest],
) -> tuple[Any, Any, Any]:
    """One FG step: returns (the guided sample, the conditional prediction, criterion values)."""
    # torch: heavy, imported where used (off the start-up path)
    import torch

    x_in = x.detach().requires_grad_(True)
    with torch.enable_grad():
        cond = denoiser.predict(x_in, t, "cond")
        x0 = predicted_x0(denoiser.scheduler, x_in, cond, t, guidance.blend)
        images = denoiser.decode(x0)
        values = guidance.criterion(images, requests)
        (grad,) = torch.autograd.grad(values.sum(), x_in)
    dims = tuple(range(1, x.ndim))
    g = grad.float()
    norm_g = g.pow(2).sum(dims, keepdim=True).sqrt()
    norm_x = x.detach().float().pow(2).sum(dims, keepdim=True).sqrt()
    step = g / (norm_g + 1e-8) * norm_x * guidance.scale
    return (x.detach() + step.to(x.dtype)), cond.detach(), values.detach().float()


def denoise(
    denoiser: Denoiser,
    requests: Sequence[SynthesisRequest],
    steps: int,
    hooks: SamplingHooks,
    progress: bool = False,
) -> tuple[Any, Any]:
    """The shared sampling loop; returns (final samples, criterion at the last guided step)."""
    # torch: heavy, imported where used (off the start-up path)
    import torch

    scheduler = denoiser.scheduler
    scheduler.set_timesteps(steps)
    x = denoiser.initial(requests) * scheduler.init_noise_sigma
    criterion = None
    noise_hook, guidance = hooks.noise, hooks.guidance
    for i, t in enumerate(progress_bar(scheduler.timesteps, progress, desc="sample")):
        with torch.no_grad():
            x_model = scheduler.scale_model_input(x, t)
            if guidance is not None and guidance.active(i):
                guided, cond, criterion = guidance_step(denoiser, guidance, x_model, t, requests)
                x = guided  # FG: step the guided sample with the pre-guidance prediction
            else:
                cond = denoiser.predict(x_model, t, "cond")
            uncond = (
                denoiser.predict(x_model, t, "uncond") if noise_hook.needs_unconditional else None
            )
            output = noise_hook(i, cond, uncond)
            x = scheduler.step(output, t, x, **step_kwargs(scheduler)).prev_sample
    return x, criterion


def step_kwargs(scheduler: Any) -> dict[str, Any]:
    """eta = 0 for DDIM (deterministic); other schedulers take their defaults."""

    params = inspect.signature(scheduler.step).parameters
    return {"eta": 0.0} if "eta" in params else {}


def to_uint8(images: Any) -> np.ndarray:
    """float N x C x H x W in [-1, 1] -> uint8 N x H x W x C."""
    # torch: heavy, imported where used (off the start-up path)
    import torch

    x = ((images.float().clamp(-1, 1) + 1.0) * 127.5).round().to(torch.uint8)
    return x.permute(0, 2, 3, 1).cpu().numpy()


def torch_dtype(name: str, device: str) -> Any:
    """'auto' is bfloat16 on CUDA and float32 on the CPU."""
    # torch: heavy, imported where used (off the start-up path)
    import torch

    if name == "auto":
        return torch.bfloat16 if str(device).startswith("cuda") else torch.float32
    return {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}[name]
