#!/usr/bin/env bash
# Regenerate every image in docs/images/ from short training runs of the three examples.
#
#   bash docs/make_images.sh                 # all of them (about 20 minutes on one CPU core)
#   bash docs/make_images.sh gan             # only the vanilla GAN's images (or dcgan, sgan)
#   BACKEND=cupy bash docs/make_images.sh    # on a GPU
#
# The runs are short on purpose, so that the pictures can be remade on a laptop; their
# lengths are the *_ITERATIONS variables below, and the docs say which lengths they show.
# Everything is seeded (--seed 0), so on the numpy backend a rerun gives the same images.
# The DCGAN pictures are of the Keras tutorial's networks (--arch keras), as docs/dcgan.md says.
# Runs are written under $RUNS (default /tmp/minigrad-doc-runs), never into the repository;
# only the PNGs are copied into docs/images/.
set -euo pipefail
cd "$(dirname "$0")/.."

# MNIST: the folder $DATA_DIR names, else where the loader looks ($MINIGRAD_DATA, then the
# user cache, into which the first run downloads it).
data_dir=()
if [ -n "${DATA_DIR:-}" ]; then data_dir=(--data-dir "$DATA_DIR"); fi
RUNS=${RUNS:-/tmp/minigrad-doc-runs}
BACKEND=${BACKEND:-numpy}
GAN_ITERATIONS=${GAN_ITERATIONS:-3000}
DCGAN_ITERATIONS=${DCGAN_ITERATIONS:-300}
SGAN_ITERATIONS=${SGAN_ITERATIONS:-1000}
# One BLAS thread: the timings in the docs are single-core, and a shared machine stays usable.
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1} OPENBLAS_NUM_THREADS=${OPENBLAS_NUM_THREADS:-1}
IMAGES=docs/images
mkdir -p "$IMAGES"

train() {  # train MODEL NAME ARGS...: a fresh run of examples/MODEL.py into $RUNS/NAME
    local model=$1 name=$2
    shift 2
    rm -rf "${RUNS:?}/$name"
    local command=(python examples/"$model".py --backend "$BACKEND" "${data_dir[@]}"
                   --seed 0 --out "$RUNS/$name" "$@")
    echo "== ${command[*]}" >&2
    "${command[@]}"
}

make_gan() {
    train gan gan --iterations "$GAN_ITERATIONS" --sample-every 500 --log-every 50
    cp "$RUNS/gan/samples_000500.png" "$IMAGES/gan_samples_500.png"
    cp "$RUNS/gan/samples_final.png" "$IMAGES/gan_samples_final.png"
    cp "$RUNS/gan/losses.png" "$IMAGES/gan_losses.png"
    cp "$RUNS/gan/accuracy.png" "$IMAGES/gan_accuracy.png"
}

make_dcgan() {
    train dcgan dcgan --arch keras --iterations "$DCGAN_ITERATIONS" --sample-every 100 --log-every 10
    cp "$RUNS/dcgan/samples_000100.png" "$IMAGES/dcgan_samples_100.png"
    cp "$RUNS/dcgan/samples_final.png" "$IMAGES/dcgan_samples_final.png"
    cp "$RUNS/dcgan/losses.png" "$IMAGES/dcgan_losses.png"
    cp "$RUNS/dcgan/accuracy.png" "$IMAGES/dcgan_accuracy.png"
}

make_sgan() {
    local every=$((SGAN_ITERATIONS / 10))
    train sgan sgan --iterations "$SGAN_ITERATIONS" --sample-every "$SGAN_ITERATIONS" \
        --log-every "$every" --eval-every "$every"
    train sgan sgan-supervised-only --supervised-only --iterations "$SGAN_ITERATIONS" \
        --sample-every "$SGAN_ITERATIONS" --log-every "$every" --eval-every "$every"
    cp "$RUNS/sgan/samples_final.png" "$IMAGES/sgan_samples_final.png"
    cp "$RUNS/sgan/losses.png" "$IMAGES/sgan_losses.png"
    # Test accuracy of the two runs (same seed, same 100 labelled images) in one plot.
    python - "$RUNS" "$IMAGES/sgan_test_accuracy.png" <<'EOF'
import sys
from pathlib import Path

from gan import plots
from gan.training.outputs import Log

runs, image = Path(sys.argv[1]), sys.argv[2]
labels = {"sgan": "SGAN (100 labels + unlabelled)",
          "sgan-supervised-only": "supervised only (100 labels)"}
rows = []
for run, label in labels.items():
    measured = [row for row in Log.read(runs / run / "metrics.jsonl") if "test_acc" in row]
    rows += [{"iteration": row["iteration"], label: row["test_acc"]} for row in measured]
    print(f"{run}: test accuracy {measured[-1]['test_acc']:.4f} at iteration {measured[-1]['iteration']}")
plots.save_metric_curves(rows, image, list(labels.values()), window=1, ylabel="test accuracy",
                         title="SGAN vs the same discriminator on the labels alone", ylim=(0, 1.02))
EOF
}

for model in ${@:-gan dcgan sgan}; do
    case $model in
        gan) make_gan ;;
        dcgan) make_dcgan ;;
        sgan) make_sgan ;;
        *) echo "unknown model $model: choose from gan dcgan sgan" >&2; exit 2 ;;
    esac
done
ls -l "$IMAGES"
