"""What a sweep will cost, estimated before anything runs: GPU-hours, CPU-hours and disk per
stage (generator fit, synthesis, classifier training, each dependency), from the per-stage
figures of bench/launch/throughput.yaml. Pure functions: the dry-run (bench.launch.dryrun)
gathers each run's work from its resolved settings and its data.

Every number is an estimate unless a figure is `measured:` (benchmarks/gpu_check.sh): FLOPs
divided by a sustained GPU rate, images divided by a per-core decode rate. Disk is exact per
image (the synthetic store keeps raw uint8 H x W x 3 images, bench.synthesis.store) times the
number of images, which is itself estimated where the data is not on this machine.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.errors import ConfigError
from bench.io import read_yaml

THROUGHPUT = Path(__file__).with_name("throughput.yaml")
SD_FAMILY = ("sd", "sd-ti", "unclip", "sd-imgvar")


@dataclass(frozen=True)
class Figure:
    name: str
    value: Any
    unit: str
    source: str
    measured: bool = False


def load_figures(path: Path = THROUGHPUT) -> dict[str, Figure]:
    """The estimates of `path`, each overridden by a `measured:` figure of the same name."""
    data, _ = read_yaml(path, "throughput figures")
    out: dict[str, Figure] = {}
    for section in ("estimates", "measured"):
        for name, fig in ((data or {}).get(section) or {}).items():
            if not isinstance(fig, dict) or not {"value", "unit", "source"} <= set(fig):
                raise ConfigError(f"{path}: {section}.{name} needs value, unit and source.")
            if section == "measured" and name not in out:
                raise ConfigError(f"{path}: measured.{name} overrides no estimate; check the name.")
            out[name] = Figure(
                name, fig["value"], fig["unit"], fig["source"], section == "measured"
            )
    return out


@dataclass(frozen=True)
class Cost:
    """One stage's cost; None where it cannot be told (the image count needs missing data)."""

    stage: str
    gpu_h: float | None
    cpu_h: float | None
    disk_bytes: int | None = 0
    figures: tuple[str, ...] = ()  # the names of the figures it rests on


@dataclass(frozen=True)
class Sampling:
    """A run's synthesis: how many images of which backend, at what size and steps."""

    images: int | None
    backend: str
    resolution: int
    steps: int
    guidance: float = 1.0
    feedback: bool = False  # FG's classifier-guided sampling
    unet_channels: tuple[int, ...] = (128, 256, 256, 256)


@dataclass(frozen=True)
class Fit:
    """A generator fit: a DDPM's `train_steps` x `batch_size`, or a textual inversion of
    `parts` classes at `steps_per_part` steps of `batch_size` images."""

    backend: str
    resolution: int
    steps: int
    batch_size: int
    parts: int = 0
    unet_channels: tuple[int, ...] = (128, 256, 256, 256)


@dataclass(frozen=True)
class Training:
    """A classifier's training: images seen per stage and the backbone at its image size."""

    backbone: str
    image_size: int
    images_seen: int | None
    decoded: bool = True  # images decoded from files each epoch (not held in memory)
    notes: tuple[str, ...] = field(default=(), compare=False)


def unet_tflop(
    backend: str, resolution: int, channels: tuple[int, ...], f: dict[str, Figure]
) -> float:
    """TFLOP of one UNet evaluation of one image."""
    if backend in SD_FAMILY:
        return f["sd_unet_tflop_per_eval_512"].value * (resolution / 512) ** 2
    if backend.startswith("ddpm"):
        width = (sum(channels) / 896) ** 2
        return f["ddpm_unet_gflop_per_eval_32"].value / 1e3 * width * (resolution / 32) ** 2
    return 0.0  # the noise test double


def gpu_hours(tflop: float, f: dict[str, Figure]) -> float:
    return tflop / f["gpu_tflops"].value / 3600


