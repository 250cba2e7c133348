"""`ddpm-ti`: the harness DDPM plus one learned class vector per class (Fill-Up's textual
inversion on the embedded benchmark).

Fill-Up (Sec 3.1, App B.3) learns, per class, a new token of the text encoder on the class's
few real images with Stable Diffusion frozen, then samples "a photo of *". The harness DDPM has
no text encoder: its class condition is a row of the label table (`Conditioner.labels`, the
null row last), added to the time embedding. The analogue of a learned token is then a new
vector in that space, learned per class by the DDPM's denoising loss on the class's real
training images with the UNet, the label table and the image encoder frozen; synthesis for
class c conditions on it instead of c's label row (`class_rows`), the checkpoints used evenly
as Fill-Up's (the i-th image of a class takes checkpoint i mod K).

The generator it inverts is the `ddpm` backend's, fitted as that backend fits it: with
`pretrained_generator=printed-digits` (or `pretrained_dir`) the pretrained model copied as it is
(the papers' setting: the generator already knows every class from another corpus); without,
a DDPM trained on the run's training split. It lives in `<workdir>/base/` (a ddpm directory),
fitted once under a lock by whichever class's fit comes first. An image-conditioned model is
inverted and sampled with the zero image embedding (its unconditional mode, as `ldm-txt` uses
it); the class-only model is the default (image_conditioning=false).

Each class is an independent unit of work (`fit_part`, as sd-ti's), resumable: every step draws
its images, noise and timesteps from its own seed (seed, class, step) and a checkpoint holds the
vector and AdamW's moments, so an interrupted fit ends with the vector an uninterrupted one
gives. Step counts and LR are scaled for CPUs (bench/generators/ddpm_settings.py). No flips:
digits are not mirror-symmetric (sd-ti's TI code flips natural images).
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from bench.errors import BenchError, DataError
from bench.generators.base import Generator, SynthesisRequest
from bench.generators.ddpm import DDPMGenerator, settings_key, unit
from bench.generators.ddpm_settings import DDPMInversionSettings, DDPMSettings
from bench.generators.inversion import (
    RowsFit,
    check_every_class_has_images,
    checkpoint_marks,
    load_state,
    step_rule,
)
from bench.hparams import build, specs
from bench.io import atomic_write_json, file_lock, read_json, remake_advice, seed_hash
from bench.seeding import seed_everything

VECTOR = "vector"  # the tensor name in checkpoint and vector files


def base_settings(settings: DDPMSettings) -> DDPMSettings:
    """The ddpm settings of the generator that is inverted."""

    values = {k: getattr(settings, k) for k in specs(DDPMSettings)}
    return build(DDPMSettings, values, "ddpm-ti base generator")


def inversion_steps(n_images: int, s: DDPMInversionSettings) -> int:
    return step_rule(n_images, s.token_steps_per_image, s.token_min_steps, s.token_max_steps)


def initial_vector(cond: Any, how: str, num_classes: int) -> torch.Tensor:
    """Where every class vector starts (Fill-Up: the generic word 'object')."""
    table = cond.labels.weight.detach().float()
    return table[:num_classes].mean(0) if how == "label-mean" else table[num_classes].clone()


def invert_label(
    model: DDPMInversionGenerator,
    label: int,
    ids: np.ndarray,
    seed: int,
    outdir: Path,
    progress: bool = False,
    on_step: Callable[[int, float], None] | None = None,
) -> Path:
    """Learn class `label`'s vector from its real training images (`ids` into the training
    split of `model.real_images`) into `outdir` (resumable); returns the vector's file."""
    s = model.inversion
    cdir = outdir / "checkpoints" / str(label)
    final = outdir / "vectors" / f"{label}.safetensors"
    if (cdir / "done").exists() and final.exists():
        return final
    if len(ids) == 0:
        raise DataError(f"class {label} has no real training image to invert.")
    total = inversion_steps(len(ids), s)
    marks = set(checkpoint_marks(total, s.token_checkpoint_every))
    unet, cond = model.ema_unet, model.ema_cond
    start = initial_vector(cond, s.token_init, model.num_classes)
    rows = torch.nn.Parameter(start[None].to(model.device))
    opt = torch.optim.AdamW([rows], lr=s.token_lr, weight_decay=s.token_weight_decay)
    step = load_state(cdir / "state.safetensors", rows, opt)
    schedule = model.noise_schedule

    def loss_at(step: int) -> torch.Tensor:
        rng = torch.Generator().manual_seed(seed_hash(seed, "ddpm-ti", label, step))
        pick = torch.randint(len(ids), (s.token_batch_size,), generator=rng).numpy()
        x0 = unit(model.real_images.read(ids[pick])).to(model.device)
        t = torch.randint(schedule.config.num_train_timesteps, (len(x0),), generator=rng)
        noise = torch.randn(x0.shape, generator=rng).to(model.device)
        t = t.to(model.device)
        noisy = schedule.add_noise(x0, noise, t)
        emb = cond(None, None, rows.expand(len(x0), -1))  # no image: the zero embedding
        return F.mse_loss(unet(noisy, t, class_labels=emb).sample, noise)

    fit = RowsFit(rows, opt, cdir, VECTOR, marks, f"invert class {label}")
    fit.run(loss_at, step, total, progress, on_step)
    return fit.finish(final, {"label": label, "steps": total})


