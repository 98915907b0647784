"""gan.data: IDX parsing and its refusals, checksums, search folders, downloads through a
fake opener (no test touches the network), batch sampling, the labelled subset."""
import dataclasses
import gzip
import hashlib
import io
import json
import struct
import sys
from pathlib import Path
from urllib.error import URLError

import numpy as np
import pytest

from gan import data, idx
from gan.evaluation import judge
from gan.training import batches
from gan.data import DataError
from gan_fixtures import REAL_FASHION, REAL_MNIST

FILES = data.DATASETS["mnist"].files  # role -> file name


SYSTEM_DIRS = data.DATASETS["fashion-mnist"].system_dirs  # as shipped, before the fixture hides them


@pytest.fixture(autouse=True)
def no_network_and_clean_env(monkeypatch, tmp_path):
    """No test may reach the network, the user's own cache or a dataset the machine happens
    to have installed (Debian's dataset-fashion-mnist): each test sees only what it makes."""
    def refuse(url, timeout=None):
        raise AssertionError(f"a test tried to download {url}")
    monkeypatch.setattr(data, "urlopen", refuse)
    monkeypatch.delenv("MINIGRAD_DATA", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    system = (tmp_path / "system" / "fashion-mnist",)
    monkeypatch.setitem(data.DATASETS, "fashion-mnist",
                        dataclasses.replace(data.DATASETS["fashion-mnist"], system_dirs=system))


def idx_bytes(array, magic=None):
    array = np.asarray(array, dtype=np.uint8)
    magic = (0x0800 | array.ndim) if magic is None else magic
    return struct.pack(">I", magic) + struct.pack(f">{array.ndim}I", *array.shape) + array.tobytes()


def synthetic_arrays(n_train=30, n_test=10, seed=0):
    rng = np.random.default_rng(seed)
    return {"train_images": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
            "train_labels": np.arange(n_train) % 10,
            "test_images": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
            "test_labels": (np.arange(n_test) * 3) % 10}


def write_dataset(folder, arrays=None, gz=True, overrides=None):
    """Write the four IDX files into `folder`; return (arrays, checksum table of their content).
    overrides: role -> raw bytes to write instead of the good content."""
    arrays = synthetic_arrays() if arrays is None else arrays
    folder.mkdir(parents=True, exist_ok=True)
    table = {}
    for role, name in FILES.items():
        raw = idx_bytes(arrays[role])
        table[name] = hashlib.md5(raw).hexdigest()
        raw = (overrides or {}).get(role, raw)
        if gz:
            (folder / (name + ".gz")).write_bytes(gzip.compress(raw))
        else:
            (folder / name).write_bytes(raw)
    return arrays, table


def assert_same(dataset, arrays):
    for role in data.ROLES:
        np.testing.assert_array_equal(getattr(dataset, role), arrays[role])
    assert dataset.train_images.dtype == np.uint8 and dataset.train_labels.dtype == np.int64


# ---------------------------------------------------------------- reading and refusing

@pytest.mark.parametrize("gz", [True, False])
def test_reads_good_files_gzip_or_raw(tmp_path, gz):
    arrays, table = write_dataset(tmp_path, gz=gz)
    dataset = data.load_dataset(data_dir=tmp_path, download=False, checksums=table)
    assert_same(dataset, arrays)
    assert dataset.folder == tmp_path and dataset.num_classes == 10


def test_content_decides_compression_not_the_name(tmp_path):
    arrays, table = write_dataset(tmp_path, gz=True)
    name = FILES["train_images"]
    (tmp_path / name).write_bytes((tmp_path / (name + ".gz")).read_bytes())  # gzip bytes, raw name
    (tmp_path / (name + ".gz")).unlink()
    assert_same(data.load_dataset(data_dir=tmp_path, download=False, checksums=table), arrays)


def test_truncated_file_is_refused_by_name(tmp_path):
    good = idx_bytes(synthetic_arrays()["train_images"])
    write_dataset(tmp_path, gz=False, overrides={"train_images": good[:-100]})
    with pytest.raises(DataError) as err:
        data.load_dataset(data_dir=tmp_path, download=False, verify=False)
    message = str(err.value)
    assert FILES["train_images"] in message and "truncated" in message
    assert f"expected {len(good)}" in message
    assert "good copy" in message and str(tmp_path) in message


def test_cut_gzip_stream_is_refused(tmp_path):
    write_dataset(tmp_path, gz=True)
    path = tmp_path / (FILES["test_images"] + ".gz")
    path.write_bytes(path.read_bytes()[:200])
    with pytest.raises(DataError, match="gzip stream is damaged"):
        data.load_dataset(data_dir=tmp_path, download=False, verify=False)


def test_trailing_bytes_are_refused(tmp_path):
    good = idx_bytes(synthetic_arrays()["test_labels"])
    write_dataset(tmp_path, overrides={"test_labels": good + b"\0"})
    with pytest.raises(DataError, match="trailing bytes"):
        data.load_dataset(data_dir=tmp_path, download=False, verify=False)


def test_wrong_checksum_is_refused(tmp_path):
    _, table = write_dataset(tmp_path)
    table[FILES["train_labels"]] = "0" * 32
    with pytest.raises(DataError) as err:
        data.load_dataset(data_dir=tmp_path, download=False, checksums=table)
    assert "checksum mismatch" in str(err.value) and FILES["train_labels"] in str(err.value)
    assert "0" * 32 in str(err.value)


def test_default_checksums_refuse_files_that_are_not_mnist(tmp_path):
    write_dataset(tmp_path)
    with pytest.raises(DataError, match="checksum mismatch"):
        data.load_dataset(data_dir=tmp_path, download=False)
    data.load_dataset(data_dir=tmp_path, download=False, verify=False)  # same files, unchecked


def test_wrong_magic_is_refused(tmp_path):
    labels = synthetic_arrays()["train_labels"]
    write_dataset(tmp_path, overrides={"train_labels": idx_bytes(labels, magic=0x00000803)})
    with pytest.raises(DataError) as err:
        data.load_dataset(data_dir=tmp_path, download=False, verify=False)
    assert "0x00000803, expected 0x00000801" in str(err.value)
    assert FILES["train_labels"] in str(err.value)


def test_count_mismatch_between_images_and_labels_is_refused(tmp_path):
    labels = synthetic_arrays()["train_labels"][:-1]
    write_dataset(tmp_path, overrides={"train_labels": idx_bytes(labels)})
    with pytest.raises(DataError) as err:
        data.load_dataset(data_dir=tmp_path, download=False, verify=False)
    message = str(err.value)
    assert "30 images" in message and "29 labels" in message
    assert FILES["train_images"] in message and FILES["train_labels"] in message


def test_parse_idx_reads_shape_and_values():
    array = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    parsed = data.parse_idx(idx_bytes(array), "x", data.IMAGES_MAGIC)
    np.testing.assert_array_equal(parsed, array)
    parsed[0, 0, 0] = 7  # callers get writable arrays
    with pytest.raises(DataError, match="too short"):
        data.parse_idx(b"\0\0", "x")


def test_to_unit_range_and_back():
    images = np.array([[[0, 255], [51, 127]]], dtype=np.uint8)
    x = idx.to_unit_range(images)
    assert x.shape == (1, 1, 2, 2) and x.dtype == np.float32
    np.testing.assert_allclose(x[0, 0], [[-1.0, 1.0], [51 / 127.5 - 1, 127 / 127.5 - 1]], rtol=1e-6)
    np.testing.assert_allclose(idx.from_unit_range(x)[0, 0], images[0] / 255.0, rtol=1e-6)
    assert idx.to_unit_range(images[:, None]).shape == (1, 1, 2, 2)
    with pytest.raises(TypeError, match="uint8"):
        idx.to_unit_range(x)


# ---------------------------------------------------------------- where the files are looked for

def test_minigrad_data_may_name_the_folder_or_its_parent(tmp_path, monkeypatch):
    arrays, table = write_dataset(tmp_path / "root" / "mnist")
    for value in (tmp_path / "root", tmp_path / "root" / "mnist"):
        monkeypatch.setenv("MINIGRAD_DATA", str(value))
        dataset = data.load_dataset(download=False, checksums=table)
        assert dataset.folder == tmp_path / "root" / "mnist"
        assert_same(dataset, arrays)


def test_data_dir_wins_and_may_be_a_parent(tmp_path, monkeypatch):
    arrays, table = write_dataset(tmp_path / "mine" / "mnist")
    write_dataset(tmp_path / "env", arrays=synthetic_arrays(seed=1))
    monkeypatch.setenv("MINIGRAD_DATA", str(tmp_path / "env"))
    dataset = data.load_dataset(data_dir=tmp_path / "mine", download=False, checksums=table)
    assert dataset.folder == tmp_path / "mine" / "mnist"
    assert_same(dataset, arrays)


def test_user_cache_is_searched_last(tmp_path):
    arrays, table = write_dataset(tmp_path / "cache" / "minigrad" / "mnist")
    assert_same(data.load_dataset(download=False, checksums=table), arrays)


def test_fashion_mnist_reads_the_same_way(tmp_path):
    arrays, table = write_dataset(tmp_path / "fashion-mnist")
    dataset = data.load_dataset("fashion_mnist", data_dir=tmp_path, download=False, checksums=table)
    assert dataset.name == "fashion-mnist" and dataset.class_names[9] == "Ankle boot"
    assert_same(dataset, arrays)
    assert SYSTEM_DIRS == (Path("/usr/share/datasets/fashion-mnist"),)
    assert data.DATASETS["fashion-mnist"].system_dirs[0] in data.search_dirs("fashion-mnist")
    assert data.DATASETS["fashion-mnist"].system_dirs[0] not in data.search_dirs("mnist")
    with pytest.raises(ValueError, match="unknown dataset"):
        data.load_dataset("cifar10")


def test_missing_files_without_download_name_the_folders(tmp_path, monkeypatch):
    monkeypatch.setenv("MINIGRAD_DATA", str(tmp_path / "env"))
    with pytest.raises(DataError) as err:
        data.load_dataset(download=False)
    message = str(err.value)
    for folder in (tmp_path / "env", tmp_path / "env" / "mnist", tmp_path / "cache" / "minigrad" / "mnist"):
        assert str(folder) in message
    assert "--data-dir" in message and "MINIGRAD_DATA" in message


# ---------------------------------------------------------------- downloading (fake opener)

def serve(monkeypatch, responses):
    """Replace the opener: url -> bytes served, or an exception raised. Returns the urls asked."""
    asked = []

    def fake_urlopen(url, timeout=None):
        asked.append(url)
        answer = responses(url)
        if isinstance(answer, Exception):
            raise answer
        return io.BytesIO(answer)
    monkeypatch.setattr(data, "urlopen", fake_urlopen)
    return asked


def official_gz(arrays):
    return {name + ".gz": gzip.compress(idx_bytes(arrays[role])) for role, name in FILES.items()}


def test_download_saves_verified_files(tmp_path, monkeypatch):
    arrays = synthetic_arrays()
    _, table = write_dataset(tmp_path / "unused", arrays)
    served = official_gz(arrays)
    asked = serve(monkeypatch, lambda url: served[url.rsplit("/", 1)[1]])
    monkeypatch.setenv("MINIGRAD_DATA", str(tmp_path / "env"))
    dataset = data.load_dataset(checksums=table, progress=False)
    assert_same(dataset, arrays)
    assert dataset.folder == tmp_path / "env" / "mnist"
    assert sorted(p.name for p in dataset.folder.iterdir()) == sorted(served)
    assert len(asked) == 4 and all(url.startswith(data.DATASETS["mnist"].mirrors[0]) for url in asked)
    data.load_dataset(checksums=table, progress=False)  # now on disk: no second download
    assert len(asked) == 4


def test_download_completes_a_partial_folder_in_place(tmp_path, monkeypatch):
    arrays, table = write_dataset(tmp_path / "mine")
    (tmp_path / "mine" / (FILES["test_images"] + ".gz")).unlink()
    served = official_gz(arrays)
    asked = serve(monkeypatch, lambda url: served[url.rsplit("/", 1)[1]])
    dataset = data.load_dataset(data_dir=tmp_path / "mine", checksums=table, progress=False)
    assert dataset.folder == tmp_path / "mine" and len(asked) == 1
    assert_same(dataset, arrays)


def test_bad_bytes_are_refused_and_the_next_mirror_tried(tmp_path, monkeypatch):
    arrays = synthetic_arrays()
    _, table = write_dataset(tmp_path / "unused", arrays)
    served = official_gz(arrays)
    first, second = data.DATASETS["mnist"].mirrors
    asked = serve(monkeypatch, lambda url: b"not the file" if url.startswith(first)
                  else served[url.rsplit("/", 1)[1]])
    dataset = data.load_dataset(data_dir=tmp_path / "d", checksums=table, progress=False)
    assert_same(dataset, arrays)
    assert sum(url.startswith(second) for url in asked) == 4


def test_bad_bytes_everywhere_leave_nothing_behind(tmp_path, monkeypatch):
    arrays = synthetic_arrays()
    _, table = write_dataset(tmp_path / "unused", arrays)
    wrong = official_gz(synthetic_arrays(seed=5))  # well-formed files, other content
    serve(monkeypatch, lambda url: wrong[url.rsplit("/", 1)[1]])
    with pytest.raises(DataError) as err:
        data.load_dataset(data_dir=tmp_path / "d", checksums=table, progress=False)
    assert "refused, nothing saved" in str(err.value)
    assert not (tmp_path / "d").exists()


def test_offline_error_names_the_folders_and_the_way_out(tmp_path, monkeypatch):
    serve(monkeypatch, lambda url: URLError("Temporary failure in name resolution"))
    monkeypatch.setenv("MINIGRAD_DATA", str(tmp_path / "env"))
    with pytest.raises(DataError) as err:
        data.load_dataset("fashion-mnist", progress=False)
    message = str(err.value)
    assert "offline" in message and "Temporary failure in name resolution" in message
    for folder in (tmp_path / "env", tmp_path / "env" / "fashion-mnist",
                   tmp_path / "cache" / "minigrad" / "fashion-mnist", tmp_path / "system" / "fashion-mnist"):
        assert str(folder) in message
    assert "--data-dir" in message and "MINIGRAD_DATA" in message
    assert not (tmp_path / "env").exists()


@pytest.mark.parametrize("where", ["data_dir", "MINIGRAD_DATA", "user cache"])
def test_a_failed_download_leaves_no_folder(where, tmp_path, monkeypatch):
    serve(monkeypatch, lambda url: URLError("offline"))
    target = {"data_dir": tmp_path / "mine", "MINIGRAD_DATA": tmp_path / "env", "user cache": tmp_path / "cache"}[where]
    if where == "MINIGRAD_DATA":
        monkeypatch.setenv("MINIGRAD_DATA", str(target))
    with pytest.raises(DataError, match="offline"):
        data.load_dataset(data_dir=target if where == "data_dir" else None, progress=False)
    assert not target.exists()


def test_a_failed_download_keeps_the_folders_it_did_not_make_and_the_files_it_got(tmp_path, monkeypatch):
    arrays = synthetic_arrays()
    _, table = write_dataset(tmp_path / "unused", arrays)
    (tmp_path / "mine").mkdir()  # the user's own, empty folder
    serve(monkeypatch, lambda url: URLError("offline"))
    with pytest.raises(DataError, match="offline"):
        data.load_dataset(data_dir=tmp_path / "mine", checksums=table, progress=False)
    assert list((tmp_path / "mine").iterdir()) == []

    served, first = official_gz(arrays), FILES["train_images"] + ".gz"
    serve(monkeypatch, lambda url: served[first] if url.endswith(first) else URLError("offline"))
    with pytest.raises(DataError, match="offline"):
        data.load_dataset(data_dir=tmp_path / "mine", checksums=table, progress=False)
    assert [p.name for p in (tmp_path / "mine" / "mnist").iterdir()] == [first]  # the next load completes it


def test_download_file_removes_its_partial_file_on_a_cut_connection(tmp_path, monkeypatch):
    class CutStream(io.BytesIO):
        def read(self, size=-1):
            raise ConnectionResetError("connection reset")
    monkeypatch.setattr(data, "urlopen", lambda url, timeout=None: CutStream(b""))
    with pytest.raises(ConnectionResetError):
        data.download_file("https://example.invalid/x.gz", tmp_path / "new" / "x.gz", progress=False)
    assert list(tmp_path.iterdir()) == []  # neither the partial file nor the folder made for it


# ---------------------------------------------------------------- the files of the other dataset

@pytest.mark.parametrize("wanted, found", [("mnist", "fashion-mnist"), ("fashion-mnist", "mnist")])
def test_the_files_of_the_other_dataset_are_named_with_the_flag_that_reads_them(wanted, found, tmp_path,
                                                                                monkeypatch):
    _, table = write_dataset(tmp_path)
    monkeypatch.setitem(data.DATASETS, found, dataclasses.replace(data.DATASETS[found], md5=table))
    with pytest.raises(DataError) as err:
        data.load_dataset(wanted, data_dir=tmp_path, download=False)
    message = str(err.value)
    assert f"this is {found}'s {FILES['train_images']}" in message
    assert f"--dataset {found}" in message
    assert "delete" not in message and "download" not in message  # good files: no fetching again


def test_a_file_of_the_same_dataset_under_another_name_is_to_be_replaced(tmp_path, monkeypatch):
    _, table = write_dataset(tmp_path)
    swapped = dict(table)
    swapped[FILES["train_labels"]], swapped[FILES["test_labels"]] = table[FILES["test_labels"]], table[FILES["train_labels"]]
    monkeypatch.setitem(data.DATASETS, "mnist", dataclasses.replace(data.DATASETS["mnist"], md5=swapped))
    with pytest.raises(DataError) as err:
        data.load_dataset(data_dir=tmp_path, download=False)
    message = str(err.value)
    assert f"this is mnist's {FILES['test_labels']}" in message
    assert "Put a good copy" in message and "--dataset" not in message


# ---------------------------------------------------------------- the user cache

@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="XDG_CACHE_HOME is Linux's convention")
def test_the_datasets_and_the_judge_share_one_user_cache_folder(tmp_path):
    # The autouse fixture points XDG_CACHE_HOME at tmp_path / "cache".
    assert data.user_cache_dir() == tmp_path / "cache" / "minigrad"
    assert data.search_dirs("mnist")[-1] == tmp_path / "cache" / "minigrad" / "mnist"
    assert judge.default_path("fashion-mnist") == tmp_path / "cache" / "minigrad" / "judge-fashion-mnist.npz"


