#!/usr/bin/env bash
# docs/synaug.md: SYNAuG's fairness-aware uniformisation (Table 3d) on colored-digits, whose
# background colour is the sensitive attribute, 3 seeds, at the reduced classifier budget of
# synthesis_measurements.sh (6 epochs x 25 steps instead of 12 x 50). Every run reports
# accuracy, worst-group accuracy and DP / EO / ED (bench/metrics/fairness.py).
#   class-only   SYNAuG* (--set plan=fill:max, the default): colored-digits is class-balanced,
#                so it adds no synthetic image (the real data, Mixup without a partner, then
#                the last layer on a group-balanced subsample)
#   class-add    the class-conditional DDPM adds as many images per class as fairness-aware
#                does (--set plan=add:102: 10 x 102 images; their colours follow what the
#                generator learnt, 95% the class's majority colour)
#   fair         fairness-aware: --set plan=cells:max --set condition=cell fills every
#                (digit, colour) cell up to the largest (108) with a DDPM conditioned on the cell
# Usage: [SEEDS="0 1 2"] [ARMS="class-only class-add fair"] \
#        benchmarks/fairness_measurements.sh RESULTS [--set ...]
# then:  bench leaderboard --results RESULTS
# Two generators are fitted (class- and cell-conditional, 1,500 steps each, generator_seed 0),
# each shared by its seeds. One invocation per seed can run in parallel.
set -euo pipefail
results=${1:?results directory}
shift
. "$(dirname "$0")/run_arms.sh"
arm_sets() {
  case "$1" in
    class-only) echo "--set plan=fill:max" ;;
    class-add) echo "--set plan=add:102" ;;
    fair) echo "--set plan=cells:max --set condition=cell" ;;
    *) echo "unknown arm $1 (class-only class-add fair)" >&2; exit 2 ;;
  esac
}
run_arms synaug colored-digits "$results" "${ARMS:-class-only class-add fair}" "$@"
