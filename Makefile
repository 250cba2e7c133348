# `make run`  — set up .venv if missing, then the main job on embedded data.
# `make test` — same set-up, then lint, format check and the quick test suite (two workers).
# `make test-all` — the same plus the tests marked slow (every method end to end, the embedded
#                   benchmark); tests marked slurm need a cluster (.ci/run starts one), gpu a GPU.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.bench-installed
SEEDS  ?= 0 1 2
RESULTS ?= results

# pytest workers: each runs its tests (and the `bench` processes they start) on one thread.
TEST_WORKERS ?= 2

.PHONY: setup run embedded-pretrained test test-all lint format bench-clean

setup: $(STAMP)

# Re-runs only when pyproject.toml changes; an existing .venv is reused (~2 s).
$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q torch==2.14.1 torchvision==0.29.1
	$(BIN)/python -m pip install -q -e '.[test]'
	@touch $(STAMP)

# The embedded benchmark: ERM, Balanced Softmax and diffusion fill-up on digits-lt, then the table
# and the written leaderboard (results/leaderboard/index.html, LEADERBOARD.md, LaTeX, CSV, plots).
run: setup
	@for seed in $(SEEDS); do \
	  for method in erm balanced-softmax ddpm-fill; do \
	    $(BIN)/bench run --method $$method --dataset digits-lt --seed $$seed --results $(RESULTS) || exit 1; \
	  done; \
	done
	$(BIN)/bench leaderboard --results $(RESULTS)
	@page=$$($(BIN)/bench leaderboard --results $(RESULTS) --published --write $(RESULTS)/leaderboard) \
	  && echo "leaderboard (tables, published rows, plots) written to $$page"

# The pretrained-generator benchmark (docs/printed-digits.md): the papers' setting on embedded
# data. The generator is pretrained once on printed digits (matplotlib's fonts) and never sees a
# handwritten digit; the methods steer it towards digits-lt. Baselines without it first.
PRETRAINED_RESULTS ?= results/embedded-pretrained
BASELINES ?= erm balanced-softmax ddpm-fill
PRETRAINED_METHODS ?= ddpm-fill ldm-txt ldm-txt-img fg-loss fg-entropy fg-hardness fg-combined \
  augcond-random-image augcond-dropout augcond-embed-cutmix-dropout fill-up fillup-template synaug
# SYNAuG's ablation row beside synaug: uniformisation alone (no Mixup, no last-layer fine-tuning)
UNIFORM_ONLY = --set recipe.batch_aug=none --set recipe.mix_pairs=batch --set stage.ft.epochs=0
# Extra arguments for every run, e.g. a reduced classifier budget:
#   make embedded-pretrained BENCH_ARGS="--set recipe.epochs=6 --set recipe.steps_per_epoch=25"
BENCH_ARGS ?=
embedded-pretrained: setup
	@for seed in $(SEEDS); do \
	  for method in $(BASELINES); do \
	    $(BIN)/bench run --method $$method --dataset digits-lt --seed $$seed \
	      --results $(PRETRAINED_RESULTS) $(BENCH_ARGS) || exit 1; \
	  done; \
	  for method in $(PRETRAINED_METHODS); do \
	    extra=""; [ $$method = ldm-txt ] && extra="--set image_conditioning=true"; \
	    $(BIN)/bench run --method $$method --dataset digits-lt --seed $$seed \
	      --set pretrained_generator=printed-digits $$extra --results $(PRETRAINED_RESULTS) \
	      $(BENCH_ARGS) || exit 1; \
	    [ $$method = synaug ] || continue; \
	    $(BIN)/bench run --method synaug --dataset digits-lt --seed $$seed $(UNIFORM_ONLY) \
	      --set pretrained_generator=printed-digits --results $(PRETRAINED_RESULTS) \
	      $(BENCH_ARGS) || exit 1; \
	  done; \
	done
	$(BIN)/bench leaderboard --results $(PRETRAINED_RESULTS)

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: setup
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

test: lint
	$(BIN)/pytest -n $(TEST_WORKERS)

# The slow tier in one process: its longest test (the embedded benchmark) then trains on both
# cores instead of one worker's single thread; the smoke matrix (80 short single-threaded runs)
# after it, on two workers.
SLOW := slow and not gpu and not real_data and not slurm
test-all: test
	$(BIN)/pytest -m "$(SLOW)" --ignore=tests/test_protocol_smoke.py
	$(BIN)/pytest -n $(TEST_WORKERS) -m "$(SLOW)" tests/test_protocol_smoke.py
