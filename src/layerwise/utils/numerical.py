"""Small array helpers with Keras' names."""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from layerwise.backend import epsilon


def to_categorical(x, num_classes: int | None = None, dtype=None) -> np.ndarray | torch.Tensor:
    """Integer class labels ``(n,)`` (or ``(n, 1)``, or any shape ``(...)``) -> one-hot rows
    ``(n, num_classes)`` (``(..., num_classes)``), as Keras 3's ``to_categorical(x, num_classes)``.

    A torch tensor gives a torch tensor on its device, int64 as from Keras' torch backend; anything else (lists,
    numpy arrays) gives a numpy array, float64 as in Keras (``fit`` trains in float32 all the same). ``dtype``
    (Keras 2's argument, which Keras 3 dropped) sets the result's dtype instead. ``num_classes`` None or 0:
    ``max(x) + 1``.
    """
    if isinstance(x, torch.Tensor):
        labels, num_classes = _class_ids(x.detach().cpu().numpy(), num_classes)
        one_hot = F.one_hot(torch.from_numpy(labels).to(x.device), num_classes)
        if dtype is None:
            return one_hot
        from layerwise.ops.core import standardize_dtype  # here: layerwise.ops imports layerwise.utils
        return one_hot.to(standardize_dtype(dtype))
    labels, num_classes = _class_ids(np.asarray(x), num_classes)
    out = np.zeros((*labels.shape, num_classes), dtype="float64" if dtype is None else dtype)
    np.put_along_axis(out, labels[..., None], 1, axis=-1)
    return out


def _class_ids(y: np.ndarray, num_classes: int | None) -> tuple[np.ndarray, int]:
    """Checked int64 class ids ``(...)`` from labels ``(...)`` or ``(..., 1)``, and the number of classes."""
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
    return y, num_classes


def normalize(x, axis: int = -1, order: int = 2) -> np.ndarray | torch.Tensor:
    """``x`` scaled to unit ``order``-norm along ``axis``, as Keras 3's ``normalize``.

    A numpy array gives a numpy array of numpy's division dtype (float32 stays float32, float64 stays float64,
    integers give float64), all-zero slices left at 0. A torch tensor gives a tensor on its device (integers as
    float32), its norms floored at ``backend.epsilon()`` (Keras' ``ops.nn.normalize``, which takes an integer
    ``order`` >= 1). Anything else (lists) gives a float32 numpy array (Keras: a float32 tensor).
    """
    if isinstance(x, torch.Tensor):
        return _normalize_tensor(x, axis, order)
    x = x if isinstance(x, np.ndarray) else np.asarray(x, dtype="float32")
    norm = np.linalg.norm(x, ord=order, axis=axis, keepdims=True)
    return x / np.where(norm == 0, 1, norm)


def _normalize_tensor(x: torch.Tensor, axis: int, order: int) -> torch.Tensor:
    """Keras' ``ops.nn.normalize``: ``x / max(norm(x), epsilon)``, float, of ``x``'s shape (a scalar as ``(1,)``)."""
    if isinstance(order, bool) or not isinstance(order, int) or order < 1:
        raise ValueError(f"normalize: order must be an int >= 1 for a tensor; received order={order!r}.")
    x = x if x.is_floating_point() else x.to(torch.float32)
    x = x.unsqueeze(0) if x.ndim == 0 else x
    norm = torch.linalg.vector_norm(x, ord=order, dim=axis, keepdim=True)
    return x / norm.clamp_min(epsilon())