def sampling_cost(s: Sampling, f: dict[str, Figure]) -> Cost:
    """Synthesis: steps x (2 with classifier-free guidance) UNet evaluations and a VAE decode
    per image (FG's guided sampling x the paper's guided/plain ratio); disk H x W x 3 bytes."""
    names = ("gpu_tflops", "sd_unet_tflop_per_eval_512" if s.backend in SD_FAMILY else
             "ddpm_unet_gflop_per_eval_32")  # fmt: skip
    if s.images is None:
        return Cost("synthesis", None, None, None, names)
    evals = s.steps * (2 if s.guidance > 1 else 1)
    per_image = evals * unet_tflop(s.backend, s.resolution, s.unet_channels, f)
    if s.backend in SD_FAMILY:
        per_image += f["sd_vae_decode_tflop_512"].value * (s.resolution / 512) ** 2
        names += ("sd_vae_decode_tflop_512",)
    if s.feedback:
        per_image *= f["fg_guided_ratio"].value
        names += ("fg_guided_ratio",)
    disk = s.images * s.resolution * s.resolution * 3
    return Cost("synthesis", gpu_hours(s.images * per_image, f), 0.0, disk, names)


def fit_cost(fit: Fit, f: dict[str, Figure]) -> Cost:
    """A generator fit: training images x (forward + backward) UNet evaluations."""
    unet = unet_tflop(fit.backend, fit.resolution, fit.unet_channels, f)
    if fit.parts:  # textual inversion: per class, through the frozen UNet to the token
        evals = fit.parts * fit.steps * fit.batch_size * f["ti_unet_evals_per_step"].value
        names: tuple[str, ...] = ("ti_unet_evals_per_step",)
    else:
        evals = fit.steps * fit.batch_size * f["train_flop_factor"].value
        names = ("train_flop_factor",)
    base = (
        "sd_unet_tflop_per_eval_512" if fit.backend in SD_FAMILY else "ddpm_unet_gflop_per_eval_32"
    )
    return Cost("generator fit", gpu_hours(evals * unet, f), 0.0, 0, ("gpu_tflops", base, *names))


def backbone_gflop(t: Training, f: dict[str, Figure]) -> float | None:
    """GFLOP of one forward pass of the backbone at the run's image size (None: no figure)."""
    if t.backbone in f["backbone_gflop_small"].value:
        return float(f["backbone_gflop_small"].value[t.backbone])
    at_224 = f["backbone_gflop_224"].value.get(t.backbone)
    return None if at_224 is None else at_224 * (t.image_size / 224) ** 2


def training_cost(t: Training, stage: str, f: dict[str, Figure]) -> Cost:
    """Classifier training: images seen x 3 x forward GFLOP on the GPU; on the CPU, decoding
    and augmenting each image seen (none for datasets held in memory)."""
    gflop = backbone_gflop(t, f)
    names = ("gpu_tflops", "train_flop_factor", "backbone_gflop_224", "decode_images_per_core_s")
    if t.images_seen is None or gflop is None:
        return Cost(stage, None, None, 0, names)
    tflop = t.images_seen * gflop * f["train_flop_factor"].value / 1e3
    cpu = t.images_seen / f["decode_images_per_core_s"].value / 3600 if t.decoded else 0.0
    return Cost(stage, gpu_hours(tflop, f), cpu, 0, names)


def total(costs: Iterable[Cost], stage: str = "total") -> Cost:
    """The sum of `costs`; unknown (None) where any part is unknown."""
    costs = list(costs)

    def add(values: list[Any]) -> Any:
        return None if any(v is None for v in values) else sum(values)

    names = tuple(dict.fromkeys(n for c in costs for n in c.figures))
    return Cost(
        stage,
        add([c.gpu_h for c in costs]),
        add([c.cpu_h for c in costs]),
        add([c.disk_bytes for c in costs]),
        names,
    )


def plan_images(
    plan: str, classes: int, train: int, largest: int | None = None
) -> tuple[int | None, str]:
    """The synthetic images a plan asks for from a dataset's official counts alone (its data not
    on this machine), and how: exact for add:N, N x classes - train for fill:N (exact when no
    class has more than N images; fill:max is fill up to the official largest class), unknown
    for plans that need each class's count."""
    kind, _, amount = plan.partition(":")
    if plan == "fill:max" and largest:
        n = largest * classes - train
        return n, f"{plan}: {largest:,} (largest class) x {classes:,} classes - {train:,} real"
    if kind == "add" and amount.isdigit():
        return int(amount) * classes, f"{plan}: {amount} x {classes:,} classes"
    if kind == "ratio":
        n = round(float(amount) * train)
        return n, f"{plan}: {amount} x {train:,} training images"
    if kind == "fill" and amount.isdigit():
        n = max(0, int(amount) * classes - train)
        return (
            n,
            f"{plan}: {amount} x {classes:,} classes - {train:,} real (if none above {amount})",
        )
    return None, f"{plan}: needs each class's count (the data is not here)"
