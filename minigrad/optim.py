"""Optimizers: SGD (with momentum) and Adam, as PyTorch defines them.

An optimizer holds a list of parameters (Tensors) and updates `p.data` in place from
`p.grad` in `step()`. `p.grad` itself is never written to: other code may alias it.
Parameters whose grad is None are skipped, as in PyTorch.

state_dict() is flat and plain: hyperparameters as numbers, and per-parameter state
under "state.<index>.<name>" (index in the parameter list, never id()), as host NumPy
arrays and ints, so a checkpoint can store it in an .npz/JSON and load it on any backend.

capturable=True (as PyTorch's): everything a step reads or changes lives on the device, so
that the step can be captured into a CUDA graph and replayed (docs/capture.md). The step
counts are 0-d int64 arrays advanced in place (views of one vector, one entry per
parameter, so that Adam's kernel advances them all at once), the learning rate a 0-d
float64 array that `optimizer.lr = x` writes in place (a schedule still works between
replays), and the bias corrections are computed from them on the device. The state_dict
is the same (steps as ints), so checkpoints move between the two modes. The other
hyperparameters are constants of the captured kernels: set them before capturing.
"""
import math

import numpy

from . import backend, kernels
from .tensor import Tensor


class Optimizer:
    """What SGD and Adam share: the parameter list, zero_grad, saving and loading state."""

    hyperparameters = ("lr",)

    def __init__(self, params, capturable=False):
        self.params = list(params)
        if not self.params:
            raise ValueError(f"{type(self).__name__}: got an empty parameter list")
        for i, p in enumerate(self.params):
            if not isinstance(p, Tensor) or not p.requires_grad:
                raise TypeError(f"{type(self).__name__}: parameter {i} is not a Tensor with "
                                "requires_grad=True (pass model.parameters())")
        self.capturable = capturable
        self._lr = None  # a float, or (capturable) a 0-d float64 array on the parameters' device
        self.state = {}  # parameter index -> {"step": int or 0-d array, array name: backend array}
        self._steps = None  # capturable: every parameter's step count, an int64 vector on the device

    @property
    def lr(self):
        """The learning rate, a float (read from the device when capturable)."""
        return float(backend.to_numpy(self._lr)) if self.capturable else self._lr

    @lr.setter
    def lr(self, value):
        if not self.capturable:
            self._lr = value
        elif self._lr is None:
            self._lr = self._device_full(value, numpy.float64)
        else:
            self._lr[...] = value  # in place: a captured step reads this very array

    def _device_full(self, value, dtype, shape=()):
        return backend.get_array_module(self.params[0].data).full(shape, value, dtype=dtype)

    def _new_step_count(self, i, value=0):
        """Parameter i's step count: an int, or (capturable) entry i of the device vector of
        counts, as a 0-d view that `+= 1` advances in place."""
        if not self.capturable:
            return value
        if self._steps is None:
            self._steps = self._device_full(0, numpy.int64, len(self.params))
        self._steps[i] = value
        return self._steps[i, ...]

    def zero_grad(self):
        for p in self.params:
            p.grad = None

    def step(self):
        for i, p in enumerate(self.params):
            if p.grad is not None:
                if i not in self.state:  # its first step
                    self.state[i] = {"step": self._new_step_count(i)}
                self._update(i, p, self.state[i])

    def _update(self, i, p, state):
        """Update parameter i, p, from p.grad and its state."""
        raise NotImplementedError

    def state_dict(self):
        """Hyperparameters and per-parameter state as plain host data."""
        out = {name: _plain(getattr(self, name)) for name in self.hyperparameters}
        for i, state in self.state.items():
            for name, value in state.items():
                out[f"state.{i}.{name}"] = (int(value) if name == "step"
                                            else numpy.array(backend.to_numpy(value)))
        return out

    def load_state_dict(self, state_dict):
        """Restore a state_dict, putting each array on its parameter's backend and dtype."""
        name = type(self).__name__
        missing = [k for k in self.hyperparameters if k not in state_dict]
        if missing:
            raise ValueError(f"{name}.load_state_dict: missing keys {missing}")
        states = {}
        for key, value in state_dict.items():
            if key in self.hyperparameters:
                continue
            parts = key.split(".")
            if len(parts) != 3 or parts[0] != "state" or not parts[1].isdigit() \
                    or int(parts[1]) >= len(self.params):
                raise ValueError(f"{name}.load_state_dict: unexpected key {key!r} (this "
                                 f"optimizer has {len(self.params)} parameters)")
            i, entry = int(parts[1]), parts[2]
            p = self.params[i]
            if entry == "step":
                value = int(value)  # made a device count below, once every key is known good
            else:
                value = value.data if isinstance(value, Tensor) else value
                host = backend.to_numpy(value) if hasattr(value, "shape") else numpy.asarray(value)
                if host.shape != p.shape:
                    raise ValueError(f"{name}.load_state_dict: {key} has shape {host.shape}, "
                                     f"parameter {i} has shape {p.shape}")
                value = backend.get_array_module(p.data).array(host, dtype=p.dtype)
            states.setdefault(i, {})[entry] = value
        for name_ in self.hyperparameters:
            value = state_dict[name_]
            setattr(self, name_, tuple(value) if isinstance(value, (list, tuple)) else value)
        for i, state in states.items():
            if "step" in state:
                state["step"] = self._new_step_count(i, state["step"])
        self.state = states
        return self


