"""Checkpoints: one .npz of plain arrays plus one JSON document, written atomically.

A checkpoint can be opened safely whoever made it: it is read with `allow_pickle=False`,
so it holds numbers and text only and can never run code. Layout:

    meta                     the JSON document (a 0-d numpy unicode array): format, model
                             kind and config, iteration, RNG and batch-sampler state, and
                             the non-array parts of the optimizers' state
    G/<name>, D/<name>       the generator's and discriminator's `state_dict()`: weights
                             and BatchNorm running statistics
    G_optimizer/..., D_optimizer/...   the optimizers' arrays (Adam's moments)
    <other names>            extra arrays of the run (the fixed noise of the sample grid)

Writing goes to a temporary file in the same directory, flushed to disk, then renamed over
the target with `os.replace` (atomic on POSIX and Windows): a crash at any moment leaves
either the old checkpoint or the new one, never a half-written file.
"""
import json
import os
import pathlib
import zipfile
import zlib

import numpy

FORMAT = "minigrad-checkpoint/1"
GENERATOR_FORMAT = "minigrad-generator/1"  # weights only: what gan.sample needs
META_KEYS = ("kind", "config", "iteration", "optimizers", "state")


class CheckpointError(ValueError):
    """A checkpoint that cannot be used here: unreadable, another model, other shapes."""


# ----------------------------------------------------------------------------- files
def save_npz(path, arrays, meta):
    """Write `arrays` (name -> host numpy array) and `meta` (JSON-able) to `path` atomically."""
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if "meta" in arrays:
        raise ValueError("'meta' is reserved for the JSON document")
    remove_stale_temporaries(path.parent)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(temporary, "wb") as f:
            numpy.savez(f, meta=numpy.array(json.dumps(meta)), **arrays)
            f.flush()
            os.fsync(f.fileno())
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    _fsync_directory(path.parent)  # make the rename itself survive a power cut


def remove_stale_temporaries(folder):
    """Delete the temporary files (.NAME.PID.tmp) of writes whose process is gone: a run
    killed with `kill -9` mid-write leaves one behind, as large as a checkpoint."""
    for temporary in pathlib.Path(folder).glob(".*.*.tmp"):
        pid = temporary.name.rsplit(".", 2)[-2]
        if pid.isdigit() and not _process_alive(int(pid)):
            temporary.unlink(missing_ok=True)


def _process_alive(pid):
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # it exists but belongs to someone else
        return True
    return True


def _fsync_directory(directory):
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:  # not possible on every platform (Windows); the rename is still atomic
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def read_npz(path, what="checkpoint"):
    """The arrays of an .npz file; never unpickles anything. Any file that is not a readable
    .npz (missing, empty, cut short, damaged, another format) raises one CheckpointError
    naming the file, `what` it should have been, and what is wrong with it."""
    path = pathlib.Path(path)
    if not path.exists():
        raise CheckpointError(f"no {what} at {path}")
    if not path.is_file():
        raise CheckpointError(f"{path} is a folder, not a {what}")
    with open(path, "rb") as f:
        head = f.read(4)
    if not head:
        raise CheckpointError(f"{path} is empty: not a {what} (a write that never finished?)")
    if head != b"PK\x03\x04":
        raise CheckpointError(f"{path} is not a {what}: it is not an .npz (zip) archive")
    try:
        with numpy.load(path, allow_pickle=False) as npz:
            return {name: npz[name] for name in npz.files}
    except ValueError as e:  # numpy's words for an object array: refused, never unpickled
        raise CheckpointError(f"{path} is not a readable {what} ({e})") from None
    except (OSError, EOFError, KeyError, zipfile.BadZipFile, zlib.error) as e:
        raise CheckpointError(f"{path} is damaged or cut short ({type(e).__name__}: {e})") from None


def load_npz(path, what="checkpoint"):
    """(arrays, meta) from a file written by `save_npz` (see `read_npz` for its errors)."""
    arrays = read_npz(path, what)
    if "meta" not in arrays:
        raise CheckpointError(f"{path} is not a {what}: it has no 'meta' document")
    try:
        meta = json.loads(str(arrays.pop("meta")))
    except ValueError as e:
        raise CheckpointError(f"{path}: its 'meta' document is not valid JSON ({e})") from None
    return arrays, meta


# ----------------------------------------------------------------------------- state trees
def flatten_state(prefix, tree, arrays):
    """A JSON-able copy of `tree` (nested dicts, lists, numbers, arrays): every array is
    moved into `arrays` under a name starting with `prefix` and replaced by {"$array": name}.
    Dicts whose keys are not all strings (Adam's moments keyed by parameter index) become
    {"$items": [[key, value], ...]} so that the keys come back with their type."""
    if hasattr(tree, "shape") and hasattr(tree, "dtype") and not isinstance(tree, numpy.generic):
        arrays[prefix] = numpy.asarray(tree)
        return {"$array": prefix}
    if isinstance(tree, numpy.generic):
        return tree.item()
    if isinstance(tree, dict):
        if all(isinstance(k, str) for k in tree):
            return {k: flatten_state(f"{prefix}/{k}", v, arrays) for k, v in tree.items()}
        return {"$items": [[k, flatten_state(f"{prefix}/{k}", v, arrays)] for k, v in tree.items()]}
    if isinstance(tree, (list, tuple)):
        return [flatten_state(f"{prefix}/{i}", v, arrays) for i, v in enumerate(tree)]
    return tree


