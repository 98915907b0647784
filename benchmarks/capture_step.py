"""Time one GAN training step run eagerly and as a captured CUDA graph (minigrad/capture.py).

    python benchmarks/capture_step.py --backend cupy      # on a GPU: ms per step, both ways
    python benchmarks/capture_step.py                     # on the CPU: the rules check's cost

The step is the vanilla GAN's game on its MLPs (G 100→256→512→1024→784 with BatchNorm,
D 784→512→256→1 with Dropout): a discriminator and a generator Adam step (capturable) and
the moving average of G, losses returned as 0-d tensors. Built from minigrad alone, so it
measures the engine, whatever gan/ looks like. Each way runs --warmup steps, then --steps
timed ones (one more warm-up step eagerly: the captured way's capture), so both end on the
same losses; on CuPy the device is synchronised before the clock is read.
"""
import argparse
import time

import numpy as np

import minigrad
from minigrad import functional as F
from minigrad import nn, optim
from minigrad.capture import CapturedStep
from minigrad.random import random_normal, use_splitmix64
from minigrad.tensor import Tensor


def build(batch_size):
    minigrad.manual_seed(0)
    G = nn.Sequential(nn.Dense(100, 256), nn.LeakyReLU(0.2), nn.Dense(256, 512), nn.BatchNorm(512),
                      nn.LeakyReLU(0.2), nn.Dense(512, 1024), nn.BatchNorm(1024), nn.LeakyReLU(0.2),
                      nn.Dense(1024, 784), nn.Tanh())
    D = nn.Sequential(nn.Dense(784, 512), nn.LeakyReLU(0.2), nn.Dropout(0.3), nn.Dense(512, 256),
                      nn.LeakyReLU(0.2), nn.Dropout(0.3), nn.Dense(256, 1))
    g_opt = optim.Adam(G.parameters(), lr=2e-4, betas=(0.5, 0.999), capturable=True)
    d_opt = optim.Adam(D.parameters(), lr=2e-4, betas=(0.5, 0.999), capturable=True)
    g_average = nn.ExponentialMovingAverage(G, 0.999, capturable=True)

    def step(real):
        fake = G(Tensor._wrap(random_normal((real.shape[0], 100), minigrad.float32)))
        d_loss = (F.binary_cross_entropy_with_logits(D(real), 1.0)
                  + F.binary_cross_entropy_with_logits(D(fake.detach()), 0.0))
        d_opt.zero_grad()
        d_loss.backward(inputs=d_opt.params)
        d_opt.step()
        g_loss = F.binary_cross_entropy_with_logits(D(fake), 1.0)
        g_opt.zero_grad()
        g_loss.backward(inputs=g_opt.params)
        g_opt.step()
        g_average.update()
        return {"d_loss": d_loss, "g_loss": g_loss}

    real = minigrad.tensor(np.random.default_rng(0).uniform(-1, 1, (batch_size, 784)))
    return step, (G, D, g_opt, d_opt, g_average), real


def ms_per_step(run, real, warmup, steps, synchronize):
    for _ in range(warmup):
        run(real)
    synchronize()
    start = time.perf_counter()
    for _ in range(steps):
        losses = run(real)
    synchronize()
    elapsed = time.perf_counter() - start
    return 1000 * elapsed / steps, {k: round(v.item(), 4) for k, v in losses.items()}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--backend", default="numpy", choices=("numpy", "strict", "cupy"))
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--warmup", type=int, default=5)
    args = parser.parse_args()
    minigrad.set_backend(args.backend)
    use_splitmix64(args.backend != "cupy")  # the CPU check needs device-style draws
    synchronize = lambda: None  # noqa: E731
    if args.backend == "cupy":
        synchronize = minigrad.backend.backend_module("cupy").cuda.Device().synchronize
    print(f"backend {args.backend}, batch {args.batch_size}, {args.steps} steps after {args.warmup}")
    step, _, real = build(args.batch_size)
    eager, eager_losses = ms_per_step(step, real, args.warmup + 1, args.steps, synchronize)
    print(f"eager     {eager:8.2f} ms/step  last losses {eager_losses}")
    step, objects, real = build(args.batch_size)
    captured_step = CapturedStep(step, *objects, warmup=args.warmup)
    captured, captured_losses = ms_per_step(captured_step, real, args.warmup + 1, args.steps, synchronize)
    way = "captured" if captured_step.graph is not None else "checked" if args.backend != "cupy" else "eager again"
    print(f"{way:9} {captured:8.2f} ms/step  last losses {captured_losses}  ({eager / captured:.2f}x)")
    if captured_step.eager_because:
        print(f"not captured: {captured_step.eager_because}")


if __name__ == "__main__":
    main()
