#!/usr/bin/env bash
# docs/cbdm.md: CBDM against the plain DDPM on digits-lt, 3 seeds, at the reduced classifier budget
# of synthesis_measurements.sh (6 epochs x 25 steps; generators at their defaults, fitted once
# with generator_seed 0, so the seed spread is that of sampling and the classifier).
# Usage: benchmarks/cbdm_measurements.sh RESULTS   then   bench leaderboard --results RESULTS
#  - cbdm                     : CBDM as the method (Table 4's pooled CE)
#  - cbdm, BS + 50/50 batches : CBDM's generator under ddpm-fill's classifier recipe
#  - ddpm-fill, label_dropout_unit=batch, sampling_steps=100: CBDM Table 1's DDPM baseline, the
#                               generator cbdm trains and samples without its regulariser (cbdm
#                               refuses cbdm_tau=0), under the same classifier recipe as above
#  - ddpm-fill                : the harness's fill-up baseline (label dropout per sample, DDIM 50)
# Generation metrics (FID, precision, recall, ...) of every run's synthetic set against the test
# split, with the features of an erm classifier trained at the full digits protocol (seed 0).
set -euo pipefail
results=${1:?results directory}
shift
bench=${BENCH:-bench}
budget=(--set recipe.epochs=6 --set recipe.steps_per_epoch=25)
"$bench" run --method erm --dataset digits-lt --seed 0 --quiet --results "$results"
# the erm run of the full protocol (12 epochs), not the reduced-budget ones beside it
extractor=$(grep -l '"epochs": 12' "$results"/runs/erm-digits-lt-s0-*/config.json | head -n 1)
extractor=${extractor%/config.json}
runs=()  # the run directories `bench run` prints: only these are evaluated below
for seed in ${SEEDS:-0 1 2}; do
  run=("$bench" run --dataset digits-lt --seed "$seed" --quiet --results "$results" "${budget[@]}")
  runs+=("$("${run[@]}" --method cbdm "$@" | tail -n 1)")
  runs+=("$("${run[@]}" --method cbdm --set recipe.loss=balanced-softmax \
    --set recipe.real_fraction=0.5 "$@" | tail -n 1)")
  runs+=("$("${run[@]}" --method ddpm-fill --set label_dropout_unit=batch \
    --set sampling_steps=100 "$@" | tail -n 1)")
  runs+=("$("${run[@]}" --method ddpm-fill "$@" | tail -n 1)")
done
for d in "${runs[@]}"; do
  "$bench" eval-gen --run "$d" --extractor "classifier:$extractor" --set split=test --quiet \
    --results "$results"
done