def _plain(value):
    """A hyperparameter as JSON-able numbers (tuples become lists)."""
    if isinstance(value, (tuple, list)):
        return [float(v) for v in value]
    return float(value)


class SGD(Optimizer):
    """Stochastic gradient descent, with momentum μ as PyTorch's:
        b ← μ·b + g   (b = g on the first step),   p ← p − lr·b
    and plain p ← p − lr·g when μ = 0."""

    hyperparameters = ("lr", "momentum")

    def __init__(self, params, lr, momentum=0.0, capturable=False):
        super().__init__(params, capturable)
        if lr < 0 or momentum < 0:
            raise ValueError(f"SGD: lr and momentum must be ≥ 0, got lr={lr}, momentum={momentum}")
        self.lr, self.momentum = lr, momentum

    def _update(self, i, p, state):
        g = p.grad
        state["step"] += 1  # in place when it is a device scalar
        if self.momentum:
            if "momentum_buffer" not in state:
                state["momentum_buffer"] = backend.get_array_module(g).array(g, dtype=p.dtype)
            else:
                buffer = state["momentum_buffer"]
                buffer *= self.momentum
                buffer += g
            g = state["momentum_buffer"]
        # lr in p's dtype: the device scalar cast as NumPy casts the Python float
        lr = self._lr.astype(p.dtype) if self.capturable else self.lr
        p.data -= lr * g


class Adam(Optimizer):
    """Adam (Kingma & Ba, 2015) as PyTorch's, for gradient g of parameter p at step t:
        g ← g + weight_decay·p              (L2 penalty added to the gradient)
        m ← β₁·m + (1 − β₁)·g               v ← β₂·v + (1 − β₂)·g²
        m̂ = m / (1 − β₁ᵗ)                   v̂ = v / (1 − β₂ᵗ)
        p ← p − lr·m̂ / (√v̂ + ε)
    DCGAN uses lr=2e-4, betas=(0.5, 0.999)."""

    hyperparameters = ("lr", "betas", "eps", "weight_decay")

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0,
                 capturable=False):
        super().__init__(params, capturable)
        if lr < 0 or eps < 0 or weight_decay < 0 or not all(0 <= b < 1 for b in betas):
            raise ValueError(f"Adam: need lr, eps, weight_decay ≥ 0 and 0 ≤ betas < 1; got "
                             f"lr={lr}, betas={betas}, eps={eps}, weight_decay={weight_decay}")
        self.lr, self.betas, self.eps, self.weight_decay = lr, tuple(betas), eps, weight_decay
        self._corrections = None  # capturable, on the GPU: (step sizes, ε̂s), a float64 entry per parameter

    def step(self):
        if self.capturable and kernels.fused(self.params[0].data) and len(self.state) == len(self.params) \
                and all(p.grad is not None for p in self.params):
            # every parameter steps: one kernel advances every count and computes every bias
            # correction, then one kernel per parameter (else a kernel of each per parameter)
            ADAM_SCALARS(self._lr, *self.betas, self.eps, self._steps, *self._bias_corrections())
            for i, p in enumerate(self.params):
                self._update(i, p, self.state[i], counted=True)
        else:
            super().step()

    def _bias_corrections(self):
        if self._corrections is None:
            n = len(self.params)
            self._corrections = (self._device_full(0, numpy.float64, n), self._device_full(0, numpy.float64, n))
        return self._corrections

    def _update(self, i, p, state, counted=False):
        xp = backend.get_array_module(p.data)
        beta1, beta2 = self.betas
        g = p.grad if not self.weight_decay else p.grad + self.weight_decay * p.data
        if "exp_avg" not in state:
            state["exp_avg"], state["exp_avg_sq"] = xp.zeros_like(p.data), xp.zeros_like(p.data)
        fused = kernels.fused(p.data)  # one kernel on the GPU, for the passes below
        if self.capturable and fused:  # the step count and the bias correction in kernels
            step_sizes, eps_hats = self._bias_corrections()
            if not counted:  # this parameter's count alone
                ADAM_SCALARS(self._lr, beta1, beta2, self.eps, state["step"], step_sizes[i, ...], eps_hats[i, ...])
            CAPTURABLE_ADAM(g, beta1, beta2, 1 - beta1, 1 - beta2, step_sizes, eps_hats, i,
                            p.data, state["exp_avg"], state["exp_avg_sq"])
            return
        state["step"] += 1  # in place when it is a device scalar
        t = state["step"]
        # lr·m̂/(√v̂ + ε) = (lr·c/(1 − β₁ᵗ))·m / (√v + ε·c)   with c = √(1 − β₂ᵗ)
        if self.capturable:  # the same, on device scalars, rounded to p's dtype as below
            c = xp.sqrt(1 - beta2 ** t)
            step_size = (self._lr * c / (1 - beta1 ** t)).astype(p.dtype)
            eps = (self.eps * c).astype(p.dtype)
        else:
            c = math.sqrt(1 - beta2 ** t)
            step_size, eps = self.lr * c / (1 - beta1 ** t), self.eps * c
        if fused:
            ADAM(g, beta1, beta2, 1 - beta1, 1 - beta2, step_size, eps,
                 p.data, state["exp_avg"], state["exp_avg_sq"])
            return
        # Every pass in place, through one scratch array: a fresh temporary per term
        # (allocation, first-touch page faults) costs more than the arithmetic (3× here).
        for p_, g_, m, v, scratch in cache_sized_pieces(p.data, g, state["exp_avg"], state["exp_avg_sq"]):
            xp.multiply(g_, 1 - beta1, out=scratch)
            m *= beta1
            m += scratch                        # m ← β₁·m + (1 − β₁)·g
            xp.multiply(g_, g_, out=scratch)
            scratch *= 1 - beta2
            v *= beta2
            v += scratch                        # v ← β₂·v + (1 − β₂)·g²
            xp.sqrt(v, out=scratch)
            scratch += eps
            xp.divide(m, scratch, out=scratch)
            scratch *= step_size
            p_ -= scratch


