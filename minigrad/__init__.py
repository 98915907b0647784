"""minigrad: a tensor library with reverse-mode automatic differentiation, on NumPy or CuPy.

    import minigrad
    x = minigrad.tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = (x * x).sum()
    y.backward()          # x.grad == 2x
"""
from . import functional, host_memory
from .backend import get_array_module, get_backend, set_backend
from .gradcheck import GradcheckError, gradcheck, gradgradcheck
from .random import manual_seed
from .tensor import (Function, Tensor, enable_grad, float32, float64, grad, is_grad_enabled,
                     no_grad, tensor)
from . import capture, nn, optim  # after .tensor: layers are built on Tensor

__all__ = ["Tensor", "tensor", "Function", "no_grad", "enable_grad", "is_grad_enabled", "grad",
           "functional", "nn", "optim", "capture", "gradcheck", "gradgradcheck", "GradcheckError",
           "set_backend", "get_backend",
           "get_array_module", "manual_seed", "float32", "float64"]
__version__ = "0.1.0"

host_memory.keep_freed_memory()  # large temporaries reused, not page-faulted in every step
