"""Where a training step's time goes on the GPU: the host (Python, CuPy's launches) or the
kernels. CuPy launches asynchronously, so a step whose host time matches its wall time is
bound by the host, and one whose kernels' time matches it by the GPU.

    python benchmarks/gpu_profile.py --models dcgan,wgan_gp   # on a machine with CuPy

For each model: wall ms per step (synchronised each step), host ms and GPU ms per step
(cupyx.profiler.benchmark), then the functions that took most host time (cProfile).
"""
import argparse
import cProfile
import pstats
import time

import gan_step


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="dcgan")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--top", type=int, default=25, help="functions listed per model")
    args = parser.parse_args()
    from cupyx.profiler import benchmark  # here, so that --help works without CuPy
    for model in args.models.split(","):
        step, synchronize, _ = gan_step.make_ours(model, args.batch_size, "cupy")
        for _ in range(5):
            step()
        synchronize()
        start = time.perf_counter()
        for _ in range(args.steps):
            step()
            synchronize()
        wall = 1e3 * (time.perf_counter() - start) / args.steps
        timing = benchmark(step, n_repeat=args.steps, n_warmup=2)
        host, gpu = 1e3 * timing.cpu_times.mean(), 1e3 * timing.gpu_times.mean()
        print(f"\n## {model}, batch {args.batch_size}: wall {wall:.1f} ms/step, host {host:.1f}, GPU {gpu:.1f}")
        profile = cProfile.Profile()
        profile.enable()
        for _ in range(args.steps):
            step()
        synchronize()
        profile.disable()
        pstats.Stats(profile).sort_stats("tottime").print_stats(args.top)


if __name__ == "__main__":
    main()
