#!/usr/bin/env bash
# Remake the runs behind docs/results.md: the judge, the GANs, their scores and grids.
#
#   bash docs/make_results.sh                  # everything (many CPU hours; see results.md)
#   bash docs/make_results.sh judge sgan       # only some of: judge gan dcgan dcgan-default dcgan-infogan sgan cgan wgan-gp sgan-improved sgan-ablation
#   BACKEND=cupy bash docs/make_results.sh     # on a GPU
#
# Every run is seeded; on the numpy backend a rerun with the same BLAS threads on the same
# machine gives the same numbers. Runs go to $RUNS (default /tmp/minigrad-results), never
# into the repository; the pictures (the first 100 scored samples of the vanilla GAN and
# DCGAN, the SGAN's final grid and accuracy curves) go to docs/images/results_*.png, and
# each score is printed and written to
# $RUNS/<run>/scores.json. The iteration counts are those of the runs in results.md (each
# model's default); set *_ITERATIONS to change them. "dcgan" is the DCGAN of results.md, the
# Keras tutorial's networks (--arch keras, with their defaults: batches of 128, lr 2e-4, no
# moving average); "dcgan-default" trains and scores the default DCGAN (InfoGAN's networks
# and latent code, the rates decaying over the second half) on seeds 0, 1 and 2 into
# $RUNS/dcgan-default{0,1,2}, "dcgan-infogan" the same networks without the code (--arch
# infogan, batches of 64) into $RUNS/dcgan-infogan{0,1,2}; "cgan" the
# conditional GAN (its defaults) on seeds 0 and 1, scored on 1,000 samples of each digit;
# "wgan-gp" WGAN-GP (its defaults) on seeds 0, 1 and 2 into $RUNS/wgan_gp{0,1,2};
# "sgan-improved" the Improved-GAN recipe at full length (180,000 iterations) with their
# Adam's epsilon on labelled sets 0, 1 and 2 into $RUNS/improved{0,1,2}, and its curves;
# "sgan-ablation" the Improved-GAN recipe for 9,000 iterations on labelled set 0, whole and
# with one piece dropped per run (docs/sgan.md), into $RUNS/improved-*.
set -euo pipefail
cd "$(dirname "$0")/.."

# MNIST: the folder $DATA_DIR names, else where the loader looks ($MINIGRAD_DATA, then the
# user cache, into which the first run downloads it).
data_dir=()
if [ -n "${DATA_DIR:-}" ]; then data_dir=(--data-dir "$DATA_DIR"); fi
RUNS=${RUNS:-/tmp/minigrad-results}
BACKEND=${BACKEND:-numpy}
GAN_ITERATIONS=${GAN_ITERATIONS:-90000}
DCGAN_ITERATIONS=${DCGAN_ITERATIONS:-10000}
DCGAN_DEFAULT_ITERATIONS=${DCGAN_DEFAULT_ITERATIONS:-10000}
DCGAN_INFOGAN_ITERATIONS=${DCGAN_INFOGAN_ITERATIONS:-5000}
SGAN_ITERATIONS=${SGAN_ITERATIONS:-8000}
WGAN_GP_ITERATIONS=${WGAN_GP_ITERATIONS:-10000}
# One BLAS thread a run, as most runs in results.md had (the DCGAN's had two).
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1} OPENBLAS_NUM_THREADS=${OPENBLAS_NUM_THREADS:-1}
mkdir -p "$RUNS"

train() {  # train MODEL NAME ARGS...: a fresh run of examples/MODEL.py into $RUNS/NAME
    local model=$1 name=$2
    shift 2
    rm -rf "${RUNS:?}/$name"
    local command=(python examples/"$model".py --backend "$BACKEND" "${data_dir[@]}"
                   --out "$RUNS/$name" "$@")
    echo "== ${command[*]}" >&2
    "${command[@]}"
}

