"""Input handling for the ``Autoencoder`` transformer: images vs flat rows, finiteness, and scaling.

Everything here works on plain numpy arrays; the estimator keeps only the resulting fitted
attributes (``input_shape_``, ``image_shape_``, ``shift_``, ``scale_``).
"""
from __future__ import annotations

import math
import warnings

import numpy as np
import scipy.sparse as sp

SCALES = (None, "minmax", "standard")


def split_images(X) -> tuple[object, tuple[int, ...] | None]:
    """``(X as flat rows, per-sample shape)`` for image batches ``(n, h, w[, c])``; other X pass through.

    Only arrays and tensors of rank > 2 are images; tables, sparse matrices and 2-D arrays are returned
    unchanged with shape None, for scikit-learn's own validation.
    """
    if sp.issparse(X) or hasattr(X, "iloc"):
        return X, None
    if hasattr(X, "detach"):  # a torch tensor
        X = X.detach().cpu().numpy()
    if isinstance(X, np.ndarray) and X.ndim > 2:
        return X.reshape(len(X), -1), tuple(X.shape[1:])
    return X, None


def check_finite(X: np.ndarray, who: str) -> None:
    """Refuse NaN and infinities with a message that says how to deal with them."""
    if not np.isfinite(X).all():
        n_nan, n_inf = int(np.isnan(X).sum()), int(np.isinf(X).sum())
        raise ValueError(f"{who}: X contains {n_nan} NaN and {n_inf} infinite value(s). An autoencoder needs "
                         "every value: impute missing values first, e.g. "
                         "make_pipeline(SimpleImputer(), Autoencoder()) with sklearn.impute.SimpleImputer, "
                         "and replace infinities.")


def resolve_image_shape(kind: str, n_features: int, sample_shape: tuple[int, ...] | None,
                        image_shape) -> tuple[int, int, int] | None:
    """The ``(h, w, c)`` images that ``kind='conv'`` works on, or None for ``kind='dense'``.

    ``sample_shape`` is the per-sample shape of image input (None for flat rows); ``image_shape`` is the
    user's parameter. Dense autoencoders flatten images, with a note.
    """
    if kind == "dense":
        if sample_shape is not None:
            warnings.warn(f"Autoencoder(kind='dense') flattens the images of shape {sample_shape} into "
                          f"{n_features} features; inverse_transform gives images of that shape back. "
                          "Use kind='conv' to keep their spatial structure.", UserWarning, stacklevel=3)
        return None
    shape = tuple(image_shape) if image_shape is not None else sample_shape
    if shape is None:
        raise ValueError(f"Autoencoder(kind='conv') needs images: X of shape (n, height, width) or "
                         f"(n, height, width, channels), or flat rows with image_shape=(height, width[, channels]). "
                         f"Got flat rows of {n_features} features and image_shape=None.")
    if len(shape) == 2:
        shape = (*shape, 1)
    if len(shape) != 3 or not all(isinstance(d, (int, np.integer)) and d > 0 for d in shape):
        raise ValueError(f"image_shape must be (height, width) or (height, width, channels), got {image_shape!r}.")
    if math.prod(shape) != n_features:
        raise ValueError(f"image_shape {tuple(shape)} holds {math.prod(shape)} values, but X has "
                         f"{n_features} features per sample.")
    return tuple(int(d) for d in shape)


def scaling_stats(X: np.ndarray, scale: str | None) -> tuple[np.ndarray | None, np.ndarray | None]:
    """``(shift, scale)`` per feature so that ``(X - shift) / scale`` is in [0, 1] ('minmax') or standard
    ('standard'); ``(None, None)`` for ``scale=None``. Constant features get a scale of 1, as in scikit-learn."""
    if scale is None:
        return None, None
    if scale == "minmax":
        shift, spread = X.min(axis=0), X.max(axis=0) - X.min(axis=0)
    elif scale == "standard":
        shift, spread = X.mean(axis=0), X.std(axis=0)
    else:
        raise ValueError(f"scale must be one of {SCALES}, got {scale!r}.")
    spread = np.where(spread > 10 * np.finfo(spread.dtype).eps, spread, 1.0)
    return shift, spread


def apply_scaling(X: np.ndarray, shift: np.ndarray | None, scale: np.ndarray | None) -> np.ndarray:
    return X if shift is None else (X - shift) / scale


def undo_scaling(X: np.ndarray, shift: np.ndarray | None, scale: np.ndarray | None) -> np.ndarray:
    return X if shift is None else X * scale + shift
