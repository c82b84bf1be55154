"""From what users pass to ``fit``/``evaluate``/``predict`` to batches of tensors on the device.

Arrays are validated once (shapes, counts, NaN and infinities) and moved to the device once;
batches are then index slices of those tensors, with no DataLoader in between. Any other
iterable of ``(x, y)`` or ``(x, y, sample_weight)`` batches (a ``torch.utils.data.DataLoader``,
``image_dataset_from_directory``) is passed through batch by batch.
"""
from __future__ import annotations

import math
from typing import Iterable, Iterator

import numpy as np
import torch

from layerwise.backend import floatx, get_device

Batch = tuple[torch.Tensor, "torch.Tensor | None", "torch.Tensor | None"]


def as_array_tensor(value, what: str, device: torch.device | None = None, check_finite: bool = True) -> torch.Tensor:
    """``value`` (array, tensor or nested list) as a tensor on ``device``; floats become float32.

    Raises a ValueError that names ``what`` for ragged lists, non-numeric data, NaN or infinity.
    """
    device = device or get_device()
    if not isinstance(value, torch.Tensor):
        try:
            array = np.asarray(value)
        except ValueError as err:  # numpy refuses ragged nested lists
            raise ValueError(f"{what} is a ragged list (its rows have different lengths): {err}. "
                             "Pad the sequences to one length first, e.g. "
                             "layerwise.utils.pad_sequences(sequences).") from None
        if array.dtype == object:
            raise ValueError(f"{what} has dtype object (ragged rows or mixed types). Give a numeric array; "
                             "pad ragged sequences with layerwise.utils.pad_sequences.")
        if not (np.issubdtype(array.dtype, np.number) or array.dtype == bool):
            raise ValueError(f"{what} must be numeric, got dtype {array.dtype}.")
        value = torch.from_numpy(np.ascontiguousarray(array))
    if value.is_floating_point():
        # One pass: NaN propagates through min/max and infinities show up as the extremes.
        if check_finite and value.numel() and not all(map(math.isfinite, map(float, torch.aminmax(value)))):
            bad = int((~torch.isfinite(value)).sum())
            raise ValueError(f"{what} contains {bad} NaN or infinite value(s). Remove or impute them "
                             "before training (e.g. sklearn.impute.SimpleImputer or layerwise.rbm.RBMImputer).")
        value = value.to(floatx())
    elif not value.dtype.is_floating_point and value.dtype not in (torch.int64, torch.int32, torch.bool):
        value = value.to(floatx())  # uint8 pixels and the like: Keras casts inputs to float32
    return value.to(device)


class ArrayData:
    """In-memory ``x`` (and ``y``, ``sample_weight``) on the device, served as index-slice batches."""

    def __init__(self, x: torch.Tensor, y: torch.Tensor | None, sample_weight: torch.Tensor | None,
                 batch_size: int):
        self.x, self.y, self.sample_weight, self.batch_size = x, y, sample_weight, batch_size

    @property
    def num_samples(self) -> int:
        return len(self.x)

    def __len__(self) -> int:
        return math.ceil(self.num_samples / self.batch_size)

    def batches(self, shuffle: bool = False) -> Iterator[Batch]:
        n, size = self.num_samples, self.batch_size
        order = torch.randperm(n, device=self.x.device) if shuffle else None
        for start in range(0, n, size):
            pick = slice(start, start + size) if order is None else order[start:start + size]
            yield (self.x[pick], None if self.y is None else self.y[pick],
                   None if self.sample_weight is None else self.sample_weight[pick])

    def split(self, fraction: float) -> tuple["ArrayData", "ArrayData"]:
        """Keras' ``validation_split``: the last ``fraction`` of the rows, taken before shuffling."""
        at = int(math.floor(self.num_samples * (1.0 - fraction)))
        if at == 0 or at == self.num_samples:
            raise ValueError(f"validation_split={fraction} leaves an empty training or validation set "
                             f"with {self.num_samples} samples.")
        def part(t: torch.Tensor | None, head: bool) -> torch.Tensor | None:
            return None if t is None else (t[:at] if head else t[at:])
        return tuple(ArrayData(part(self.x, h), part(self.y, h), part(self.sample_weight, h), self.batch_size)
                     for h in (True, False))


class IterableData:
    """Batches from any re-iterable source of ``(x, y[, sample_weight])`` tuples."""

    def __init__(self, source: Iterable, device: torch.device):
        self.source, self.device = source, device

    def __len__(self) -> int:
        try:
            return len(self.source)
        except TypeError:
            return 0  # unknown: the progress bar then counts without a total

    def batches(self, shuffle: bool = False) -> Iterator[Batch]:
        for i, batch in enumerate(self.source):
            if not isinstance(batch, (tuple, list)) or len(batch) not in (1, 2, 3):
                raise ValueError(f"Batch {i} of the dataset must be (x, y) or (x, y, sample_weight), "
                                 f"got {type(batch).__name__}.")
            x, y, w = (*batch, None, None)[:3]
            yield (as_array_tensor(x, f"x (batch {i})", self.device),
                   None if y is None else as_array_tensor(y, f"y (batch {i})", self.device),
                   None if w is None else as_array_tensor(w, f"sample_weight (batch {i})", self.device))


def is_array_like(x) -> bool:
    return isinstance(x, (np.ndarray, torch.Tensor, list))


def make_data(x, y, sample_weight, batch_size: int | None, device: torch.device) -> ArrayData | IterableData:
    """Validate and wrap ``fit``/``evaluate`` inputs (arrays, or an iterable of batches)."""
    if x is None:
        raise ValueError("No input data: pass x (and y), or a dataset of (x, y) batches.")
    if not is_array_like(x):
        if y is not None:
            raise ValueError("When x is a dataset of (x, y) batches, do not pass y separately.")
        if not hasattr(x, "__iter__"):
            raise ValueError(f"x must be an array, a tensor or an iterable of batches, got {type(x).__name__}.")
        return IterableData(x, device)
    x_t = as_array_tensor(x, "x", device)
    if x_t.ndim == 0 or len(x_t) == 0:
        raise ValueError("x is empty: there is nothing to train or predict on.")
    y_t = None if y is None else as_array_tensor(y, "y", device)
    if y_t is not None and len(y_t) != len(x_t):
        raise ValueError(f"x and y have different numbers of samples: x has {len(x_t)}, y has {len(y_t)}. "
                         "Each input row needs exactly one label.")
    w_t = None if sample_weight is None else as_array_tensor(sample_weight, "sample_weight", device).to(floatx())
    if w_t is not None and w_t.shape != (len(x_t),):
        raise ValueError(f"sample_weight must have shape ({len(x_t)},), got {tuple(w_t.shape)}.")
    return ArrayData(x_t, y_t, w_t, batch_size or 32)
