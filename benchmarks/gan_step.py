"""Time one training step of each GAN, ours against PyTorch, side by side; or profile one.

    python benchmarks/gan_step.py --compare-torch                     # the table in docs/performance.md
    python benchmarks/gan_step.py --backend cupy --compare-torch --capture   # + both captured as CUDA graphs
    python benchmarks/gan_step.py --models dcgan --batch-sizes 64 --steps 20
    python benchmarks/gan_step.py --per-layer dcgan --compare-torch   # where a step's time goes
    python benchmarks/gan_step.py --check-reference                   # PyTorch models == ours?

A step is one iteration of the training loop: the recipe's own step function (gan/models/,
gan/models/*.py: gan_step, sgan_step, projection_step, improved_gan_step, or wgan_gp_step with
its 5 critic steps), Adam, and the moving averages of G and D where the recipe keeps them,
on random images in [-1, 1] (the same batch each time it asks for one); PyTorch's is
benchmarks/torch_reference.py, the same layers, paddings and work. An eager step reads its
numbers on the host, as the loop does; with --capture the step is also timed as the loop's
--capture on takes it (gan/training/stepping.py: a CUDA graph replayed on CuPy, the capture
rules' check on numpy) and, with --compare-torch on CuPy, PyTorch's captured with
torch.cuda.graphs, neither reading its numbers.

How it measures:
- every (framework, model, batch size) runs in its own worker process, so its peak
  resident memory (VmHWM) is its own. "peak" is the whole process; "step" is the peak
  minus the resident memory once the libraries are imported (what the model, its
  optimizer and one step hold).
- the threads are fixed before NumPy or PyTorch loads: OMP/OPENBLAS/MKL_NUM_THREADS and
  torch.set_num_threads are set to --threads.
- a row's workers start together and warm up (--warmup steps), then take turns: --rounds
  rounds of --steps/--rounds steps each, ours first in even rounds and PyTorch first in
  odd ones, so a change in the machine's load hits both. The median over all steps is shown.
- a captured step that fell back to eager is marked †; a worker that died (its error goes
  to stderr) leaves its cells "failed ‡", the rest of the table is measured, and the
  command exits 1.
- with --compare-torch, the floor: the step's FLOPs (PyTorch's flop counter on the twin's
  step: matrix products and convolutions, forward and backward) at the best rate of NumPy's
  float32 GEMM on a square 2048² product in our worker; "ours / floor" says how far the
  step is from doing nothing but GEMMs at their best.
"""
import argparse
import json
import os
import platform
import subprocess
import sys
import time
from typing import NamedTuple

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FRAMEWORKS = {"ours": "ours", "ours-captured": "ours captured", "torch": "PyTorch",
              "torch-graphs": "PyTorch CUDA graphs"}  # worker -> column
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", default=",".join(MODELS), help="comma-separated: " + ", ".join(MODELS))
    parser.add_argument("--batch-sizes", default="64,128", help="comma-separated batch sizes")
    parser.add_argument("--steps", type=int, default=30, help="timed steps per measurement (median shown)")
    parser.add_argument("--warmup", type=int, default=5, help="untimed steps before timing")
    parser.add_argument("--rounds", type=int, default=5, help="turns the timed steps are split into")
    parser.add_argument("--backend", default="numpy", choices=("numpy", "cupy"))
    parser.add_argument("--threads", type=int, default=2, help="CPU threads of NumPy's BLAS and PyTorch")
    parser.add_argument("--compare-torch", action="store_true", help="time PyTorch's identical models too")
    parser.add_argument("--capture", action="store_true",
                        help="also time the step captured (ours; PyTorch's too on CuPy, with CUDA graphs)")
    parser.add_argument("--per-layer", metavar="MODEL", choices=tuple(MODELS),
                        help="instead: forward/backward time of each layer of MODEL at the first batch size")
    parser.add_argument("--check-reference", action="store_true",
                        help="instead: copy our weights into the PyTorch models and compare outputs")
    parser.add_argument("--worker", choices=FRAMEWORKS, help=argparse.SUPPRESS)
    parser.add_argument("--model", help=argparse.SUPPRESS)
    parser.add_argument("--batch-size", type=int, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


# ============================================================================ the workers
def memory_kb(field):
    """VmHWM (peak resident memory) or VmRSS of this process, in kB."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    import resource  # not Linux: ru_maxrss is the peak (kB on Linux, bytes on macOS)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak // 1024 if sys.platform == "darwin" else peak


def random_batch(kind, n):
    """Images in [-1, 1] and labels, the same for both frameworks (host arrays)."""
    import numpy as np
    rng = np.random.default_rng(0)
    images = rng.uniform(-1, 1, (2 * n, 1, 28, 28)).astype(np.float32)
    return images[:n], np.arange(n) % 10, images[n:]


class Row(NamedTuple):
    """A benchmarked model: its recipe (gan/models/), the recipe's options, and whether
    its G and D take the labels too, G(z, y) and D(x, y)."""
    recipe: str
    options: dict
    labels: bool = False


# The benchmarked models, by the name of their row.
MODELS = {"gan": Row("gan", {}), "dcgan": Row("dcgan", {"arch": "infogan-code"}),
          "dcgan-infogan": Row("dcgan", {"arch": "infogan"}),
          "dcgan-keras": Row("dcgan", {"arch": "keras"}), "sgan": Row("sgan", {}),
          "wgan_gp": Row("wgan_gp", {"n_critic": 5, "code": False}),  # the paper's, as its twin
          "cgan": Row("cgan", {"discriminator": "projection"}, labels=True),
          "sgan_improved": Row("sgan_improved", {})}


class FixedBatches:
    """A batch source (gan/training/batches.py's interface) that hands out the same batches."""

    def __init__(self, labeled, labels, unlabeled):
        import numpy as np

        import minigrad
        self.labeled, self.unlabeled = minigrad.tensor(labeled), minigrad.tensor(unlabeled)
        self.labels = minigrad.tensor(labels, dtype=np.int64)

    def next_images(self):
        return self.labeled

    def next_labeled(self):
        return self.labeled, self.labels

    def next_unlabeled(self, for_generator=False):  # G's own real batch: the same one
        return self.unlabeled


def make_ours(kind, n, backend_name, captured=False):
    """A step() running the recipe's step for `kind` on fixed batches, with its default
    settings (learning rates, the moving averages of G and D), as the loop takes it
    (eagerly, reading its numbers; or captured), and what it trains."""
    from types import SimpleNamespace

    import minigrad
    from gan import models
    from gan.training import config, loop, stepping
    from minigrad.random import use_splitmix64
    minigrad.set_backend(backend_name)
    minigrad.manual_seed(0)
    use_splitmix64(captured)  # as the loop's --capture on
    recipe = models.get_recipe(MODELS[kind].recipe)
    options = recipe.options(**MODELS[kind].options) if recipe.options else None
    settings = config.resolved_config(recipe, options, capture="on" if captured else "off")
    nets = loop.build_networks(recipe, settings)
    run = SimpleNamespace(recipe=recipe, nets=nets, batches=FixedBatches(*random_batch(kind, n)),
                          config=settings)
    take_step = (stepping.CapturedSteps if captured else stepping.EagerStep)(run)

    def one_step():  # as gan/training/loop.py's loop does
        numbers = take_step()
        if not captured:
            {name: float(value) for name, value in numbers.items()}

    # why the captured step runs eagerly after all, if it does (minigrad/capture.py falls back)
    one_step.not_captured = lambda: take_step.captured and take_step.captured.eager_because

    synchronize = (lambda: None)
    if backend_name == "cupy":
        import cupy
        synchronize = cupy.cuda.get_current_stream().synchronize
    return one_step, synchronize, nets


def make_torch(kind, n, backend_name, captured=False):
    """PyTorch's twin step, eager (reading its numbers, as ours) or captured as a CUDA graph
    the way torch.cuda.graphs' documentation does it: warm-up on a side stream, capture,
    then one replay per step."""
    import torch

    import torch_reference
    device = "cuda" if backend_name == "cupy" else "cpu"
    torch.manual_seed(0)
    torch_reference.CAPTURABLE = captured
    G, D, step = torch_reference.MODELS[kind](device)
    labeled, labels, unlabeled = random_batch(kind, n)
    labeled, unlabeled = torch.from_numpy(labeled).to(device), torch.from_numpy(unlabeled).to(device)
    labels = torch.from_numpy(labels).to(device)
    batch = (labeled, labels, unlabeled)  # each step reads what it needs
    synchronize = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    if not captured:
        return (lambda: {name: value.item() for name, value in step(*batch).items()}), synchronize, (G, D)
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        for _ in range(3):
            step(*batch)
    torch.cuda.current_stream().wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        step(*batch)
    return graph.replay, synchronize, (G, D)


def timed_steps(step, synchronize, count):
    times = []
    for _ in range(count):
        synchronize()
        start = time.perf_counter()
        step()
        synchronize()
        times.append(1e3 * (time.perf_counter() - start))
    return times


def worker(args):
    """Build one framework's model, warm up, then run steps when the parent asks
    ("run K" on stdin -> a JSON list of K step times in ms; "done" -> memory, exit)."""
    sys.path[:0] = [ROOT, os.path.join(ROOT, "benchmarks")]
    import numpy  # noqa: F401  (imported before the baseline is read)
    torch_side = args.worker.startswith("torch")
    if torch_side:
        import torch
        torch.set_num_threads(args.threads)
    else:
        import minigrad  # noqa: F401
    baseline_kb = memory_kb("VmRSS")
    make = make_torch if torch_side else make_ours
    step, synchronize, _ = make(args.model, args.batch_size, args.backend, args.worker.endswith(("captured", "graphs")))
    timed_steps(step, synchronize, args.warmup)
    print(json.dumps({"ready": True}), flush=True)
    for line in sys.stdin:
        command = line.split()
        if command[0] == "run":
            print(json.dumps(timed_steps(step, synchronize, int(command[1]))), flush=True)
        else:
            result = {"peak_kb": memory_kb("VmHWM"), "baseline_kb": baseline_kb}
            if args.worker == "torch":
                result["flop"] = step_flop(step)
            elif args.worker == "ours":  # here, where the threads are set as for the steps
                result["gemm_peak"] = gemm_peak()
            elif args.worker == "ours-captured":
                result["not_captured"] = step.not_captured() or None
            print(json.dumps(result), flush=True)
            return


def step_flop(step):
    """Floating-point operations of one step (matrix products and convolutions, forward and
    backward, second-order included), counted with the formulas of torch.utils.flop_counter
    on every op the twin's step dispatches. (FlopCounterMode itself tracks modules with
    hooks that refuse WGAN-GP's autograd.grad on a leaf.)"""
    from torch.utils._python_dispatch import TorchDispatchMode
    from torch.utils.flop_counter import flop_registry

    class Counter(TorchDispatchMode):
        flop = 0

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            out = func(*args, **(kwargs or {}))
            count = flop_registry.get(func._overloadpacket)
            if count is not None:
                self.flop += count(*args, **(kwargs or {}), out_val=out)
            return out

    with Counter() as counter:
        step()
    return counter.flop


def gemm_peak(size=2048, repeats=10):
    """FLOP/s of NumPy's float32 matrix product on a square size × size problem: the rate
    a step would run at if all its FLOPs were GEMMs at their best."""
    import numpy
    a = numpy.random.default_rng(0).standard_normal((size, size), dtype=numpy.float32)
    a @ a
    best = min(timed_steps(lambda: a @ a, lambda: None, repeats))
    return 2 * size ** 3 / (best / 1e3)


class Worker:
    """The parent's handle on a worker process."""

    def __init__(self, framework, model, batch_size, args):
        env = dict(os.environ, **{name: str(args.threads) for name in THREAD_VARIABLES})
        command = [sys.executable, os.path.abspath(__file__), "--worker", framework, "--model", model,
                   "--batch-size", str(batch_size), "--warmup", str(args.warmup),
                   "--threads", str(args.threads), "--backend", args.backend]
        self.process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                        text=True, env=env)
        self.times = []

    def ready(self):
        self._read()  # {"ready": true} once built and warmed up

    def _read(self):
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError(f"benchmark worker {self.process.args[3:9]} died (see its error above)")
        return json.loads(line)

    def run(self, count):
        self.process.stdin.write(f"run {count}\n")
        self.process.stdin.flush()
        self.times += self._read()

    def finish(self):
        self.process.stdin.write("done\n")
        self.process.stdin.flush()
        memory = self._read()
        self.process.wait()
        return memory


# ============================================================================ the table
def median(values):
    values = sorted(values)
    middle = len(values) // 2
    return values[middle] if len(values) % 2 else (values[middle - 1] + values[middle]) / 2


def quartiles(values):
    values = sorted(values)
    return values[len(values) // 4], values[(3 * len(values)) // 4]


def measure(model, batch_size, args):
    """{framework: (step times, memory)} for one model and batch size, interleaved. A
    framework whose worker died maps to None (its error is above it, on stderr): one column
    that cannot run (a step PyTorch cannot capture, say) costs its cells, not the table."""
    frameworks = frameworks_of(args)
    results = dict.fromkeys(frameworks)
    # started together, so that their set-ups and warm-ups overlap; the timed runs take turns
    workers = {name: Worker(name, model, batch_size, args) for name in frameworks}

    def attempt(name, action):
        try:
            return action()
        except (RuntimeError, OSError) as error:  # OSError: a pipe to a worker that died
            print(f"gan_step: {model}, {FRAMEWORKS[name]}: {error}", file=sys.stderr)
            workers.pop(name)

    for name in frameworks:
        attempt(name, workers[name].ready)
    per_round = [args.steps // args.rounds + (r < args.steps % args.rounds) for r in range(args.rounds)]
    for r, count in enumerate(per_round):
        for name in (frameworks if r % 2 == 0 else frameworks[::-1]):
            if name in workers:
                attempt(name, lambda: workers[name].run(count))
    for name, w in list(workers.items()):
        results[name] = attempt(name, lambda: (w.times, w.finish()))
    return results


def describe_machine(args):
    import numpy
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as info:
            cpu = next(line.split(":", 1)[1].strip() for line in info if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    versions = f"Python {platform.python_version()}, NumPy {numpy.__version__}"
    if args.compare_torch:
        import torch
        versions += f", PyTorch {torch.__version__}"
    return (f"{cpu}, {os.cpu_count()} cores visible; {versions}; backend {args.backend}, "
            f"{args.threads} threads; median of {args.steps} steps after {args.warmup} warm-up "
            f"steps, in {args.rounds} interleaved rounds")


def frameworks_of(args):
    """The workers a measurement runs side by side."""
    captured = args.capture
    return ["ours"] + (["ours-captured"] if captured else []) + (["torch"] if args.compare_torch else []) \
        + (["torch-graphs"] if args.compare_torch and captured and args.backend == "cupy" else [])


def ratios_of(frameworks):
    """The ratios a row shows: ours (eager, captured) over each PyTorch column."""
    return [(a, b) for a in ("ours", "ours-captured") for b in ("torch", "torch-graphs")
            if a in frameworks and b in frameworks and (a, b) != ("ours", "torch-graphs")]


def print_table(args):
    models, batch_sizes = args.models.split(","), [int(b) for b in args.batch_sizes.split(",")]
    print(describe_machine(args))
    print(f"load average before: {os.getloadavg()[0]:.2f}\n")
    frameworks = frameworks_of(args)
    columns = ["model", "batch", *(f"{FRAMEWORKS[name]} ms/step (IQR)" for name in frameworks),
               *(f"{FRAMEWORKS[a]} / {FRAMEWORKS[b]}" for a, b in ratios_of(frameworks))]
    on_host = args.backend != "cupy"  # memory and the GEMM floor are the host's: not a GPU step's
    if on_host:
        columns += ["ours peak MB (step)"] + (["PyTorch peak MB (step)"] if args.compare_torch else [])
    if args.compare_torch and on_host:  # the FLOPs come from PyTorch's counter, on the twin
        columns += ["GFLOP/step", "GEMM peak GFLOP/s", "floor ms", "ours / floor"]
    print("| " + " | ".join(columns) + " |")
    print("|" + "|".join("---" if i < 2 else "---:" for i in range(len(columns))) + "|")
    eager_after_all, failed = [], []  # (model, why) where the captured step fell back to eager
    for batch_size in batch_sizes:
        for model in models:
            results = measure(model, batch_size, args)
            ran = {name: result for name, result in results.items() if result is not None}
            failed += [(model, name) for name in frameworks if name not in ran]
            cells = [model, str(batch_size)]
            for name in frameworks:
                if name not in ran:
                    cells.append("failed ‡")
                    continue
                low, high = quartiles(ran[name][0])
                why = ran[name][1].get("not_captured")
                if why:
                    eager_after_all.append((model, why))
                cells.append(f"{median(ran[name][0]):.2f} ({low:.1f}–{high:.1f}){' †' if why else ''}")
            for a, b in ratios_of(frameworks):
                cells.append(f"{median(ran[a][0]) / median(ran[b][0]):.2f}" if a in ran and b in ran else "—")
            for name in (("ours", "torch") if args.compare_torch else ("ours",)) if on_host else ():
                memory = ran[name][1] if name in ran else None
                cells.append(f"{memory['peak_kb'] / 1024:.0f} ({(memory['peak_kb'] - memory['baseline_kb']) / 1024:.0f})"
                             if memory else "—")
            if args.compare_torch and on_host:  # floor: the step's FLOPs at NumPy's best GEMM rate
                if "torch" in ran and "ours" in ran:
                    flop, peak = ran["torch"][1]["flop"], ran["ours"][1]["gemm_peak"]
                    floor_ms = 1e3 * flop / peak
                    cells += [f"{flop / 1e9:.1f}", f"{peak / 1e9:.0f}", f"{floor_ms:.0f}",
                              f"{median(ran['ours'][0]) / floor_ms:.1f}"]
                else:
                    cells += ["—"] * 4
            print("| " + " | ".join(cells) + " |", flush=True)
    for model, why in eager_after_all:
        print(f"\n† {model}: not captured, so that column is an eager step: {why}")
    for model, name in failed:
        print(f"\n‡ {model}: {FRAMEWORKS[name]} did not run: its worker's error is above, on stderr")
    print(f"\nload average after: {os.getloadavg()[0]:.2f}")
    return 1 if failed else 0  # a column that did not run fails the command, after the table


# ============================================================================ per layer
def profile_ours(model, batch_size, args):
    """Forward and backward ms per step of every layer of our model, plus the rest."""
    import numpy

    import minigrad
    from minigrad.tensor import Function
    step, synchronize, nets = make_ours(model, batch_size, args.backend)

    forward_ms, backward_ms, current, float64_ops = {}, {}, [None], set()
    names = {}

    def time_layer(module, name, method="forward"):
        forward = getattr(module, method)

        def timed_forward(*inputs):
            current[0] = name
            start = time.perf_counter()
            y = forward(*inputs)
            forward_ms[name] = forward_ms.get(name, 0) + 1e3 * (time.perf_counter() - start)
            current[0] = None
            return y
        setattr(module, method, timed_forward)
        if method == "forward" and hasattr(module, "forward_upsampled"):
            time_layer(module, name, "forward_upsampled")  # a Conv2D run fused with the upsampling before it

    for prefix, net in (("G", nets.generator), ("D", nets.discriminator)):
        for name, module in net.named_modules():
            if not module.children():
                row = f"{prefix}.{name.removeprefix('net.')} {module!r}"
                names[row] = len(names)
                time_layer(module, row)

    apply = Function.apply.__func__

    def tagged_apply(cls, *inputs, **params):
        out = apply(cls, *inputs, **params)
        if out.dtype == numpy.float64:
            float64_ops.add(cls.__name__)
        if out._ctx is not None:
            out._ctx[0].layer = current[0] or f"(outside layers) {cls.__name__}"
        return out
    Function.apply = classmethod(tagged_apply)

    def time_backward(cls, method):
        backward = getattr(cls, method)

        def timed_backward(op, *args, **kwargs):
            start = time.perf_counter()
            gx = backward(op, *args, **kwargs)
            backward_ms[op.layer] = backward_ms.get(op.layer, 0) + 1e3 * (time.perf_counter() - start)
            return gx
        setattr(cls, method, timed_backward)

    def subclasses(cls):
        for sub in cls.__subclasses__():
            yield sub
            yield from subclasses(sub)
    for cls in subclasses(Function):
        for method in ("backward", "backward_graph"):  # backward_graph: create_graph=True
            if method in cls.__dict__:
                time_backward(cls, method)

    for label, optimizer in (("Adam.step (G)", nets.g_optimizer), ("Adam.step (D)", nets.d_optimizer)):
        def timed_step(optimizer_step=optimizer.step, label=label):
            start = time.perf_counter()
            optimizer_step()
            forward_ms[label] = forward_ms.get(label, 0) + 1e3 * (time.perf_counter() - start)
        optimizer.step = timed_step

    timed_steps(step, synchronize, args.warmup)
    forward_ms.clear(), backward_ms.clear()
    total = sum(timed_steps(step, synchronize, args.steps))
    minigrad_rows = {**{k: (v, backward_ms.get(k, 0)) for k, v in forward_ms.items()},
                     **{k: (0, v) for k, v in backward_ms.items() if k not in forward_ms}}
    return minigrad_rows, total, names, float64_ops


def print_profile(args):
    model, batch_size = args.per_layer, int(args.batch_sizes.split(",")[0])
    for name in THREAD_VARIABLES:
        os.environ[name] = str(args.threads)
    sys.path[:0] = [ROOT, os.path.join(ROOT, "benchmarks")]
    print(describe_machine(args))
    print(f"\nOurs, {model}, batch {batch_size}: ms per step, summed over every call of the layer "
          "(D runs three times per step). Forward includes the op's Python call; backward is "
          "the op's backward only (under create_graph, its backward_graph, which computes the "
          "gradient as new ops). Sorted by total.\n")
    rows, total, names, float64_ops = profile_ours(model, batch_size, args)
    steps = args.steps
    print("| layer | forward ms | backward ms | total ms | share |")
    print("|---|---:|---:|---:|---:|")
    accounted = 0
    for name, (fwd, bwd) in sorted(rows.items(), key=lambda item: -sum(item[1])):
        accounted += fwd + bwd
        print(f"| {name} | {fwd / steps:.2f} | {bwd / steps:.2f} | {(fwd + bwd) / steps:.2f} | "
              f"{100 * (fwd + bwd) / total:.0f}% |")
    rest = total - accounted
    print(f"| the rest: engine (graph walk, gradient sums), losses' Python, .item() | | | "
          f"{rest / steps:.2f} | {100 * rest / total:.0f}% |")
    print(f"| **step** | | | **{total / steps:.1f}** | 100% |")
    print(f"\nops that produced float64 arrays: {', '.join(sorted(float64_ops)) or 'none'}")

    if args.compare_torch:
        import torch
        torch.set_num_threads(args.threads)
        step, synchronize, _ = make_torch(model, batch_size, args.backend)
        timed_steps(step, synchronize, args.warmup)
        from torch.profiler import ProfilerActivity, profile
        with profile(activities=[ProfilerActivity.CPU], record_shapes=True) as prof:
            torch_total = sum(timed_steps(step, synchronize, args.steps))
        print(f"\nPyTorch, {model}, batch {batch_size}: {torch_total / steps:.1f} ms per step "
              "(under the profiler); the ops taking most time, per step:\n")
        table = prof.key_averages(group_by_input_shape=True).table(
            sort_by="self_cpu_time_total", row_limit=15, max_name_column_width=40,
            max_shapes_column_width=60)
        print(table)


# ============================================================================ the reference
def check_reference():
    """Copy our parameters and floating-point buffers (BatchNorm's running statistics, the
    weight-normalised layers' fixed g) into PyTorch's models and compare outputs in eval mode."""
    sys.path[:0] = [ROOT, os.path.join(ROOT, "benchmarks")]
    import numpy as np
    import torch

    import minigrad
    import torch_reference
    from gan import models
    from gan.training.recipe import host_latent
    rng = np.random.default_rng(0)
    worst = 0.0
    for kind, row in MODELS.items():
        recipe = models.get_recipe(row.recipe)
        G, D = recipe.networks(recipe.options(**row.options) if recipe.options else None)
        torch_G, torch_D, _ = torch_reference.MODELS[kind]()
        z = host_latent(rng, (8, recipe.latent_dim), recipe.latent)
        x = rng.uniform(-1, 1, (8, 1, 28, 28)).astype(np.float32)
        labels = (np.arange(8) % 10,) if row.labels else ()
        for ours, theirs, inputs in ((G, torch_G, (z, *labels)), (D, torch_D, (x, *labels))):
            # Away from the initial values (γ 1, β and biases 0, running variance 1, g = ‖v‖),
            # which would hide a twin that skips a layer's scale, shift or statistics.
            for p in ours.parameters():
                p.data = (p.data * rng.uniform(0.5, 1.5, p.shape)
                          + rng.normal(0, 0.01, p.shape)).astype(p.dtype)
            for _, b in ours.named_buffers():
                b *= rng.uniform(0.5, 1.5, b.shape).astype(b.dtype)
            arrays = [p.numpy() for p in ours.parameters()] + [
                minigrad.backend.to_numpy(b) for _, b in ours.named_buffers()]
            torch_arrays = list(theirs.parameters()) + [
                b for b in theirs.buffers() if b.dtype.is_floating_point]  # not the batch counter
            shapes, torch_shapes = [a.shape for a in arrays], [tuple(t.shape) for t in torch_arrays]
            if shapes != torch_shapes:
                raise SystemExit(f"{kind} {type(ours).__name__}: parameter and buffer shapes differ: "
                                 f"ours {shapes}, PyTorch {torch_shapes}")
            with torch.no_grad():
                for a, torch_a in zip(arrays, torch_arrays):
                    torch_a.copy_(torch.from_numpy(a))
            ours.eval(), theirs.eval()
            with minigrad.no_grad():
                ys = ours(*(minigrad.tensor(a, dtype=a.dtype) for a in inputs))  # labels int64
            with torch.no_grad():
                torch_ys = theirs(*(torch.from_numpy(a) for a in inputs))
            if not isinstance(ys, tuple):  # a two-headed D returns (logit, class logits)
                ys, torch_ys = (ys,), (torch_ys,)
            y = ys[0].numpy()
            difference = max(float(np.abs(a.numpy() - b.numpy()).max()) for a, b in zip(ys, torch_ys))
            worst = max(worst, difference)
            print(f"{kind:13s} {type(ours).__name__:24s} output {y.shape}: max |ours − PyTorch| = {difference:.1e}")
    if worst > 1e-4:
        raise SystemExit("the PyTorch reference computes something else than our models")


def main(argv=None):
    args = parse_args(argv)
    if args.worker:
        return worker(args)
    if args.check_reference:
        return check_reference()
    if args.per_layer:
        return print_profile(args)
    return print_table(args)


if __name__ == "__main__":
    sys.exit(main())
