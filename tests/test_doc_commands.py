"""Every `python examples/...` and `python -m gan...` command in README.md and docs/*.md still
parses, so a reader never pastes a flag that no longer exists.

A command is found in a ```bash, ```text or ```console block (or any fence but ```python,
whose blocks test_docs.py runs) or in inline code, and read as a shell would: backslash
continuations joined, a `$ ` prompt, `VAR=value` prefixes and a trailing `# comment`
dropped. Its module's `main(argv)` then runs until its settings are known and stops there:
a training command stops where gan/training/cli.py hands the checked TrainConfig to the loop (so a
conflict between settings is caught too), the others just after argparse. Nothing trains,
reads data or writes a file.
"""
import argparse
import contextlib
import importlib
import io
import re
import shlex
from dataclasses import dataclass
from pathlib import Path

import pytest

from gan.training import loop
from gan_fixtures import load_example

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md"] + sorted((ROOT / "docs").glob("*.md"))

FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.S | re.M)
INLINE = re.compile(r"`([^`]+)`")
# The program, then its arguments up to a comment or the next shell command.
COMMAND = re.compile(r"\bpython3? (examples/\w+\.py|-m gan\.\w+)\b([^#;|&\n]*)")
# Placeholders the docs use where a reader puts their own value.
PLACEHOLDERS = {"S": "0", "N": "1", "FOLDER": "/tmp/folder", "PATH": "/tmp/path.npz"}


@dataclass
class DocCommand:
    doc: str        # the file's name, relative to the repository root
    line: int
    program: str    # "examples/gan.py" or "-m gan.sample"
    argv: list

    def __str__(self):
        return f"{self.doc}:{self.line}: python {self.program} {shlex.join(self.argv)}"


def find_commands(path, root=ROOT):
    """The commands of one markdown file, in blocks and in inline code, with their lines."""
    text = Path(path).read_text(encoding="utf-8")
    doc = str(Path(path).relative_to(root))
    found = []
    for block in FENCE.finditer(text):
        if block.group(1) == "python":
            continue
        first_line = text.count("\n", 0, block.start(2)) + 1
        for offset, line in _logical_lines(block.group(2)):
            found += _commands_in(line, doc, first_line + offset)
    # Inline code outside the blocks, which may wrap over a line end; blanking the blocks
    # keeps the offsets, hence the line numbers.
    prose = FENCE.sub(lambda block: re.sub(r"[^\n]", " ", block.group(0)), text)
    for span in INLINE.finditer(prose):
        line = prose.count("\n", 0, span.start()) + 1
        found += _commands_in(span.group(1).replace("\n", " "), doc, line)
    return found


def _logical_lines(block):
    """(offset of the first line, the line with its backslash continuations joined)."""
    lines = block.split("\n")
    index = 0
    while index < len(lines):
        start, line = index, lines[index]
        while line.rstrip().endswith("\\") and index + 1 < len(lines):
            index += 1
            line = line.rstrip()[:-1] + " " + lines[index].strip()
        yield start, line
        index += 1


def _commands_in(text, doc, line):
    commands = []
    for match in COMMAND.finditer(text):
        argv = [PLACEHOLDERS.get(word, word) for word in shlex.split(match.group(2))]
        commands.append(DocCommand(doc, line, match.group(1), argv))
    return commands


class _Parsed(Exception):
    """Raised where the command's settings are known, to stop before it does anything."""


def _stop(*args, **kwargs):
    raise _Parsed()


