"""Reading the files that Keras' built-in data sets download, with pickle kept to numpy arrays.

IMDB and Reuters keep ragged sequences as object arrays inside ``.npz`` files and CIFAR ships
Python pickles; both need pickle, which can run arbitrary code. The unpickler here resolves only the
globals numpy uses to rebuild an array, so a tampered file fails to load instead of running anything.
"""
from __future__ import annotations

import io
import json
import pickle
import zipfile
import zlib

import numpy as np

ORIGIN_FOLDER = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/"

# numpy < 2 wrote ``numpy.core``, numpy >= 2 writes ``numpy._core``: both must load.
_ARRAY_GLOBALS = frozenset({("numpy", "ndarray"), ("numpy", "dtype"), ("numpy.core.multiarray", "_reconstruct"),
                            ("numpy._core.multiarray", "_reconstruct")})
_READ_ERRORS = (OSError, EOFError, ValueError, KeyError, IndexError, zipfile.BadZipFile, zlib.error,
                pickle.UnpicklingError)


class _ArrayUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str):
        if (module, name) not in _ARRAY_GLOBALS:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name}: a data set file holds only numpy "
                                         "arrays, lists, numbers and strings")
        return super().find_class(module, name)


def read_failed(path: str, what: str, err: BaseException) -> ValueError:
    """The error for a data set file that cannot be read: it names the file and what it should be."""
    return ValueError(f"Could not read {path!r} as {what} ({type(err).__name__}: {err}). The file is corrupt "
                      "or of another format: delete it so that it is downloaded again.")


def load_arrays(path: str, what: str, keys: tuple[str, ...]) -> dict[str, np.ndarray]:
    """The arrays ``keys`` of the ``.npz`` file at ``path``, read without pickle."""
    try:
        with np.load(path, allow_pickle=False) as data:
            return {key: data[key] for key in keys}
    except _READ_ERRORS as err:
        raise read_failed(path, what, err) from err


def load_npz(path: str, what: str, keys: tuple[str, ...]) -> dict[str, np.ndarray]:
    """The arrays ``keys`` of the ``.npz`` file at ``path``; object arrays go through the array-only
    unpickler (``np.load(allow_pickle=True)`` would trust any pickle)."""
    try:
        with zipfile.ZipFile(path) as archive:
            return {key: _read_npy(io.BytesIO(archive.read(key + ".npy"))) for key in keys}
    except _READ_ERRORS as err:
        raise read_failed(path, what, err) from err


def _read_npy(stream: io.BytesIO) -> np.ndarray:
    version = np.lib.format.read_magic(stream)
    # Format 3.0 differs from 2.0 only in the header's text encoding, so 2.0's reader parses both.
    read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
    _, _, dtype = read_header(stream)
    if dtype.hasobject:
        return _ArrayUnpickler(stream).load()
    stream.seek(0)
    return np.lib.format.read_array(stream, allow_pickle=False)


def load_pickle(path: str, what: str):
    """The object pickled at ``path`` (numpy arrays, lists, dicts, numbers, bytes only).

    Python 2 wrote CIFAR's batches: ``encoding="bytes"`` keeps their ``str`` keys as bytes rather than
    guessing a text encoding. Callers only read files extracted from an archive whose hash
    ``get_file`` verified, and the array-only unpickler refuses any other global regardless.
    """
    try:
        with open(path, "rb") as file:
            return _ArrayUnpickler(file, encoding="bytes").load()
    except _READ_ERRORS as err:
        raise read_failed(path, what, err) from err



def load_json(path: str, what: str):
    """The JSON document at ``path`` (a word index)."""
    try:
        with open(path, encoding="utf-8") as file:
            return json.load(file)
    except (OSError, ValueError) as err:
        raise read_failed(path, what, err) from err
