"""The GPU check: what the papers' settings cost on one card, through bench's own code.

With random weights of the real shapes (benchmarks/sd_shapes.py: nothing is downloaded), in
bf16, batch 16 (halved where a measurement runs out of memory; the table says so):

- SD 2.1-base and Stable unCLIP sampling images/s at 512 and 768 px: the `sd` and `unclip`
  backends' sample() (the shared loop of bench.generators.base), DDIM, classifier-free guidance;
- FG's guided / plain time: Stable unCLIP with FG's own hooks (fg-entropy's sampling_hooks: CFG
  3, embedding Dropout 0.5, X0Guidance every 5 of 30 DDIM steps through the VAE decoder and a
  ResNeXt-50 feedback classifier) against the same with omega = 0 (goal <= 2.4x; FG paper 5.7x);
- augcond's conditioning overhead: the image embedding of augcond-cutmix (pixel CutMix of two
  real images) and augcond-embed-cutmix-dropout (two CLIP embeddings, CutMix, Dropout) against
  augcond-random-image (one image), per batch and over a whole 30-step PNDM sampling;
- classifier training images/s of ResNeXt-50 at 224 px fed from the synthetic store by
  data-loader workers: bench.train.loop.train_classifier on a store of synthetic images
  (data=synthetic), second epoch;
- DDP: the same training in one world of every GPU present (bench.train.distributed.spawn,
  what `bench run --nproc N` uses), global batch unchanged, and its speed-up.

It prints one table and writes it as JSON after every row (a run cut short keeps what it
measured). `--cpu-tiny` runs the same code on the CPU with tiny configs (bench.generators.tiny's
pipelines, a tiny ResNeXt, 32/64 px, few steps, two gloo processes for DDP): the tests' mode.

    benchmarks/gpu_check.sh [--out results/gpu-check.json]
    benchmarks/gpu_check.sh --cpu-tiny --out /tmp/gpu-check.json
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import sd_shapes  # benchmarks/, this script's folder
import torch
from store_throughput import make_store

from bench.generators.base import CFG, SamplingHooks, SynthesisRequest
from bench.io import atomic_write_json


@dataclass(frozen=True)
class Mode:
    """What one run of the check measures at: the GPU's settings or their tiny CPU analogue."""

    name: str
    device: str
    dtype: str
    sizes: tuple[int, int]  # the "512" and "768" of the table
    batch: int
    sd_steps: int  # SD: 50 DDIM steps (Fill-Up Sec 3.1)
    unclip_steps: int  # FG App F / augcond Table 4: 30 steps
    backbone: str
    train_size: int
    store_size: int  # the stored synthetic images' side (training crops train_size from it)
    store_images: int
    train_batch: int
    train_steps: int  # per epoch; two epochs, the second timed
    nproc: int  # DDP world (0: skipped, fewer than 2 GPUs)
    workers: int = 0  # data-loader workers per training process (set by train_rows)


def gpu_mode() -> Mode:
    gpus = torch.cuda.device_count()
    return Mode(
        "gpu", "cuda", "bfloat16", (512, 768), 16, 50, 30, "resnext50_32x4d", 224, 256, 8192,
        512, 15, gpus if gpus > 1 else 0,
    )  # fmt: skip


CPU_TINY = Mode(
    "cpu-tiny", "cpu", "float32", (32, 48), 4, 4, 5, "tiny-resnext", 32, 40, 64, 16, 2, 2
)


