"""Shared by the tests that train: an MNIST folder, the real files' folders, the example commands.

The real files are found through $MINIGRAD_DATA only (the folder itself or its
`<dataset>/` subfolder; Fashion-MNIST also in Debian's system folder), never by a path
beside the checkout, so a fresh clone runs the same tests wherever it sits. `mnist_dir` is
the real MNIST when it is found, else small synthetic IDX files whose checksums are made
the expected ones for the test. Nothing is ever downloaded.
"""
import dataclasses
import hashlib
import importlib.util
import json
import os
import struct
from pathlib import Path

import numpy as np
import pytest

from gan import data

ROOT = Path(__file__).resolve().parents[1]
FILES = data.DATASETS["mnist"].files


def real_folder(dataset):
    """The folder of the real `dataset` files, or None (see the module docstring)."""
    env = os.environ.get(data.ENV_VAR)
    candidates = [Path(env) / dataset] if env else []
    if env and (dataset == "mnist" or Path(env).name == dataset):
        # MINIGRAD_DATA itself only for MNIST or a folder named for the dataset: the two
        # datasets' files have the same names.
        candidates.insert(0, Path(env))
    candidates += data.DATASETS[dataset].system_dirs
    return next((folder for folder in candidates
                 if all(data._find(folder, name) for name in FILES.values())), None)


REAL_MNIST = real_folder("mnist")
REAL_FASHION = real_folder("fashion-mnist")
REAL_FOLDERS = {"mnist": REAL_MNIST, "fashion-mnist": REAL_FASHION}


def write_synthetic_mnist(folder, n_train=400, n_test=100, seed=0):
    """Four raw IDX files of random digits-to-be, labels cycling 0..9; returns their MD5s."""
    rng = np.random.default_rng(seed)
    arrays = {"train_images": rng.integers(0, 256, (n_train, 28, 28)), "train_labels": np.arange(n_train) % 10,
              "test_images": rng.integers(0, 256, (n_test, 28, 28)), "test_labels": np.arange(n_test) % 10}
    folder.mkdir(parents=True, exist_ok=True)
    checksums = {}
    for role, name in FILES.items():
        array = arrays[role].astype(np.uint8)
        raw = (struct.pack(">I", 0x0800 | array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
               + array.tobytes())
        (folder / name).write_bytes(raw)
        checksums[name] = hashlib.md5(raw).hexdigest()
    return checksums


@pytest.fixture
def mnist_dir(tmp_path_factory, monkeypatch):
    def refuse(url, timeout=None):
        raise AssertionError(f"a test tried to download {url}")
    monkeypatch.setattr(data, "urlopen", refuse)
    if REAL_MNIST is not None:
        return REAL_MNIST
    folder = tmp_path_factory.mktemp("synthetic-mnist")
    checksums = write_synthetic_mnist(folder)
    spec = dataclasses.replace(data.DATASETS["mnist"], md5=checksums)
    monkeypatch.setitem(data.DATASETS, "mnist", spec)
    return folder


def load_example(name):
    """examples/<name>.py as a module (the examples are scripts, not a package)."""
    spec = importlib.util.spec_from_file_location(f"example_{name}", ROOT / "examples" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_example(name, *argv):
    return load_example(name).main([str(a) for a in argv])


def read_metrics(out):
    return [json.loads(line) for line in (Path(out) / "metrics.jsonl").read_text().splitlines()]
