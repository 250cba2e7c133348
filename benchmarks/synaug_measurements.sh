#!/usr/bin/env bash
# docs/synaug.md: SYNAuG's ablation (Tables 2-3) on digits-lt, 3 seeds, at the reduced
# classifier budget of synthesis_measurements.sh (6 epochs x 25 steps instead of 12 x 50):
#   default      uniformise + domain Mixup + last-layer fine-tuning
#   no-mixup     --set recipe.batch_aug=none --set recipe.mix_pairs=batch
#   no-ft        --set stage.ft.epochs=0 (the stage is skipped)
#   neither      both (uniformisation only)
# Usage: [SEEDS="0 1 2"] [ARMS="default no-mixup no-ft neither"] \
#        benchmarks/synaug_measurements.sh RESULTS [--set ...]
# then:  bench leaderboard --results RESULTS (the arms are synaug runs with different settings)
# The generator keeps its defaults (1,500 steps, generator_seed 0): one fit, shared by every
# arm and seed with ddpm-fill's (the same ddpm settings); the arms of a seed share one
# synthetic set. One invocation per seed can run in parallel.
set -euo pipefail
results=${1:?results directory}
shift
. "$(dirname "$0")/run_arms.sh"
arm_sets() {
  case "$1" in
    default) ;;
    no-mixup) echo "--set recipe.batch_aug=none --set recipe.mix_pairs=batch" ;;
    no-ft) echo "--set stage.ft.epochs=0" ;;
    neither) echo "--set recipe.batch_aug=none --set recipe.mix_pairs=batch --set stage.ft.epochs=0" ;;
    *) echo "unknown arm $1 (default no-mixup no-ft neither)" >&2; exit 2 ;;
  esac
}
run_arms synaug digits-lt "$results" "${ARMS:-default no-mixup no-ft neither}" "$@"