def check_command(command):
    """Run the command's main(argv) up to its parsed settings; AssertionError naming the doc
    and line when argparse (or the TrainConfig's check) refuses them."""
    name = command.program
    if name.startswith("examples/"):
        main = load_example(Path(name).stem).main
    else:
        main = importlib.import_module(name.removeprefix("-m ")).main
    real_parse_args = argparse.ArgumentParser.parse_args

    def parse_then_stop(parser, args=None, namespace=None):
        real_parse_args(parser, args, namespace)
        raise _Parsed()

    errors = io.StringIO()
    with pytest.MonkeyPatch.context() as patch, contextlib.redirect_stderr(errors), \
            contextlib.redirect_stdout(io.StringIO()):
        if name.startswith("examples/") or name == "-m gan.train":
            patch.setattr(loop, "train", _stop)  # after gan/training/cli.py's check(config)
        else:
            patch.setattr(argparse.ArgumentParser, "parse_args", parse_then_stop)
        try:
            main(list(command.argv))
        except _Parsed:
            return
        except SystemExit as exit:
            if exit.code == 0:  # --help
                return
            why = errors.getvalue().strip().splitlines()[-1:]  # argparse's "error: ..." line
            raise AssertionError(f"{command}\n{''.join(why)}") from None
    raise AssertionError(f"{command}: main() returned without reaching its settings")


COMMANDS = [command for path in DOCS for command in find_commands(path)]


@pytest.fixture
def once(backend):
    if backend != "numpy":
        pytest.skip("parses command lines: once, under the numpy test backend")


def test_the_readme_shows_every_example_and_the_train_judge_sample_evaluate_flow(once):
    readme = [command for command in COMMANDS if command.doc == "README.md"]
    examples = {f"examples/{path.name}" for path in (ROOT / "examples").glob("*.py")}
    missing = (examples | {"-m gan.judge", "-m gan.sample", "-m gan.evaluate"}) - {c.program for c in readme}
    assert not missing, f"README.md shows no command of {sorted(missing)}"
    assert any(c.program == "examples/sgan.py" and "improved" in c.argv for c in readme)


@pytest.mark.parametrize("command", COMMANDS, ids=lambda command: f"{command.doc}:{command.line}")
def test_doc_command_parses(command, once):
    check_command(command)


# ----------------------------------------------------------------------------- the checker itself

FAKE_DOC = r"""# A page

```bash
$ python examples/gan.py --dry-run --out /tmp/x   # a comment
OMP_NUM_THREADS=1 python examples/dcgan.py --arch keras \
    --bach-size 8
python -m gan.evaluate samples.npz --judge PATH; echo done
```

Prose with `python examples/sgan.py --model improved
--seed S` wrapped over a line, and `python examples/wgan_gp.py --batch-size 64 --limit 8`.

```python
# python examples/gan.py --not-a-command
```
"""


def test_the_extractor_reads_commands_as_a_shell_would(tmp_path, once):
    (tmp_path / "page.md").write_text(FAKE_DOC)
    found = [(c.line, c.program, c.argv) for c in find_commands(tmp_path / "page.md", root=tmp_path)]
    assert found == [
        (4, "examples/gan.py", ["--dry-run", "--out", "/tmp/x"]),
        (5, "examples/dcgan.py", ["--arch", "keras", "--bach-size", "8"]),
        (7, "-m gan.evaluate", ["samples.npz", "--judge", "/tmp/path.npz"]),
        (10, "examples/sgan.py", ["--model", "improved", "--seed", "0"]),
        (11, "examples/wgan_gp.py", ["--batch-size", "64", "--limit", "8"]),
    ]


def test_the_checker_passes_good_commands_and_fails_a_misspelt_flag_or_a_conflict(tmp_path, once):
    (tmp_path / "page.md").write_text(FAKE_DOC)
    gan_cmd, dcgan_cmd, evaluate_cmd, sgan_cmd, wgan_cmd = find_commands(tmp_path / "page.md", root=tmp_path)
    for good in (gan_cmd, evaluate_cmd, sgan_cmd):
        check_command(good)
    with pytest.raises(AssertionError, match=r"page\.md:5: .*\n.*unrecognized arguments: --bach-size 8"):
        check_command(dcgan_cmd)
    # argparse accepts each flag; the TrainConfig's check refuses the pair
    with pytest.raises(AssertionError, match=r"page\.md:11: .*\n.*--batch-size 64 is larger than --limit 8"):
        check_command(wgan_cmd)
    # a tool's parser, stopped just after parse_args
    misspelt = DocCommand("page.md", 1, "-m gan.sample", ["--checkpont", "runs/gan/latest.npz"])
    with pytest.raises(AssertionError, match=r"page\.md:1: .*\n.*error: "):
        check_command(misspelt)
