"""MNIST from a local Keras-format ``mnist.npz`` (keys x_train, y_train, x_test, y_test)."""
from __future__ import annotations

import os

import numpy as np


def load_data(path: str | os.PathLike):
    """``((x_train, y_train), (x_test, y_test))``: uint8 images ``(n, 28, 28)`` and integer labels.

    layerwise never downloads: pass the path of your copy of Keras' ``mnist.npz``.
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"No MNIST file at {path!r}; pass the path of a Keras-format mnist.npz.")
    with np.load(path) as data:
        missing = {"x_train", "y_train", "x_test", "y_test"} - set(data.files)
        if missing:
            raise ValueError(f"{path!r} is not a Keras-format mnist.npz: missing {sorted(missing)}.")
        return (data["x_train"], data["y_train"]), (data["x_test"], data["y_test"])
