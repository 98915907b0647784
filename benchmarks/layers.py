"""Time forward and backward of each layer at the sizes the GANs use (batch 64), and an
Adam step over the DCGAN's parameters; print a Markdown table. Not a test.

    python benchmarks/layers.py                       # NumPy, median of 20 runs
    python benchmarks/layers.py --backend cupy --repeat 50
    python benchmarks/layers.py --layer BatchNorm     # only rows whose name contains this

Forward is timed on its own; backward is timed alone after an untimed forward, with a
random upstream gradient and the input requiring grad (as inside a network). The median
of --repeat runs is shown, after two warm-up runs. On CuPy the device is synchronized
before each clock reading.
"""
import argparse
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import numpy as np  # noqa: E402

import minigrad  # noqa: E402
from minigrad import functional as F  # noqa: E402
from minigrad import nn, optim  # noqa: E402


def layer_cases(n):
    """(row name, layer factory, input shape) at the GAN models' sizes."""
    return [
        ("Dense 100→256 (GAN G)", lambda: nn.Dense(100, 256), (n, 100)),
        ("Dense 1024→784 (GAN G)", lambda: nn.Dense(1024, 784), (n, 1024)),
        ("Dense 784→1024 (GAN D)", lambda: nn.Dense(784, 1024), (n, 784)),
        ("Dense 100→6272 (DCGAN G)", lambda: nn.Dense(100, 6272), (n, 100)),
        ("Dense 6272→1 (DCGAN D)", lambda: nn.Dense(6272, 1), (n, 6272)),
        ("BatchNorm(6272), 2-D input", lambda: nn.BatchNorm(6272), (n, 6272)),
        ("BatchNorm(64), 4-D input", lambda: nn.BatchNorm(64), (n, 64, 14, 14)),
        ("BatchNorm(128), 4-D input", lambda: nn.BatchNorm(128), (n, 128, 14, 14)),
        ("BatchNorm(64), eval mode", lambda: nn.BatchNorm(64).eval(), (n, 64, 14, 14)),
        ("ReLU", nn.ReLU, (n, 1024)),
        ("LeakyReLU(0.2)", lambda: nn.LeakyReLU(0.2), (n, 64, 14, 14)),
        ("Tanh", nn.Tanh, (n, 1, 28, 28)),
        ("Dropout(0.3)", lambda: nn.Dropout(0.3), (n, 64, 14, 14)),
        ("Flatten", nn.Flatten, (n, 128, 7, 7)),
        ("Reshape((128, 7, 7))", lambda: nn.Reshape((128, 7, 7)), (n, 6272)),
        ("UpSampling2D(2)", lambda: nn.UpSampling2D(2), (n, 128, 7, 7)),
        ("Conv2D 128→64 5×5 same", lambda: nn.Conv2D(128, 64, 5, padding="same"), (n, 128, 14, 14)),
        ("Conv2D 64→1 5×5 same", lambda: nn.Conv2D(64, 1, 5, padding="same"), (n, 64, 28, 28)),
        ("Conv2D 1→64 5×5 s2 same", lambda: nn.Conv2D(1, 64, 5, 2, "same"), (n, 1, 28, 28)),
        ("Conv2D 64→128 5×5 s2 same", lambda: nn.Conv2D(64, 128, 5, 2, "same"), (n, 64, 14, 14)),
        ("ConvTranspose2D 256→128 3×3 s2", lambda: nn.ConvTranspose2D(256, 128, 3, 2, 1, 1), (n, 256, 7, 7)),
        ("ConvTranspose2D 128→64 3×3 s1", lambda: nn.ConvTranspose2D(128, 64, 3, 1, 1), (n, 128, 14, 14)),
        ("ConvTranspose2D 64→1 3×3 s2", lambda: nn.ConvTranspose2D(64, 1, 3, 2, 1, 1), (n, 64, 14, 14)),
    ]


def loss_cases(n):
    """(row name, loss of a tensor, input shape)."""
    ones = np.ones((n, 1), np.float32)
    labels = np.arange(n) % 10
    return [
        ("binary_cross_entropy_with_logits", lambda x: F.binary_cross_entropy_with_logits(x, ones), (n, 1)),
        ("cross_entropy, 10 classes", lambda x: F.cross_entropy(x, labels), (n, 10)),
    ]


def synchronize():
    if minigrad.get_backend() == "cupy":
        import cupy
        cupy.cuda.get_current_stream().synchronize()


def median_ms(run, repeat, before=lambda: None):
    """Median wall time of run() over `repeat` runs (two warm-up runs first)."""
    times = []
    for i in range(repeat + 2):
        state = before()
        synchronize()
        start = time.perf_counter()
        run(state)
        synchronize()
        if i >= 2:
            times.append(time.perf_counter() - start)
    return 1e3 * statistics.median(times)


def time_function(fn, shape, repeat):
    rng = np.random.default_rng(0)
    x = minigrad.tensor(rng.standard_normal(shape), requires_grad=True)
    forward_ms = median_ms(lambda _: fn(x), repeat)
    y = fn(x)
    gy = minigrad.tensor(rng.standard_normal(y.shape)) if y.size > 1 else None

    def forward_only():
        x.grad = None
        return fn(x)

    backward_ms = median_ms(lambda y: y.backward(gy), repeat, before=forward_only)
    return forward_ms, backward_ms, tuple(y.shape)


def time_adam_step(n, repeat):
    """One Adam step over the DCGAN generator and discriminator's parameters."""
    layers = [nn.Dense(100, 6272), nn.BatchNorm(6272), nn.Conv2D(128, 64, 5), nn.BatchNorm(64),
              nn.Conv2D(64, 1, 5), nn.Conv2D(1, 64, 5), nn.Conv2D(64, 128, 5), nn.Dense(6272, 1)]
    params = nn.Sequential(*layers).parameters()
    for p in params:
        p.grad = minigrad.get_array_module(p.data).ones_like(p.data)
    opt = optim.Adam(params, lr=2e-4, betas=(0.5, 0.999))
    return median_ms(lambda _: opt.step(), repeat), sum(p.size for p in params)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--backend", default="numpy", choices=["numpy", "cupy"])
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--repeat", type=int, default=20, help="runs per timing (median shown)")
    parser.add_argument("--layer", default="", help="only rows whose name contains this")
    args = parser.parse_args(argv)
    minigrad.set_backend(args.backend)
    minigrad.manual_seed(0)
    n = args.batch_size

    print(f"Backend {args.backend}, batch {n}, float32, median of {args.repeat} runs\n")
    print("| layer | input → output | fwd ms | bwd ms |")
    print("|---|---|---:|---:|")
    cases = [(name, make(), shape) for name, make, shape in layer_cases(n)
             if args.layer.lower() in name.lower()]
    cases += [(name, fn, shape) for name, fn, shape in loss_cases(n)
              if args.layer.lower() in name.lower()]
    for name, fn, shape in cases:
        forward_ms, backward_ms, out_shape = time_function(fn, shape, args.repeat)
        print(f"| {name} | {shape} → {out_shape} | {forward_ms:.3f} | {backward_ms:.3f} |", flush=True)
    if args.layer.lower() in "adam.step":
        step_ms, count = time_adam_step(n, args.repeat)
        print(f"| Adam.step (DCGAN G+D) | {count:,} parameters | {step_ms:.3f} | – |")


if __name__ == "__main__":
    main()
