"""Keras' ``split_dataset``: samples into a left and a right part (train / test), as ``fit`` takes them.

Keras returns ``tf.data`` datasets (``torch.utils.data.Subset`` on its torch backend); here arrays come back
as arrays (``fit`` takes them without a loader), a ``torch.utils.data.Dataset`` as two ``Subset`` and an
unbatched dataset of the folder loaders (``image_dataset_from_directory(..., batch_size=None)``...) as two
datasets of its class.
"""
from __future__ import annotations

import numbers
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset, Subset

from layerwise.utils.dataset_files import FolderDataset


def _samples(dataset, what: str = "dataset") -> int:
    """The number of samples (rows) of an array or of every array of a nested list / tuple / dict."""
    if isinstance(dataset, (list, tuple, dict)):
        items = list(dataset.values() if isinstance(dataset, dict) else dataset)
        counts = {_samples(item, f"{what}[{key!r}]") for key, item in
                  (dataset.items() if isinstance(dataset, dict) else enumerate(items))}
        if len(counts) != 1:
            raise ValueError(f"split_dataset: the arrays of {what} need the same number of samples (first axis); "
                             f"received {sorted(counts)}." if counts else f"split_dataset: {what} is empty.")
        return counts.pop()
    if isinstance(dataset, (np.ndarray, torch.Tensor)) and dataset.ndim:
        return len(dataset)
    raise TypeError(f"split_dataset: {what} must be an array, a tensor, a list / tuple / dict of them or a "
                    f"torch.utils.data.Dataset; received {type(dataset).__name__}.")


def _take(dataset, rows: np.ndarray):
    """The same structure as ``dataset`` with the samples ``rows`` of each array."""
    if isinstance(dataset, dict):
        return {key: _take(value, rows) for key, value in dataset.items()}
    if isinstance(dataset, (list, tuple)):
        return type(dataset)(_take(item, rows) for item in dataset)
    return dataset[torch.as_tensor(rows)] if isinstance(dataset, torch.Tensor) else dataset[rows]


def _size(value, name: str, total: int) -> int | None:
    """``left_size`` or ``right_size`` as a number of samples: a fraction in (0, 1) or a count in (0, total)."""
    if value is None:
        return None
    if isinstance(value, float) and 0 < value < 1:
        return round(value * total)  # Python's rounding, as Keras
    if isinstance(value, numbers.Integral) and not isinstance(value, bool) and 0 < value < total:
        return int(value)
    raise ValueError(f"split_dataset: {name} must be a float in (0, 1) or an integer in (0, {total}) (the dataset "
                     f"has {total} samples), or None; received {name}={value!r}.")


def split_dataset(dataset, left_size: float | int | None = None, right_size: float | int | None = None,
                  shuffle: bool = False, seed: int | None = None,
                  preferred_backend: str | None = None) -> tuple[Any, Any]:
    """``(left, right)``: the first ``left_size`` samples and the last ``right_size`` (a fraction of the samples
    or a count; one may be None, the complement of the other), after a shuffle with ``shuffle``.

    ``dataset``: an array or tensor ``(samples, ...)``, a list / tuple / dict of them with the same number of
    samples (split alike: ``(x, y)`` gives ``(x_left, y_left), (x_right, y_right)``), a
    ``torch.utils.data.Dataset`` (two ``Subset``), or an unbatched dataset from ``image_dataset_from_directory``,
    ``text_dataset_from_directory`` or ``audio_dataset_from_directory`` (``batch_size=None``; two datasets of
    its class, with its ``class_names``, shuffling and ``map`` functions). A batched one raises a ValueError:
    Keras would split its batches; load it unbatched, split, then ``.batch(n)`` each side. With ``seed`` the
    shuffle is Keras' on its torch backend (``torch.randperm`` from that seed): the same samples land on each side.
    ``preferred_backend`` (Keras': None, "torch" or "tensorflow", the kind of datasets Keras returns) is checked
    and otherwise ignored: the results are the kinds above whatever it says.
    """
    if preferred_backend not in (None, "torch", "tensorflow"):
        raise ValueError(f"split_dataset: preferred_backend must be None, 'torch' or 'tensorflow'; received "
                         f"preferred_backend={preferred_backend!r}.")
    if left_size is None and right_size is None:
        raise ValueError("split_dataset: pass left_size or right_size (or both); both are None.")
    if isinstance(left_size, float) and isinstance(right_size, float) and left_size + right_size > 1:
        raise ValueError(f"split_dataset: the fractions left_size={left_size} and right_size={right_size} add up to "
                         "more than 1.")
    if isinstance(dataset, FolderDataset) and dataset.batch_size is not None:
        # Keras would split a batched tf.data dataset's batches (its elements), so sizes would count batches.
        raise ValueError(f"split_dataset: this {type(dataset).__name__} is batched (batch_size="
                         f"{dataset.batch_size}); split its samples instead: load it with batch_size=None, split it, "
                         "then batch each side (e.g. left.batch(32)).")
    total = len(dataset) if isinstance(dataset, (Dataset, FolderDataset)) else _samples(dataset)
    left, right = _size(left_size, "left_size", total), _size(right_size, "right_size", total)
    left = total - right if left is None else left
    right = total - left if right is None else right
    if left + right > total or not left or not right:
        raise ValueError(f"split_dataset: left_size={left_size!r} and right_size={right_size!r} make {left} and "
                         f"{right} samples of {total}; each side needs at least one and together at most {total}.")
    if shuffle:
        generator = torch.Generator().manual_seed(seed) if seed is not None else None
        order = torch.randperm(total, generator=generator).numpy()
    else:
        order = np.arange(total)
    left_rows, right_rows = order[:left], order[total - right:]
    if isinstance(dataset, FolderDataset):
        return dataset.select_rows(left_rows), dataset.select_rows(right_rows)
    if isinstance(dataset, Dataset):
        return Subset(dataset, left_rows.tolist()), Subset(dataset, right_rows.tolist())
    return _take(dataset, left_rows), _take(dataset, right_rows)
