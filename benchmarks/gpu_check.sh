#!/usr/bin/env bash
# The GPU check: what a lent NVIDIA GPU should confirm, in one run of at most 10 minutes
# (the stages' time limits add up to 557 s).
#
#   bash benchmarks/gpu_check.sh [OUTPUT]            # on a GPU machine (default OUTPUT:
#                                                    # benchmarks/gpu_results.md, to commit)
#   bash benchmarks/gpu_check.sh --rehearsal [OUT]   # the same stages on the CPU, tiny sizes:
#                                                    # proves the script runs, measures nothing
#
# Stages, each with its own time limit, each logged to OUTPUT with its exit status:
#   1. CuPy and a GPU are there (else: exit 2 at once, saying why; nothing is written)
#   2. the test suite on the cupy backend (python -m pytest --backend cupy), which includes
#      the captured-against-eager training tests (tests/test_capture_training.py)
#   3. a short training run of every model with --backend cupy (captured: the default),
#      the DCGAN's eager (--capture off), and the DCGAN's again with an empty kernel cache
#      (CUPY_CACHE_DIR: what a user's first run compiles), the nine side by side on the one
#      GPU, each with its wall time
#   4. benchmarks/gan_step.py --backend cupy --compare-torch --capture: every model's step at
#      batch 64, four ways side by side: ours eager, ours captured, PyTorch CUDA eager,
#      PyTorch with CUDA graphs (targets, docs/performance.md: captured at most 1.0x PyTorch
#      eager for every model; the DCGAN's at most 0.5x, and within 1.5x of PyTorch's graphs)
#   5. the DCGAN's and the vanilla GAN's step again, eager and captured, without the fused
#      kernels (MINIGRAD_FUSED_KERNELS=0, minigrad/kernels.py): what the kernels save
#   6. the whole default DCGAN run (10,000 iterations, grids and checkpoints included), timed
#      (target: under 60 s)
#   7. benchmarks/gpu_profile.py on the DCGAN: host against GPU time, the top host functions
#
# MNIST: $DATA_DIR (default: the loader's own search, $MINIGRAD_DATA then the user cache). A
# device machine gets only the checkout and reaches no network, so copy the four files into
# an ignored folder of it first (e.g. .data/mnist, listed in .git/info/exclude) and run with
# DATA_DIR=.data/mnist. Python packages the device machine lacks (platformdirs) travel as
# wheels in .whl/ (`pip download --no-deps --only-binary=:all: --python-version 3.12 -d .whl platformdirs`): this script
# installs .whl/*.whl into a private folder first when .whl/ is there.
# LOG_DIR: where each stage's whole output goes (OUTPUT keeps only its last 40 lines).
# The tests spread over $WORKERS processes (default 12, of the machine's 16 cores) where pytest-xdist is installed:
# on CuPy a test costs many kernel launches and first compilations, and the GPU has room.
set -uo pipefail
cd "$(dirname "$0")/.."

