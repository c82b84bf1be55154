"""Keras' ``unpack_x_y_sample_weight`` and ``pack_x_y_sample_weight``: the forms ``(x,)``, ``(x, y)`` and
``(x, y, sample_weight)`` in which ``fit`` hands a batch to an overridden ``train_step`` (``test_step``,
``predict_step``)."""
from __future__ import annotations

__all__ = ["pack_x_y_sample_weight", "unpack_x_y_sample_weight"]


def unpack_x_y_sample_weight(data) -> tuple:
    """``(x, y, sample_weight)`` from a batch ``x``, ``(x,)``, ``(x, y)`` or ``(x, y, sample_weight)``, with
    None for what the batch leaves out. Any other tuple or list raises a ValueError."""
    if isinstance(data, list):
        data = tuple(data)
    if not isinstance(data, tuple):
        return data, None, None
    if 1 <= len(data) <= 3:
        return (*data, None, None)[:3]
    raise ValueError(f"unpack_x_y_sample_weight: data must be x, (x,), (x, y) or (x, y, sample_weight); received a "
                     f"tuple of {len(data)} items.")


def pack_x_y_sample_weight(x, y=None, sample_weight=None):
    """A batch in the form ``fit`` passes to ``train_step``: ``x`` alone when there is no ``y`` (``(x,)`` when
    ``x`` is itself a list or tuple of inputs, so that it is not read as ``(x, y)``), else ``(x, y)`` or
    ``(x, y, sample_weight)``."""
    if y is None:
        return (x,) if isinstance(x, (tuple, list)) else x
    return (x, y) if sample_weight is None else (x, y, sample_weight)
