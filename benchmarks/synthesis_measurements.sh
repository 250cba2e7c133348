#!/usr/bin/env bash
# docs/fg.md and docs/augcond.md: the synthesising methods of issue 9 beside erm,
# balanced-softmax and ddpm-fill on digits-lt, 3 seeds, at one reduced classifier budget.
# Usage: [SEEDS="0 1 2"] [METHODS="..."] benchmarks/synthesis_measurements.sh RESULTS [--set ...]
# then:  bench leaderboard --results RESULTS
# The classifier budget is the one of recipe_measurements.sh (6 epochs x 25 steps instead of the
# digits protocol's 12 x 50) so the 36 runs fit a shared 2-core machine; the generators keep their
# defaults (1,500 steps, generator_seed 0: one fit per generator, shared by the seeds and by every
# method with the same generator settings). One invocation per seed can run in parallel.
set -euo pipefail
results=${1:?results directory}
shift
bench=${BENCH:-bench}
methods=${METHODS:-erm balanced-softmax ddpm-fill ldm-txt ldm-txt-img fg-loss fg-entropy \
fg-hardness fg-combined augcond-random-image augcond-dropout augcond-embed-cutmix-dropout}
for seed in ${SEEDS:-0 1 2}; do
  for method in $methods; do
    "$bench" run --method "$method" --dataset digits-lt --seed "$seed" --quiet \
      --results "$results" --set recipe.epochs=6 --set recipe.steps_per_epoch=25 "$@"
  done
done