# ---------------------------------------------------------------- the real files, when present

@pytest.mark.real_data
def test_real_mnist_shapes_dtypes_and_label_counts():
    dataset = data.load_dataset(data_dir=REAL_MNIST, download=False)  # genuine checksums
    assert dataset.train_images.shape == (60000, 28, 28) and dataset.train_images.dtype == np.uint8
    assert dataset.test_images.shape == (10000, 28, 28) and dataset.test_labels.shape == (10000,)
    # The published class counts of MNIST.
    assert np.bincount(dataset.train_labels).tolist() == [5923, 6742, 5958, 6131, 5842, 5421,
                                                          5918, 6265, 5851, 5949]
    assert np.bincount(dataset.test_labels).tolist() == [980, 1135, 1032, 1010, 982, 892,
                                                         958, 1028, 974, 1009]
    assert dataset.train_images.max() == 255 and dataset.train_images.min() == 0
    subset = batches.labeled_subset(dataset.train_labels, 100, seed=0)
    assert np.bincount(dataset.train_labels[subset], minlength=10).tolist() == [10] * 10


@pytest.mark.real_data
def test_mnist_folder_loaded_as_fashion_mnist_is_named_for_what_it_holds():
    with pytest.raises(DataError, match="this is mnist's train-images-idx3-ubyte") as err:
        data.load_dataset("fashion-mnist", data_dir=REAL_MNIST, download=False)
    assert "--dataset mnist" in str(err.value)


