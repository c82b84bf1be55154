"""CIFAR-10: 32x32 colour photos in 10 classes (Keras' ``cifar10``)."""
from __future__ import annotations

import os

import numpy as np

from layerwise.datasets.cifar import load_batch
from layerwise.utils.file_download import get_file

ORIGIN = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
DATA_HASH = "6d958be074577803d12ecdefd02955f39262c83c16fe9348329d7fe0b5c001ce"


def load_data():
    """``((x_train, y_train), (x_test, y_test))``: uint8 images ``(50000, 32, 32, 3)`` and
    ``(10000, 32, 32, 3)`` (``(n, 3, 32, 32)`` under ``image_data_format() == 'channels_first'``, as Keras)
    with uint8 labels ``(n, 1)`` (0 airplane ... 9 truck)."""
    folder = get_file(fname="cifar-10-batches-py-target", origin=ORIGIN, extract=True, file_hash=DATA_HASH)
    folder = os.path.join(folder, "cifar-10-batches-py")
    train = [load_batch(os.path.join(folder, f"data_batch_{i}")) for i in range(1, 6)]
    x_test, y_test = load_batch(os.path.join(folder, "test_batch"))
    x_train = np.concatenate([x for x, _ in train])
    y_train = np.concatenate([y for _, y in train]).astype(np.uint8)
    return (x_train, y_train.reshape(-1, 1)), (x_test, y_test.astype(np.uint8).reshape(-1, 1))
