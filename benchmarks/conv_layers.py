"""Time the GAN models' convolution layers: minigrad forward and backward, a plain NumPy
GEMM of the same FLOPs (the floor an im2col convolution can reach), and PyTorch if installed.

    python benchmarks/conv_layers.py                 # all layers, batch 64, 2 BLAS threads
    python benchmarks/conv_layers.py --batch-size 16 --repeat 10 --layer dcgan

Each time is the best of --repeat runs (the machine may be shared: the minimum is the
least disturbed). Backward is timed as forward+backward minus forward.
Set threads before NumPy loads: this script sets OPENBLAS/OMP/MKL_NUM_THREADS from
--threads unless they are already set.
"""
import argparse
import os
import sys
import time


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--layer", default="", help="only layers whose name contains this")
    parser.add_argument("--no-torch", action="store_true", help="skip PyTorch even if installed")
    return parser.parse_args(argv)


# name, kind, input (C, H, W), weight shape, stride, padding, output_padding
LAYERS = [
    ("dcgan G conv 128→64 5×5 same", "conv", (128, 14, 14), (64, 128, 5, 5), 1, "same", 0),
    ("dcgan G conv 64→1 5×5 same", "conv", (64, 28, 28), (1, 64, 5, 5), 1, "same", 0),
    ("dcgan D conv 1→64 5×5 s2 same", "conv", (1, 28, 28), (64, 1, 5, 5), 2, "same", 0),
    ("dcgan D conv 64→128 5×5 s2 same", "conv", (64, 14, 14), (128, 64, 5, 5), 2, "same", 0),
    ("dcgan infogan D conv 1→64 4×4 s2", "conv", (1, 28, 28), (64, 1, 4, 4), 2, 1, 0),
    ("dcgan infogan D conv 64→128 4×4 s2", "conv", (64, 14, 14), (128, 64, 4, 4), 2, 1, 0),
    ("dcgan infogan G convT 128→64 4×4 s2", "convT", (128, 7, 7), (128, 64, 4, 4), 2, 1, 0),
    ("dcgan infogan G convT 64→1 4×4 s2", "convT", (64, 14, 14), (64, 1, 4, 4), 2, 1, 0),
    ("sgan G convT 256→128 3×3 s2", "convT", (256, 7, 7), (256, 128, 3, 3), 2, 1, 1),
    ("sgan G convT 128→64 3×3 s1", "convT", (128, 14, 14), (128, 64, 3, 3), 1, 1, 0),
    ("sgan G convT 64→1 3×3 s2", "convT", (64, 14, 14), (64, 1, 3, 3), 2, 1, 1),
]


def best_ms(fn, repeat):
    fn()  # warm up: allocations, BLAS threads
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return 1e3 * min(times)


def time_minigrad(kind, x_np, w_np, b_np, stride, padding, output_padding, repeat):
    import numpy as np

    import minigrad
    from minigrad import functional as F
    x, w, b = (minigrad.tensor(a, requires_grad=True) for a in (x_np, w_np, b_np))

    def forward():
        if kind == "conv":
            return F.conv2d(x, w, b, stride=stride, padding=padding)
        return F.conv_transpose2d(x, w, b, stride=stride, padding=padding, output_padding=output_padding)

    def forward_no_grad():
        with minigrad.no_grad():
            forward()

    y = forward()
    gy = np.random.default_rng(1).standard_normal(y.shape).astype(np.float32)

    def forward_backward():
        x.grad = w.grad = b.grad = None
        forward().backward(gy)
    fwd = best_ms(forward_no_grad, repeat)
    return y.shape, fwd, best_ms(forward_backward, repeat) - fwd


def time_torch(kind, x_np, w_np, b_np, stride, padding, output_padding, repeat):
    import torch
    from torch.nn import functional as F
    x, w, b = (torch.tensor(a, requires_grad=True) for a in (x_np, w_np, b_np))
    k = w_np.shape[2]
    if kind == "conv" and padding == "same":  # PyTorch's "same" refuses stride 2: pad as Keras
        pads = []
        for n in reversed(x_np.shape[2:]):
            total = max((-(-n // stride) - 1) * stride + k - n, 0)
            pads += [total // 2, total - total // 2]

    def forward():
        if kind == "conv":
            return F.conv2d(F.pad(x, pads) if padding == "same" else x, w, b, stride=stride,
                            padding=0 if padding == "same" else padding)
        return F.conv_transpose2d(x, w, b, stride=stride, padding=padding, output_padding=output_padding)

    def forward_no_grad():
        with torch.no_grad():
            forward()
    gy = torch.randn(forward().shape)

    def forward_backward():
        x.grad = w.grad = b.grad = None
        forward().backward(gy)
    fwd = best_ms(forward_no_grad, repeat)
    return fwd, best_ms(forward_backward, repeat) - fwd


def gemm_ms(rows, inner, cols, repeat):
    """One float32 (rows × inner) @ (inner × cols) product: 2·rows·inner·cols FLOPs."""
    import numpy as np
    rng = np.random.default_rng(0)
    a = rng.standard_normal((rows, inner), dtype=np.float32)
    b = rng.standard_normal((inner, cols), dtype=np.float32)
    return best_ms(lambda: a @ b, repeat)


def main(argv=None):
    args = parse_args(argv)
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(var, str(args.threads))
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    import numpy as np
    try:
        if args.no_torch:
            raise ImportError
        import torch
        torch.set_num_threads(args.threads)
    except ImportError:
        torch = None

    print(f"batch {args.batch_size}, {os.environ['OPENBLAS_NUM_THREADS']} BLAS threads, "
          f"best of {args.repeat}; times in ms; GEMM = one NumPy product of the forward's FLOPs")
    header = f"{'layer':34s} {'output':>16s} {'GFLOP':>6s} {'fwd':>7s} {'bwd':>7s} {'GEMM':>7s}"
    print(header + (f" {'torch fwd':>9s} {'torch bwd':>9s}" if torch else ""))
    rng = np.random.default_rng(0)
    for name, kind, (c, h, w), w_shape, stride, padding, output_padding in LAYERS:
        if args.layer not in name:
            continue
        x_np = rng.standard_normal((args.batch_size, c, h, w), dtype=np.float32)
        w_np = (0.05 * rng.standard_normal(w_shape)).astype(np.float32)
        b_np = rng.standard_normal(w_shape[0] if kind == "conv" else w_shape[1]).astype(np.float32)
        shape, fwd, bwd = time_minigrad(kind, x_np, w_np, b_np, stride, padding, output_padding, args.repeat)
        # the forward as one GEMM: conv (N·OH·OW × C·KH·KW) @ (C·KH·KW × O); a transposed
        # convolution (N·H·W × Cin) @ (Cin × Cout·KH·KW)
        kh, kw = w_shape[2:]
        if kind == "conv":
            rows, inner, cols = shape[0] * shape[2] * shape[3], c * kh * kw, w_shape[0]
        else:
            rows, inner, cols = args.batch_size * h * w, c, w_shape[1] * kh * kw
        gemm = gemm_ms(rows, inner, cols, args.repeat)
        line = (f"{name:34s} {str(tuple(shape)):>16s} {2e-9 * rows * inner * cols:6.2f} "
                f"{fwd:7.1f} {bwd:7.1f} {gemm:7.1f}")
        if torch:
            t_fwd, t_bwd = time_torch(kind, x_np, w_np, b_np, stride, padding, output_padding, args.repeat)
            line += f" {t_fwd:9.1f} {t_bwd:9.1f}"
        print(line, flush=True)


if __name__ == "__main__":
    main()
