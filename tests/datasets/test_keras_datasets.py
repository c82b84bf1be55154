"""Keras' built-in data sets on small fake files in the real files' formats.

A fake "server" folder holds files named like Keras' origins; each loader's ``get_file`` is redirected
there (file:// URLs, the fake file's own hash) and into a per-library cache, so the real download,
hash check and extraction run. Where Keras is installed, its loader runs on the same files and must
return the same arrays (dtypes included) after asking get_file for the same origins and hashes.
"""
from __future__ import annotations

import datetime
import gzip
import hashlib
import importlib
import inspect
import io
import json
import os
import pickle
import tarfile
import urllib.parse

import numpy as np
import pytest

from layerwise import datasets
from layerwise.datasets import (boston_housing, california_housing, cifar10, cifar100, fashion_mnist, imdb, mnist,
                                reuters)
from layerwise.utils import file_download

rng = np.random.default_rng(0)


def ragged(lengths, high=30) -> np.ndarray:
    """An object array of lists of word indices (IMDB/Reuters' on-disk form), one per length."""
    out = np.empty(len(lengths), dtype=object)
    for i, n in enumerate(lengths):
        out[i] = rng.integers(1, high, n).tolist()
    return out


def pickled_batch(n: int, **labels) -> bytes:
    batch = {b"batch_label": b"fake", b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
             b"filenames": [b"img%d.png" % i for i in range(n)]}
    batch.update({key.encode(): rng.integers(0, 10, n).tolist() for key in labels})
    return pickle.dumps(batch, protocol=3)


