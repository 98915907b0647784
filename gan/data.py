"""MNIST and Fashion-MNIST from their IDX files, checked and scaled for training.

(The IDX format itself is gan/idx.py; the batches a trainer draws are gan/training/batches.py.)

Where the four files are looked for (the first folder holding all four wins):

1. `data_dir` (the `--data-dir` flag) if given: that folder or its `<dataset>/` subfolder,
   and nowhere else;
2. `$MINIGRAD_DATA`: the dataset folder itself, or a parent holding `mnist/` and
   `fashion-mnist/`;
3. the user cache, `user_cache_dir(<dataset>)`: `~/.cache/minigrad/<dataset>` on Linux
   (`$XDG_CACHE_HOME/minigrad/<dataset>` when that is set), `~/Library/Caches/minigrad/<dataset>`
   on macOS;
4. for fashion-mnist, `/usr/share/datasets/fashion-mnist` (Debian's `dataset-fashion-mnist`).

A file may be gzip-compressed or raw, named with or without `.gz`: its first bytes decide.
Every file is checked by the MD5 of its *decompressed* content, one rule that accepts the
official .gz files, raw copies and re-compressed copies alike (Debian's Fashion-MNIST .gz
differ bytewise from Zalando's). Hashing costs ~0.07 s for the 47 MB training images,
less than decompressing them (~0.25 s), so nothing is cached.

Missing files are downloaded (when `download=True`) over HTTPS into a temporary file that
is renamed into place only after it passed the checksum. A folder made for a download that
then failed is removed again: a failed load leaves nothing behind.
"""
import hashlib
import http.client
import os
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.error import URLError
from urllib.request import urlopen  # module attribute, so tests can replace the opener

import numpy as np
from tqdm import tqdm
import platformdirs

from .idx import IMAGES_MAGIC, LABELS_MAGIC, DataError, parse_idx, read_bytes

ROLES = ("train_images", "train_labels", "test_images", "test_labels")
ENV_VAR = "MINIGRAD_DATA"
DOWNLOAD_TIMEOUT_S = 60


class MisplacedFileError(DataError):
    """A genuine file of a known dataset where another file was expected: MNIST and
    Fashion-MNIST share file names, so a folder of one is easily taken for the other."""

    def __init__(self, message, dataset, file_name):
        super().__init__(message)
        self.dataset = dataset        # the dataset the file belongs to
        self.file_name = file_name    # its name there


@dataclass(frozen=True)
class DatasetSpec:
    """What a dataset's files are called, what their decompressed content hashes to, where
    to get them."""
    name: str
    files: dict          # role -> file name without .gz
    md5: dict            # file name -> MD5 of the decompressed content
    mirrors: tuple       # base URLs, tried in order; file name + ".gz" is appended
    class_names: tuple
    system_dirs: tuple = ()


_FILE_NAMES = {"train_images": "train-images-idx3-ubyte", "train_labels": "train-labels-idx1-ubyte",
               "test_images": "t10k-images-idx3-ubyte", "test_labels": "t10k-labels-idx1-ubyte"}

DATASETS = {
    "mnist": DatasetSpec(
        name="mnist",
        files=_FILE_NAMES,
        # The official .gz (md5 f68b3c2d..., d53e105e..., 9fb629c4..., ec29112d...) hold these.
        md5={"train-images-idx3-ubyte": "6bbc9ace898e44ae57da46a324031adb",
             "train-labels-idx1-ubyte": "a25bea736e30d166cdddb491f175f624",
             "t10k-images-idx3-ubyte": "2646ac647ad5339dbf082846283269ea",
             "t10k-labels-idx1-ubyte": "27ae3e4e09519cfbb04c329615203637"},
        mirrors=("https://ossci-datasets.s3.amazonaws.com/mnist/",
                 "https://storage.googleapis.com/cvdf-datasets/mnist/"),
        class_names=tuple(str(digit) for digit in range(10))),
    "fashion-mnist": DatasetSpec(
        name="fashion-mnist",
        files=_FILE_NAMES,
        # Zalando's .gz (md5 8d4fb7e6..., 25c81989..., bef4ecab..., bb300cfd...) hold these.
        md5={"train-images-idx3-ubyte": "f4a8712d7a061bf5bd6d2ca38dc4d50a",
             "train-labels-idx1-ubyte": "9018921c3c673c538a1fc5bad174d6f9",
             "t10k-images-idx3-ubyte": "8181f5470baa50b63fa0f6fddb340f0a",
             "t10k-labels-idx1-ubyte": "15d484375f8d13e6eb1aabb0c3f46965"},
        mirrors=("https://github.com/zalandoresearch/fashion-mnist/raw/master/data/fashion/",),
        class_names=("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
                     "Sneaker", "Bag", "Ankle boot"),
        system_dirs=(Path("/usr/share/datasets/fashion-mnist"),)),
}
_ALIASES = {"fashion_mnist": "fashion-mnist", "fashionmnist": "fashion-mnist"}


