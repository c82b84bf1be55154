"""Small array helpers with Keras' names."""
from __future__ import annotations

import numpy as np


def to_categorical(y, num_classes: int | None = None, dtype: str = "float64") -> np.ndarray:
    """Integer class labels ``(n,)`` (or ``(n, 1)``) -> one-hot rows ``(n, num_classes)``, float64 as in Keras 3
    (``fit`` trains in float32 all the same)."""
    y = np.asarray(y)
    if y.dtype.kind in "US":  # labels read as text ("3") convert as in Keras; words need a lookup first
        try:
            y = y.astype("int64")
        except (TypeError, ValueError):
            raise ValueError("to_categorical expects integer class labels; map text labels to integers first "
                             "(e.g. with layerwise.layers.StringLookup or sklearn's LabelEncoder).") from None
    if y.ndim > 1 and y.shape[-1] == 1:
        y = y.reshape(y.shape[:-1])
    if y.size and not np.all(np.equal(np.mod(y, 1), 0)):
        raise ValueError("to_categorical expects integer class labels.")
    y = y.astype("int64")
    if y.size and y.min() < 0:
        raise ValueError(f"to_categorical: labels must be non-negative, got {y.min()}.")
    num_classes = int(y.max()) + 1 if not num_classes else num_classes  # 0 or None: from the labels, as Keras
    if y.size and y.max() >= num_classes:
        raise ValueError(f"to_categorical: label {y.max()} does not fit num_classes={num_classes}.")
    out = np.zeros((*y.shape, num_classes), dtype=dtype)
    np.put_along_axis(out, y[..., None], 1, axis=-1)
    return out


def normalize(x, axis: int = -1, order: int = 2) -> np.ndarray:
    """Scale ``x`` to unit ``order``-norm along ``axis``."""
    x = np.asarray(x, dtype="float32")
    norm = np.linalg.norm(x, ord=order, axis=axis, keepdims=True)
    return x / np.where(norm == 0, 1, norm)