def unflatten_state(tree, arrays):
    """The inverse of `flatten_state`."""
    if isinstance(tree, dict):
        if set(tree) == {"$array"}:
            return arrays[tree["$array"]]
        if set(tree) == {"$items"}:
            return {k: unflatten_state(v, arrays) for k, v in tree["$items"]}
        return {k: unflatten_state(v, arrays) for k, v in tree.items()}
    if isinstance(tree, list):
        return [unflatten_state(v, arrays) for v in tree]
    return tree


# ----------------------------------------------------------------------------- training runs
class Snapshot:
    """A module's or optimizer's state_dict (host copies) as it was when taken: what
    save_training and save_generator write when training has gone on since."""

    def __init__(self, owner):
        self.state = owner.state_dict()

    def state_dict(self):
        return self.state


def save_training(path, *, kind, config, iteration, modules, optimizers, arrays=None, state=None):
    """Save a training run: `modules` and `optimizers` are dicts {"G": ..., "D": ...};
    `arrays` extra host arrays; `state` extra JSON-able data (RNG, batch samplers)."""
    stored = dict(arrays or {})
    for name, module in modules.items():
        for key, value in module.state_dict().items():
            stored[f"{name}/{key}"] = value
    optimizer_trees = {name: flatten_state(f"{name}_optimizer", optimizer.state_dict(), stored)
                       for name, optimizer in optimizers.items()}
    meta = {"format": FORMAT, "kind": kind, "config": config, "iteration": int(iteration),
            "optimizers": optimizer_trees, "state": state or {}}
    save_npz(path, stored, meta)


def read_training(path):
    """(arrays, meta) of a training checkpoint, after checking that it is one, whole."""
    return _checked_training(path, *load_npz(path))


def _checked_training(path, arrays, meta):
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a minigrad training checkpoint "
                              f"(format {meta.get('format') if isinstance(meta, dict) else None!r}, "
                              f"expected {FORMAT!r})")
    missing = [key for key in META_KEYS if key not in meta]
    if missing:
        raise CheckpointError(f"{path} is damaged: its metadata lacks {', '.join(missing)}")
    return arrays, meta


def module_state(arrays, name):
    """The state_dict of module `name` ("G" or "D") inside a checkpoint's arrays."""
    prefix = f"{name}/"
    return {key[len(prefix):]: value for key, value in arrays.items() if key.startswith(prefix)}


def save_generator(path, *, kind, config, iteration, generator, averaged):
    """A weights-only file for drawing samples: the generator's state_dict (the moving average
    of its weights when `averaged`) under G/, and the model kind and config that rebuild it."""
    arrays = {f"G/{key}": value for key, value in generator.state_dict().items()}
    save_npz(path, arrays, {"format": GENERATOR_FORMAT, "kind": kind, "config": config,
                            "iteration": int(iteration), "averaged": bool(averaged)})


def read_generator_source(path):
    """(arrays, meta) of a file that holds a generator: a training checkpoint, or the
    weights-only file of `save_generator` (meta["format"] tells which)."""
    arrays, meta = load_npz(path)
    if isinstance(meta, dict) and meta.get("format") == GENERATOR_FORMAT:
        if not {"kind", "config", "iteration"} <= set(meta):
            raise CheckpointError(f"{path} is damaged: its metadata lacks the model kind or config")
        return arrays, meta
    return _checked_training(path, arrays, meta)


def load_training(path, *, kind, config, modules, optimizers, free_keys=(), defaults=None):
    """Load a checkpoint into `modules` and `optimizers` (in place) and return
    (iteration, arrays, state). Refuses, with a message saying what differs, a checkpoint
    of another model kind, of another config (keys in `free_keys` may differ: the length
    of the run, where it logs), or whose weights have other names or shapes. A key the
    checkpoint lacks counts as its value in `defaults` (a flag added since it was made)."""
    arrays, meta = read_training(path)
    if meta["kind"] != kind:
        raise CheckpointError(f"{path} holds a {meta['kind']!r} model; this run trains {kind!r}")
    # a key missing on either side counts as its default (a setting recorded only when used)
    saved, config = {**(defaults or {}), **meta["config"]}, {**(defaults or {}), **config}
    differences = [f"{key}: checkpoint {saved.get(key)!r}, this run {config.get(key)!r}"
                   for key in sorted(set(saved) | set(config))
                   if key not in free_keys and saved.get(key) != config.get(key)]
    if differences:
        raise CheckpointError(f"{path} was made with other settings; run again with the same "
                              "ones to resume, or start a new run:\n  " + "\n  ".join(differences))
    for name, module in modules.items():
        try:
            module.load_state_dict(module_state(arrays, name))
        except (KeyError, ValueError) as e:
            raise CheckpointError(f"{path}: the {name} weights do not fit this model: {e}") from e
    for name, optimizer in optimizers.items():
        try:
            optimizer.load_state_dict(unflatten_state(meta["optimizers"][name], arrays))
        except (KeyError, ValueError, TypeError) as e:
            raise CheckpointError(f"{path}: the {name} optimizer state does not fit this model: "
                                  f"{type(e).__name__}: {e}") from e
    return meta["iteration"], arrays, meta["state"]