@dataclass
class Dataset:
    """The four arrays of an MNIST-like dataset, and where they were read from."""
    name: str
    train_images: np.ndarray   # (60000, 28, 28) uint8, 0 = background
    train_labels: np.ndarray   # (60000,) int64 in [0, 10)
    test_images: np.ndarray    # (10000, 28, 28) uint8
    test_labels: np.ndarray    # (10000,) int64
    class_names: tuple
    folder: Path

    @property
    def num_classes(self):
        return len(self.class_names)


# ---------------------------------------------------------------- reading IDX files


def read_idx(path, expected_magic=None, expected_md5=None):
    """Read one IDX file (gzip or raw); check the MD5 of its decompressed content if given."""
    raw = read_bytes(path)
    if expected_md5 is not None:
        found = hashlib.md5(raw).hexdigest()
        if found != expected_md5:
            message = (f"{path}: checksum mismatch: the decompressed content ({len(raw)} bytes) "
                       f"has MD5 {found}, expected {expected_md5}")
            known = _known_as(found)
            if known is not None:
                raise MisplacedFileError(f"{message} (this is {known[0]}'s {known[1]})", *known)
            raise DataError(message)
    return parse_idx(raw, path, expected_magic)


def _known_as(md5):
    """(dataset, file name) of the genuine file whose content has `md5`, or None."""
    for spec in DATASETS.values():
        for file_name, known in spec.md5.items():
            if known == md5:
                return spec.name, file_name
    return None


# ---------------------------------------------------------------- finding the files

def get_spec(name):
    key = _ALIASES.get(name.lower(), name.lower())
    if key not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; known: {', '.join(DATASETS)}")
    return DATASETS[key]


def user_cache_dir(name=None):
    """minigrad's folder in the user cache, or its entry `name` (a dataset's folder, the
    judge's file): the platform's place for caches, as platformdirs knows it
    (`~/.cache/minigrad` on Linux, or `$XDG_CACHE_HOME/minigrad`)."""
    base = Path(platformdirs.user_cache_dir("minigrad"))
    return base if name is None else base / name


def search_dirs(name="mnist", data_dir=None):
    """The folders looked in for dataset `name`, in order (see the module docstring)."""
    spec = get_spec(name)
    if data_dir is not None:
        return [Path(data_dir), Path(data_dir) / spec.name]
    dirs = []
    if os.environ.get(ENV_VAR):
        env_dir = Path(os.environ[ENV_VAR])
        dirs += [env_dir, env_dir / spec.name]
    dirs.append(user_cache_dir(spec.name))
    dirs += list(spec.system_dirs)
    return dirs


def _find(folder, file_name):
    """The path of `file_name` or `file_name.gz` in `folder`, raw preferred; None if neither."""
    for candidate in (folder / file_name, folder / (file_name + ".gz")):
        if candidate.is_file():
            return candidate
    return None


def _download_dir(spec, data_dir, dirs):
    """Where missing files go: a writable folder that already holds some of them, else the
    folder the user named (its `<dataset>/` subfolder unless it is named so), else the cache."""
    for folder in dirs:
        if folder not in spec.system_dirs and any(_find(folder, f) for f in spec.files.values()):
            return folder
    base = data_dir if data_dir is not None else os.environ.get(ENV_VAR) or None
    if base is None:
        return user_cache_dir(spec.name)
    base = Path(base)
    return base if base.name == spec.name else base / spec.name


def _how_to_provide(spec, dirs):
    looked = "\n".join(f"  {d}" for d in dirs)
    return (f"Looked for the {spec.name} files in:\n{looked}\n"
            f"Provide them: put {', '.join(n + '(.gz)' for n in spec.files.values())} "
            f"(gzip or raw) in one folder and pass --data-dir FOLDER or set {ENV_VAR}=FOLDER "
            f"(or a parent folder holding {spec.name}/). They are published at {spec.mirrors[0]}")


# ---------------------------------------------------------------- downloading

@contextmanager
def _new_folders_removed_if_left_empty(folder):
    """After the block, remove the folders on the way to `folder` that did not exist before
    it and hold nothing after it: a download that failed leaves no empty folder behind."""
    created = [path for path in (folder, *folder.parents) if not path.exists()]
    try:
        yield
    finally:
        for path in created:  # the deepest first
            try:
                path.rmdir()
            except FileNotFoundError:
                continue      # never made (the block failed before): its parent may have been
            except OSError:
                break         # holds a downloaded file: keep it and the folders above