# The passes of Adam._update as one kernel each, the same arithmetic in the same order
# (bit for bit on the CPU; the GPU may fuse a multiply-add): on a GPU each pass is a kernel
# launch whose host time is more than its work on these models' small tensors.
ADAM_PASSES = """m = m * beta1 + g * one_minus_beta1;
    v = v * beta2 + g * g * one_minus_beta2;
    p -= m / (sqrt(v) + EPS) * STEP_SIZE;"""

ADAM = kernels.Kernel(
    "T g, T beta1, T beta2, T one_minus_beta1, T one_minus_beta2, T step_size, T eps",
    "T p, T m, T v",
    ADAM_PASSES.replace("EPS", "eps").replace("STEP_SIZE", "step_size"),
    "minigrad_adam")

# capturable=True: every changing value read from the device, so that a replayed graph
# counts its steps and sees a new lr. ADAM_SCALARS (a thread per step count, for one
# parameter or all): t ← t + 1 in place, then step_size = lr·c/(1 − β₁ᵗ) and ε̂ = ε·c,
# c = √(1 − β₂ᵗ), in float64 as on the host; CAPTURABLE_ADAM: ADAM's passes for parameter
# k, its step_size and ε̂ read from entry k of those vectors and rounded to p's dtype as the
# eager path rounds its host floats.
ADAM_SCALARS = kernels.Kernel(
    "float64 lr, float64 beta1, float64 beta2, float64 eps", "int64 t, float64 step_size, float64 eps_hat",
    """t += 1;
    const double c = sqrt(1.0 - pow(beta2, (double)t));
    step_size = lr * c / (1.0 - pow(beta1, (double)t));
    eps_hat = eps * c;""",
    "minigrad_adam_scalars")

CAPTURABLE_ADAM = kernels.Kernel(
    "T g, T beta1, T beta2, T one_minus_beta1, T one_minus_beta2, raw float64 step_size, "
    "raw float64 eps_hat, int64 k", "T p, T m, T v",
    ADAM_PASSES.replace("EPS", "(T)eps_hat[k]").replace("STEP_SIZE", "(T)step_size[k]"),
    "minigrad_capturable_adam")


CACHE_PIECE = 1 << 18  # elements: 1 MB of float32 per array


def cache_sized_pieces(param, grad, *state):
    """(param, grad, *state, scratch) as flat pieces of CACHE_PIECE elements, the same
    positions in each, for an update made of many elementwise passes. A piece of all of them
    (5 MB for Adam) stays in the CPU's cache from the first pass to the last, so memory is
    streamed once, not once per pass: 1.6× faster for a 6.5-million-parameter layer. On a
    GPU, or when param or a state array is not C-contiguous (flat views would be copies, and
    writes to them lost), a single piece: the arrays themselves."""
    xp = backend.get_array_module(param)
    if xp is not numpy or not all(a.flags.c_contiguous for a in (param, *state)):
        yield (param, grad, *state, xp.empty_like(param))
        return
    flat = [param.reshape(-1), xp.ascontiguousarray(grad).reshape(-1), *(a.reshape(-1) for a in state)]
    scratch = xp.empty(min(param.size, CACHE_PIECE), dtype=param.dtype)
    for start in range(0, param.size, CACHE_PIECE):
        pieces = [a[start:start + CACHE_PIECE] for a in flat]
        yield (*pieces, scratch[:len(pieces[0])])
