"""Keras' Intersection-over-Union metrics: ``IoU``, ``BinaryIoU``, ``MeanIoU``, ``OneHotIoU``, ``OneHotMeanIoU``.

Each accumulates a ``(num_classes, num_classes)`` confusion matrix (rows: targets, columns: predictions) on
the device, in the metric's dtype: ``int32`` by default, as in Keras, so float sample weights are truncated
(Keras warns about it; pass ``dtype="float32"`` for fractional weights). The IoU of class ``c`` is
``tp / (tp + fp + fn)``; the result is the mean IoU of the target classes that occur in targets or predictions.
"""
from __future__ import annotations

import warnings

import numpy as np
import torch

from layerwise.backend import get_device
from layerwise.losses.base import as_tensor
from layerwise.losses.functions import EPSILON
from layerwise.metrics.base import Metric, accumulate, as_result, zeroed
from layerwise.variables import MetricVariable

__all__ = ["BinaryIoU", "IoU", "MeanIoU", "OneHotIoU", "OneHotMeanIoU"]


def _is_int(value) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


class _IoUBase(Metric):
    """The confusion matrix of class ids: ``(batch, ...)`` ids, or scores ``(batch, ..., classes)`` reduced by
    argmax along ``axis`` when ``sparse_y_true``/``sparse_y_pred`` is False. Targets equal to ``ignore_class``
    and ids outside ``[0, num_classes)`` are left out."""

    def __init__(self, num_classes: int, name: str | None = None, dtype=None, ignore_class: int | None = None,
                 sparse_y_true: bool = True, sparse_y_pred: bool = True, axis: int = -1):
        owner = type(self).__name__
        if not _is_int(num_classes) or num_classes < 1:
            raise ValueError(f"{owner}: num_classes must be an integer >= 1; received num_classes={num_classes!r}.")
        if ignore_class is not None and not _is_int(ignore_class):
            raise ValueError(f"{owner}: ignore_class must be None or an integer; received "
                             f"ignore_class={ignore_class!r}.")
        if not _is_int(axis):
            raise ValueError(f"{owner}: axis must be an integer; received axis={axis!r}.")
        self.num_classes, self.ignore_class = int(num_classes), ignore_class
        self.sparse_y_true, self.sparse_y_pred, self.axis = sparse_y_true, sparse_y_pred, int(axis)
        # Keras' default dtype "int" is int32: the matrix counts (weighted) entries.
        super().__init__(name, "int32" if dtype in (None, "int") else dtype)

    def reset(self) -> None:
        """Zero the confusion matrix ``(num_classes, num_classes)``, Keras' ``total_confusion_matrix``."""
        if "total_cm" in self.__dict__:
            zeroed(self.total_cm)
            return
        self.total_cm = torch.zeros((self.num_classes, self.num_classes), dtype=self._torch_dtype, device=get_device())

    @property
    def variables(self) -> list[MetricVariable]:
        """``total_confusion_matrix`` (a view of the state: assigning it changes the metric), as in Keras."""
        return [MetricVariable(self.total_cm, "total_confusion_matrix", "sum", self.name), *super().variables]

    def update(self, y_true, y_pred, sample_weight=None) -> None:
        """Add a batch of targets and predictions (ids or scores, as the ``sparse_*`` options say) and
        weights of shape ``()`` or of the targets' ids."""
        owner, dtype = type(self).__name__, self._torch_dtype
        y_true, y_pred = as_tensor(y_true, y_pred), y_pred.detach()
        if not self.sparse_y_true:
            y_true = y_true.argmax(self.axis)
        if not self.sparse_y_pred:
            y_pred = y_pred.argmax(self.axis)
        # Cast first, as Keras does: an int dtype truncates fractional ids and weights toward zero.
        y_true, y_pred = y_true.to(dtype).reshape(-1), y_pred.to(dtype).reshape(-1)
        if y_true.shape != y_pred.shape:
            raise ValueError(f"{owner} expects as many target ids as predicted ids; received {y_true.numel()} and "
                             f"{y_pred.numel()} (with sparse_y_true={self.sparse_y_true}, sparse_y_pred="
                             f"{self.sparse_y_pred}).")
        weight = torch.ones((), dtype=dtype, device=y_pred.device)
        if sample_weight is not None:
            sample_weight = as_tensor(sample_weight, y_pred)
            if sample_weight.is_floating_point() and not dtype.is_floating_point:
                warnings.warn(f"{owner}({self.name!r}): float sample weights are truncated to the metric's dtype "
                              f"{self.dtype}; use integer weights or dtype='float32'.", stacklevel=4)
            weight = sample_weight.to(dtype).reshape(-1) if sample_weight.ndim > 1 else sample_weight.to(dtype)
        try:
            weight = torch.broadcast_to(weight, y_true.shape)
        except RuntimeError:
            raise ValueError(f"{owner}: sample_weight of shape {tuple(sample_weight.shape)} does not match the "
                             f"{y_true.numel()} target ids; give one weight per id or a scalar.") from None
        valid = (y_true >= 0) & (y_true < self.num_classes) & (y_pred >= 0) & (y_pred < self.num_classes)
        if self.ignore_class is not None:
            valid &= y_true != self.ignore_class
        n = self.num_classes
        # Left-out entries add a weight of 0 to cell (0, 0), as in Keras: one index_add_ for the whole batch.
        cell = (y_true.long() * n + y_pred.long()) * valid
        batch = torch.zeros(n * n, dtype=dtype, device=y_pred.device)
        batch.index_add_(0, cell, weight * valid.to(dtype))
        batch = batch.view(n, n)
        self.total_cm = accumulate(self.total_cm, batch)


