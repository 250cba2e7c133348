"""A small class-conditional diffusion model trained by the harness itself.

diffusers' `UNet2DModel` with a class embedding (num_classes + 1 entries: the last one is the
null label for classifier-free guidance), trained with the DDPM noise-prediction loss and
sampled with DDIM. It is the generator of `ddpm-fill` and the base that CBDM and FG build on
for small images. Training checkpoints into its work directory and resumes exactly (the random
stream's state is saved with the weights); the finished model is saved in diffusers' own format
(`unet/` via save_pretrained), so `UNet2DModel.from_pretrained` reads it too.
"""

from __future__ import annotations

import copy
import math
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from diffusers import DDIMScheduler, DDPMScheduler, UNet2DModel

from bench.io import atomic_write, atomic_write_json, read_json
from bench.progress import progress_bar


@dataclass(frozen=True)
class DDPMSpec:
    """Architecture and training settings of the conditional DDPM."""

    block_out_channels: tuple[int, ...] = (32, 64, 64)
    layers_per_block: int = 1
    train_steps: int = 1500
    batch_size: int = 64
    lr: float = 1e-3
    ema_decay: float = 0.995
    label_dropout: float = 0.1
    num_train_timesteps: int = 1000
    checkpoint_every: int = 250


class ConditionalDDPM:
    """Train, save, load and sample a class-conditional DDPM on uint8 N x H x W x C images."""

    def __init__(
        self, spec: DDPMSpec, num_classes: int, image_size: int, channels: int, device: str = "cpu"
    ):
        self.spec = spec
        self.num_classes = num_classes
        self.image_size = image_size
        self.channels = channels
        self.device = torch.device(device)
        self.unet = build_unet(spec, num_classes, image_size, channels).to(self.device)
        self.ema = copy.deepcopy(self.unet).eval().requires_grad_(False)
        self.noise_schedule = DDPMScheduler(num_train_timesteps=spec.num_train_timesteps)

    @property
    def null_label(self) -> int:
        return self.num_classes

    # Training ------------------------------------------------------------------------------

    def fit(
        self,
        images: np.ndarray,
        labels: np.ndarray,
        seed: int,
        workdir: Path,
        progress: bool = True,
    ) -> dict[str, float]:
        """Train for `spec.train_steps` steps, resuming from `workdir/checkpoint.pt` if present."""
        x0 = uint8_to_unit(images).to(self.device)
        y = torch.as_tensor(labels, dtype=torch.long, device=self.device)
        opt = torch.optim.AdamW(self.unet.parameters(), lr=self.spec.lr, weight_decay=0.0)
        sched = torch.optim.lr_scheduler.LambdaLR(opt, cosine_with_warmup(self.spec.train_steps))
        rng = torch.Generator().manual_seed(seed)
        step, losses = self._resume(workdir, opt, sched, rng)
        self.unet.train()
        bar = progress_bar(
            None, progress, total=self.spec.train_steps, initial=step, desc="fit generator"
        )
        while step < self.spec.train_steps:
            losses.append(self._train_step(x0, y, opt, sched, rng))
            step += 1
            bar.update(1)
            bar.set_postfix(loss=f"{np.mean(losses[-50:]):.4f}")
            if step % self.spec.checkpoint_every == 0 and step < self.spec.train_steps:
                self._checkpoint(workdir, step, opt, sched, rng, losses)
        bar.close()
        self.save(workdir)
        (workdir / "checkpoint.pt").unlink(missing_ok=True)
        return {"final_loss": float(np.mean(losses[-50:])), "steps": step}

    def _train_step(
        self,
        x0: torch.Tensor,
        y: torch.Tensor,
        opt: torch.optim.Optimizer,
        sched: torch.optim.lr_scheduler.LRScheduler,
        rng: torch.Generator,
    ) -> float:
        idx = torch.randint(len(x0), (self.spec.batch_size,), generator=rng).to(self.device)
        batch, labels = x0[idx], y[idx].clone()
        # Classifier-free guidance training: each sample's label is dropped with this probability
        # (Ho & Salimans 2022; "usually 10%", CBDM Sec 3.1).
        drop = torch.rand(len(labels), generator=rng).to(self.device) < self.spec.label_dropout
        labels[drop] = self.null_label
        t = torch.randint(self.spec.num_train_timesteps, (len(batch),), generator=rng)
        t = t.to(self.device)
        noise = torch.randn(batch.shape, generator=rng).to(self.device)
        noisy = self.noise_schedule.add_noise(batch, noise, t)
        loss = F.mse_loss(self.unet(noisy, t, class_labels=labels).sample, noise)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.unet.parameters(), 1.0)
        opt.step()
        sched.step()
        self._update_ema()
        return float(loss.detach())

    @torch.no_grad()
    def _update_ema(self) -> None:
        for ema_p, p in zip(self.ema.parameters(), self.unet.parameters(), strict=True):
            ema_p.lerp_(p, 1.0 - self.spec.ema_decay)

    def _checkpoint(
        self,
        workdir: Path,
        step: int,
        opt: torch.optim.Optimizer,
        sched: torch.optim.lr_scheduler.LRScheduler,
        rng: torch.Generator,
        losses: list[float],
    ) -> None:
        state = {
            "step": step,
            "unet": self.unet.state_dict(),
            "ema": self.ema.state_dict(),
            "opt": opt.state_dict(),
            "sched": sched.state_dict(),
            "rng": rng.get_state(),
            "losses": losses,
            "spec": asdict(self.spec),
        }
        atomic_write(workdir / "checkpoint.pt", lambda tmp: torch.save(state, tmp))

    def _resume(
        self,
        workdir: Path,
        opt: torch.optim.Optimizer,
        sched: torch.optim.lr_scheduler.LRScheduler,
        rng: torch.Generator,
    ) -> tuple[int, list[float]]:
        path = workdir / "checkpoint.pt"
        if not path.exists():
            return 0, []
        state = torch.load(path, map_location=self.device, weights_only=True)  # tensors only
        if state["spec"] != asdict(self.spec):
            return 0, []  # a checkpoint of other settings: start afresh rather than mix them
        self.unet.load_state_dict(state["unet"])
        self.ema.load_state_dict(state["ema"])
        opt.load_state_dict(state["opt"])
        sched.load_state_dict(state["sched"])
        rng.set_state(state["rng"])
        return state["step"], list(state["losses"])

    # Saving and loading ----------------------------------------------------------------------

    def save(self, workdir: Path) -> None:
        """The EMA weights in diffusers format plus what is needed to rebuild this wrapper."""
        self.ema.save_pretrained(workdir / "unet")
        meta = {
            "spec": asdict(self.spec),
            "num_classes": self.num_classes,
            "image_size": self.image_size,
            "channels": self.channels,
        }
        atomic_write_json(workdir / "generator.json", meta)

    @classmethod
    def load(cls, workdir: Path, device: str = "cpu") -> ConditionalDDPM:
        meta = read_json(workdir / "generator.json")
        spec = DDPMSpec(
            **{**meta["spec"], "block_out_channels": tuple(meta["spec"]["block_out_channels"])}
        )
        model = cls(spec, meta["num_classes"], meta["image_size"], meta["channels"], device)
        model.ema = UNet2DModel.from_pretrained(workdir / "unet").to(model.device).eval()
        return model

    # Sampling --------------------------------------------------------------------------------

    @torch.no_grad()
    def sample(
        self,
        labels: np.ndarray,
        seed: int,
        steps: int = 50,
        guidance_scale: float = 1.0,
        batch_size: int = 256,
        progress: bool = False,
    ) -> np.ndarray:
        """DDIM samples for `labels` as uint8 N x H x W x C; deterministic in `seed`.

        guidance_scale w mixes eps_u + w * (eps_c - eps_u): 0 is unconditional, 1 purely
        conditional (one UNet pass per step), above 1 classifier-free guidance.
        """
        rng = torch.Generator().manual_seed(seed)
        chunks = [labels[i : i + batch_size] for i in range(0, len(labels), batch_size)]
        out = [self._sample_batch(c, rng, steps, guidance_scale, progress) for c in chunks]
        return np.concatenate(out) if out else self._empty()

    def _sample_batch(
        self,
        labels: np.ndarray,
        rng: torch.Generator,
        steps: int,
        guidance_scale: float,
        progress: bool,
    ) -> np.ndarray:
        scheduler = DDIMScheduler.from_config(self.noise_schedule.config)
        scheduler.set_timesteps(steps)
        shape = (len(labels), self.channels, self.image_size, self.image_size)
        x = torch.randn(shape, generator=rng).to(self.device)
        y = torch.as_tensor(labels, dtype=torch.long, device=self.device)
        for t in progress_bar(scheduler.timesteps, progress, desc="sample"):
            eps = self._guided_eps(x, t, y, guidance_scale)
            x = scheduler.step(eps, t, x, eta=0.0).prev_sample
        return unit_to_uint8(x)

    def _guided_eps(
        self, x: torch.Tensor, t: torch.Tensor, y: torch.Tensor, guidance_scale: float
    ) -> torch.Tensor:
        if guidance_scale == 1.0:
            return self.ema(x, t, class_labels=y).sample
        null = torch.full_like(y, self.null_label)
        if guidance_scale == 0.0:
            return self.ema(x, t, class_labels=null).sample
        both = self.ema(torch.cat([x, x]), t, class_labels=torch.cat([null, y])).sample
        eps_u, eps_c = both.chunk(2)
        return eps_u + guidance_scale * (eps_c - eps_u)

    def _empty(self) -> np.ndarray:
        return np.zeros((0, self.image_size, self.image_size, self.channels), dtype=np.uint8)


