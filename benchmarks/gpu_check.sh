#!/usr/bin/env bash
# The GPU check: what a lent NVIDIA GPU should confirm, in one run of at most 9 minutes
# (the stages' time limits add up to 530 s; on an H200 it took about 5).
#
#   bash benchmarks/gpu_check.sh [OUTPUT]            # on a GPU machine (default OUTPUT:
#                                                    # benchmarks/gpu_results.md, to commit)
#   bash benchmarks/gpu_check.sh --rehearsal [OUT]   # the same stages on the CPU, tiny sizes:
#                                                    # proves the script runs, measures nothing
#
# Stages, each with its own time limit, each logged to OUTPUT with its exit status:
#   1. CuPy and a GPU are there (else: exit 2 at once, saying why; nothing is written)
#   2. the test suite on the cupy backend (python -m pytest --backend cupy)
#   3. a short training run of every model with --backend cupy, timed
#   4. benchmarks/gan_step.py --backend cupy --compare-torch (PyTorch CUDA side by side),
#      every model at batch 64, the DCGAN first (its target: at most 2x PyTorch CUDA's)
#   5. benchmarks/gpu_profile.py on the DCGAN: host against GPU time, the top host functions
#
# MNIST: $DATA_DIR (default ../shared/data/mnist). A device machine gets only the checkout,
# so copy the four files into an ignored folder of it first (e.g. .data/mnist, listed in
# .git/info/exclude) and run with DATA_DIR=.data/mnist.
# LOG_DIR: where each stage's whole output goes (OUTPUT keeps only its last 40 lines).
# The tests spread over $WORKERS processes (default 8) where pytest-xdist is installed:
# on CuPy a test costs many kernel launches and first compilations, and the GPU has room.
set -uo pipefail
cd "$(dirname "$0")/.."

rehearsal=0
if [ "${1:-}" = "--rehearsal" ]; then rehearsal=1; shift; fi
output=${1:-benchmarks/gpu_results.md}
DATA_DIR=${DATA_DIR:-../shared/data/mnist}
PYTHON=${PYTHON:-python3}
LOG_DIR=${LOG_DIR:-}
export PYTHONUNBUFFERED=1 TQDM_DISABLE=1  # progress bars would fill the log

if [ $rehearsal = 1 ]; then
  backend=numpy; tests=(tests/test_gpu.py); train=(--dry-run); bench=(--models gan --batch-sizes 8 --steps 2 --warmup 1 --rounds 1)
  limit_tests=120 limit_train=120 limit_bench=120
else
  backend=cupy; tests=(tests); train=(--iterations 100 --log-every 50 --sample-every 100 --checkpoint-every 100)
  bench=(--compare-torch --batch-sizes 64 --steps 20 --warmup 5 --rounds 4
         --models dcgan,gan,dcgan-keras,sgan,wgan_gp,cgan,sgan_improved)  # a row is printed as it is measured
  limit_tests=180 limit_train=20 limit_bench=150 limit_profile=60  # 180 + 7·20 + 150 + 60 = 530 s
  "$PYTHON" -c "import xdist" 2>/dev/null && tests=(-n "${WORKERS:-8}" "${tests[@]}")
  if ! reason=$("$PYTHON" -c "from minigrad import backend
if not backend.cupy_available(): print(backend._cupy_error); raise SystemExit(1)" 2>&1); then
    echo "gpu_check: no GPU to check: ${reason}" >&2
    echo "gpu_check: run it on a machine with an NVIDIA GPU and CuPy (pip install -e '.[cuda13]'), or with --rehearsal here" >&2
    exit 2
  fi
fi

runs=$(mktemp -d)
trap 'rm -rf "$runs"' EXIT
failed=0
{
  echo "# GPU check ($(date -u '+%Y-%m-%d %H:%M UTC'))"
  echo
  [ $rehearsal = 1 ] && echo "**Rehearsal on the CPU (numpy backend): nothing here is a GPU measurement.**" && echo
  echo '```'
  "$PYTHON" -c "import platform, numpy; print('Python', platform.python_version(), '| NumPy', numpy.__version__)"
  [ $rehearsal = 0 ] && "$PYTHON" -c "import cupy; d = cupy.cuda.runtime.getDeviceProperties(0); print('CuPy', cupy.__version__, '|', d['name'].decode())"
  [ $rehearsal = 0 ] && nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null
  echo '```'
} > "$output"

stage() {  # stage TITLE SECONDS COMMAND...: run it with a time limit, log its output and status
  local title=$1 seconds=$2 status log=/dev/null
  shift 2
  echo "== $title" >&2
  [ -n "$LOG_DIR" ] && mkdir -p "$LOG_DIR" && log="$LOG_DIR/${title//[^A-Za-z0-9_]/_}.log"
  { echo; echo "## $title"; echo; echo "\`$*\`"; echo; echo '```'; } >> "$output"
  timeout "$seconds" "$@" 2>&1 | tee "$log" | tail -n 40 >> "$output"
  status=${PIPESTATUS[0]}
  { echo '```'; echo; echo "exit status $status$([ "$status" = 124 ] && echo " (stopped at its ${seconds} s limit)")"; } >> "$output"
  [ "$status" = 0 ] || failed=1
}

stage "Tests on the $backend backend" $limit_tests "$PYTHON" -m pytest -q -p no:cacheprovider --backend "$backend" "${tests[@]}"
# every model the benchmarks know: "name: example [its flags]"
for run in "gan: gan" "dcgan: dcgan" "dcgan-keras: dcgan --arch keras" "sgan: sgan" \
           "sgan_improved: sgan --model improved" "wgan_gp: wgan_gp" "cgan: cgan"; do
  name=${run%%:*} command=(${run#*: })
  stage "Training: $name" $limit_train "$PYTHON" examples/${command[0]}.py "${command[@]:1}" --backend "$backend" \
        --data-dir "$DATA_DIR" --out "$runs/$name" "${train[@]}"
done
stage "Training step against PyTorch" $limit_bench "$PYTHON" benchmarks/gan_step.py --backend "$backend" "${bench[@]}"
[ $rehearsal = 0 ] && stage "Where the DCGAN step's time goes" $limit_profile "$PYTHON" benchmarks/gpu_profile.py --models dcgan --top 20

echo "gpu_check: results in $output$([ $failed = 1 ] && echo '; some stage FAILED')" >&2
exit $failed
