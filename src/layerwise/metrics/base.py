"""The ``Metric`` base, running means and sums, and the wrapper that makes a metric of a function.

Metrics accumulate tensors on the device where the data is, so the training loop never syncs per batch;
``result()`` reads them (one sync) and returns a Python float, or a numpy array for metrics with one
value per class or per threshold. ``update_state``/``reset_state`` are Keras' spellings of
``update``/``reset`` and also take numpy arrays.
"""
from __future__ import annotations

import re
from typing import Callable

import numpy as np
import torch

from layerwise.losses.base import as_tensor, match_rank, squeeze_or_expand

__all__ = ["Mean", "MeanMetricWrapper", "Metric", "Sum", "as_result", "samplewise", "snake_case"]


def snake_case(name: str) -> str:
    """``LogCoshError`` -> ``log_cosh_error``, as Keras names metrics given as classes or functions."""
    name = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", name).lower()


def as_result(value: torch.Tensor) -> float | np.ndarray:
    """A metric's value as Keras shows it: a float, or an array when there is one value per class."""
    return float(value) if value.numel() == 1 and value.ndim == 0 else value.detach().cpu().numpy()


def samplewise(values: torch.Tensor, sample_weight, reduce: Callable):
    """Weighted values reduced to one per sample, and the weights reduced alike (Keras' rules):
    weights of shape ``(batch,)`` weight every value of their sample."""
    values = values.float() if not values.is_floating_point() else values
    weight = None
    if sample_weight is not None:
        weight = as_tensor(sample_weight, values).to(values.dtype)
        values, weight = squeeze_or_expand(values, weight)
        if values.ndim > weight.ndim:
            values = reduce(values, dim=tuple(range(weight.ndim, values.ndim)))
        weight = weight.expand(values.shape)
        values = values * weight
        if weight.ndim > 1:
            weight = reduce(weight, dim=tuple(range(1, weight.ndim)))
    if values.ndim > 1:
        values = reduce(values, dim=tuple(range(1, values.ndim)))
    return values, weight


class Metric:
    """A metric of ``(y_true, y_pred)``; the base computes the running mean of ``values(y_true, y_pred)``."""

    name = "metric"

    def __init__(self, name: str | None = None, dtype=None):
        self.name = name or self.name
        self.dtype = str(dtype or "float32").removeprefix("torch.")
        self._torch_dtype = getattr(torch, self.dtype)
        self.reset()

    def reset(self) -> None:
        self.total: torch.Tensor | float = 0.0
        self.count: torch.Tensor | float = 0.0

    def values(self, y_true: torch.Tensor, y_pred: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def update(self, y_true: torch.Tensor, y_pred: torch.Tensor, sample_weight=None) -> None:
        """Add a batch: the mean of ``values`` per sample, weighted by ``sample_weight``."""
        values = self.values(y_true, y_pred.detach())
        self._add(values if values.dtype == self._torch_dtype else values.to(self._torch_dtype), sample_weight)

    def _add(self, values: torch.Tensor, sample_weight) -> None:
        if sample_weight is None and values.ndim == 1:  # the training loop's usual case: one value per sample
            self.total = self.total + values.detach().sum()
            self.count = self.count + values.shape[0]
            return
        values, weight = samplewise(values.detach(), sample_weight, torch.mean)
        self.total = self.total + values.sum()
        self.count = self.count + (weight.sum() if weight is not None else values.shape[0] if values.ndim else 1)

    def result(self) -> float | np.ndarray:
        return float(self.total / self.count) if float(self.count) else 0.0

    def update_state(self, y_true, y_pred, sample_weight=None) -> None:
        y_pred = as_tensor(y_pred)
        self.update(as_tensor(y_true, y_pred), y_pred,
                    None if sample_weight is None else as_tensor(sample_weight, y_pred))

    def reset_state(self) -> None:
        self.reset()

    def get_config(self) -> dict:
        return {"name": self.name, "dtype": self.dtype}

    @classmethod
    def from_config(cls, config: dict) -> "Metric":
        return cls(**config)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} name={self.name!r}>"


class MeanMetricWrapper(Metric):
    """The running mean of ``fn(y_true, y_pred, **kwargs)``, a function giving one value per sample."""

    name = "mean_metric_wrapper"

    def __init__(self, fn: Callable, name: str | None = None, dtype=None, **kwargs):
        self.fn, self.fn_kwargs = fn, kwargs
        super().__init__(name or snake_case(getattr(fn, "__name__", type(fn).__name__)), dtype)

    def values(self, y_true, y_pred):
        if y_true.ndim != y_pred.ndim:
            y_true, y_pred = match_rank(y_true, y_pred)
        # update gets tensors: a loss function is called without its array wrapper.
        return getattr(self.fn, "__wrapped__", self.fn)(y_true, y_pred, **self.fn_kwargs)

    def get_config(self) -> dict:
        return {**super().get_config(), **self.fn_kwargs}

    @classmethod
    def from_config(cls, config: dict) -> "Metric":
        if cls is MeanMetricWrapper:
            raise ValueError("MeanMetricWrapper.from_config: the wrapped function is not saved; build the "
                             "metric again with MeanMetricWrapper(fn).")
        return cls(**config)


class Mean(Metric):
    """A weighted running mean of values. The trainer feeds it each batch's loss with ``update_value``,
    weighted by the batch size as Keras does; ``update(values, sample_weight)`` is Keras' ``Mean``."""

    name = "mean"

    def update(self, values, sample_weight=None) -> None:
        self._add(as_tensor(values), sample_weight)

    def update_state(self, values, sample_weight=None) -> None:
        self.update(values, sample_weight)

    def update_value(self, value: torch.Tensor, weight: int) -> None:
        self.total = self.total + value.detach() * weight
        self.count = self.count + weight


class Sum(Metric):
    """The running (weighted) sum of values: ``update(values, sample_weight=None)``."""

    name = "sum"

    def reset(self) -> None:
        self.total = 0.0

    def update(self, values, sample_weight=None) -> None:
        values, _ = samplewise(as_tensor(values).detach(), sample_weight, torch.sum)
        self.total = self.total + values.sum()

    def update_state(self, values, sample_weight=None) -> None:
        self.update(values, sample_weight)

    def result(self) -> float:
        return float(self.total)
