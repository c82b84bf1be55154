"""MNIST handwritten digits (Keras' ``mnist``): Keras' ``mnist.npz``, downloaded once into the cache."""
from __future__ import annotations

import os

from layerwise.datasets.keras_files import ORIGIN_FOLDER, load_arrays
from layerwise.utils.file_download import get_file

DATA_HASH = "731c5ac602752760c8e48fbffcf8c3b850d9dc2a2aedcf2cc48468fc17b673d1"


def load_data(path: str | os.PathLike = "mnist.npz"):
    """``((x_train, y_train), (x_test, y_test))``: uint8 images ``(60000, 28, 28)`` and
    ``(10000, 28, 28)`` with uint8 labels ``(n,)``.

    ``path`` naming an existing file (your own copy of Keras' ``mnist.npz``) is read as it is; otherwise
    it is a file name in the Keras cache (``~/.keras/datasets``), downloaded there when absent.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        if os.sep in path or (os.altsep and os.altsep in path):
            raise FileNotFoundError(f"No MNIST file at {path!r}. Pass the path of an existing Keras-format "
                                    "mnist.npz, or a plain file name to download it into the Keras cache.")
        path = get_file(fname=path, origin=f"{ORIGIN_FOLDER}mnist.npz", file_hash=DATA_HASH)
    data = load_arrays(path, "a Keras-format mnist.npz (keys x_train, y_train, x_test, y_test)",
                       ("x_train", "y_train", "x_test", "y_test"))
    return (data["x_train"], data["y_train"]), (data["x_test"], data["y_test"])
