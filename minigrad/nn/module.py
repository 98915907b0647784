"""Module: a layer or a model, holding parameters, buffers and child modules.

Nothing has to be declared. Every attribute that is a leaf Tensor with requires_grad=True
is a parameter, every attribute that is a Module is a child; both are found in the order
they were assigned (Python keeps attribute order), so `parameters()` has a stable order.
Buffers (BatchNorm's running statistics) are raw arrays registered with
`register_buffer`: saved in state_dict, moved by `to()`, never seen by an optimizer.
"""
import contextlib

import numpy

from .. import backend
from ..tensor import Tensor


class Module:
    """Base class of layers and models: subclass it, assign parameters and layers in
    __init__ (after super().__init__()) and write forward()."""

    training = True     # class-level defaults: a subclass that forgets super().__init__()
    _buffer_names = ()  # still works

    def __init__(self):
        self.training = True
        self._buffer_names = []

    def forward(self, *args, **kwargs):
        raise NotImplementedError(f"{type(self).__name__} must define forward()")

    def __call__(self, *args, **kwargs):
        return self.forward(*args, **kwargs)

    # ------------------------------------------------------------------ what it holds
    def register_buffer(self, name, array):
        """Keep a raw array (not trained) as attribute `name` and in the state_dict."""
        if name not in self._buffer_names:
            self._buffer_names = list(self._buffer_names) + [name]
        setattr(self, name, array)

    def named_children(self):
        return [(name, value) for name, value in vars(self).items() if isinstance(value, Module)]

    def children(self):
        return [module for _, module in self.named_children()]

    def named_modules(self, prefix=""):
        """(dotted name, module) for this module ("") and every descendant, parents first."""
        found = [(prefix, self)]
        for name, child in self.named_children():
            found += child.named_modules(f"{prefix}.{name}" if prefix else name)
        return found

    def modules(self):
        return [module for _, module in self.named_modules()]

    def named_parameters(self, prefix="", _seen=None):
        """(dotted name, Tensor) for every parameter, each once, in the order the
        attributes holding them (or the layers holding them) were assigned."""
        found, seen = [], set() if _seen is None else _seen
        for name, value in vars(self).items():
            full_name = f"{prefix}.{name}" if prefix else name
            if isinstance(value, Module):
                found += value.named_parameters(full_name, seen)
            elif _is_parameter(value) and id(value) not in seen:
                seen.add(id(value))
                found.append((full_name, value))
        return found

    def parameters(self):
        return [p for _, p in self.named_parameters()]

    def named_buffers(self):
        """(dotted name, raw array) for every buffer (running statistics), not trained."""
        return [(f"{prefix}.{name}" if prefix else name, getattr(module, name))
                for prefix, module in self.named_modules()
                for name in module._buffer_names if getattr(module, name) is not None]

    def apply(self, fn):
        """Call fn(module) on every descendant, then on this module (for initializers)."""
        for child in self.children():
            child.apply(fn)
        fn(self)
        return self

    apply_init = apply  # model.apply_init(my_init): the same, named for what it is used for

    # ------------------------------------------------------------------ modes and gradients
    def train(self, mode=True):
        """Training mode (the default): batch statistics in BatchNorm, Dropout on."""
        for module in self.modules():
            module.training = mode
        return self

    def eval(self):
        """Evaluation mode: running statistics in BatchNorm, Dropout off."""
        return self.train(False)

    @contextlib.contextmanager
    def evaluating(self):
        """Evaluation mode for a block, then every module's own mode back, also after an
        exception: `with G.evaluating(): samples = G(z)`. Each module's flag is restored,
        not train() called: a part that was in eval mode before stays in eval mode."""
        modes = [(module, module.training) for module in self.modules()]
        self.eval()
        try:
            yield self
        finally:
            for module, training in modes:
                module.training = training

    def fused_with(self, following):
        """A function computing following(self(x)) faster than the two layers one after the
        other, or None (the default). Sequential asks each layer about the next."""
        return None

    def zero_grad(self):
        for p in self.parameters():
            p.grad = None

    # ------------------------------------------------------------------ device and dtype
    def to(self, backend_name=None, dtype=None):
        """Move every parameter, gradient and buffer to a backend and/or floating dtype,
        in place (the same Tensor objects, so an optimizer keeps working); returns self."""
        def convert(array):
            if backend_name is not None:
                array = backend.to_backend(array, backend_name)
            if dtype is not None and array.dtype.kind == "f":
                array = array.astype(dtype, copy=False)
            return array

        for p in self.parameters():
            p.data = convert(p.data)
            if p.grad is not None:
                p.grad = convert(p.grad)
        for prefix, module in self.named_modules():
            for name in module._buffer_names:
                if getattr(module, name) is not None:
                    setattr(module, name, convert(getattr(module, name)))
        return self

    # ------------------------------------------------------------------ saving and loading
    def state_dict(self):
        """name -> host NumPy array (a copy) for every parameter and buffer."""
        state = {name: numpy.array(backend.to_numpy(p.data)) for name, p in self.named_parameters()}
        state.update((name, numpy.array(backend.to_numpy(a))) for name, a in self.named_buffers())
        return state

    def load_state_dict(self, state):
        """Copy values from a state_dict (host arrays, or arrays of any backend) into this
        module, onto its backend and dtypes. Every key must match, with the same shape."""
        params, buffers = dict(self.named_parameters()), dict(self.named_buffers())
        expected = list(params) + list(buffers)
        missing = [k for k in expected if k not in state]
        unexpected = [k for k in state if k not in params and k not in buffers]
        current = {**{k: p.data for k, p in params.items()}, **buffers}
        mismatched = [f"{k}: expected {tuple(current[k].shape)}, got {_shape(state[k])}"
                      for k in expected if k in state and _shape(state[k]) != current[k].shape]
        if missing or unexpected or mismatched:
            problems = [f"missing keys {missing}"] if missing else []
            problems += [f"unexpected keys {unexpected}"] if unexpected else []
            problems += [f"shape mismatch for {'; '.join(mismatched)}"] if mismatched else []
            raise ValueError(f"{type(self).__name__}.load_state_dict: " + "; ".join(problems))
        for name in expected:
            value = state[name].data if isinstance(state[name], Tensor) else state[name]
            host = backend.to_numpy(value) if hasattr(value, "shape") else numpy.asarray(value)
            like = current[name]
            array = backend.get_array_module(like).array(host, dtype=like.dtype)  # a copy
            if name in params:
                params[name].data = array
            else:
                module_name, _, attr = name.rpartition(".")
                setattr(dict(self.named_modules())[module_name], attr, array)
        return self

    # ------------------------------------------------------------------ printing
    def extra_repr(self):
        """The layer's settings, shown inside its parentheses: override in layers."""
        return ""

    def __repr__(self):
        children = self.named_children()
        if not children:
            return f"{type(self).__name__}({self.extra_repr()})"
        lines = [self.extra_repr()] if self.extra_repr() else []
        for name, child in children:
            lines.append(f"({name}): " + repr(child).replace("\n", "\n  "))
        return f"{type(self).__name__}(\n  " + "\n  ".join(lines) + "\n)"


