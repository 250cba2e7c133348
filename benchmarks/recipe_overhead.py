"""Training images/s of the harness recipe against a bare PyTorch loop, same model, data, batch.

    .venv/bin/python benchmarks/recipe_overhead.py                    # digits-lt, small CNN
    .venv/bin/python benchmarks/recipe_overhead.py --device cuda --backbone resnet32 --rounds 5

Both loops train the same freshly initialised classifier on the same digits-lt batches (the
recipe's batch plan, drawn once), with the same optimiser, for `--steps` steps; rounds alternate
bare / recipe so machine noise hits both alike. The recipe side is `bench.train.loop.run_epoch`
(seeded per-sample augmentation, loss registry, group lookup, progress, timing); the bare side
is `for x, y in loader: loss = F.cross_entropy(model(x), y); ...` with a plain shuffling
DataLoader over the same torch dataset. Goal: recipe overhead <= 3%. A benchmark, not a test.
Both wall time and the process's CPU time are reported; on a machine shared with other jobs the
CPU-time ratio is the one to read (run with OMP_NUM_THREADS=1 so thread spinning is not counted).
"""

from __future__ import annotations

import argparse
import statistics
import time


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--device", default="cpu")
    p.add_argument("--backbone", default="small-cnn")
    p.add_argument("--steps", type=int, default=40)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--batch-size", type=int, default=64)
    args = p.parse_args()

    import torch
    import torch.nn.functional as F
    from torch.utils.data import DataLoader

    from bench.datasets import DATASETS
    from bench.runs.config import resolve
    from bench.train.backbones import build_classifier
    from bench.train.loop import (
        loss_context,
        make_loader,
        make_optimizer,
        run_epoch,
        stage_plan,
        training_data,
        use_fast_path,
    )
    from bench.train.losses import make_loss

    sets = [
        f"recipe.backbone={args.backbone}",
        f"recipe.batch_size={args.batch_size}",
        f"recipe.steps_per_epoch={args.steps}",
    ]
    config = resolve("erm", "digits-lt", sets=sets)
    recipe = config.recipe_settings
    data = DATASETS["digits-lt"](config.dataset_settings).load()
    st = stage_plan(recipe)[0][1]
    train = training_data(st, recipe, data, None, 0)
    fast = use_fast_path(recipe, args.device)

    def fresh():
        torch.manual_seed(0)
        model = build_classifier(args.backbone, data.num_classes, data.channels).to(args.device)
        return model, make_optimizer(st, list(model.parameters()))

    def bare() -> tuple[float, float]:
        model, opt = fresh()
        loader = DataLoader(train.dataset.base, batch_size=args.batch_size, shuffle=True)
        model.train()
        seen, start, cpu, done = 0, time.perf_counter(), time.process_time(), 0
        while done < args.steps:
            for x, y in loader:
                x, y = x.to(args.device), y.to(args.device)
                loss = F.cross_entropy(model(x), y)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                seen, done = seen + len(y), done + 1
                if done == args.steps:
                    break
        if args.device.startswith("cuda"):
            torch.cuda.synchronize()
        return seen / (time.perf_counter() - start), seen / (time.process_time() - cpu)

    def recipe_loop() -> tuple[float, float, dict]:
        model, opt = fresh()
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda step: 1.0)
        loss_fn = make_loss(st, loss_context(st, train, data))
        loader = make_loader(train, recipe, args.device)
        start, cpu = time.perf_counter(), time.process_time()
        row = run_epoch(
            model, loader, st, train, opt, sched, loss_fn, 0, 0, args.device, fast, False
        )
        if args.device.startswith("cuda"):
            torch.cuda.synchronize()
        seen = args.steps * args.batch_size
        return seen / (time.perf_counter() - start), seen / (time.process_time() - cpu), row

    bare_rates, recipe_rates, bare_cpu, recipe_cpu, reported = [], [], [], [], []
    bare()  # warm-up (allocator, kernels)
    for _ in range(args.rounds):
        rate, per_cpu = bare()
        bare_rates.append(rate)
        bare_cpu.append(per_cpu)
        rate, per_cpu, row = recipe_loop()
        recipe_rates.append(rate)
        recipe_cpu.append(per_cpu)
        reported.append(row["images_per_s"])
    b, r = statistics.median(bare_rates), statistics.median(recipe_rates)
    bc, rc = statistics.median(bare_cpu), statistics.median(recipe_cpu)
    print(
        f"device {args.device}, backbone {args.backbone}, batch {args.batch_size}, "
        f"{args.steps} steps x {args.rounds} rounds (medians)"
    )
    print(f"bare loop      {b:9.1f} images/s  {[round(v) for v in bare_rates]}")
    print(f"recipe         {r:9.1f} images/s  {[round(v) for v in recipe_rates]}")
    print(f"recipe's own images/s in metrics.jsonl: {[round(v) for v in reported]}")
    print(f"overhead       {100 * (b / r - 1):+.1f}% (wall time per image, recipe vs bare)")
    # CPU seconds of this process (all its threads): unlike wall time, hardly changed by other
    # jobs on the machine, so a loaded machine still measures the recipe's own work. The loaders
    # here read in-memory arrays in this process (0 workers), so no CPU is spent elsewhere.
    print(f"bare loop      {bc:9.1f} images per CPU-second  {[round(v) for v in bare_cpu]}")
    print(f"recipe         {rc:9.1f} images per CPU-second  {[round(v) for v in recipe_cpu]}")
    print(f"overhead       {100 * (bc / rc - 1):+.1f}% (CPU time per image, recipe vs bare)")


if __name__ == "__main__":
    main()
