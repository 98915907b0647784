"""Every ```python block in README.md and docs/*.md runs, so the docs cannot drift from the code.

The blocks of one file run in order in one namespace, from the repository root, as a
reader would paste them.
"""
import pathlib
import re

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md"] + sorted((ROOT / "docs").glob("*.md"))
BLOCK = re.compile(r"^```python\n(.*?)^```", re.S | re.M)


def python_blocks(path):
    return BLOCK.findall(path.read_text(encoding="utf-8"))


@pytest.mark.parametrize("path", [p for p in DOCS if python_blocks(p)],
                         ids=lambda p: str(p.relative_to(ROOT)))
def test_code_blocks_run(path, monkeypatch):
    monkeypatch.chdir(ROOT)
    namespace = {"__name__": f"docs.{path.stem}"}
    for number, code in enumerate(python_blocks(path), 1):
        try:
            exec(compile(code, f"{path.name} block {number}", "exec"), namespace)
        except Exception as error:
            raise AssertionError(f"{path.name}, python block {number} failed: {error!r}") from error


def test_readme_shows_the_two_setup_commands():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert re.search(r"^pip install -e \"\.\[test\]\"$", readme, re.M)
    assert re.search(r"^python -m pytest$", readme, re.M)


LINK = re.compile(r"\]\(([^)\s#]+)(?:#[^)\s]*)?\)")  # [text](target) and ![alt](target)


@pytest.mark.parametrize("path", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_and_images_exist(path):
    text = path.read_text(encoding="utf-8")
    missing = [target for target in LINK.findall(text)
               if "://" not in target and not (path.parent / target).exists()]
    assert not missing, f"{path.name} links to files that do not exist: {missing}"
