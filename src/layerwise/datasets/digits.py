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


# (row, column) offsets read by each shifted copy: up, left, right, down, in the order of scikit-learn's
# "RBM features for digit classification" example, so that its split picks the same rows.
_NUDGES = ((1, 0), (0, 1), (0, -1), (-1, 0))


def nudge(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The images followed by four copies shifted one pixel up, left, right and down (zeros shift in).

    ``x``: (n, 64) flattened 8x8 images or (n, 8, 8); returns ``(5n, ...)`` in the same layout and the
    labels repeated to match. This is the augmentation of scikit-learn's RBM digits example: shifted
    digits defeat a linear classifier on raw pixels, which is what RBM features are shown to fix.
    """
    x = np.asarray(x)
    if x.shape[1:] not in ((64,), (8, 8)):
        raise ValueError(f"nudge expects 8x8 digits as (n, 64) or (n, 8, 8); got shape {x.shape}.")
    images = x.reshape(-1, 8, 8)
    shifted = [images]
    for dr, dc in _NUDGES:
        out = np.zeros_like(images)
        rows_out, rows_in = slice(max(0, -dr), 8 - max(0, dr)), slice(max(0, dr), 8 + min(0, dr))
        cols_out, cols_in = slice(max(0, -dc), 8 - max(0, dc)), slice(max(0, dc), 8 + min(0, dc))
        out[:, rows_out, cols_out] = images[:, rows_in, cols_in]
        shifted.append(out)
    return np.concatenate(shifted).reshape(-1, *x.shape[1:]), np.concatenate([np.asarray(y)] * 5)
