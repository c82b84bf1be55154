"""CIFAR's pickled batches as channels-last images, shared by ``cifar10`` and ``cifar100``."""
from __future__ import annotations

import numpy as np

from layerwise.datasets.keras_files import load_pickle, read_failed


def load_batch(path: str, label_key: str = "labels") -> tuple[np.ndarray, np.ndarray]:
    """``(images, labels)``: uint8 ``(n, 32, 32, 3)`` and the ``(n,)`` labels stored under ``label_key``.

    Only called on files extracted from an archive whose sha256 ``get_file`` has just verified.
    """
    batch = load_pickle(path, "a pickled CIFAR batch")
    try:
        data, labels = batch[b"data"], np.asarray(batch[label_key.encode()])
        # Rows hold the red, green then blue 32x32 planes; layerwise's images are channels last.
        images = np.ascontiguousarray(data.reshape(len(data), 3, 32, 32).transpose(0, 2, 3, 1))
    except (KeyError, TypeError, ValueError, AttributeError) as err:
        raise read_failed(path, "a pickled CIFAR batch (with b'data' and b'" + label_key + "')", err) from err
    return images, labels
