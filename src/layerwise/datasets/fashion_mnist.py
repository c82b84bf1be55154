"""Fashion-MNIST: 28x28 grayscale photos of 10 kinds of clothing (Keras' ``fashion_mnist``)."""
from __future__ import annotations

import gzip
import os

import numpy as np

from layerwise.datasets.keras_files import ORIGIN_FOLDER, read_failed
from layerwise.utils.file_download import get_file

_FILES = ("train-labels-idx1-ubyte.gz", "train-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz",
          "t10k-images-idx3-ubyte.gz")


def load_data():
    """``((x_train, y_train), (x_test, y_test))``: uint8 images ``(60000, 28, 28)`` and
    ``(10000, 28, 28)`` with uint8 labels ``(n,)`` (0 T-shirt/top ... 9 ankle boot)."""
    # Keras publishes no hash for these four files, so none is checked.
    paths = [get_file(name, origin=ORIGIN_FOLDER + name, cache_subdir=os.path.join("datasets", "fashion-mnist"))
             for name in _FILES]
    y_train, y_test = _read_idx(paths[0], 8), _read_idx(paths[2], 8)
    x_train, x_test = _read_idx(paths[1], 16, len(y_train)), _read_idx(paths[3], 16, len(y_test))
    return (x_train, y_train), (x_test, y_test)


def _read_idx(path: str, header: int, images: int | None = None) -> np.ndarray:
    """The uint8 body of a gzipped IDX file (labels, or ``images`` 28x28 images) after its header."""
    try:
        with gzip.open(path, "rb") as file:
            values = np.frombuffer(file.read(), np.uint8, offset=header)
        return values if images is None else values.reshape(images, 28, 28)
    except (OSError, EOFError, ValueError) as err:
        raise read_failed(path, "a gzipped Fashion-MNIST IDX file", err) from err
