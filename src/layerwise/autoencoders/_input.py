"""Input handling for the ``Autoencoder`` transformer: images vs flat rows, finiteness, and scaling.

Everything here works on plain numpy arrays; the estimator keeps only the resulting fitted
attributes (``input_shape_``, ``image_shape_``, ``shift_``, ``scale_``).
"""
from __future__ import annotations

import math
import warnings

import numpy as np
import scipy.sparse as sp
from sklearn.preprocessing import StandardScaler

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


def _with_channel(shape) -> tuple[int, ...]:
    """``shape`` as plain ints, with a channel of 1 appended to ``(h, w)``."""
    shape = tuple(int(d) for d in shape)
    return (*shape, 1) if len(shape) == 2 else shape


def _checked_image_shape(image_shape) -> tuple[int, int, int]:
    """The ``image_shape`` parameter as ``(h, w, c)``, or a ValueError when it is not 2 or 3 positive ints."""
    shape = tuple(image_shape)
    if len(shape) not in (2, 3) or not all(isinstance(d, (int, np.integer)) and d > 0 for d in shape):
        raise ValueError(f"image_shape must be (height, width) or (height, width, channels), got {image_shape!r}.")
    return _with_channel(shape)


def resolve_image_shape(kind: str, n_features: int, sample_shape: tuple[int, ...] | None,
                        image_shape) -> tuple[int, int, int] | None:
    """The ``(h, w, c)`` images that ``kind='conv'`` works on, or None for ``kind='dense'``.

    ``sample_shape`` is the per-sample shape of image input (None for flat rows); ``image_shape`` is the
    user's parameter, which shapes flat rows and must agree with image input (a channel of 1 aside).
    Dense autoencoders flatten images, with a note.
    """
    if kind == "dense":
        if sample_shape is not None:
            warnings.warn(f"Autoencoder(kind='dense') flattens the images of shape {sample_shape} into "
                          f"{n_features} features; inverse_transform gives images of that shape back. "
                          "Use kind='conv' to keep their spatial structure.", UserWarning, stacklevel=4)
        return None
    if sample_shape is None and image_shape is None:
        raise ValueError(f"Autoencoder(kind='conv') needs images: X of shape (n, height, width) or "
                         f"(n, height, width, channels), or flat rows with image_shape=(height, width[, channels]). "
                         f"Got flat rows of {n_features} features and image_shape=None.")
    if image_shape is None:
        if len(sample_shape) not in (2, 3):
            raise ValueError(f"Autoencoder(kind='conv') takes samples of shape (height, width) or (height, width, "
                             f"channels); X has samples of shape {tuple(sample_shape)}. Reshape X to images, or "
                             "use kind='dense', which flattens samples of any shape.")
        return _with_channel(sample_shape)
    shape = _checked_image_shape(image_shape)
    if sample_shape is not None and _with_channel(sample_shape) != shape:
        # reading (8, 8) images as (4, 16) ones would silently scramble every image
        raise ValueError(f"image_shape={tuple(image_shape)!r} disagrees with the images' own shape "
                         f"{tuple(sample_shape)}: image arrays (n, height, width[, channels]) bring their own. Drop "
                         "image_shape, or pass flat rows (n, height * width * channels) for it to shape.")
    if math.prod(shape) != n_features:
        raise ValueError(f"image_shape {shape} holds {math.prod(shape)} values, but X has "
                         f"{n_features} features per sample.")
    return shape


def scaling_stats(X: np.ndarray, scale: str | None) -> tuple[np.ndarray | None, np.ndarray | None]:
    """``(shift, scale)`` per feature, each ``(n_features,)`` in X's dtype, so that ``(X - shift) / scale`` is in
    [0, 1] ('minmax') or standard ('standard'); ``(None, None)`` for ``scale=None``. Constant features get a
    scale of 1, as in scikit-learn's ``MinMaxScaler`` and ``StandardScaler``."""
    if scale is None:
        return None, None
    if scale == "minmax":
        shift, spread = X.min(axis=0), X.max(axis=0) - X.min(axis=0)
        spread = np.where(spread > 10 * np.finfo(spread.dtype).eps, spread, 1.0)
    elif scale == "standard":
        # StandardScaler tells constant columns by their rounding error relative to their mean: a constant 1000.1
        # has a std of about 1e-13 from rounding alone, and dividing by it would blow new values up ~1e13 times.
        scaler = StandardScaler().fit(X)
        shift, spread = scaler.mean_, scaler.scale_
    else:
        raise ValueError(f"scale must be one of {SCALES}, got {scale!r}.")
    return shift.astype(X.dtype), spread.astype(X.dtype)


def apply_scaling(X: np.ndarray, shift: np.ndarray | None, scale: np.ndarray | None) -> np.ndarray:
    return X if shift is None else (X - shift) / scale


def undo_scaling(X: np.ndarray, shift: np.ndarray | None, scale: np.ndarray | None) -> np.ndarray:
    return X if shift is None else X * scale + shift
