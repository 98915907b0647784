"""Every test runs once per backend named by --backend (default: numpy and strict).

"strict" is NumPy with arrays that refuse to meet plain NumPy arrays, as CuPy's do: a
host array leaking into the device path fails here, on a machine without a GPU.
`--backend cupy` runs the suite on an NVIDIA GPU; without one those tests are skipped.
"""
import os

import pytest

import minigrad
from minigrad import backend as mg_backend


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