score() {  # score NAME [PICTURE [SAMPLE FLAGS...]]: 10,000 samples of $RUNS/NAME/latest.npz,
    local run=$RUNS/$1 picture=${2-results_$1.png}  # judged next to real images; PICTURE ""
    shift $(($# < 2 ? $# : 2))                      # keeps no picture
    python -m gan.sample --checkpoint "$run/latest.npz" --n 10000 --out "$run/samples.npz" --backend "$BACKEND" "$@"
    python -m gan.evaluate "$run/samples.npz" "${data_dir[@]}" --json "$run/scores.json"
    if [ -n "$picture" ]; then cp "$run/samples.png" "docs/images/$picture"; fi  # the first 100 scored
}

accuracy_plot() {  # accuracy_plot IMAGE TITLE YMIN YMAX RUN=LABEL...: the test accuracy of those of the
    # runs there are, in one picture (D's average and D itself where both were measured); each one's last
    python - "$RUNS" "$@" <<'EOF'
import sys
from pathlib import Path

from gan import plots
from gan.training.outputs import Log

runs, image, title = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
ylim = float(sys.argv[4]), float(sys.argv[5])
rows = []
for run, label in (arg.split("=", 1) for arg in sys.argv[6:]):
    if not (runs / run / "metrics.jsonl").exists():
        continue
    measured = [row for row in Log.read(runs / run / "metrics.jsonl") if "test_acc" in row]
    for row in measured:
        if "test_acc_raw" in row:
            rows.append({"iteration": row["iteration"], f"{label}, D's average": row["test_acc"],
                         f"{label}, D itself": row["test_acc_raw"]})
        else:
            rows.append({"iteration": row["iteration"], label: row["test_acc"]})
    print(f"{run}: test accuracy {measured[-1]['test_acc']:.4f} at iteration {measured[-1]['iteration']}")
labels = [key for key in dict.fromkeys(key for row in rows for key in row) if key != "iteration"]
plots.save_metric_curves(rows, image, labels, window=1, ylabel="test accuracy", title=title, ylim=ylim)
EOF
}

last_accuracy() {  # last_accuracy NAME: the run's last test accuracy, D's average and D itself
    python - "$RUNS/$1/metrics.jsonl" "$1" <<'EOF'
import sys

from gan.training.outputs import Log

last = [row for row in Log.read(sys.argv[1]) if "test_acc" in row][-1]
print(f"{sys.argv[2]}: test_acc {last['test_acc']:.4f}, D itself {last['test_acc_raw']:.4f} "
      f"at iteration {last['iteration']}")
EOF
}

improved_ablation() {  # the recipe whole and without each piece in turn, on labelled set 0
    local spec name
    for spec in "whole:" "no-feature-matching:--no-feature-matching" "no-noise:--no-noise" \
                "no-weight-norm:--no-weight-norm" "no-init:--init-images 0"; do
        name=improved-${spec%%:*}
        # shellcheck disable=SC2086  # the flags split into words on purpose
        train sgan "$name" --model improved --seed 0 --iterations 9000 --d-ema 0.999 \
            --eval-every 1500 --sample-every 3000 --adam-eps 1e-8 --g-adam-eps 1e-8 \
            --lr-decay-start 0.67 ${spec#*:}  # the recipe as it was measured
        last_accuracy "$name"
    done
}

for part in ${@:-judge gan dcgan dcgan-default dcgan-infogan sgan cgan wgan-gp}; do
    case $part in
        judge) python -m gan.judge "${data_dir[@]}" --backend "$BACKEND" ;;
        gan) train gan gan --seed 0 --iterations "$GAN_ITERATIONS" && score gan ;;
        dcgan) train dcgan dcgan --arch keras --seed 0 --iterations "$DCGAN_ITERATIONS" && score dcgan ;;
        dcgan-default)
            for seed in 0 1 2; do
                train dcgan "dcgan-default$seed" --seed "$seed" --iterations "$DCGAN_DEFAULT_ITERATIONS"
                score "dcgan-default$seed" "$([ "$seed" = 0 ] && echo results_dcgan_infogan_code.png)"
            done ;;
        dcgan-infogan)
            for seed in 0 1 2; do
                train dcgan "dcgan-infogan$seed" --arch infogan --seed "$seed" --iterations "$DCGAN_INFOGAN_ITERATIONS"
                score "dcgan-infogan$seed" "$([ "$seed" = 0 ] && echo results_dcgan_infogan.png)"
            done ;;
        sgan)
            for seed in 0 1 2; do  # three labelled sets of 100 images, the same for both runs
                train sgan "sgan$seed" --seed "$seed" --iterations "$SGAN_ITERATIONS"
                train sgan "sgan$seed-supervised-only" --seed "$seed" --iterations "$SGAN_ITERATIONS" --supervised-only
            done
            cp "$RUNS/sgan0/samples_final.png" docs/images/results_sgan.png
            accuracy_plot docs/images/results_sgan_accuracy.png \
                "SGAN and the same discriminator on the labels alone, 3 labelled sets" 0.7 1 \
                sgan0="SGAN, labels 0" sgan0-supervised-only="supervised only, labels 0" \
                sgan1="SGAN, labels 1" sgan1-supervised-only="supervised only, labels 1" \
                sgan2="SGAN, labels 2" sgan2-supervised-only="supervised only, labels 2" ;;
        cgan)
            for seed in 0 1; do
                train cgan "cgan$seed" --seed "$seed"
                score "cgan$seed" "$([ "$seed" = 0 ] && echo results_cgan.png)" --n 1000 --label all
            done ;;
        wgan-gp)
            for seed in 0 1 2; do
                train wgan_gp "wgan_gp$seed" --seed "$seed" --iterations "$WGAN_GP_ITERATIONS"
                score "wgan_gp$seed" "$([ "$seed" = 0 ] && echo results_wgan_gp.png)"
            done ;;
        sgan-improved)
            for seed in 0 1 2; do  # their Adam's effective epsilon and MNIST schedule (docs/sgan.md); ~5 CPU hours each
                train sgan "improved$seed" --model improved --seed "$seed" --adam-eps 1e-4 --g-adam-eps 0.025 --lr-decay-start 1
                last_accuracy "improved$seed"
            done
            accuracy_plot docs/images/results_sgan_improved_accuracy.png \
                "Improved-GAN recipe, 100 labels: test accuracy" 0.97 0.995 \
                improved0="labels 0" improved1="labels 1" improved2="labels 2" ;;
        sgan-ablation) improved_ablation ;;
        *) echo "unknown part $part: choose from judge gan dcgan dcgan-default dcgan-infogan sgan cgan wgan-gp sgan-improved sgan-ablation" >&2; exit 2 ;;
    esac
done
