"""Three ways to compute the forward of the book's SGAN generator's stride-1 transposed
convolution (128→64 channels, 3×3, 14×14, padding 1), timed interleaved; and the GEMM rate
of its per-tap product against a square one. Not a test.

    python benchmarks/convt_routes.py                # batch 64 and 128, 2 threads, 11 rounds

- per tap (minigrad's route, col2im_of_product): nine N·H·W × 128 by 128 × 64 products,
  each added into the output image at its tap's offset;
- taps grouped by kernel row: three products 128 × 192 (N three times wider), nine adds;
- gather: im2col of the padded input, one N·H·W × 1152 by 1152 × 64 product, no adds
  (the route conv2d takes), at the price of a temporary nine times the input.
"""
import argparse
import os
import sys
import time

parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
parser.add_argument("--threads", type=int, default=2)
parser.add_argument("--rounds", type=int, default=11)
args = parser.parse_args()
for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(name, str(args.threads))

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import numpy as np  # noqa: E402

import minigrad  # noqa: E402, F401  (its malloc settings, as in training)
from minigrad.ops.conv import im2col  # noqa: E402


def milliseconds(f):
    start = time.perf_counter()
    f()
    return (time.perf_counter() - start) * 1e3


def routes(n, c_in=128, c_out=64, size=14, k=3):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, size, size, c_in), dtype=np.float32)   # NHWC
    rows = x.reshape(-1, c_in)
    w = rng.standard_normal((k, k, c_out, c_in), dtype=np.float32)      # W as (KH, KW, O, C)
    taps = np.ascontiguousarray(w.transpose(0, 1, 3, 2))                  # (KH, KW, C, O)
    row_groups = np.ascontiguousarray(w.reshape(k, k * c_out, c_in).transpose(0, 2, 1))
    turned = np.ascontiguousarray(w[::-1, ::-1].transpose(0, 1, 3, 2).reshape(k * k * c_in, c_out))
    full = size + k - 1

    def per_tap():
        image = np.zeros((n, full, full, c_out), np.float32)
        product = np.empty((rows.shape[0], c_out), np.float32)
        for i in range(k):
            for j in range(k):
                np.matmul(rows, taps[i, j], out=product)
                image[:, i:i + size, j:j + size] += product.reshape(n, size, size, c_out)
        return image[:, 1:-1, 1:-1]

    def grouped():
        image = np.zeros((n, full, full, c_out), np.float32)
        product = np.empty((rows.shape[0], k * c_out), np.float32)
        for i in range(k):
            np.matmul(rows, row_groups[i], out=product)
            blocks = product.reshape(n, size, size, k, c_out)
            for j in range(k):
                image[:, i:i + size, j:j + size] += blocks[:, :, :, j]
        return image[:, 1:-1, 1:-1]

    def gather():
        padded = np.zeros((n, size + 2, size + 2, c_in), np.float32)
        padded[:, 1:-1, 1:-1] = x
        return (im2col(padded, (k, k), (1, 1), (size, size)) @ turned).reshape(n, size, size, c_out)

    return {"per tap": per_tap, "grouped by row": grouped, "gather": gather}


def gemm_rate(m, k, n, repeat=7):
    a = np.random.rand(m, k).astype(np.float32)
    b = np.random.rand(k, n).astype(np.float32)
    return 2 * m * k * n / np.median([milliseconds(lambda: a @ b) for _ in range(repeat)]) / 1e6


print(f"{args.threads} threads; median of {args.rounds} interleaved rounds, ms\n")
print("| batch | " + " | ".join(routes(1)) + " |")
print("|---|" + "---:|" * 3)
for n in (64, 128):
    ways = routes(n)
    reference = ways["per tap"]()
    for name, way in ways.items():
        assert np.allclose(way(), reference, rtol=1e-3, atol=1e-2), name
    times = {name: [] for name in ways}
    for _ in range(args.rounds):
        for name, way in ways.items():
            times[name].append(milliseconds(way))
    print(f"| {n} | " + " | ".join(f"{np.median(t):.1f}" for t in times.values()) + " |")
print(f"\nGEMM GFLOP/s: per-tap shape 25088×128 by 128×64 {gemm_rate(25088, 128, 64):.0f}, "
      f"gather's 25088×1152 by 1152×64 {gemm_rate(25088, 1152, 64):.0f}, "
      f"square 2048³ {gemm_rate(2048, 2048, 2048):.0f}")
