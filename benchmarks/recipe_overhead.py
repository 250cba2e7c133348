"""Training images/s of the harness recipe against a bare PyTorch loop, same model, data, batch.

    .venv/bin/python benchmarks/recipe_overhead.py                    # digits-lt, small CNN
    .venv/bin/python benchmarks/recipe_overhead.py --device cuda --backbone resnet32 --rounds 5

Both loops train the same freshly initialised classifier on the same digits-lt batches (the
recipe's batch plan, drawn once), with the same optimiser, for `--steps` steps; rounds alternate
bare / recipe so machine noise hits both alike. The recipe side is `bench.train.loop.run_epoch`
(seeded per-sample augmentation, loss registry, group lookup, progress, timing); the bare side
is `for x, y in loader: loss = F.cross_entropy(model(x), y); ...` with a plain shuffling
DataLoader over the same torch dataset. Goal: recipe overhead <= 3%. A benchmark, not a test.
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

    def bare() -> float:
        model, opt = fresh()
        loader = DataLoader(train.dataset.base, batch_size=args.batch_size, shuffle=True)
        model.train()
        seen, start, done = 0, time.perf_counter(), 0
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
        return seen / (time.perf_counter() - start)

    def recipe_loop() -> float:
        model, opt = fresh()
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda step: 1.0)
        loss_fn = make_loss(st, loss_context(st, train, data))
        loader = make_loader(train, recipe, args.device)
        start = time.perf_counter()
        row = run_epoch(
            model, loader, st, train, opt, sched, loss_fn, 0, 0, args.device, fast, False
        )
        if args.device.startswith("cuda"):
            torch.cuda.synchronize()
        return args.steps * args.batch_size / (time.perf_counter() - start), row

    bare_rates, recipe_rates, reported = [], [], []
    bare()  # warm-up (allocator, kernels)
    for _ in range(args.rounds):
        bare_rates.append(bare())
        rate, row = recipe_loop()
        recipe_rates.append(rate)
        reported.append(row["images_per_s"])
    b, r = statistics.median(bare_rates), statistics.median(recipe_rates)
    print(
        f"device {args.device}, backbone {args.backbone}, batch {args.batch_size}, "
        f"{args.steps} steps x {args.rounds} rounds (medians)"
    )
    print(f"bare loop      {b:9.1f} images/s  {[round(v) for v in bare_rates]}")
    print(f"recipe         {r:9.1f} images/s  {[round(v) for v in recipe_rates]}")
    print(f"recipe's own images/s in metrics.jsonl: {[round(v) for v in reported]}")
    print(f"overhead       {100 * (b / r - 1):+.1f}% (time per image, recipe vs bare)")


if __name__ == "__main__":
    main()
