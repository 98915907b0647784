"""The IDX format of MNIST's files (LeCun et al.): a magic number, the sizes, then the bytes,
gzip-compressed or raw; and the scale its uint8 pixels are trained at, [-1, 1]. gan/data.py
finds, checks and loads the datasets stored in it."""
import gzip
import struct
import zlib
from pathlib import Path

import numpy as np

IMAGES_MAGIC = 0x00000803  # unsigned bytes, 3 dimensions (count, rows, columns)
LABELS_MAGIC = 0x00000801  # unsigned bytes, 1 dimension (count)


class DataError(Exception):
    """A dataset file is missing, damaged or not the one expected; the message says which."""


def read_bytes(path):
    """The content of `path`, decompressed if it is gzip (judged by its first two bytes)."""
    path = Path(path)
    with open(path, "rb") as f:
        head = f.read(2)
    if head != b"\x1f\x8b":
        return path.read_bytes()
    try:
        with gzip.open(path, "rb") as f:
            return f.read()
    except (OSError, EOFError, zlib.error) as e:
        raise DataError(f"{path}: the gzip stream is damaged or cut short ({e})") from None


def parse_idx(raw, source, expected_magic=None):
    """Array from the bytes of an IDX file of unsigned bytes.

    Layout: magic (0x0000 08 <ndim>, big-endian), then ndim big-endian uint32 sizes, then
    prod(sizes) bytes. Anything else (wrong magic, truncated, trailing bytes) raises
    DataError naming `source`.
    """
    if len(raw) < 4:
        raise DataError(f"{source}: {len(raw)} bytes, too short for an IDX header")
    magic = int.from_bytes(raw[:4], "big")
    if expected_magic is not None and magic != expected_magic:
        raise DataError(f"{source}: magic number 0x{magic:08x}, expected 0x{expected_magic:08x} "
                        f"({'images' if expected_magic == IMAGES_MAGIC else 'labels'} IDX file)")
    if raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise DataError(f"{source}: magic number 0x{magic:08x} is not an IDX file of unsigned bytes")
    ndim = raw[3]
    header_size = 4 + 4 * ndim
    if len(raw) < header_size:
        raise DataError(f"{source}: truncated header ({len(raw)} bytes, expected {header_size})")
    shape = struct.unpack(f">{ndim}I", raw[4:header_size])
    expected_size = header_size + int(np.prod(shape, dtype=np.int64))
    if len(raw) != expected_size:
        problem = "truncated" if len(raw) < expected_size else "has trailing bytes"
        raise DataError(f"{source}: {problem}: {len(raw)} bytes, expected {expected_size} "
                        f"for shape {shape}")
    # A copy, so callers get an ordinary writable array, not a view of immutable bytes.
    return np.frombuffer(raw, dtype=np.uint8, offset=header_size).reshape(shape).copy()


# ---------------------------------------------------------------- the pixel scale

def to_unit_range(images):
    """uint8 images (N, 28, 28) or (N, 1, 28, 28) -> float32 (N, 1, 28, 28) in [-1, 1]:
    x / 127.5 - 1, the range of a tanh generator."""
    images = np.asarray(images)
    if images.dtype != np.uint8:
        raise TypeError(f"to_unit_range expects uint8 pixels in 0..255, got {images.dtype} "
                        f"(already scaled?)")
    if images.ndim == 3:
        images = images[:, None]
    if images.ndim != 4 or images.shape[1] != 1:
        raise ValueError(f"expected images (N, H, W) or (N, 1, H, W), got {images.shape}")
    return images.astype(np.float32) / np.float32(127.5) - np.float32(1.0)


def from_unit_range(x):
    """[-1, 1] -> [0, 1] (float32, clipped), for pictures: (x + 1) / 2."""
    return np.clip((np.asarray(x, dtype=np.float32) + 1) / 2, 0, 1)
