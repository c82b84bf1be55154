"""scikit-learn's bundled 8x8 digits as images, split like Keras' ``load_data``."""
from __future__ import annotations

import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split


def load_data(upscale: int = 2, test_size: float = 0.25, seed: int = 0):
    """``((x_train, y_train), (x_test, y_test))`` with x float32 in [0, 1] of shape
    ``(n, 8 * upscale, 8 * upscale, 1)`` and integer labels ``(n,)``; a stratified split.

    ``upscale`` repeats pixels so that small 2x2 convolutions and pools have room to work.
    """
    digits = load_digits()
    images = digits.images.astype("float32") / 16.0
    if upscale > 1:
        images = np.kron(images, np.ones((upscale, upscale), "float32"))
    x_train, x_test, y_train, y_test = train_test_split(
        images[..., None], digits.target, test_size=test_size, random_state=seed, stratify=digits.target)
    return (x_train, y_train), (x_test, y_test)