class DDPMInversionGenerator(DDPMGenerator):
    """The ddpm generator with one learned class vector per class (Fill-Up's learned token)."""

    name = "ddpm-ti"
    Settings = DDPMInversionSettings

    def __init__(
        self,
        settings: DDPMInversionSettings,
        num_classes: int,
        image_size: int,
        channels: int,
        device: str = "cpu",
        checkpoint_every: int = 250,
        num_attributes: int = 0,
    ):
        # num_attributes: always 0 here (DDPMInversionSettings refuses condition=cell)
        super().__init__(
            base_settings(settings), num_classes, image_size, channels, device, checkpoint_every
        )
        self.inversion = settings
        self.checkpoints: dict[int, torch.Tensor] = {}  # label -> K x width, in step order
        self.has_base = False

    # Fitting ---------------------------------------------------------------------------------

    # One part per class: each class's vector is learned on its own (`invert_label`).
    fit_by_class = True
    fit = Generator.fit  # the per-class fit of the base class, not the ddpm's training

    def fit_part(self, data: Any, workdir: Path, seed: int, part: int, progress: bool) -> None:
        workdir = Path(workdir)
        if not self.has_base:  # checked and loaded once per process, before its first class
            check_every_class_has_images(data)
            self.use_base(self.fit_base(data, workdir, seed, progress))
            self.set_real_images(data.train, data.channels)
        ids = np.flatnonzero(np.asarray(data.train.targets) == part)
        invert_label(self, part, ids, seed, workdir, progress)

    def fit_base(self, data: Any, workdir: Path, seed: int, progress: bool) -> Path:
        """The ddpm generator to invert, fitted once into `workdir/base` (pretrained: copied)."""

        base_dir = workdir / "base"
        with file_lock(workdir / "parts" / "base.lock"):
            if not (base_dir / "done").exists():
                seed_everything(seed_hash(seed, "base"))  # its weight init, when it trains
                base = DDPMGenerator(
                    self.settings, self.num_classes, self.image_size, self.channels, self.device
                )
                # a pretrained model is cached beside the fitted generators, as ddpm's is
                base.pretrained_root = workdir.parent.parent / "pretrained"
                info = base.fit(data, base_dir, seed_hash(seed, "base"), progress)
                atomic_write_json(base_dir / "done", info)
        return base_dir

    def use_base(self, base_dir: Path) -> None:
        """Sample and invert with the (EMA) weights of the ddpm in `base_dir`, frozen."""
        base = DDPMGenerator.load(base_dir, str(self.device))
        self.ema_unet = self.unet = base.ema_unet.eval().requires_grad_(False)
        self.ema_cond = self.cond = base.ema_cond.eval().requires_grad_(False)
        self.has_base = True

    def save(self, workdir: Path) -> None:
        """generator.json (the base and the class files are written by the fit)."""
        workdir = Path(workdir)
        record = workdir / "base" / "pretrained.json"
        if record.exists():  # where the pretrained model came from, as ddpm's directory says
            shutil.copyfile(record, workdir / "pretrained.json")
        meta = {
            "backend": self.name,
            "settings": settings_key(self.inversion),
            "num_classes": self.num_classes,
            "image_size": self.image_size,
            "channels": self.channels,
        }
        atomic_write_json(workdir / "generator.json", meta)

    @classmethod
    def load(cls, workdir: Path, device: str = "cpu") -> DDPMInversionGenerator:
        workdir = Path(workdir)
        meta = read_json(workdir / "generator.json")
        settings = build(DDPMInversionSettings, meta["settings"], f"generator {workdir}")
        out = cls(settings, meta["num_classes"], meta["image_size"], meta["channels"], device)
        out.use_base(workdir / "base")
        out.load_checkpoints(workdir)
        return out

    def load_checkpoints(self, workdir: Path) -> None:
        # safetensors: heavy, imported where used (off the start-up path)
        from safetensors.torch import load_file

        for label in range(self.num_classes):
            files = sorted((workdir / "checkpoints" / str(label)).glob("step-*.safetensors"))
            if not files:
                raise BenchError(
                    f"{workdir}: class {label} has no learned-vector checkpoint: "
                    f"{remake_advice(workdir)}."
                )
            rows = [load_file(f)[VECTOR].reshape(-1) for f in files]
            self.checkpoints[label] = torch.stack(rows).to(self.device)

    # Sampling --------------------------------------------------------------------------------

    def checkpoint_of(self, request: SynthesisRequest) -> int:
        """Checkpoints used evenly (Fill-Up App B.3): the i-th image of a cell takes i mod K."""
        return request.rank % len(self.checkpoints[request.label])

    def class_rows(self, requests: Sequence[SynthesisRequest]) -> torch.Tensor:
        return torch.stack([self.checkpoints[r.label][self.checkpoint_of(r)] for r in requests])