def download_file(url, dest, expected_md5=None, progress=True):
    """Fetch `url` into `dest` through a temporary file in the same folder, renamed into
    place only when its decompressed content has `expected_md5`; nothing is left otherwise,
    not even the folders made for it.

    Network failures propagate (URLError, OSError, HTTPException); bad bytes raise DataError.
    """

    dest = Path(dest)
    with _new_folders_removed_if_left_empty(dest.parent):
        dest.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(dir=dest.parent, prefix=dest.name + ".", suffix=".part")
        tmp = Path(tmp_name)
        try:
            with os.fdopen(fd, "wb") as out, urlopen(url, timeout=DOWNLOAD_TIMEOUT_S) as response:
                headers = getattr(response, "headers", None)
                total = int(headers.get("Content-Length") or 0) if headers is not None else 0
                with tqdm(total=total or None, unit="B", unit_scale=True, desc=dest.name,
                          disable=not progress) as bar:
                    while chunk := response.read(1 << 16):
                        out.write(chunk)
                        bar.update(len(chunk))
            if expected_md5 is not None:
                raw = read_bytes(tmp)
                found = hashlib.md5(raw).hexdigest()
                if found != expected_md5:
                    raise DataError(f"{url} served content with MD5 {found}, expected {expected_md5}; "
                                    f"refused, nothing saved")
            os.replace(tmp, dest)
        finally:
            if tmp.exists():
                tmp.unlink()
    return dest


def _download_missing(spec, folder, file_names, checksums, dirs, progress):
    with _new_folders_removed_if_left_empty(folder):
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise DataError(f"cannot create {folder} to download {spec.name} into ({e}).\n"
                            + _how_to_provide(spec, dirs)) from None
        for file_name in file_names:
            failures = []
            for base in spec.mirrors:
                url = base + file_name + ".gz"
                try:
                    download_file(url, folder / (file_name + ".gz"), checksums.get(file_name), progress)
                    break
                except (URLError, OSError, http.client.HTTPException, DataError) as e:
                    failures.append(f"  {url}: {getattr(e, 'reason', None) or e}")
            else:
                tried = "\n".join(failures)
                raise DataError(f"could not download {file_name}.gz for {spec.name} "
                                f"(offline, or every mirror failed):\n{tried}\n" + _how_to_provide(spec, dirs))


# ---------------------------------------------------------------- loading

def load_dataset(name="mnist", data_dir=None, download=True, verify=True, checksums=None,
                 progress=True):
    """Load MNIST or Fashion-MNIST as uint8 images (N, 28, 28) and int64 labels (N,).

    name: "mnist" or "fashion-mnist". data_dir: a folder to use instead of the default
    search (see the module docstring). download: fetch missing files from the mirrors.
    verify: check each file's decompressed MD5 against `checksums` (file name -> MD5,
    default: the genuine files'); a file whose name has no entry is not checked.
    """
    spec = get_spec(name)
    checksums = dict(spec.md5 if checksums is None else checksums) if verify else {}
    dirs = search_dirs(spec.name, data_dir)
    folder = next((d for d in dirs if all(_find(d, f) for f in spec.files.values())), None)
    if folder is None:
        if not download:
            raise DataError(f"the {spec.name} files are not all there and download=False.\n"
                            + _how_to_provide(spec, dirs))
        folder = _download_dir(spec, None if data_dir is None else Path(data_dir), dirs)
        missing = [f for f in spec.files.values() if _find(folder, f) is None]
        _download_missing(spec, folder, missing, checksums, dirs, progress)

    arrays = {}
    for role, file_name in spec.files.items():
        path = _find(folder, file_name)
        magic = IMAGES_MAGIC if role.endswith("images") else LABELS_MAGIC
        try:
            arrays[role] = read_idx(path, magic, checksums.get(file_name))
        except DataError as e:
            if isinstance(e, MisplacedFileError) and e.dataset != spec.name:
                # Genuine files, of the other dataset: deleting them would not help.
                advice = (f"{folder} holds {e.dataset}'s files, not {spec.name}'s: use them with "
                          f"--dataset {e.dataset}, or give the {spec.name} files with --data-dir FOLDER.")
            else:
                advice = (f"Put a good copy of {file_name}(.gz) at {folder} (published at "
                          f"{spec.mirrors[0]}{file_name}.gz), or delete {path} and load with "
                          f"download=True to fetch it again.")
            raise DataError(f"{e}.\n{advice}") from None

    for split in ("train", "test"):
        images, labels = arrays[f"{split}_images"], arrays[f"{split}_labels"]
        image_file, label_file = spec.files[f"{split}_images"], spec.files[f"{split}_labels"]
        if len(images) != len(labels):
            raise DataError(f"{folder}: {image_file} holds {len(images)} images but {label_file} "
                            f"holds {len(labels)} labels; expected one label per image. Put "
                            f"matching copies of both files in {folder}.")
        if images.shape[1:] != (28, 28):
            raise DataError(f"{folder / image_file}: images of {images.shape[1:]} pixels, expected (28, 28)")
        if labels.size and labels.max() >= len(spec.class_names):
            raise DataError(f"{folder / label_file}: label {labels.max()} out of range, "
                            f"expected 0..{len(spec.class_names) - 1}")
    return Dataset(name=spec.name,
                   train_images=arrays["train_images"],
                   train_labels=arrays["train_labels"].astype(np.int64),
                   test_images=arrays["test_images"],
                   test_labels=arrays["test_labels"].astype(np.int64),
                   class_names=spec.class_names, folder=folder)
