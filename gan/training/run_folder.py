"""The run folder (--out): opened for one writer at a time, and told how the run started.

- `open_folder`  refuses an --out that holds another run unless told --resume or --overwrite
- `one_writer`   a lock that a second process writing the same folder is refused by
- `write_config` config.json: every setting, the model, the minigrad version, the git commit
- `model_file`   the checkpoint a command given a run folder reads
"""
import contextlib
import dataclasses
import datetime
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

from filelock import FileLock, Timeout

import minigrad

from . import checkpoint
from .config import ConfigError

METRICS, LATEST, CONFIG = "metrics.jsonl", "latest.npz", "config.json"
GENERATOR = "generator.npz"  # the generator's weights alone, what gan.sample needs
LOCK, OWNER = ".lock", ".owner.json"  # the OS lock, and who holds it (for the messages)


def open_folder(config):
    """The output folder, made and writable; refused if it holds a run this one would
    overwrite (resume it with --resume, or start again with --overwrite)."""
    out = Path(config.out)
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {out} is a file, not a folder; name a folder for the run's outputs")
    used = [name for name in (LATEST, METRICS) if (out / name).exists()]
    if used and not config.resume and not config.overwrite:
        raise ConfigError(f"--out {out} already holds a run ({', '.join(used)}); continue it with "
                          f"--resume, start it again with --overwrite, or choose another --out")
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / f".write-test.{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as e:
        raise ConfigError(f"cannot write to --out {out} ({e.strerror or e}); choose a folder you "
                          "can write to") from None
    return out


def start_afresh(config, out):
    """What a run does to its folder once it holds the lock: tidy up after killed writes, and
    with --overwrite drop the old run's metrics."""
    checkpoint.remove_stale_temporaries(out)
    if config.overwrite and not config.resume:
        (out / METRICS).unlink(missing_ok=True)


@contextlib.contextmanager
def one_writer(out):
    """Hold the folder's lock while training: a second process that writes the same folder
    (a --resume or --overwrite started twice) is refused, naming the process that holds it.
    The lock is the operating system's (filelock), so it dies with its process; a folder whose
    last writer was killed is taken over, with a note."""
    lock = FileLock(out / LOCK)
    try:
        lock.acquire(timeout=0)
    except Timeout:
        raise ConfigError(f"--out {out} is being written by {_describe(_read_owner(out))}; wait "
                          "for it to end (or stop it), or choose another --out") from None
    previous = _read_owner(out)
    if previous and previous.get("pid") != os.getpid():
        print(f"note: --out {out} was last written by {_describe(previous)}, which ended without "
              "letting go of it; this run takes it over")
    (out / OWNER).write_text(json.dumps({"pid": os.getpid(), "host": socket.gethostname(),
                                         "command": " ".join(sys.argv), "since": _now()}))
    try:
        yield
    finally:
        (out / OWNER).unlink(missing_ok=True)
        lock.release()


def _read_owner(out):
    try:
        return json.loads((out / OWNER).read_text())
    except (OSError, ValueError):
        return None


def _describe(owner):
    if not owner:
        return "another process"
    return f"process {owner.get('pid')} on {owner.get('host')} ({owner.get('command')}, since {owner.get('since')})"


def _now():
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


# ----------------------------------------------------------------------------- config.json
def write_config(out, config, resumed_at=None):
    """config.json: how this run (or its latest start, when resumed) was set up."""
    flags = {k: v for k, v in dataclasses.asdict(config).items() if k not in ("model", "options")}
    if config.options is not None:
        flags.update(dataclasses.asdict(config.options))
    record = {"model": config.model, "flags": flags, "command": " ".join(sys.argv),
              "minigrad_version": minigrad.__version__, "git_commit": git_commit(),
              "started": _now(), "resumed_at_iteration": resumed_at}
    (out / CONFIG).write_text(json.dumps(record, indent=2, default=str) + "\n")


def git_commit():
    """The commit of the checkout minigrad runs from ("+dirty" if changed), or None when
    it is not a git checkout (an installed package) or git is missing."""
    root = Path(__file__).resolve().parents[2]  # the checkout holding gan/
    if not (root / ".git").exists():  # not a checkout: git would find whatever repo holds site-packages
        return None
    try:
        commit = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True,
                                text=True, timeout=10).stdout.strip()
        if not commit:
            return None
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return commit + ("+dirty" if dirty else "")


# ----------------------------------------------------------------------------- reading a run
def model_file(path):
    """What a command that reads a model takes from `path`: the file itself, or in a run
    folder its checkpoint latest.npz, else its weights-only generator.npz."""
    path = Path(path)
    if not path.is_dir():
        return path
    for name in (LATEST, GENERATOR):
        if (path / name).is_file():
            return path / name
    raise checkpoint.CheckpointError(f"{path} is a folder without {LATEST} or {GENERATOR}: not a run "
                                     "folder, or one whose run wrote no checkpoint yet")
