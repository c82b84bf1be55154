"""CIFAR-100: 32x32 colour photos in 100 classes grouped into 20 superclasses (Keras' ``cifar100``)."""
from __future__ import annotations

import os

from layerwise.datasets.cifar import load_batch
from layerwise.utils.file_download import get_file

ORIGIN = "https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz"
DATA_HASH = "85cd44d02ba6437773c5bbd22e183051d648de2e7d6b014e1ef29b855ba677a7"


def load_data(label_mode: str = "fine"):
    """``((x_train, y_train), (x_test, y_test))``: uint8 images ``(50000, 32, 32, 3)`` and
    ``(10000, 32, 32, 3)`` (``(n, 3, 32, 32)`` under ``image_data_format() == 'channels_first'``, as Keras)
    with int64 labels ``(n, 1)``: the 100 classes for ``label_mode="fine"``,
    the 20 superclasses for ``"coarse"``."""
    if label_mode not in ("fine", "coarse"):
        raise ValueError(f"cifar100.load_data: label_mode must be 'fine' or 'coarse'; received {label_mode!r}.")
    folder = get_file(fname="cifar-100-python-target", origin=ORIGIN, extract=True, file_hash=DATA_HASH)
    folder = os.path.join(folder, "cifar-100-python")
    x_train, y_train = load_batch(os.path.join(folder, "train"), f"{label_mode}_labels")
    x_test, y_test = load_batch(os.path.join(folder, "test"), f"{label_mode}_labels")
    return (x_train, y_train.reshape(-1, 1)), (x_test, y_test.reshape(-1, 1))