rehearsal=0
if [ "${1:-}" = "--rehearsal" ]; then rehearsal=1; shift; fi
output=${1:-benchmarks/gpu_results.md}
DATA_DIR=${DATA_DIR:-}
PYTHON=${PYTHON:-python3}
LOG_DIR=${LOG_DIR:-}
export PYTHONUNBUFFERED=1 TQDM_DISABLE=1  # progress bars would fill the log
data=(); [ -n "$DATA_DIR" ] && data=(--data-dir "$DATA_DIR")
if [ -d .whl ] && ls .whl/*.whl >/dev/null 2>&1; then  # packages the machine lacks, carried along
  "$PYTHON" -m pip install -q --no-index --no-deps --no-compile --target /tmp/gpu_check_site .whl/*.whl \
    && export PYTHONPATH="/tmp/gpu_check_site${PYTHONPATH:+:$PYTHONPATH}"
fi

if [ $rehearsal = 1 ]; then
  backend=numpy; tests=(tests/test_gpu.py tests/test_capture.py); train=(--dry-run)
  bench=(--models gan --batch-sizes 8 --steps 2 --warmup 1 --rounds 1 --capture); full=(--dry-run)
  unfused=(--models gan --batch-sizes 8 --steps 2 --warmup 1 --rounds 1 --capture)
  limit_tests=120 limit_train=120 limit_bench=120 limit_unfused=120 limit_full=120
else
  backend=cupy; tests=(tests); train=(--iterations 100 --log-every 50 --sample-every 100 --checkpoint-every 100)
  bench=(--compare-torch --capture --batch-sizes 64 --steps 20 --warmup 5 --rounds 4
         --models dcgan,gan,dcgan-keras,sgan,wgan_gp,cgan,sgan_improved)  # a row is printed as it is measured
  unfused=(--capture --batch-sizes 64 --steps 20 --warmup 5 --rounds 4 --models dcgan,gan)
  full=()  # the default run: 10,000 iterations
  # the suite on CuPy has grown to 1,786 tests (1,361 took 110 s on 12 workers on 2026-12-04);
  # the nine training runs go side by side, each within limit_train
  limit_tests=200 limit_train=45 limit_bench=170 limit_unfused=36 limit_full=80 limit_profile=26  # 200 + 45 + 170 + 36 + 80 + 26 = 557 s
  "$PYTHON" -c "import xdist" 2>/dev/null && tests=(-n "${WORKERS:-12}" "${tests[@]}")
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
  # to $section (default: OUTPUT); returns the command's status
  local title=$1 seconds=$2 status log=/dev/null out=${section:-$output}
  shift 2
  echo "== $title" >&2
  [ -n "$LOG_DIR" ] && mkdir -p "$LOG_DIR" && log="$LOG_DIR/${title//[^A-Za-z0-9_]/_}.log"
  { echo; echo "## $title"; echo; echo "\`$*\`"; echo; echo '```'; } >> "$out"
  timeout "$seconds" "$@" 2>&1 | tee "$log" | tail -n 40 >> "$out"
  status=${PIPESTATUS[0]}
  { echo '```'; echo; echo "exit status $status$([ "$status" = 124 ] && echo " (stopped at its ${seconds} s limit)")"; } >> "$out"
  [ "$status" = 0 ] || failed=1
  return "$status"
}

# -v: a test named as it ends, so that a suite stopped at its limit still says which failed
stage "Tests on the $backend backend" $limit_tests "$PYTHON" -m pytest -v -p no:cacheprovider --durations=15 --backend "$backend" "${tests[@]}"
wall_time=(-c "import subprocess, sys, time; start = time.perf_counter(); status = subprocess.call(sys.argv[1:])
print(f'wall time: {time.perf_counter() - start:.1f} s'); sys.exit(status)")
# every model the benchmarks know, captured as on CuPy by default, the DCGAN eager, and the
# DCGAN compiling every kernel afresh (the others find them in the cache the tests filled):
# "name: example [its flags]". They run side by side (each a stage of its own, on the one
# GPU): what they check is that each trains, and the minutes go further to the tests.
pids=()
for run in "gan: gan" "dcgan: dcgan" "dcgan-keras: dcgan --arch keras" "sgan: sgan" \
           "sgan_improved: sgan --model improved" "wgan_gp: wgan_gp" "cgan: cgan" \
           "dcgan eager: dcgan --capture off" "dcgan empty kernel cache: dcgan"; do
  name=${run%%:*} command=(${run#*: }) capture=(--capture on) cache=()
  [[ " ${command[*]} " = *" --capture "* ]] && capture=()
  [[ $name = *"empty kernel cache" ]] && cache=(env CUPY_CACHE_DIR="$runs/kernel-cache")
  section="$runs/${#pids[@]}.md" stage "Training: $name" $limit_train "${cache[@]}" "$PYTHON" "${wall_time[@]}" \
    "$PYTHON" examples/${command[0]}.py "${command[@]:1}" --backend "$backend" "${capture[@]}" "${data[@]}" \
    --out "$runs/${name// /-}" "${train[@]}" &
  pids+=($!)
done
for i in "${!pids[@]}"; do  # their sections in order, once all have ended
  wait "${pids[$i]}" || failed=1
  cat "$runs/$i.md" >> "$output"
done
stage "Training step against PyTorch" $limit_bench "$PYTHON" benchmarks/gan_step.py --backend "$backend" "${bench[@]}"
stage "Training step without the fused kernels" $limit_unfused env MINIGRAD_FUSED_KERNELS=0 \
      "$PYTHON" benchmarks/gan_step.py --backend "$backend" "${unfused[@]}"
stage "The whole default DCGAN run" $limit_full "$PYTHON" "${wall_time[@]}" "$PYTHON" examples/dcgan.py \
      --backend "$backend" "${data[@]}" --out "$runs/dcgan-full" "${full[@]}"
if [ -s "$runs/dcgan-full/metrics.jsonl" ]; then  # how far it got, even if stopped at its limit, and where its time went
  { echo; echo "Its time, steps and writes apart (benchmarks/loop_overhead.py --split):"; echo; echo '```'
    "$PYTHON" benchmarks/loop_overhead.py --split "$runs/dcgan-full" 2>&1; echo '```'; } >> "$output"
fi
[ $rehearsal = 0 ] && stage "Where the DCGAN step's time goes" $limit_profile "$PYTHON" benchmarks/gpu_profile.py --models dcgan --top 20

echo "gpu_check: results in $output$([ $failed = 1 ] && echo '; some stage FAILED')" >&2
exit $failed
