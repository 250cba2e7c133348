"""`ddpm`: a small class-conditional diffusion model the harness trains itself.

diffusers' `UNet2DModel` conditioned on the class (num_classes + 1 labels: the last one is the
null label for classifier-free guidance) and, optionally, on an image embedding: the embedded
analogue of Stable unCLIP's CLIP-image conditioning, so dual conditioning (FG Sec 3.2) and the
embedding augmentations of augmentation-conditioning also run offline on tiny images. The image
encoder is a small CNN trained jointly with the UNet (a semantic encoder as in diffusion
autoencoders, Preechakul et al. CVPR 2022) on a randomly shifted view of each training image;
its embedding is dropped (zeroed, unCLIP's unconditional embedding) with `embed_dropout` during
training so samples can be drawn with or without it.

Trained with the DDPM noise-prediction loss and sampled with DDIM through the shared loop of
bench.generators.base. Training checkpoints into its work directory and resumes exactly (the
random stream's state is saved with the weights, loaded with `weights_only=True`); the finished
model is saved in diffusers' format (`unet/`), so `UNet2DModel.from_pretrained` reads it too.
"""

from __future__ import annotations

import copy
import logging
import math
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from bench.data.torchdata import SplitImages
from bench.errors import ConfigError, DataError
from bench.generators import pretrain
from bench.generators.balancing import (
    cbdm_regulariser,
    cbdm_weight,
    class_distribution,
    image_weights,
)
from bench.generators.base import (
    CFG,
    Generator,
    SampleBatch,
    SamplingHooks,
    SynthesisRequest,
    conditioning_embeddings,
    denoise,
    per_sample_noise,
    to_uint8,
)
from bench.generators.ddpm_augment import ADA_DIM, augment
from bench.generators.ddpm_settings import MAX_SIZE, DDPMSettings, check_size, settings_key
from bench.hparams import build
from bench.io import (
    atomic_write,
    atomic_write_json,
    follow_umask,
    read_json,
    remake_advice,
    seed_hash,
    set_aside,
    torch_writer,
)
from bench.progress import progress_bar
from bench.schedules import cosine_with_warmup
from bench.seeding import seed_everything

if TYPE_CHECKING:  # diffusers is imported where it is used: checking a run's weights needs none
    from diffusers import UNet2DModel

log = logging.getLogger(__name__)


