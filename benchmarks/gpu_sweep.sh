#!/usr/bin/env bash
# Several training runs side by side on one lent GPU, each sampled (10,000 images) and scored
# by the judge: a lease of minutes buys a comparison a CPU core needs days for. A GAN step
# on CuPy waits on the host (benchmarks/gpu_profile.py), so processes on separate CPU cores
# share the GPU well.
#
#   bash benchmarks/gpu_sweep.sh RESULTS 'name: script flags' ...
#   bash benchmarks/gpu_sweep.sh /tmp/r 'base: dcgan.py --seed 0' 'wide: dcgan.py --seed 0 --width 2'
#
# Each run: python examples/SCRIPT --backend cupy FLAGS, within $LIMIT seconds (default 360),
# then gan.sample ($N images, default 10,000) and gan.evaluate. RESULTS/NAME.log holds its output and RESULTS/NAME.json its
# scores; the table of all of them is printed at the end and written to RESULTS/summary.md.
# MNIST: $DATA_DIR (default ../shared/data/mnist); the judge: $JUDGE (default: the user
# cache). $BACKEND=numpy rehearses it on the CPU (with --dry-run flags: it measures nothing).
set -uo pipefail
cd "$(dirname "$0")/.."
results=$1; shift
mkdir -p "$results"
DATA_DIR=${DATA_DIR:-../shared/data/mnist}
PYTHON=${PYTHON:-python3}
LIMIT=${LIMIT:-360}
N=${N:-10000}
BACKEND=${BACKEND:-cupy}
judge=(); [ -n "${JUDGE:-}" ] && judge=(--judge "$JUDGE")
export PYTHONUNBUFFERED=1 TQDM_DISABLE=1 OMP_NUM_THREADS=1 MINIGRAD_DATA=$DATA_DIR

run() {  # name, script and flags
  local name=$1 script=$2; shift 2
  local out=$results/$name.run start=$SECONDS
  {
    echo "\$ $script $*"
    timeout "$LIMIT" "$PYTHON" "examples/$script" --backend "$BACKEND" --data-dir "$DATA_DIR" \
        --out "$out" "$@" \
      && echo "trained in $((SECONDS - start)) s" \
      && "$PYTHON" -m gan.sample --checkpoint "$out/latest.npz" --n "$N" --out "$out/samples.npz" \
      && "$PYTHON" -m gan.evaluate "$out/samples.npz" "${judge[@]}" --json "$results/$name.json"
    echo "exit status $? after $((SECONDS - start)) s"
  } > "$results/$name.log" 2>&1
}

names=()
for spec in "$@"; do
  name=${spec%%:*}; read -r -a args <<< "${spec#*:}"
  names+=("$name")
  run "$name" "${args[@]}" &
done
wait

"$PYTHON" - "$results" "${names[@]}" <<'EOF' | tee "$results/summary.md"
import json, sys
from pathlib import Path
results, names = Path(sys.argv[1]), sys.argv[2:]
print("| run | flags | IS | FID (× real) | digits | seconds |\n|---|---|---|---|---|---|")
for name in names:
    log = (results / f"{name}.log").read_text().splitlines()
    flags, status = log[0].lstrip("$ "), log[-1]
    trained = next((line.split()[2] for line in log if line.startswith("trained in")), "-")
    scores = results / f"{name}.json"
    if not scores.exists():
        print(f"| {name} | `{flags}` | failed: {status} | | | {trained} |")
        continue
    s = json.loads(scores.read_text())
    fake, real = s["samples"], s["real"]
    print(f"| {name} | `{flags}` | {fake['inception_score']:.2f} | {fake['fid']:.1f} "
          f"({fake['fid'] / real['fid']:.2f}×) | {100 * fake['min_class_fraction']:.1f}–"
          f"{100 * fake['max_class_fraction']:.1f}% | {trained} |")
EOF
