#!/usr/bin/env bash
# The GPU check (benchmarks/gpu_check.py): SD 2.1-base and Stable unCLIP sampling at 512 / 768 px,
# FG's guided / plain cost, augcond's conditioning overhead, ResNeXt-50 training from the
# synthetic store and DDP over the GPUs present, with random weights of the real shapes (nothing
# is downloaded); one table, also written as JSON. At most 8 minutes on one H100: it is stopped
# at 480 s (the JSON keeps every row measured by then).
#
#   benchmarks/gpu_check.sh [--out results/gpu-check.json]   # on a GPU machine
#   benchmarks/gpu_check.sh --cpu-tiny --out FILE            # the same code, tiny configs, CPU
#
# Runs with the repository's .venv if there is one, else the python on PATH (BENCH_PYTHON
# overrides).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
python=${BENCH_PYTHON:-}
if [ -z "$python" ]; then
    if [ -x "$here/../.venv/bin/python" ]; then python=$here/../.venv/bin/python; else python=python3; fi
fi
exec timeout --signal=INT --kill-after=20 "${BENCH_GPU_CHECK_LIMIT_S:-480}" \
    "$python" "$here/gpu_check.py" "$@"