def tar_gz(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def npz(**arrays) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def idx(data: np.ndarray) -> bytes:
    magic = 2049 if data.ndim == 1 else 2051
    return gzip.compress(np.array([magic, *data.shape], ">i4").tobytes() + data.tobytes())


def fake_files() -> dict[str, bytes]:
    train_labels, test_labels = rng.integers(0, 10, 7).astype(np.uint8), rng.integers(0, 10, 4).astype(np.uint8)
    cifar10_members = {f"cifar-10-batches-py/data_batch_{i}": pickled_batch(2 + i, labels=1) for i in range(1, 6)}
    cifar10_members["cifar-10-batches-py/test_batch"] = pickled_batch(3, labels=1)
    return {
        "mnist.npz": npz(x_train=rng.integers(0, 256, (6, 28, 28), dtype=np.uint8),
                         y_train=rng.integers(0, 10, 6).astype(np.uint8),
                         x_test=rng.integers(0, 256, (3, 28, 28), dtype=np.uint8),
                         y_test=rng.integers(0, 10, 3).astype(np.uint8)),
        "train-labels-idx1-ubyte.gz": idx(train_labels),
        "train-images-idx3-ubyte.gz": idx(rng.integers(0, 256, (7, 28, 28), dtype=np.uint8)),
        "t10k-labels-idx1-ubyte.gz": idx(test_labels),
        "t10k-images-idx3-ubyte.gz": idx(rng.integers(0, 256, (4, 28, 28), dtype=np.uint8)),
        "cifar-10-python.tar.gz": tar_gz(cifar10_members),
        "cifar-100-python.tar.gz": tar_gz({
            "cifar-100-python/train": pickled_batch(5, fine_labels=1, coarse_labels=1),
            "cifar-100-python/test": pickled_batch(3, fine_labels=1, coarse_labels=1)}),
        # Distinct lengths keep Keras' np.array(..., dtype=object) one-dimensional, as on real data.
        "imdb.npz": npz(x_train=ragged([3, 1, 7, 4, 9, 2, 5, 12]), y_train=rng.integers(0, 2, 8),
                        x_test=ragged([2, 6, 1, 8, 3, 11]), y_test=rng.integers(0, 2, 6)),
        "reuters.npz": npz(x=ragged([4, 9, 1, 6, 3, 11, 2, 7, 5, 14, 8, 10]), y=rng.integers(0, 46, 12)),
        "imdb_word_index.json": json.dumps({"the": 1, "and": 2, "film": 19}).encode(),
        "reuters_word_index.json": json.dumps({"the": 1, "said": 3}).encode(),
        "boston_housing.npz": npz(x=rng.normal(size=(23, 13)), y=rng.normal(20, 5, 23)),
        "california_housing.npz": npz(x=rng.normal(size=(640, 8)).astype(np.float32),
                                      y=rng.normal(2e5, 5e4, 640).astype(np.float32)),
    }


FILES = fake_files()
_GET_FILE = inspect.signature(file_download.get_file)


class FakeServer:
    """Serves ``FILES`` from a folder and records the get_file calls each library makes."""

    def __init__(self, root, monkeypatch):
        self.root, self.monkeypatch, self.calls = root / "server", monkeypatch, {}
        self.root.mkdir()
        for name, data in FILES.items():
            (self.root / name).write_bytes(data)

    def redirect(self, module, cache, label: str) -> None:
        real = module.get_file
        calls = self.calls.setdefault(label, [])

        def fetch(*args, **kwargs):
            calls.append(dict(_GET_FILE.bind(*args, **kwargs).arguments))
            local = self.root / os.path.basename(urllib.parse.urlsplit(kwargs["origin"]).path)
            if kwargs.get("file_hash"):
                algorithm = "sha256" if len(kwargs["file_hash"]) == 64 else "md5"
                kwargs["file_hash"] = hashlib.new(algorithm, local.read_bytes()).hexdigest()
            return real(*args, **{**kwargs, "origin": local.as_uri(), "cache_dir": str(cache)})

        self.monkeypatch.setattr(module, "get_file", fetch)


@pytest.fixture
def server(tmp_path, monkeypatch):
    return FakeServer(tmp_path, monkeypatch)


def load(server, tmp_path, module, function="load_data", **kwargs):
    server.redirect(module, tmp_path / "ours", "ours")
    return getattr(module, function)(**kwargs)


def assert_same(ours, theirs):
    if isinstance(ours, tuple):
        assert isinstance(theirs, tuple) and len(ours) == len(theirs)
        for a, b in zip(ours, theirs):
            assert_same(a, b)
        return
    assert ours.dtype == theirs.dtype and ours.shape == theirs.shape
    if ours.dtype == object:
        assert ours.tolist() == theirs.tolist()
        assert all(type(w) is int for row in ours for w in row)
    else:
        np.testing.assert_array_equal(ours, theirs)


CASES = [
    ("mnist", {}), ("fashion_mnist", {}), ("cifar100", {}), ("cifar100", {"label_mode": "coarse"}),
    ("imdb", {}), ("imdb", {"num_words": 12, "skip_top": 5, "maxlen": 9, "seed": 7}),
    ("imdb", {"start_char": None, "oov_char": None, "index_from": 0, "num_words": 20}),
    ("imdb", {"start_char": None, "index_from": 2, "skip_top": 3}),
    ("reuters", {}), ("reuters", {"test_split": 0.3, "maxlen": 8, "num_words": 15, "oov_char": None, "seed": 2}),
    ("boston_housing", {}), ("boston_housing", {"test_split": 0.35, "seed": 3}),
    ("california_housing", {}), ("california_housing", {"version": "small"}),
    ("california_housing", {"version": "small", "test_split": 0.1, "seed": 1}),
]


@pytest.mark.parametrize("name, kwargs", CASES)
def test_loaders_match_keras(server, tmp_path, keras, name, kwargs):
    module = getattr(datasets, name)
    theirs_module = importlib.import_module(f"keras.src.datasets.{name}")
    (tmp_path / "keras").mkdir()  # Keras uses /tmp/.keras for a cache_dir that does not exist yet
    server.redirect(theirs_module, tmp_path / "keras", "keras")
    theirs = theirs_module.load_data(**kwargs)
    ours = load(server, tmp_path, module, **kwargs)
    assert_same(ours, theirs)
    assert server.calls["ours"] == server.calls["keras"]  # same origins, hashes, names and cache folders


def test_cifar10_asks_for_keras_archive_and_reads_batches_like_keras(server, tmp_path, keras):
    theirs_module = importlib.import_module("keras.src.datasets.cifar10")
    (tmp_path / "keras").mkdir()
    server.redirect(theirs_module, tmp_path / "keras", "keras")
    with pytest.raises(ValueError, match="broadcast"):  # Keras fills arrays sized for 10,000 images a batch
        theirs_module.load_data()
    (x, y), (xt, yt) = load(server, tmp_path, cifar10)
    assert server.calls["ours"] == server.calls["keras"]
    folder = tmp_path / "ours" / "datasets" / "cifar-10-batches-py-target" / "cifar-10-batches-py"
    from keras.src.datasets.cifar import load_batch as keras_load_batch
    parts = [keras_load_batch(str(folder / f"data_batch_{i}")) for i in range(1, 6)]
    np.testing.assert_array_equal(x, np.concatenate([p[0] for p in parts]).transpose(0, 2, 3, 1))
    np.testing.assert_array_equal(y[:, 0], np.concatenate([p[1] for p in parts]))
    data, labels = keras_load_batch(str(folder / "test_batch"))
    np.testing.assert_array_equal(xt, data.transpose(0, 2, 3, 1))
    np.testing.assert_array_equal(yt[:, 0], labels)


@pytest.mark.parametrize("module, function", [(imdb, "get_word_index"), (reuters, "get_word_index"),
                                              (reuters, "get_label_names")])
def test_word_indexes_and_label_names_match_keras(server, tmp_path, keras, module, function):
    theirs_module = importlib.import_module(module.__name__.replace("layerwise", "keras.src"))
    (tmp_path / "keras").mkdir()
    server.redirect(theirs_module, tmp_path / "keras", "keras")
    assert load(server, tmp_path, module, function) == getattr(theirs_module, function)()
    assert server.calls.get("ours") == server.calls.get("keras")


def test_shapes_and_dtypes(server, tmp_path):
    (x, y), (xt, yt) = load(server, tmp_path, cifar10)
    # The five training batches hold 3, 4, 5, 6 and 7 images.
    assert (x.shape, y.shape, xt.shape, yt.shape) == ((25, 32, 32, 3), (25, 1), (3, 32, 32, 3), (3, 1))
    assert x.dtype == y.dtype == xt.dtype == yt.dtype == np.uint8 and x.flags.c_contiguous
    with tarfile.open(fileobj=io.BytesIO(FILES["cifar-10-python.tar.gz"])) as archive:
        batch = pickle.loads(archive.extractfile("cifar-10-batches-py/data_batch_1").read(), encoding="bytes")
    # A row holds the 1024 red values, then green, then blue: pixel (0, 1) is row[1], row[1025], row[2049].
    np.testing.assert_array_equal(x[0, 0, 1], batch[b"data"][0, [1, 1025, 2049]])
    np.testing.assert_array_equal(y[:3, 0], batch[b"labels"])
    (x, y), _ = load(server, tmp_path, fashion_mnist)
    assert x.shape == (7, 28, 28) and x.dtype == y.dtype == np.uint8
    (x, y), (xt, yt) = load(server, tmp_path, boston_housing, test_split=0.2)
    assert x.shape == (18, 13) and xt.shape == (5, 13) and y.shape == (18,)  # int(23 * 0.8) rows train
    (x, _), (xt, _) = load(server, tmp_path, california_housing, version="small")
    assert len(x) + len(xt) == 600


def write_imdb(tmp_path, x_train: list, x_test: list) -> None:
    """A one-review-per-part imdb.npz (no shuffle to follow) with labels 0."""
    columns = {}
    for key, rows in (("x_train", x_train), ("x_test", x_test)):
        columns[key] = np.empty(len(rows), dtype=object)
        for i, row in enumerate(rows):
            columns[key][i] = row
    data = npz(**columns, y_train=np.zeros(len(x_train), int), y_test=np.zeros(len(x_test), int))
    (tmp_path / "server" / "imdb.npz").write_bytes(data)


@pytest.mark.parametrize("kwargs, train, test", [
    # +3 for index_from, 1 first; the largest index (10) is outside [0, max) and becomes oov 2.
    ({}, [1, 7, 4, 2], [1, 5, 9]),
    ({"num_words": 6, "skip_top": 2}, [2, 2, 4, 2], [2, 5, 2]),
    ({"num_words": 6, "skip_top": 2, "oov_char": None}, [4], [5]),
    ({"start_char": None, "index_from": 0, "num_words": 7}, [4, 1, 2], [2, 6]),
    ({"start_char": 0, "oov_char": 1, "index_from": 1, "maxlen": 5}, [0, 5, 2, 1], [0, 3, 7]),
])
def test_imdb_marks_by_hand(server, tmp_path, kwargs, train, test):
    write_imdb(tmp_path, [[4, 1, 7]], [[2, 6]])
    (x, y), (xt, yt) = load(server, tmp_path, imdb, **kwargs)
    assert x.shape == xt.shape == (1,) and x.dtype == object and x[0] == train and xt[0] == test
    assert y.tolist() == yt.tolist() == [0]


def test_imdb_maxlen_that_keeps_nothing(server, tmp_path):
    write_imdb(tmp_path, [[4, 1, 7]], [[2]])  # with the start mark: 4 and 2 items
    with pytest.raises(ValueError, match="no review is shorter than maxlen=4"):
        load(server, tmp_path, imdb, maxlen=4)


def test_mnist_local_file_and_cache(server, tmp_path, monkeypatch):
    own = tmp_path / "server" / "mnist.npz"
    monkeypatch.setattr(mnist, "get_file", lambda *a, **k: pytest.fail("a local file must not be downloaded"))
    (x, y), (xt, yt) = mnist.load_data(own)
    assert x.shape == (6, 28, 28) and x.dtype == y.dtype == np.uint8 and xt.shape == (3, 28, 28)
    with pytest.raises(FileNotFoundError, match="No MNIST file at .*missing/mnist.npz"):
        mnist.load_data(tmp_path / "missing" / "mnist.npz")
    # The default path is a name in the Keras cache ($KERAS_HOME/datasets), used there when its hash matches.
    monkeypatch.undo()
    home = tmp_path / "home"
    (home / "datasets").mkdir(parents=True)
    (home / "datasets" / "mnist.npz").write_bytes(own.read_bytes())
    monkeypatch.setenv("KERAS_HOME", str(home))
    monkeypatch.setattr(mnist, "DATA_HASH", hashlib.sha256(own.read_bytes()).hexdigest())
    monkeypatch.setattr(file_download.urllib.request, "urlopen", lambda url: pytest.fail(f"downloaded {url}"))
    np.testing.assert_array_equal(mnist.load_data()[0][0], x)


def test_download_then_cached(server, tmp_path, monkeypatch):
    first = load(server, tmp_path, mnist)
    monkeypatch.setattr(file_download.urllib.request, "urlopen", lambda url: pytest.fail(f"downloaded {url}"))
    assert_same(load(server, tmp_path, mnist), first)
    assert os.path.isfile(tmp_path / "ours" / "datasets" / "mnist.npz")


def test_bad_input(server, tmp_path, monkeypatch):
    with pytest.raises(ValueError, match="label_mode must be 'fine' or 'coarse'; received 'medium'"):
        cifar100.load_data(label_mode="medium")
    with pytest.raises(ValueError, match="test_split must be in \\[0, 1\\).*1.0"):
        boston_housing.load_data(test_split=1.0)
    with pytest.raises(ValueError, match="version must be 'large' or 'small'; received 'tiny'"):
        california_housing.load_data(version="tiny")
    with pytest.warns(UserWarning, match="ignores the unknown arguments \\['nb_words'\\]"):
        load(server, tmp_path, imdb, nb_words=5)
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not a zip file")
    with pytest.raises(ValueError, match="Could not read .*bad.npz.* as a Keras-format mnist.npz"):
        mnist.load_data(bad)


def test_corrupt_archive_names_the_file(server, tmp_path):
    whole = FILES["cifar-10-python.tar.gz"]
    (tmp_path / "server" / "cifar-10-python.tar.gz").write_bytes(whole[:len(whole) // 2])
    with pytest.raises(ValueError, match="Could not extract .*cifar-10-batches-py-target_archive"):
        load(server, tmp_path, cifar10)
    (tmp_path / "server" / "cifar-100-python.tar.gz").write_bytes(
        tar_gz({"cifar-100-python/train": b"garbage", "cifar-100-python/test": b"garbage"}))
    with pytest.raises(ValueError, match="Could not read .*cifar-100-python/train.* as a pickled CIFAR batch"):
        load(server, tmp_path, cifar100)
    (tmp_path / "server" / "t10k-labels-idx1-ubyte.gz").write_bytes(b"not gzip")
    with pytest.raises(ValueError, match="Could not read .*t10k-labels-idx1-ubyte.gz.* as a gzipped"):
        load(server, tmp_path, fashion_mnist)


def test_pickle_beyond_numpy_arrays_is_refused(server, tmp_path):
    hostile = np.empty(2, dtype=object)
    hostile[0], hostile[1] = [1, 2], datetime.date(2020, 1, 1)  # any global other than numpy's array ones
    (tmp_path / "server" / "reuters.npz").write_bytes(npz(x=hostile, y=np.zeros(2, int)))
    with pytest.raises(ValueError, match="Could not read .*reuters.npz.*refusing to load datetime.date"):
        load(server, tmp_path, reuters)