def _shape(value):
    return tuple(value.shape) if hasattr(value, "shape") else numpy.shape(value)


def _is_parameter(value):
    return isinstance(value, Tensor) and value.requires_grad and value.is_leaf


class Sequential(Module):
    """Layers applied one after the other: Sequential(Dense(2, 4), ReLU(), Dense(4, 1)).
    Indexable (model[0], model[-1], model[1:]), iterable, and len() gives the layer count."""

    def __init__(self, *layers):
        super().__init__()
        for i, layer in enumerate(layers):
            if not isinstance(layer, Module):
                raise TypeError(f"Sequential: argument {i} is a {type(layer).__name__}, "
                                "not a Module (a layer such as Dense(...) or ReLU())")
            setattr(self, str(i), layer)

    def _layers(self):
        return self.children()

    def __len__(self):
        return len(self._layers())

    def __iter__(self):
        return iter(self._layers())

    def __getitem__(self, index):
        layers = self._layers()
        if isinstance(index, slice):
            return Sequential(*layers[index])
        return layers[index]

    def forward(self, x):
        # A layer may compute itself and the next as one faster op (UpSampling2D + Conv2D).
        layers, i = self._layers(), 0
        while i < len(layers):
            fused = layers[i].fused_with(layers[i + 1]) if i + 1 < len(layers) else None
            x = fused(x) if fused else layers[i](x)
            i += 2 if fused else 1
        return x
