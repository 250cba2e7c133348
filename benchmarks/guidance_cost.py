"""Cost of x0-criterion guidance (FG) over plain sampling: same model, steps and batch.

Runs the harness's sampling loop (bench.generators.base.denoise) on a latent-diffusion model
with the shapes of Stable Diffusion 2.1 (UNet 865 M parameters, its VAE) in random weights,
twice per round: plain classifier-free guidance, and the same plus x0 guidance every 5 of 30
steps (conditional branch with gradients, full VAE decode, a ResNet-18 classifier's entropy,
backward through decoder and UNet). Reports images/s of each and the ratio.

    python benchmarks/guidance_cost.py [--resolution 128] [--batch 2] [--rounds 2] [--device cpu]
    python benchmarks/guidance_cost.py --resolution 512 --batch 16 --device cuda --dtype bfloat16
    python benchmarks/guidance_cost.py --resolution 64 --batch 1 --steps 10 --every 5 --rounds 1 \
        --warmup-steps 1      # a 2-core CPU: the same 1-in-5 share of guided steps, 1/3 the time

Goal (issue 7): guided / plain time at most 2.4x (FG paper: 5.7x). On a CPU it runs at reduced
resolution; the ratio, not the absolute speed, is the figure.
"""

from __future__ import annotations

import argparse
import time
from types import SimpleNamespace

import torch


def sd21(device: str, dtype: torch.dtype) -> SimpleNamespace:
    """SD 2.1-base's UNet and VAE (benchmarks/sd_shapes.py), its DDIM scheduler."""
    import sd_shapes

    size = sd_shapes.NATIVE["StableDiffusionPipeline"]
    unet, vae = sd_shapes.unet(size), sd_shapes.vae(size)
    unet.to(device, dtype).eval().requires_grad_(False)
    vae.to(device, dtype).eval().requires_grad_(False)
    return SimpleNamespace(
        unet=unet, vae=vae, scheduler=sd_shapes.ddim("epsilon"), device=torch.device(device)
    )


def main() -> None:
    import timm

    from bench.generators.base import CFG, SamplingHooks, SynthesisRequest, X0Guidance, denoise
    from bench.generators.sd import LatentDenoiser

    parser = argparse.ArgumentParser()
    parser.add_argument("--resolution", type=int, default=128)
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--every", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument(
        "--warmup-steps", type=int, help="steps of the warm-up sampling (default --steps)"
    )
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", default="float32")
    args = parser.parse_args()
    dtype = getattr(torch, args.dtype)
    torch.manual_seed(0)
    pipe = sd21(args.device, dtype)
    classifier = timm.create_model("resnet18", num_classes=100).to(args.device, dtype).eval()
    classifier.requires_grad_(False)

    def entropy(images, requests):
        x = torch.nn.functional.interpolate(images, size=224, mode="bilinear")
        p = classifier(x).float().log_softmax(-1)
        return -(p.exp() * p).sum(-1)

    settings = SimpleNamespace(scheduler="ddim", resolution=args.resolution)
    requests = [SynthesisRequest(i, 0, i) for i in range(args.batch)]
    text = torch.randn(args.batch, 77, 1024, device=args.device, dtype=dtype)
    hooks = {
        "plain": SamplingHooks(noise=CFG(3.0)),
        "guided": SamplingHooks(
            noise=CFG(3.0), guidance=X0Guidance(entropy, 0.03, every=args.every)
        ),
    }

    def sample(kind: str, steps: int = args.steps) -> tuple[float, float]:
        denoiser = LatentDenoiser(pipe, settings, requests, (text, torch.zeros_like(text)), None)
        if args.device.startswith("cuda"):
            torch.cuda.synchronize()
        start, cpu = time.perf_counter(), time.process_time()
        x, _ = denoise(denoiser, requests, steps, hooks[kind])
        with torch.no_grad():
            pipe.vae.decode(x / pipe.vae.config.scaling_factor)
        if args.device.startswith("cuda"):
            torch.cuda.synchronize()
        seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
        # progress: rounds can take minutes
        print(f"  ({kind}: {seconds:.1f} s, {cpu:.1f} CPU-s)", flush=True)
        return seconds, cpu

    sample("plain", args.warmup_steps or args.steps)  # warm-up
    times = {"plain": [], "guided": []}
    for _ in range(args.rounds):
        for kind in ("plain", "guided"):
            times[kind].append(sample(kind))
    best = {k: min(t for t, _ in v) for k, v in times.items()}
    cpu = {k: min(c for _, c in v) for k, v in times.items()}
    print(
        f"SD-2.1-shaped UNet+VAE (random weights), {args.resolution} px, batch {args.batch}, "
        f"{args.steps} DDIM steps, CFG 3, guidance every {args.every}, {args.device} {args.dtype}"
    )
    for kind, value in best.items():
        print(f"  {kind:6s} {value:8.1f} s per batch  {args.batch / value:8.3f} images/s")
    print(f"  guided / plain = {best['guided'] / best['plain']:.2f}x  (goal <= 2.4x; FG 5.7x)")
    # CPU seconds of this process: on a machine shared with other jobs the wall-time ratio is
    # noise-bound; with one torch thread (OMP_NUM_THREADS=1) the CPU-time ratio is the figure.
    print(f"  CPU time: plain {cpu['plain']:.1f} s, guided {cpu['guided']:.1f} s per batch")
    print(f"  guided / plain = {cpu['guided'] / cpu['plain']:.2f}x in CPU time")


if __name__ == "__main__":
    main()