class IoU(_IoUBase):
    """The mean IoU of the classes ``target_class_ids`` (one id gives that class's IoU); classes that occur
    neither in the targets nor in the predictions are left out of the mean."""

    name = "io_u"

    def __init__(self, num_classes: int, target_class_ids, name: str | None = None, dtype=None,
                 ignore_class: int | None = None, sparse_y_true: bool = True, sparse_y_pred: bool = True,
                 axis: int = -1):
        super().__init__(num_classes, name, dtype, ignore_class, sparse_y_true, sparse_y_pred, axis)
        ids = list(target_class_ids) if isinstance(target_class_ids, (list, tuple, range, np.ndarray)) else None
        if not ids or not all(_is_int(i) and 0 <= i < self.num_classes for i in ids):
            raise ValueError(f"{type(self).__name__}: target_class_ids must be a non-empty list of class ids in "
                             f"[0, {self.num_classes}); received target_class_ids={target_class_ids!r}.")
        self.target_class_ids = [int(i) for i in ids]

    def result(self) -> torch.Tensor:
        """The mean IoU of the target classes that occur, ``()`` float32 as in Keras."""
        cm = self.total_cm
        true_positives = cm.diagonal()
        # Predicted + actual - both: the union of each class's predicted and actual entries.
        union = cm.sum(0, dtype=cm.dtype) + cm.sum(1, dtype=cm.dtype) - true_positives
        ids = torch.tensor(self.target_class_ids, device=cm.device)
        true_positives, union = true_positives[ids].float(), union[ids].float()
        present = union > 1e-9
        iou = torch.where(present, true_positives / (union + EPSILON), torch.zeros_like(union))
        return as_result(iou.sum() / (present.sum() + EPSILON))

    def get_config(self) -> dict:
        return {**super().get_config(), "num_classes": self.num_classes, "target_class_ids": self.target_class_ids,
                "ignore_class": self.ignore_class, "sparse_y_true": self.sparse_y_true,
                "sparse_y_pred": self.sparse_y_pred, "axis": self.axis}


class BinaryIoU(IoU):
    """IoU of binary targets ``(batch, ...)`` and scores thresholded at ``threshold`` (a score >= threshold is
    class 1): the mean over ``target_class_ids``, ``[0]``, ``[1]`` or both."""

    name = "binary_io_u"

    def __init__(self, target_class_ids=(0, 1), threshold: float = 0.5, name: str | None = None, dtype=None):
        if isinstance(threshold, bool) or not isinstance(threshold, (int, float, np.floating, np.integer)):
            raise ValueError(f"BinaryIoU: threshold must be a number; received threshold={threshold!r}.")
        super().__init__(2, target_class_ids, name, dtype)
        self.threshold = threshold

    def update(self, y_true, y_pred, sample_weight=None) -> None:
        y_pred = y_pred.detach().float()
        super().update(y_true, (y_pred >= self.threshold).to(self._torch_dtype), sample_weight)

    def get_config(self) -> dict:
        return {"target_class_ids": self.target_class_ids, "threshold": self.threshold, "name": self.name,
                "dtype": self.dtype}


class MeanIoU(IoU):
    """The mean IoU over all ``num_classes`` classes (those present in targets or predictions)."""

    name = "mean_io_u"

    def __init__(self, num_classes: int, name: str | None = None, dtype=None, ignore_class: int | None = None,
                 sparse_y_true: bool = True, sparse_y_pred: bool = True, axis: int = -1):
        ids = list(range(num_classes)) if _is_int(num_classes) else [0]
        super().__init__(num_classes, ids, name, dtype, ignore_class, sparse_y_true, sparse_y_pred, axis)

    def get_config(self) -> dict:
        return {"num_classes": self.num_classes, "name": self.name, "dtype": self.dtype,
                "ignore_class": self.ignore_class, "sparse_y_true": self.sparse_y_true,
                "sparse_y_pred": self.sparse_y_pred, "axis": self.axis}


class OneHotIoU(IoU):
    """``IoU`` of one-hot targets ``(batch, ..., classes)``; predictions are scores of that shape (or ids with
    ``sparse_y_pred``)."""

    name = "one_hot_io_u"

    def __init__(self, num_classes: int, target_class_ids, name: str | None = None, dtype=None,
                 ignore_class: int | None = None, sparse_y_pred: bool = False, axis: int = -1):
        super().__init__(num_classes, target_class_ids, name, dtype, ignore_class, False, sparse_y_pred, axis)

    def get_config(self) -> dict:
        return {"num_classes": self.num_classes, "target_class_ids": self.target_class_ids, "name": self.name,
                "dtype": self.dtype, "ignore_class": self.ignore_class, "sparse_y_pred": self.sparse_y_pred,
                "axis": self.axis}


class OneHotMeanIoU(MeanIoU):
    """``MeanIoU`` of one-hot targets ``(batch, ..., classes)``; predictions are scores of that shape (or ids
    with ``sparse_y_pred``)."""

    name = "one_hot_mean_io_u"

    def __init__(self, num_classes: int, name: str | None = None, dtype=None, ignore_class: int | None = None,
                 sparse_y_pred: bool = False, axis: int = -1):
        super().__init__(num_classes, name, dtype, ignore_class, False, sparse_y_pred, axis)

    def get_config(self) -> dict:
        return {"num_classes": self.num_classes, "name": self.name, "dtype": self.dtype,
                "ignore_class": self.ignore_class, "sparse_y_pred": self.sparse_y_pred, "axis": self.axis}
