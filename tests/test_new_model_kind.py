"""Adding a model kind is adding one module: the walk-through of docs/gan.md ("Adding a model
kind"), taken from the page as a reader would save it, trains for 2 iterations through the
real command line, its own flag included, and gan.sample draws from it once registered."""
import importlib
import json
import re
import types

import numpy as np

from gan import models
from gan.evaluation import sample
from gan.training import checkpoint, cli
from gan_fixtures import ROOT, mnist_dir  # noqa: F401  (a fixture)


def walk_through_module():
    """The python block of docs/gan.md's "Adding a model kind", as the module gan/models/tiny.py."""
    page = (ROOT / "docs" / "gan.md").read_text(encoding="utf-8")
    section = page[page.index("### Adding a model kind"):page.index("## How to run it")]
    (code,) = re.findall(r"^```python\n(.*?)^```", section, re.S | re.M)
    module = types.ModuleType("gan.models.tiny")
    exec(compile(code, "docs/gan.md: gan/models/tiny.py", "exec"), module.__dict__)
    return module


def test_a_model_kind_of_one_module_trains_through_the_command_line(mnist_dir, tmp_path, monkeypatch):
    tiny = walk_through_module()
    out = tmp_path / "tiny"
    assert cli.main(tiny.RECIPE, ["--iterations", "2", "--hidden", "16", "--batch-size", "8", "--limit", "64",
                                  "--out", str(out), "--data-dir", str(mnist_dir)]) == 0
    _, meta = checkpoint.read_training(out / "latest.npz")
    assert meta["kind"] == "tiny" and meta["iteration"] == 2 and meta["config"]["hidden"] == 16
    assert json.loads((out / "config.json").read_text())["flags"]["hidden"] == 16
    monkeypatch.setitem(models.RECIPES, "tiny", tiny.RECIPE)  # as gan/models/ would register it
    assert sample.main(["--checkpoint", str(out), "--n", "5", "--out", str(tmp_path / "s.npz")]) == 0
    images = np.load(tmp_path / "s.npz")["images"]
    assert images.shape == (5, 28, 28)


def test_every_module_of_gan_models_is_registered_by_itself():
    """What makes "one module" enough: each module's RECIPE is found without a list to edit."""
    modules = {path.stem for path in (ROOT / "gan" / "models").glob("*.py")} - {"__init__", "blocks"}
    names = {importlib.import_module(f"gan.models.{name}").RECIPE.name for name in modules}
    assert names == set(models.RECIPES) and len(names) == len(modules)
