"""Every test runs once per backend named by --backend (default: numpy and strict).

"strict" is NumPy with arrays that refuse to meet plain NumPy arrays, as CuPy's do: a
host array leaking into the device path fails here, on a machine without a GPU.
`--backend cupy` runs the suite on an NVIDIA GPU; without one those tests are skipped.

A test marked `real_data` (`@pytest.mark.real_data("fashion-mnist")`; MNIST when no
dataset is named) reads the real files: it is skipped unless $MINIGRAD_DATA leads to them
(tests/gan_fixtures.py), and `-m real_data` selects exactly these tests.
"""
import os

import pytest

import minigrad
from minigrad import backend as mg_backend
from gan_fixtures import REAL_FOLDERS


def pytest_addoption(parser):
    parser.addoption("--backend", default=os.environ.get("MINIGRAD_TEST_BACKEND", "numpy,strict"),
                     help="comma-separated backends to run every test on (numpy, strict, cupy)")


def pytest_generate_tests(metafunc):
    if "backend" in metafunc.fixturenames:
        names = metafunc.config.getoption("--backend").split(",")
        metafunc.parametrize("backend", names, indirect=True)


@pytest.fixture(autouse=True)
def backend(request):
    name = getattr(request, "param", "numpy")
    if name == "cupy" and not mg_backend.cupy_available():
        pytest.skip(f"no CuPy GPU: {mg_backend._cupy_error}")
    previous = minigrad.get_backend()
    minigrad.set_backend(name)
    minigrad.manual_seed(0)
    yield name
    minigrad.set_backend(previous)


def pytest_runtest_setup(item):
    for mark in item.iter_markers("real_data"):
        for dataset in mark.args or ("mnist",):
            if REAL_FOLDERS[dataset] is None:
                pytest.skip(f"needs the real {dataset} files: set MINIGRAD_DATA to their folder "
                            f"(or to a parent holding {dataset}/); tests never download")