@pytest.mark.real_data("fashion-mnist")
def test_fashion_mnist_folder_loaded_as_mnist_advises_its_dataset_flag():
    with pytest.raises(DataError, match="this is fashion-mnist's train-images-idx3-ubyte") as err:
        data.load_dataset("mnist", data_dir=REAL_FASHION, download=False)
    assert "--dataset fashion-mnist" in str(err.value) and "delete" not in str(err.value)


@pytest.mark.real_data("fashion-mnist")
def test_real_fashion_mnist_shapes_and_label_counts():
    dataset = data.load_dataset("fashion-mnist", data_dir=REAL_FASHION, download=False)
    assert dataset.train_images.shape == (60000, 28, 28)
    assert np.bincount(dataset.train_labels).tolist() == [6000] * 10
    assert np.bincount(dataset.test_labels).tolist() == [1000] * 10


# ---------------------------------------------------------------- batches

def take(sampler, k):
    return [next(sampler) for _ in range(k)]


def test_sampler_is_reproducible_by_seed_and_epochs_are_permutations():
    a, b, c = (batches.BatchSampler(100, 32, seed=s) for s in (3, 3, 4))
    batches_a = take(a, 9)
    assert all(np.array_equal(x, y) for x, y in zip(batches_a, take(b, 9)))
    assert not np.array_equal(batches_a[0], next(c))
    assert a.batches_per_epoch == 3 and all(len(x) == 32 for x in batches_a)
    first_epoch = np.concatenate(batches_a[:3])
    assert len(np.unique(first_epoch)) == 96  # no repeats inside an epoch
    assert not np.array_equal(batches_a[0], batches_a[3])  # a fresh order each epoch


