"""Host memory: let freed NumPy arrays be reused by the next ones, not returned to the kernel.

glibc's malloc gives large blocks (from 128 KiB) to the kernel and back with mmap/munmap,
and trims the top of its heap as soon as 128 KiB of it are free. A training step allocates
and frees the same large temporaries every time (im2col's columns, padded images, the
gradients), so without this each step gets fresh pages from the kernel, which zero-fills
them at the first touch: at the SGAN's sizes that costs more than the copies that fill
them (im2col in its discriminator's second convolution: 2.0 ms in a training step, 0.3 ms
on reused memory). With both thresholds raised, freed blocks stay in the heap for the next
allocation of the step. Peak memory does not grow (it fell by 5-10% in benchmarks/gan_step.py),
but what the process has held is kept until it exits.

Set MINIGRAD_KEEP_FREED_MEMORY=0 to leave malloc as it is. Elsewhere than glibc's Linux
(macOS, Windows, musl) this does nothing.
"""
import ctypes
import os
import sys

M_TRIM_THRESHOLD, M_TOP_PAD, M_MMAP_THRESHOLD = -1, -2, -3  # glibc's <malloc.h>
SETTINGS = {
    M_MMAP_THRESHOLD: 1 << 30,  # blocks up to 1 GiB come from the heap, not from mmap
    M_TRIM_THRESHOLD: 1 << 30,  # and up to 1 GiB of free heap is kept, not trimmed
    M_TOP_PAD: 64 << 20,        # the heap grows 64 MiB at a time (address space, not pages)
}


def keep_freed_memory():
    """Tell glibc's malloc to keep freed blocks for reuse; True if it took the settings."""
    if not sys.platform.startswith("linux") or os.environ.get("MINIGRAD_KEEP_FREED_MEMORY") == "0":
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt  # the C library the interpreter runs on
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    # Setting any of these also turns off glibc's own adaptive threshold, so set all three.
    return all(mallopt(option, value) == 1 for option, value in SETTINGS.items())
