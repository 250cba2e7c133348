#!/usr/bin/env bash
# The measurements of docs/recipe.md: baselines against ERM on the embedded benchmarks, 3 seeds.
# Usage: [SEEDS="0 1 2"] benchmarks/recipe_measurements.sh RESULTS_DIR [extra --set items...]
# (one invocation per seed can run in parallel: finished runs are skipped, killed ones resume)
# The budget is reduced from the digits protocol (12 x 50 steps) to 6 x 25 steps and 3 epochs for
# the second stages, so the 21 runs fit a shared 2-core machine; docs/recipe.md says so.
set -euo pipefail
results=${1:?results directory}
shift
budget=(--set recipe.epochs=6 --set recipe.steps_per_epoch=25)
for seed in ${SEEDS:-0 1 2}; do
  for method in erm crt lws logit-adjustment; do
    extra=()
    case $method in crt) extra=(--set stage.crt.epochs=3) ;; lws) extra=(--set stage.lws.epochs=3) ;; esac
    bench run --method "$method" --dataset digits-lt --seed "$seed" --quiet --results "$results" \
      "${budget[@]}" "${extra[@]}" "$@"
  done
  for method in erm group-dro dfr; do
    extra=()
    case $method in dfr) extra=(--set stage.dfr.epochs=3) ;; esac
    bench run --method "$method" --dataset colored-digits --seed "$seed" --quiet \
      --results "$results" "${budget[@]}" "${extra[@]}" "$@"
  done
done