def test_sampler_state_round_trip_continues_exactly():
    sampler = batches.BatchSampler(50, 8, seed=11)
    take(sampler, 7)  # into the second epoch (6 full batches per epoch)
    state = json.loads(json.dumps(sampler.state()))
    expected = take(sampler, 10)
    resumed = batches.BatchSampler(50, 8, seed=0)  # the seed comes from the state
    resumed.set_state(state)
    assert all(np.array_equal(x, y) for x, y in zip(expected, take(resumed, 10)))
    with pytest.raises(ValueError, match="batch_size"):
        batches.BatchSampler(50, 16).set_state(state)


def test_sampler_without_drop_last_yields_the_tail():
    sampler = batches.BatchSampler(10, 4, seed=0, drop_last=False)
    sizes = [len(b) for b in take(sampler, 6)]
    assert sizes == [4, 4, 2, 4, 4, 2]
    assert sorted(np.concatenate(take(batches.BatchSampler(10, 4, 0, drop_last=False), 3))) == list(range(10))
    with pytest.raises(ValueError, match="no full batch"):
        batches.BatchSampler(3, 4)


def test_labeled_subset_is_balanced_and_chosen_by_seed():
    labels = np.random.default_rng(0).integers(0, 10, 2000)
    subset = batches.labeled_subset(labels, 100, seed=0)
    assert len(subset) == 100 and len(np.unique(subset)) == 100
    assert np.bincount(labels[subset], minlength=10).tolist() == [10] * 10
    np.testing.assert_array_equal(subset, batches.labeled_subset(labels, 100, seed=0))
    assert not np.array_equal(subset, batches.labeled_subset(labels, 100, seed=1))


def test_labeled_subset_unbalanced_takes_the_first_and_the_rest_is_unlabelled():
    labels = np.arange(500) % 10
    np.testing.assert_array_equal(batches.labeled_subset(labels, 37, balanced=False), np.arange(37))
    subset = batches.labeled_subset(labels, 50, seed=2)
    rest = batches.unlabeled_indices(len(labels), subset)
    assert len(rest) == 450 and not set(rest) & set(subset)
    assert sorted(np.concatenate([rest, subset]).tolist()) == list(range(500))


def test_labeled_subset_refuses_impossible_requests():
    labels = np.arange(200) % 10
    with pytest.raises(ValueError, match="divisible by 10"):
        batches.labeled_subset(labels, 105)
    with pytest.raises(ValueError, match="1..200"):
        batches.labeled_subset(labels, 300)
    with pytest.raises(ValueError, match="fewer than"):
        batches.labeled_subset(np.zeros(100, dtype=int), 20)