def build_unet(spec: DDPMSpec, num_classes: int, image_size: int, channels: int) -> UNet2DModel:
    """A UNet without attention (cheap on CPU), with a class embedding incl. the null label."""
    groups = math.gcd(32, *spec.block_out_channels)
    n = len(spec.block_out_channels)
    return UNet2DModel(
        sample_size=image_size,
        in_channels=channels,
        out_channels=channels,
        layers_per_block=spec.layers_per_block,
        block_out_channels=spec.block_out_channels,
        down_block_types=("DownBlock2D",) * n,
        up_block_types=("UpBlock2D",) * n,
        num_class_embeds=num_classes + 1,
        norm_num_groups=groups,
    )


def cosine_with_warmup(total_steps: int, warmup: int | None = None):
    """LR multiplier: linear warm-up over ~2% of the steps, then cosine decay to zero."""
    warmup = max(1, total_steps // 50) if warmup is None else warmup

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        progress = (step - warmup) / max(1, total_steps - warmup)
        return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))

    return factor


def uint8_to_unit(images: np.ndarray) -> torch.Tensor:
    """uint8 N x H x W x C -> float N x C x H x W in [-1, 1]."""
    x = torch.as_tensor(np.ascontiguousarray(images)).permute(0, 3, 1, 2).float()
    return x / 127.5 - 1.0


def unit_to_uint8(x: torch.Tensor) -> np.ndarray:
    """float N x C x H x W in [-1, 1] -> uint8 N x H x W x C."""
    x = ((x.clamp(-1, 1) + 1.0) * 127.5).round().to(torch.uint8)
    return x.permute(0, 2, 3, 1).cpu().numpy()