def loader_workers(processes: int) -> int:
    """Data-loader workers per training process: the cores shared out, one left to each
    process, at most 8 (bench's default for file-backed data)."""
    return max(1, min(8, (os.cpu_count() or 2) // processes - 1))


class Check:
    """The table being measured: each row printed and the JSON rewritten as it comes."""

    def __init__(self, mode: Mode, out: Path):
        self.mode, self.out, self.rows = mode, out, []
        self.started = time.perf_counter()
        device = torch.cuda.get_device_name(0) if mode.device == "cuda" else platform.processor()
        self.head = {
            "mode": mode.name,
            "device": device or platform.machine(),
            "gpus": torch.cuda.device_count() if mode.device == "cuda" else 0,
            "torch": torch.__version__,
            "settings": asdict(mode),
        }
        print(f"gpu check ({mode.name}) on {self.head['device']}, torch {torch.__version__}")
        print(f"{'measure':<54}{'value':>10}  {'unit':<10}setting")

    def add(self, measure: str, value: float | None, unit: str, setting: str) -> None:
        row = {"measure": measure, "value": value, "unit": unit, "setting": setting}
        self.rows.append(row)
        shown = "-" if value is None else f"{value:.3g}" if abs(value) < 100 else f"{value:.0f}"
        print(f"{measure:<54}{shown:>10}  {unit:<10}{setting}", flush=True)
        seconds = round(time.perf_counter() - self.started, 1)
        self.out.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_json(self.out, {**self.head, "seconds": seconds, "rows": self.rows})


def synchronize(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def timed(device: str, fn: Any) -> float:
    synchronize(device)
    start = time.perf_counter()
    fn()
    synchronize(device)
    return time.perf_counter() - start


def fitted(device: str, batch: int, fn: Any) -> tuple[float, int]:
    """fn(batch) timed after a warm-up call, at the largest of batch, batch/2, ... that fits."""
    import gc

    while True:
        try:
            fn(batch, warm_up=True)
            return timed(device, lambda n=batch: fn(n, warm_up=False)), batch
        except torch.OutOfMemoryError:
            if batch == 1:
                raise
        gc.collect()  # out of the handler: the failed call's tensors are unreachable now
        torch.cuda.empty_cache()
        batch //= 2


def requests(n: int, images: int = 0, num_train: int = 1) -> list[SynthesisRequest]:
    """n requests of class 0 with their own seeds, each naming `images` real training images."""
    rng = np.random.default_rng(0)
    return [
        SynthesisRequest(
            index=i,
            label=0,
            seed=1000 + i,
            prompt="a photo of a tench",
            cond_ids=tuple(int(j) for j in rng.integers(0, num_train, images)),
        )
        for i in range(n)
    ]


def pipeline(mode: Mode, cls_name: str) -> Any:
    """The pipeline class with random weights: the published shapes, or tiny ones on the CPU."""
    if mode.name == CPU_TINY.name:
        from bench.generators import tiny

        pipe = tiny.build(cls_name)
        pipe.set_progress_bar_config(disable=True)
        return pipe.to(mode.device)
    return sd_shapes.build(cls_name, mode.device, getattr(torch, mode.dtype))


def unclip_generator(mode: Mode, pipe: Any, size: int, scheduler: str, data: Any) -> Any:
    """The `unclip` backend on `pipe`, its conditioning images read from the data's files."""
    from bench.generators.unclip import StableUnCLIPGenerator, UnCLIPSettings

    settings = UnCLIPSettings(resolution=size, scheduler=scheduler, dtype=mode.dtype)
    generator = StableUnCLIPGenerator(pipe, settings)
    generator.set_real_images(data.train, 3)
    return generator


def sampling(
    mode: Mode, generator: Any, hooks: Any, images: int, batch: int | None = None
) -> tuple[float, int]:
    """Seconds per batch of the backend's sample() with `images` conditioning images per
    request, at `batch` (default the mode's) or the largest half of it that fits."""
    num_train = len(generator.real_images) if generator.real_images is not None else 1
    steps = mode.sd_steps if generator.name == "sd" else mode.unclip_steps

    def run(n: int, warm_up: bool) -> None:
        generator.sample(requests(n, images, num_train), hooks, steps=4 if warm_up else steps)

    return fitted(mode.device, batch or mode.batch, run)


def sd_rows(check: Check) -> None:
    from bench.generators.sd import SDSettings, StableDiffusionGenerator

    mode = check.mode
    pipe = pipeline(mode, "StableDiffusionPipeline")
    for size in mode.sizes:
        generator = StableDiffusionGenerator(pipe, SDSettings(resolution=size, dtype=mode.dtype))
        hooks = SamplingHooks(noise=CFG(2.0))
        seconds, batch = sampling(mode, generator, hooks, 0)
        setting = f"batch {batch}, {mode.sd_steps} DDIM steps, CFG 2, {mode.dtype}"
        check.add(f"SD 2.1-base sampling {size} px", batch / seconds, "images/s", setting)
    release(pipe)


def release(*objects: Any) -> None:
    del objects
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def feedback_classifier(mode: Mode, num_classes: int) -> Any:
    """FG's feedback classifier as a run dependency loads it: the recipe's ResNeXt-50 (float32,
    as bench.runs.models.load_classifier leaves it), random weights."""
    from bench.runs.models import LoadedClassifier
    from bench.train.backbones import build_classifier

    model = build_classifier(mode.backbone, num_classes, 3).to(mode.device).eval()
    where = Path("random-weights")
    return LoadedClassifier(model, where, where, {}, num_classes, 3, mode.train_size, "imagenet")


def method_hooks(cls: type, generator: Any, context: Any, **settings: Any) -> Any:
    """A method's own sampling hooks, at its paper settings changed by `settings`."""
    hparams = replace(cls.Hparams(), generator="unclip", **settings)
    return cls(hparams, context).sampling_hooks(generator)


def unclip_rows(check: Check, data: Any) -> None:
    """Plain sampling at both sizes, then FG's guided / plain and augcond's overhead at 768."""
    from bench.method import MethodContext

    mode = check.mode
    pipe = pipeline(mode, "StableUnCLIPImg2ImgPipeline")
    for size in mode.sizes:
        generator = unclip_generator(mode, pipe, size, "ddim", data)
        hooks = SamplingHooks(noise=CFG(3.0))
        seconds, batch = sampling(mode, generator, hooks, 1)
        setting = f"batch {batch}, {mode.unclip_steps} DDIM steps, CFG 3, one image, {mode.dtype}"
        check.add(f"Stable unCLIP sampling {size} px", batch / seconds, "images/s", setting)
    classifier = feedback_classifier(mode, data.num_classes)
    context = MethodContext(data, 0, mode.device, False, {"classifier": classifier})
    fg_rows(check, unclip_generator(mode, pipe, mode.sizes[1], "ddim", data), context)
    augcond_rows(check, unclip_generator(mode, pipe, mode.sizes[1], "pndm", data), context)
    release(pipe, classifier)


def fg_rows(check: Check, generator: Any, context: Any) -> None:
    from bench.methods.fg import FGEntropy

    mode, size = check.mode, generator.image_size
    steps = {"resolution": size, "sampling_steps": mode.unclip_steps}
    guided = method_hooks(FGEntropy, generator, context, **steps)
    plain = method_hooks(FGEntropy, generator, context, feedback_scale=0.0, **steps)
    t_guided, batch = sampling(mode, generator, guided, 1)
    t_plain, _ = sampling(mode, generator, plain, 1, batch)  # the ratio at one batch
    setting = (
        f"{size} px, batch {batch}, {mode.unclip_steps} DDIM steps, CFG 3, guided every 5 "
        f"through the VAE and {mode.backbone}"
    )
    check.add(f"FG plain sampling {size} px", batch / t_plain, "images/s", setting)
    check.add(f"FG guided sampling {size} px", batch / t_guided, "images/s", setting)
    check.add("FG guided / plain", t_guided / t_plain, "x", "goal <= 2.4x; FG paper 5.7x")


def augcond_rows(check: Check, generator: Any, context: Any) -> None:
    """The conditioning (real images read, CLIP-encoded, mixed) of each variant per batch, and
    a whole sampling of the two-image variants against one random image."""
    from bench.methods.augcond import AugCondCutmix, AugCondEmbedCutmixDropout, AugCondRandomImage

    mode, size = check.mode, generator.image_size
    steps = {"resolution": size, "sampling_steps": mode.unclip_steps}
    variants = {
        "augcond-random-image": AugCondRandomImage,
        "augcond-cutmix": AugCondCutmix,
        "augcond-embed-cutmix-dropout": AugCondEmbedCutmixDropout,
    }
    base = None
    for name, cls in variants.items():
        hooks = method_hooks(cls, generator, context, **steps)
        batch = requests(mode.batch, cls.IMAGES, len(generator.real_images))
        generator.image_embeddings(batch, hooks)  # warm-up
        seconds = timed(mode.device, lambda h=hooks, b=batch: generator.image_embeddings(b, h))
        what = f"batch {mode.batch}, {cls.IMAGES} image(s) per request"
        check.add(f"{name} conditioning", seconds, "s/batch", what)
        t_sample, n = sampling(mode, generator, hooks, cls.IMAGES)
        if base is None:
            base = (t_sample / n, n)
            continue
        setting = f"{size} px, batch {n} vs {base[1]}, {mode.unclip_steps} PNDM steps, CFG 2"
        check.add(f"{name} / random-image sampling", t_sample / n / base[0], "x", setting)


def fake_data(root: Path, mode: Mode) -> Any:
    """A file-backed dataset of 10 classes (PNG files, as ImageNet-LT's are JPEG files) at the
    training geometry: the conditioning images of unCLIP and the splits training validates on."""
    from PIL import Image

    from bench.data.base import ImageSplit, LoadedDataset

    rng = np.random.default_rng(0)
    side = mode.store_size
    splits = {}
    for name, per_class in (("train", 8), ("val", 2), ("test", 2)):
        files = []
        for i in range(10 * per_class):
            files.append(str(root / name / f"{i}.png"))
            Path(files[-1]).parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(rng.integers(0, 256, (side, side, 3), dtype=np.uint8)).save(files[-1])
        targets = np.arange(10 * per_class) % 10
        splits[name] = ImageSplit(name, targets, files=files)
    names = [str(c) for c in range(10)]  # store_throughput.make_store's classes
    return LoadedDataset("gpu-check", names, splits, mode.train_size, 3)


def train_rate(mode: Mode, data: Any, store: Path, state: Path) -> float:
    """Images/s of the second of two training epochs on the synthetic store alone (the whole
    world's, as rank 0 reports it): bench.train.loop.train_classifier, as a run trains."""
    from bench.hparams import build
    from bench.synthesis.store import SyntheticSet
    from bench.train import distributed
    from bench.train.loop import train_classifier
    from bench.train.recipe import Recipe

    world = distributed.init(mode.device)
    device = mode.device
    if world.distributed and device == "cuda":
        device = f"cuda:{world.local_rank}"  # bench.runs.runner.check_device_and_backbone
    settings = {
        "backbone": mode.backbone,
        "data": "synthetic",
        "epochs": 2,
        "steps_per_epoch": mode.train_steps,
        "batch_size": mode.train_batch,
        "num_workers": mode.workers,
    }
    recipe = build(Recipe, settings, "gpu check recipe")
    result = train_classifier(recipe, data, SyntheticSet(store), 0, device, state, progress=False)
    return result.history[-1]["images_per_s"]


def train_rows(check: Check, data: Any, tmp: Path) -> None:
    from bench.train.distributed import spawn

    mode = replace(check.mode, workers=loader_workers(1))
    store = make_store(tmp, mode.store_images, mode.store_size).path
    setting = f"{mode.backbone} at {mode.train_size} px from {mode.store_size} px"
    setting += f", batch {mode.train_batch}"
    single = train_rate(mode, data, store, tmp / "state-1.pt")
    check.add("classifier training, 1 process", single, "images/s", setting + worker_note(mode))
    if not mode.nproc:
        check.add("DDP training", None, "images/s", "skipped: fewer than 2 GPUs")
        return
    mode = replace(mode, workers=loader_workers(mode.nproc))
    world = spawn(mode.nproc, train_rate, mode, data, store, tmp / "state-ddp.pt", quiet=True)
    setting += f" (global){worker_note(mode)}"
    check.add(f"DDP training, {mode.nproc} processes", world, "images/s", setting)
    check.add("DDP speed-up", world / single, "x", f"{mode.nproc} processes vs 1")


def worker_note(mode: Mode) -> str:
    return f", {mode.workers} loader worker(s) per process"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cpu-tiny", action="store_true", help="tiny configs on the CPU")
    parser.add_argument("--out", default="results/gpu-check.json", help="the table as JSON")
    args = parser.parse_args(argv)
    mode = CPU_TINY if args.cpu_tiny else gpu_mode()
    if mode.device == "cuda" and not torch.cuda.is_available():
        print("gpu check: no CUDA device here; --cpu-tiny runs the same code on the CPU.")
        return 2
    check = Check(mode, Path(args.out))
    with tempfile.TemporaryDirectory() as tmp:
        data = fake_data(Path(tmp) / "data", mode)
        sd_rows(check)
        unclip_rows(check, data)
        train_rows(check, data, Path(tmp))
    print(f"{len(check.rows)} rows in {time.perf_counter() - check.started:.0f} s: {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
