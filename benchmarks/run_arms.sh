# Sourced by synaug_measurements.sh and fairness_measurements.sh (not run on its own).
# run_arms METHOD DATASET RESULTS "ARM ..." [ARGS...]: for each seed of $SEEDS (default 0 1 2)
# and each arm, one `bench run` at the reduced classifier budget of synthesis_measurements.sh
# (6 epochs x 25 steps instead of 12 x 50), with the --set items the caller's `arm_sets ARM`
# prints and ARGS; $BENCH is the bench command (default: bench).
run_arms() {
  local method=$1 dataset=$2 results=$3 arms=$4 seed arm sets
  shift 4
  for seed in ${SEEDS:-0 1 2}; do
    for arm in $arms; do
      sets=$(arm_sets "$arm")
      # shellcheck disable=SC2086  # the arm's --set items are separate words
      "${BENCH:-bench}" run --method "$method" --dataset "$dataset" --seed "$seed" --quiet \
        --results "$results" --set recipe.epochs=6 --set recipe.steps_per_epoch=25 $sets "$@"
    done
  done
}
