"""ddpm-fill: fill every class up with a class-conditional diffusion model trained on the LT data.

The embedded analogue of the papers' "LDM (txt)" baseline (FG Table 1, augcond Table 2): a
generator conditioned on the class alone fills each class up to the largest class count, and the
classifier trains on real + synthetic data with Balanced Softmax and 50/50 real:synthetic
mini-batches (FG Sec 4.1). Where the papers use pretrained Stable Diffusion, this trains a small
`UNet2DModel` on the long-tailed training split itself, so it runs offline on tiny images; CBDM
and FG on small data build on the same generator.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bench.errors import ConfigError
from bench.hparams import hp
from bench.io import seed_hash
from bench.method import FillHparams, Method

PROTO = "embedded-benchmark prototype on digits (shared/notes/environment.md)"


@dataclass(frozen=True)
class Hparams(FillHparams):
    unet_channels: tuple[int, ...] = hp(
        (32, 64, 64),
        low=4,
        stage="generator",
        high=4096,
        source=PROTO + ": UNet2DModel (32,64,64), no attention, 1.06 M parameters",
    )
    layers_per_block: int = hp(1, low=1, stage="generator", high=16, source=PROTO)
    train_steps: int = hp(
        1500,
        low=1,
        stage="generator",
        high=100_000_000,
        source=PROTO + ": at 3,000 steps samples memorise their training images and few-shot "
        "accuracy drops 2.4 points",
    )
    batch_size: int = hp(64, low=1, stage="generator", high=65_536, source=PROTO)
    lr: float = hp(1e-3, gt=0.0, stage="generator", high=1.0, source=PROTO + " (cosine schedule)")
    ema_decay: float = hp(0.995, low=0.0, high=1.0, stage="generator", source=PROTO)
    label_dropout: float = hp(
        0.1,
        low=0.0,
        high=1.0,
        stage="generator",
        source="classifier-free guidance training drops the label 'usually 10%' (CBDM Sec 3.1)",
    )
    num_train_timesteps: int = hp(
        1000,
        low=2,
        stage="generator",
        high=100_000,
        source="DDPM T = 1000, beta 1e-4..0.02 (CBDM Sec 4.1)",
    )
    generator_seed: int | None = hp(
        0,
        low=0,
        stage="generator",
        high=2**31 - 1,
        source="one generator for all run seeds, as the papers' pretrained generators are; "
        "seeds vary synthesis and the classifier (none = refit per run seed)",
    )
    sampling_steps: int = hp(
        50, low=1, stage="synthesis", high=100_000, source="DDIM 50 steps (Fill-Up Sec 3.1)"
    )
    guidance_scale: float = hp(
        1.0,
        low=0.0,
        stage="synthesis",
        high=100.0,
        source="low guidance 1.0 (Fill-Up Sec 4.4); on digits w > 1.5 makes samples "
        "unrecognisable (" + PROTO + ")",
        help="eps_u + w (eps_c - eps_u): 0 unconditional, 1 conditional, > 1 CFG",
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.sampling_steps > self.num_train_timesteps:
            raise ConfigError(
                f"sampling_steps={self.sampling_steps} exceeds num_train_timesteps="
                f"{self.num_train_timesteps}: DDIM samples a subset of the training timesteps. "
                "Lower sampling_steps or raise num_train_timesteps."
            )


class DDPMFill(Method):
    """Class-conditional DDPM trained on the LT split fills every class up to the head count."""

    Hparams = Hparams
    paper = "'LDM (txt)' baseline of FG Table 1 / augcond Table 2, on a harness-trained DDPM"
    uses_synthetic_data = True
    RECIPE = {
        "loss": ("balanced-softmax", "FG Sec 4.1: Balanced Softmax for all the LDM models"),
        "prior": ("real", "Fill-Up Sec 3.2: only real samples are counted in n_i"),
        "real_fraction": (0.5, "FG Sec 4.1 footnote 3: 50% real, 50% synthetic per mini-batch"),
    }
    TINY = {
        "unet_channels": (8, 16),
        "train_steps": 3,
        "batch_size": 8,
        "sampling_steps": 2,
        "num_train_timesteps": 10,
    }

    def _spec(self):
        from bench.generators.ddpm import DDPMSpec

        h = self.hparams
        return DDPMSpec(
            block_out_channels=tuple(h.unet_channels),
            layers_per_block=h.layers_per_block,
            train_steps=h.train_steps,
            batch_size=h.batch_size,
            lr=h.lr,
            ema_decay=h.ema_decay,
            label_dropout=h.label_dropout,
            num_train_timesteps=h.num_train_timesteps,
        )

    def fit_generator(self, workdir: Path) -> None:
        from bench.generators.ddpm import ConditionalDDPM

        data = self.context.data
        model = ConditionalDDPM(
            self._spec(), data.num_classes, data.image_size, data.channels, self.context.device
        )
        model.fit(
            data.train.images,
            data.train.targets,
            seed_hash(self.generator_seed, "ddpm"),
            workdir,
            progress=self.context.progress,
        )

    def load_generator(self, workdir: Path) -> None:
        from bench.generators.ddpm import ConditionalDDPM

        self._model = ConditionalDDPM.load(workdir, self.context.device)

    def synthesise(self, labels: np.ndarray, seed: int) -> np.ndarray:
        return self._model.sample(
            labels,
            seed,
            steps=self.hparams.sampling_steps,
            guidance_scale=self.hparams.guidance_scale,
        )