class Conditioner(nn.Module):
    """Class label (with a null label) plus an optional image embedding, plus ADA's
    augmentation parameters where the model trains with ADA -> the UNet's class embedding input
    (`class_embed_type="identity"`: added to the time embedding)."""

    def __init__(
        self,
        num_classes: int,
        width: int,
        embed_dim: int | None,
        channels: int,
        augment_dim: int | None = None,
    ):
        super().__init__()
        self.labels = nn.Embedding(num_classes + 1, width)
        self.encoder = None if embed_dim is None else ImageEncoder(channels, embed_dim)
        self.project = None if embed_dim is None else nn.Linear(embed_dim, width)
        # CBDM's ADA embedding: Linear(9 -> tdim) without bias (qym7/CBDM-pytorch model.py)
        self.augment = None if augment_dim is None else nn.Linear(augment_dim, width, bias=False)

    def forward(
        self,
        labels: torch.Tensor,
        embeds: torch.Tensor | None,
        rows: torch.Tensor | None = None,
        augment: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """`rows` (N x width), where given, stand in for the label rows (a learned class vector,
        bench/generators/ddpm_inversion.py); the image-embedding term is added as usual.
        `augment` (N x 9): ADA's parameters of the training images; None = zeros, the
        un-augmented images sampling asks for."""
        out = self.labels(labels) if rows is None else rows
        if self.project is not None:
            # No image: the zero embedding, the unconditional mode embedding dropout trains.
            out = out + (self.project.bias if embeds is None else self.project(embeds))
        if self.augment is not None:
            if augment is None:
                augment = out.new_zeros(len(out), self.augment.in_features)
            out = out + self.augment(augment)
        return out


class ImageEncoder(nn.Module):
    """A small CNN image encoder: uint8-range images in [-1, 1] -> an embedding."""

    def __init__(self, channels: int, dim: int, width: int = 32):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(channels, width, 3, padding=1),
            nn.SiLU(),
            nn.Conv2d(width, 2 * width, 3, stride=2, padding=1),
            nn.SiLU(),
            nn.Conv2d(2 * width, 2 * width, 3, stride=2, padding=1),
            nn.SiLU(),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
            nn.Linear(2 * width, dim),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


class DDPMGenerator(Generator):
    """Train, save, load and sample the harness DDPM."""

    name = "ddpm"
    Settings = DDPMSettings
    trains = True

    def __init__(
        self,
        settings: DDPMSettings,
        num_classes: int,
        image_size: int,
        channels: int,
        device: str = "cpu",
        checkpoint_every: int = 250,
        num_attributes: int = 0,
    ):
        check_size(image_size, len(settings.unet_channels))
        self.settings = settings
        self.num_classes = num_classes
        # condition=cell: one label per (class, attribute) cell, class * K + attribute
        self.num_attributes = num_attributes if settings.condition == "cell" else 0
        if settings.condition == "cell" and num_attributes < 1:
            raise ConfigError(
                "the ddpm generator with condition='cell' needs the number of attributes of the "
                f"data (got {num_attributes}): use condition=class on data without attributes."
            )
        self.image_size = image_size
        self.channels = channels
        self.device = torch.device(device)
        self.checkpoint_every = checkpoint_every
        width = 4 * settings.unet_channels[0]  # UNet2DModel's time-embedding width
        embed_dim = settings.embed_dim if settings.image_conditioning else None
        self.unet = build_unet(settings, image_size, channels).to(self.device)
        augment_dim = ADA_DIM if settings.train_augment == "ada" else None
        self.cond = Conditioner(self.num_labels, width, embed_dim, channels, augment_dim)
        self.cond.to(self.device)
        self.ema_unet = copy.deepcopy(self.unet).eval().requires_grad_(False)
        self.ema_cond = copy.deepcopy(self.cond).eval().requires_grad_(False)
        # diffusers: heavy, imported where used (off the start-up path)
        from diffusers import DDPMScheduler

        self.noise_schedule = DDPMScheduler(num_train_timesteps=settings.num_train_timesteps)
        self._image_weights: torch.Tensor | None = None  # set by fit (bench/generators/balancing)
        self._other_labels: torch.Tensor | None = None
        # A pretrained image encoder stays as it is while the UNet trains (bench/generators/
        # pretrain.py); otherwise it is trained jointly.
        self.freeze_encoder = False
        # Where the pretraining stage caches its models (None: <workdir>/../../pretrained, the
        # cache of a generator fitted in <cache>/generators/<key>).
        self.pretrained_root: Path | None = None

    @classmethod
    def for_data(cls, settings: DDPMSettings, data: Any, device: str = "cpu") -> DDPMGenerator:
        size = settings.image_size or min(data.image_size, MAX_SIZE)
        check_cells(settings, data)
        k = len(data.attribute_names or ()) if settings.condition == "cell" else 0
        return cls(settings, data.num_classes, size, data.channels, device, num_attributes=k)

    @classmethod
    def pretrain(cls, settings: DDPMSettings, corpus: Any, path: Path, seed: int, progress: bool):
        """Encoder (as a classifier, then frozen) and DDPM on the corpus, saved into `path`
        (the pretrained generator's training, bench.generators.pretrain.ensure)."""
        seed_everything(seed)
        model = cls.for_data(settings, corpus)
        info: dict[str, Any] = {"corpus_images": len(corpus.train)}
        if model.cond.encoder is not None:
            info["encoder"] = train_encoder(model, corpus, settings, seed, progress)
        info.update(model.fit(corpus, path, seed, progress))
        return info

    @classmethod
    def weights_identity(cls, settings: DDPMSettings) -> dict[str, Any]:
        return pretrain.identity(settings)

    @classmethod
    def check_data(cls, settings: DDPMSettings, data: Any) -> None:
        """A pretrained generator must know the data's classes and make its geometry."""
        pretrain.check_data(settings, data)
        check_cells(settings, data)
        if settings.pretrained_dir is not None:
            size = settings.image_size or min(data.image_size, MAX_SIZE)
            path = pretrain.model_dir(settings)
            embed = settings.image_conditioning
            pretrain.check_geometry(path, data.num_classes, size, data.channels, embed)

    @property
    def num_labels(self) -> int:
        """Labels the UNet is conditioned on: the classes, or the (class, attribute) cells."""
        return self.num_classes * (self.num_attributes or 1)

    @property
    def null_label(self) -> int:
        return self.num_labels

    def training_labels(self, split: Any) -> torch.Tensor:
        """Each training image's label: its class, or its cell class * K + attribute (the
        group index of SubpopBench; colored-digits' groups)."""
        labels = np.asarray(split.targets, dtype=np.int64)
        if self.num_attributes:
            attributes = np.asarray(split.attributes, dtype=np.int64)
            labels = labels * self.num_attributes + attributes
        return torch.as_tensor(labels, dtype=torch.long)

    def label_of(self, request: SynthesisRequest) -> int:
        """The label a request is drawn with: its class, or its (class, attribute) cell."""
        if not self.num_attributes:
            return int(request.label)
        if request.group is None:
            raise ConfigError(no_attribute_message(request))
        if not 0 <= request.group < self.num_attributes:
            raise ConfigError(
                f"request {request.index} names attribute {request.group}, but this ddpm "
                f"generator knows {self.num_attributes} (0..{self.num_attributes - 1})."
            )
        return int(request.label) * self.num_attributes + int(request.group)

    @classmethod
    def check_requests(
        cls, requests: Sequence[SynthesisRequest], num_train: int, settings: Any = None
    ) -> None:
        """Also: a cell model needs every request's attribute, and a class model cannot draw a
        requested attribute (unless the request's real conditioning images carry it)."""
        super().check_requests(requests, num_train, settings)
        if settings is None:
            return
        for r in requests:
            if settings.condition == "cell" and r.group is None:
                raise ConfigError(no_attribute_message(r))
            if settings.condition == "class" and r.group is not None and not r.cond_ids:
                raise ConfigError(
                    f"the plan fills (class, attribute) cells (request {r.index}: class "
                    f"{r.label}, attribute {r.group}), but the ddpm generator with "
                    "condition='class' is conditioned on the class only and cannot draw a "
                    "requested attribute. Set condition=cell (a generator conditioned on the "
                    "cell), or use a fill:/add:/ratio: plan."
                )

    # Training ------------------------------------------------------------------------------

    def fit(self, data: Any, workdir: Path, seed: int, progress: bool = True) -> dict[str, float]:
        """Train for `train_steps` steps, resuming from `workdir/checkpoint.pt` if present.

        Images are read from the dataset batch by batch at the generator's size (file-backed
        datasets decode only the images each batch draws). A pretrained generator
        (`pretrained_generator`, `pretrained_dir`) is taken as it is: nothing trains on `data`.
        """

        if pretrain.is_pretrained(self.settings):
            return self._use_pretrained(data, workdir, progress)

        images = SplitImages(data.train, self.image_size, self.channels)
        if len(images) == 0:
            raise DataError(f"{data.name}: the training split is empty: nothing to train on.")
        labels = self.training_labels(data.train)
        s = self.settings
        params = [*self.unet.parameters(), *self.cond.parameters()]
        if self.freeze_encoder and self.cond.encoder is not None:
            frozen = {id(p) for p in self.cond.encoder.parameters()}
            params = [p for p in params if id(p) not in frozen]
        opt = (torch.optim.Adam if s.optimizer == "adam" else torch.optim.AdamW)(
            params, lr=s.lr, weight_decay=0.0
        )
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_schedule(s))
        rng = torch.Generator().manual_seed(seed)
        self._set_balancing(labels)
        step, losses = self._resume(workdir, opt, sched, rng)
        if step == 0 and s.init_from is not None:
            self._start_from(Path(s.init_from))
        self.unet.train()
        bar = progress_bar(None, progress, total=s.train_steps, initial=step, desc="fit generator")
        while step < s.train_steps:
            losses.append(self._train_step(images, labels, opt, sched, rng, params))
            step += 1
            bar.update(1)
            bar.set_postfix(loss=f"{np.mean(losses[-50:]):.4f}")
            if step % self.checkpoint_every == 0 and step < s.train_steps:
                self._checkpoint(workdir, step, opt, sched, rng, losses)
        bar.close()
        self.save(workdir)
        (workdir / "checkpoint.pt").unlink(missing_ok=True)
        return {"final_loss": float(np.mean(losses[-50:])), "steps": step}

    def _use_pretrained(self, data: Any, workdir: Path, progress: bool) -> dict[str, Any]:
        """This run's generator is the pretrained model (pretrained once, cached beside the
        fitted generators in <cache>/pretrained/): checked against the data, then copied."""
        root = self.pretrained_root or Path(workdir).parent.parent / "pretrained"
        path = pretrain.ensure(self, data, root, progress)
        embed = self.settings.image_conditioning
        pretrain.check_geometry(path, data.num_classes, self.image_size, self.channels, embed)
        DDPMGenerator.load(path, str(self.device)).save(workdir)
        atomic_write_json(workdir / "pretrained.json", {"path": str(path)})
        return {"pretrained": str(path), "steps": 0}

    def _train_step(
        self,
        images: Any,
        labels: torch.Tensor,
        opt: torch.optim.Optimizer,
        sched: Any,
        rng: torch.Generator,
        params: list[torch.nn.Parameter],
    ) -> float:
        s = self.settings
        if self._image_weights is None:
            idx = torch.randint(len(labels), (s.batch_size,), generator=rng)
        else:  # CBDM Table 1's +RS / +SQRT-RS: classes drawn uniformly or by sqrt frequency
            idx = torch.multinomial(self._image_weights, s.batch_size, True, generator=rng)
        x0 = unit(images.read(idx.numpy())).to(self.device)
        if s.hflip:  # each image mirrored with probability 1/2 (DDPM's CIFAR training)
            flip = (torch.rand(len(x0), generator=rng) < 0.5).to(self.device)
            x0 = torch.where(flip[:, None, None, None], x0.flip(-1), x0)
        # CBDM Table 1's +ADA / +DiffAug (bench/generators/ddpm_augment.py); none draws nothing
        x0, aug = augment(x0, s.train_augment, s.ada_prob, rng)
        y = labels[idx].clone()
        # Classifier-free guidance training: each sample's label is dropped with this probability
        # (Ho & Salimans 2022; "usually 10%", CBDM Sec 3.1), or the whole batch's (CBDM's code).
        if s.label_dropout_unit == "batch":
            drop = (torch.rand(1, generator=rng) < s.label_dropout).expand(len(y))
        else:
            drop = torch.rand(len(y), generator=rng) < s.label_dropout
        y[drop] = self.null_label
        t = torch.randint(s.num_train_timesteps, (len(x0),), generator=rng)
        noise = torch.randn(x0.shape, generator=rng)
        other = None
        if self._other_labels is not None:  # CBDM's y', one Monte-Carlo label per sample
            other = torch.multinomial(self._other_labels, len(y), True, generator=rng)
        embeds = None
        if self.cond.encoder is not None:
            view = random_shift(x0, rng)
            keep = (torch.rand(len(y), generator=rng) >= s.embed_dropout).float()
            embeds = self.cond.encoder(view) * keep.to(self.device)[:, None]
        t, noise, y = t.to(self.device), noise.to(self.device), y.to(self.device)
        loss = self.training_loss(x0, y, t, noise, embeds, other, ~drop, aug)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        sched.step()
        self._update_ema()
        return float(loss.detach())

    def training_loss(
        self,
        x0: torch.Tensor,
        y: torch.Tensor,
        t: torch.Tensor,
        noise: torch.Tensor,
        embeds: torch.Tensor | None = None,
        other: torch.Tensor | None = None,
        keep: torch.Tensor | None = None,
        aug: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """The noise-prediction loss, plus CBDM's regulariser (bench/generators/balancing.py)
        where `other` (y') is given; `keep` marks the samples whose label was not dropped (the
        regulariser applies to those: Eq. 4 is defined for a label y). `aug`: ADA's parameters
        of the images, given to both branches (as the official code does)."""
        s = self.settings
        noisy = self.noise_schedule.add_noise(x0, noise, t)
        if aug is not None:
            aug = aug.to(noisy.device)
        if other is None:
            pred = self.unet(noisy, t, class_labels=self.cond(y, embeds, augment=aug)).sample
            return F.mse_loss(pred, noise)
        # eps(x_t, y) and eps(x_t, y') in one forward pass (no batch statistics in the UNet).
        labels = torch.cat([y, other.to(y.device)])
        both_embeds = None if embeds is None else torch.cat([embeds, embeds])
        both_aug = None if aug is None else torch.cat([aug, aug])
        both = self.unet(
            torch.cat([noisy, noisy]),
            torch.cat([t, t]),
            class_labels=self.cond(labels, both_embeds, augment=both_aug),
        ).sample
        pred, pred_other = both.chunk(2)
        weight = cbdm_weight(t, s.cbdm_tau, s.num_train_timesteps)
        if keep is not None:
            weight = weight * keep.to(weight.device).float()
        reg = cbdm_regulariser(pred, pred_other, weight, s.cbdm_commitment)
        return F.mse_loss(pred, noise) + reg

    def _set_balancing(self, labels: torch.Tensor) -> None:
        """The batch draw weights (RS) and the distribution of CBDM's y', from the train labels."""
        s = self.settings
        self._image_weights = self._other_labels = None
        if s.label_sampling != "data":
            w = image_weights(labels.numpy(), self.num_labels, s.label_sampling)
            self._image_weights = torch.as_tensor(w, dtype=torch.float64)
        if s.cbdm_tau > 0:
            counts = np.bincount(labels.numpy(), minlength=self.num_labels)
            p = class_distribution(counts, s.label_set())
            self._other_labels = torch.as_tensor(p, dtype=torch.float64)

    def _start_from(self, path: Path) -> None:
        """Fine-tuning: the live and EMA weights start from a fitted generator's EMA weights."""
        source = DDPMGenerator.load(path, str(self.device))
        mine = (self.num_classes, self.num_attributes, self.image_size, self.channels)
        theirs = (source.num_classes, source.num_attributes, source.image_size, source.channels)
        if mine != theirs:
            raise ConfigError(
                f"init_from={path}: that generator has (classes, attributes of its cells, size, "
                f"channels) {theirs}, this "
                f"one {mine}: fine-tune a generator fitted on the same data."
            )
        # ADA's embedding layer is the one part that may differ (train_augment): a generator
        # fine-tuned with ADA from one trained without it starts that layer from its own init;
        # one fine-tuned without ADA leaves the source's out.
        own = self.cond.state_dict()
        cond_state = {
            k: v
            for k, v in source.ema_cond.state_dict().items()
            if not k.startswith("augment.") or k in own
        }
        for k, v in own.items():
            if k.startswith("augment."):
                cond_state.setdefault(k, v.clone())
        try:
            for live, ema, state in (
                (self.unet, self.ema_unet, source.ema_unet.state_dict()),
                (self.cond, self.ema_cond, cond_state),
            ):
                live.load_state_dict(state)
                ema.load_state_dict(state)
        except RuntimeError as exc:
            raise ConfigError(
                f"init_from={path}: its weights do not fit this architecture (set unet_channels, "
                f"layers_per_block and image_conditioning as that generator's): {exc}"
            ) from None

    @torch.no_grad()
    def _update_ema(self) -> None:
        decay = self.settings.ema_decay
        for ema, live in ((self.ema_unet, self.unet), (self.ema_cond, self.cond)):
            for ema_p, p in zip(ema.parameters(), live.parameters(), strict=True):
                ema_p.lerp_(p, 1.0 - decay)

    def _checkpoint(
        self,
        workdir: Path,
        step: int,
        opt: torch.optim.Optimizer,
        sched: Any,
        rng: torch.Generator,
        losses: list[float],
    ) -> None:
        state = {
            "step": step,
            "unet": self.unet.state_dict(),
            "cond": self.cond.state_dict(),
            "ema_unet": self.ema_unet.state_dict(),
            "ema_cond": self.ema_cond.state_dict(),
            "opt": opt.state_dict(),
            "sched": sched.state_dict(),
            "rng": rng.get_state(),
            "losses": torch.tensor(losses, dtype=torch.float64),
            "settings": settings_key(self.settings),
        }
        atomic_write(workdir / "checkpoint.pt", torch_writer(state))

    def _resume(
        self, workdir: Path, opt: torch.optim.Optimizer, sched: Any, rng: torch.Generator
    ) -> tuple[int, list[float]]:
        path = workdir / "checkpoint.pt"
        if not path.exists():
            return 0, []
        try:
            state = torch.load(path, map_location=self.device, weights_only=True)
        except Exception as exc:  # a damaged checkpoint: keep it aside, fit from step 0
            keep = set_aside(path)
            log.warning("checkpoint %s cannot be resumed (%s); moved to %s", path, exc, keep)
            return 0, []
        if not isinstance(state, dict) or state.get("settings") != settings_key(self.settings):
            return 0, []  # a checkpoint of other settings: start afresh rather than mix them
        self.unet.load_state_dict(state["unet"])
        self.cond.load_state_dict(state["cond"])
        self.ema_unet.load_state_dict(state["ema_unet"])
        self.ema_cond.load_state_dict(state["ema_cond"])
        opt.load_state_dict(state["opt"])
        sched.load_state_dict(state["sched"])
        rng.set_state(state["rng"])
        return int(state["step"]), state["losses"].tolist()

    # Saving and loading ----------------------------------------------------------------------

    def save(self, workdir: Path) -> None:
        """The EMA weights: the UNet in diffusers format, the conditioner as safetensors."""
        # safetensors: heavy, imported where used (off the start-up path)
        from safetensors.torch import save_file

        self.ema_unet.save_pretrained(workdir / "unet")
        follow_umask(workdir / "unet")  # safetensors writes its file 0600
        state = {k: v.contiguous() for k, v in self.ema_cond.state_dict().items()}
        atomic_write(workdir / "conditioner.safetensors", lambda tmp: save_file(state, tmp))
        meta = {
            "backend": self.name,
            "settings": settings_key(self.settings),
            "num_classes": self.num_classes,
            "image_size": self.image_size,
            "channels": self.channels,
        }
        if self.num_attributes:  # absent for class conditioning, as before cells existed
            meta["num_attributes"] = self.num_attributes
        atomic_write_json(workdir / "generator.json", meta)

    @classmethod
    def load(cls, workdir: Path, device: str = "cpu") -> DDPMGenerator:
        # safetensors: heavy, imported where used (off the start-up path)
        from safetensors.torch import load_file

        workdir = Path(workdir)
        if not (workdir / "generator.json").is_file():
            raise DataError(
                f"{workdir} holds no fitted ddpm generator (generator.json is missing): "
                f"{remake_advice(workdir)}."
            )
        meta = read_json(workdir / "generator.json")
        settings = build(DDPMSettings, meta["settings"], f"generator {workdir}")
        k = int(meta.get("num_attributes", 0))
        model = cls(
            settings,
            meta["num_classes"],
            meta["image_size"],
            meta["channels"],
            device,
            num_attributes=k,
        )
        # diffusers: heavy, imported where used (off the start-up path)
        from diffusers import UNet2DModel

        model.ema_unet = UNet2DModel.from_pretrained(workdir / "unet").to(model.device).eval()
        model.ema_cond.load_state_dict(load_file(workdir / "conditioner.safetensors"))
        model.ema_cond.to(model.device)
        return model

    # Sampling --------------------------------------------------------------------------------

    @property
    def sample_channels(self) -> int:
        return self.channels

    def draw(
        self,
        requests: Sequence[SynthesisRequest],
        hooks: SamplingHooks,
        steps: int = 50,
        progress: bool = False,
    ) -> SampleBatch:
        """DDIM samples for the requests (uint8 N x H x W x C), each from its own seed."""
        denoiser = DDPMDenoiser(self, requests, hooks)
        x, criterion = denoise(denoiser, requests, steps, hooks, progress)
        values = None if criterion is None else criterion.cpu().numpy()
        return SampleBatch(to_uint8(x), values)

    def sample_labels(
        self,
        labels: np.ndarray,
        seed: int,
        steps: int = 50,
        guidance_scale: float = 1.0,
        batch_size: int = 256,
    ) -> np.ndarray:
        """Class-only samples for `labels`, request i seeded by (seed, i): a convenience."""

        requests = [SynthesisRequest(i, int(y), seed_hash(seed, i)) for i, y in enumerate(labels)]
        hooks = SamplingHooks(noise=CFG(guidance_scale))
        chunks = [requests[i : i + batch_size] for i in range(0, len(requests), batch_size)]
        out = [self.sample(c, hooks, steps).images for c in chunks]
        return np.concatenate(out) if out else self.sample([], hooks).images

    def class_rows(self, requests: Sequence[SynthesisRequest]) -> torch.Tensor | None:
        """The vectors standing in for the requests' label rows (N x width), or None: the
        label table. A backend with learned class vectors (ddpm-ti) overrides this."""
        return None

    @torch.no_grad()
    def embed(self, images: np.ndarray) -> torch.Tensor:
        """Image embeddings of uint8 N x H x W x C images at the generator's size."""
        if self.ema_cond.encoder is None:
            raise ConfigError(
                "this ddpm generator was trained without image conditioning: set the method's "
                "image_conditioning=true to condition on real images."
            )
        return self.ema_cond.encoder(unit(images).to(self.device))


class DDPMDenoiser:
    """The harness DDPM as the shared loop sees it (pixel space: decoding is the identity)."""

    def __init__(self, model: DDPMGenerator, requests: Sequence[SynthesisRequest], hooks: Any):
        self.model = model
        # diffusers: heavy, imported where used (off the start-up path)
        from diffusers import DDIMScheduler

        self.scheduler = DDIMScheduler.from_config(model.noise_schedule.config)
        device = model.device
        self.labels = torch.tensor([model.label_of(r) for r in requests], device=device)
        self.null = torch.full_like(self.labels, model.null_label)
        self.embeds = None
        if any(r.cond_ids for r in requests):
            if model.real_images is None:
                raise ConfigError("requests name conditioning images but no real images are set.")
            self.embeds = conditioning_embeddings(
                requests, model.real_images.read, model.embed, hooks
            )
        self.rows = model.class_rows(requests)
        self.requests = requests

    def initial(self, requests: Sequence[SynthesisRequest]) -> torch.Tensor:
        m = self.model
        shape = (m.channels, m.image_size, m.image_size)
        return per_sample_noise(requests, shape, m.device, torch.float32)

    def predict(self, x: torch.Tensor, t: Any, branch: str) -> torch.Tensor:
        m = self.model
        if branch == "cond":
            emb = m.ema_cond(self.labels, self.embeds, self.rows)
        else:  # unCLIP's unconditional branch: null label and a zero image embedding
            zeros = None if self.embeds is None else torch.zeros_like(self.embeds)
            emb = m.ema_cond(self.null, zeros)
        return m.ema_unet(x, t, class_labels=emb).sample

    def decode(self, x: torch.Tensor) -> torch.Tensor:
        return x


def build_unet(settings: DDPMSettings, image_size: int, channels: int) -> UNet2DModel:
    """A UNet without attention (cheap on CPU) whose class embedding is given from outside."""
    # diffusers: heavy, imported where used (off the start-up path)
    from diffusers import UNet2DModel

    widths = tuple(settings.unet_channels)
    groups = math.gcd(32, *widths)
    n = len(widths)
    attn = set(settings.attention_levels)
    down = tuple("AttnDownBlock2D" if i in attn else "DownBlock2D" for i in range(n))
    up = tuple("AttnUpBlock2D" if n - 1 - i in attn else "UpBlock2D" for i in range(n))
    extra = {"dropout": settings.dropout} if settings.dropout else {}
    if attn:
        extra["attention_head_dim"] = None  # one head over the channels, as DDPM's AttnBlock
    return UNet2DModel(
        sample_size=image_size,
        in_channels=channels,
        out_channels=channels,
        layers_per_block=settings.layers_per_block,
        block_out_channels=widths,
        down_block_types=down,
        up_block_types=up,
        class_embed_type="identity",
        norm_num_groups=groups,
        **extra,
    )


def check_cells(settings: DDPMSettings, data: Any) -> None:
    """condition=cell needs data whose training images have an attribute."""
    if settings.condition == "cell" and (data.train.attributes is None or not data.attribute_names):
        raise ConfigError(
            f"condition='cell' conditions the ddpm generator on (class, attribute) cells, but "
            f"{data.name} has no attribute (context, race, place, colour). Use condition=class."
        )


def no_attribute_message(request: SynthesisRequest) -> str:
    return (
        f"the ddpm generator with condition='cell' draws (class, attribute) cells, but request "
        f"{request.index} (class {request.label}) names no attribute: its plan fills classes "
        "only. Use a cells: plan (plan=cells:max) or condition=class."
    )


def lr_schedule(settings: DDPMSettings):
    """The generator's LR multiplier per step (`lr_schedule`, `warmup_steps`)."""
    if settings.lr_schedule == "warmup-constant":
        warmup = settings.warmup_steps or max(1, settings.train_steps // 50)
        return lambda step: min(step + 1, warmup) / warmup
    return cosine_with_warmup(settings.train_steps, settings.warmup_steps)


def random_shift(x: torch.Tensor, rng: torch.Generator) -> torch.Tensor:
    """The same batch shifted by up to 1/8 of its side (the encoder's augmented view)."""
    pad = max(1, x.shape[-1] // 8)
    padded = F.pad(x, (pad, pad, pad, pad), value=-1.0)
    dy, dx = (int(v) for v in torch.randint(0, 2 * pad + 1, (2,), generator=rng))
    return padded[..., dy : dy + x.shape[-2], dx : dx + x.shape[-1]]


def unit(images: np.ndarray) -> torch.Tensor:
    """uint8 N x H x W x C -> float N x C x H x W in [-1, 1]."""
    x = torch.as_tensor(np.ascontiguousarray(images)).permute(0, 3, 1, 2).float()
    return x / 127.5 - 1.0


def train_encoder(model: Any, corpus: Any, settings: Any, seed: int, progress: bool):
    """The image encoder as a classifier on the corpus (shifted views), then frozen in `model`
    (live and EMA conditioner); returns its final training loss and accuracy on the val split."""
    encoder = model.cond.encoder
    head = torch.nn.Linear(settings.embed_dim, corpus.num_classes).to(model.device)
    images = SplitImages(corpus.train, model.image_size, model.channels)
    labels = torch.as_tensor(corpus.train.targets, dtype=torch.long)
    params = [*encoder.parameters(), *head.parameters()]
    opt = torch.optim.Adam(params, lr=1e-3)
    rng = torch.Generator().manual_seed(seed_hash(seed, "encoder"))
    losses = []
    encoder.train()
    for _ in progress_bar(range(settings.encoder_steps), progress, desc="pretrain encoder"):
        idx = torch.randint(len(labels), (settings.batch_size,), generator=rng)
        x = random_shift(unit(images.read(idx.numpy())), rng).to(model.device)
        loss = F.cross_entropy(head(encoder(x)), labels[idx].to(model.device))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    encoder.eval().requires_grad_(False)
    model.ema_cond.encoder.load_state_dict(encoder.state_dict())
    model.freeze_encoder = True
    val = corpus.splits["val"]
    with torch.no_grad():
        logits = head(encoder(unit(val.images).to(model.device)))
    accuracy = float((logits.argmax(1).cpu().numpy() == val.targets).mean())
    return {"steps": settings.encoder_steps, "final_loss": float(np.mean(losses[-50:])),
            "val_accuracy": accuracy}  # fmt: skip
