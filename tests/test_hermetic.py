"""The suite runs the same on a fresh clone: no test finds data by a path beside the
checkout, and no test undoes what its fixtures set up."""
import re
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
SOURCES = sorted(p for p in TESTS.glob("*.py") if p.name != Path(__file__).name)  # not its own patterns


@pytest.fixture(autouse=True)
def once(backend):
    if backend != "numpy":
        pytest.skip("reads files: once, under the numpy test backend")


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: p.name)
def test_no_test_undoes_its_fixtures_patches(path):
    # monkeypatch.undo() also undoes the patches of fixtures such as mnist_dir (the synthetic
    # MNIST's checksums): a test's own temporary patches belong in monkeypatch.context().
    lines = [n for n, line in enumerate(path.read_text().splitlines(), 1)
             if re.search(r"\bmonkeypatch\.undo\(\)", line.split("#")[0])]
    assert lines == [], f"{path.name} lines {lines}: use `with monkeypatch.context() as patch:`"


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: p.name)
def test_no_test_looks_for_data_beside_the_checkout(path):
    # A user's clone has no ../shared: real files come through $MINIGRAD_DATA (gan_fixtures.py).
    lines = [n for n, line in enumerate(path.read_text().splitlines(), 1)
             if re.search(r"""\.\./shared|/ *["']shared["']""", line)]
    assert lines == [], f"{path.name} lines {lines}: find real data through MINIGRAD_DATA"
