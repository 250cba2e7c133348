#!/usr/bin/env bash
# docs/recipe.md: which Balanced Softmax prior suits ddpm-fill's 50/50 real:synthetic batches on
# digits-lt (3 seeds). Usage: benchmarks/prior_measurements.sh RESULTS_DIR [extra --set items]
# Same reduced classifier budget as recipe_measurements.sh; the generator is fitted once
# (generator_seed 0) and each seed's synthetic set is shared by the three priors.
set -euo pipefail
results=${1:?results directory}
shift
for seed in 0 1 2; do
  for prior in real real+synthetic batch; do
    bench run --method ddpm-fill --dataset digits-lt --seed "$seed" --quiet --results "$results" \
      --set recipe.epochs=6 --set recipe.steps_per_epoch=25 --set "recipe.prior=$prior" "$@"
  done
done
