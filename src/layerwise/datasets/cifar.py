"""CIFAR's pickled batches as images in ``config.image_data_format()``'s layout, shared by ``cifar10`` and
``cifar100``."""
from __future__ import annotations

import numpy as np

from layerwise.backend import image_data_format
from layerwise.datasets.keras_files import load_pickle, read_failed


def load_batch(path: str, label_key: str = "labels") -> tuple[np.ndarray, np.ndarray]:
    """``(images, labels)``: uint8 images ``(n, 32, 32, 3)``, or ``(n, 3, 32, 32)`` when
    ``config.image_data_format()`` is 'channels_first' (as Keras' ``cifar10`` / ``cifar100.load_data``), and
    the ``(n,)`` labels stored under ``label_key``.

    Only called on files extracted from an archive whose sha256 ``get_file`` has just verified.
    """
    batch = load_pickle(path, "a pickled CIFAR batch")
    try:
        data, labels = batch[b"data"], np.asarray(batch[label_key.encode()])
        # Rows hold the red, green then blue 32x32 planes: channels first as stored
        images = data.reshape(len(data), 3, 32, 32)
    except (KeyError, TypeError, ValueError, AttributeError) as err:
        raise read_failed(path, "a pickled CIFAR batch (with b'data' and b'" + label_key + "')", err) from err
    if image_data_format() == "channels_last":
        images = np.ascontiguousarray(images.transpose(0, 2, 3, 1))
    return images, labels
