"""Regression metrics: running means of the regression losses per sample, RMSE, cosine similarity
and the coefficient of determination R²."""
from __future__ import annotations

import warnings

import torch

from layerwise.backend import get_device
from layerwise.losses import functions as fn
from layerwise.losses.base import as_tensor, match_rank, squeeze_or_expand
from layerwise.metrics.base import MeanMetricWrapper, Metric, accumulate, as_result, row_variables, zeroed
from layerwise.metrics.confusion_counts import count_dtype
from layerwise.variables import MetricVariable

__all__ = ["CosineSimilarity", "LogCoshError", "MeanAbsoluteError", "MeanAbsolutePercentageError",
           "MeanSquaredError", "MeanSquaredLogarithmicError", "R2Score", "RootMeanSquaredError"]


class MeanAbsoluteError(MeanMetricWrapper):
    def __init__(self, name: str = "mean_absolute_error", dtype=None):
        super().__init__(fn.mean_absolute_error, name, dtype)


class MeanSquaredError(MeanMetricWrapper):
    def __init__(self, name: str = "mean_squared_error", dtype=None):
        super().__init__(fn.mean_squared_error, name, dtype)


class MeanAbsolutePercentageError(MeanMetricWrapper):
    def __init__(self, name: str = "mean_absolute_percentage_error", dtype=None):
        super().__init__(fn.mean_absolute_percentage_error, name, dtype)


class MeanSquaredLogarithmicError(MeanMetricWrapper):
    def __init__(self, name: str = "mean_squared_logarithmic_error", dtype=None):
        super().__init__(fn.mean_squared_logarithmic_error, name, dtype)


class LogCoshError(MeanMetricWrapper):
    """The mean of ``log(cosh(y_pred - y_true))``; Keras names it 'logcosh'."""

    def __init__(self, name: str = "logcosh", dtype=None):
        super().__init__(fn.log_cosh, name, dtype)


def _cosine(y_true, y_pred, axis: int = -1):
    return -fn.cosine_similarity(y_true, y_pred, axis)


class CosineSimilarity(MeanMetricWrapper):
    """The mean cosine similarity along ``axis`` (1 for predictions pointing as the targets do)."""

    def __init__(self, name: str = "cosine_similarity", dtype=None, axis: int = -1):
        super().__init__(_cosine, name, dtype, axis=axis)


class RootMeanSquaredError(Metric):
    """The square root of the running mean of squared errors."""

    name = "root_mean_squared_error"

    def values(self, y_true, y_pred):
        y_true, y_pred = match_rank(y_true, y_pred)
        return (y_pred - y_true.to(y_pred.dtype)).square()

    def result(self) -> torch.Tensor:
        return super().result().sqrt()


_AGGREGATIONS = (None, "uniform_average", "variance_weighted_average")


class R2Score(Metric):
    """The coefficient of determination of targets and predictions ``(batch, outputs)``, per output and then
    averaged (``class_aggregation``); ``num_regressors > 0`` gives the adjusted R²."""

    name = "r2_score"

    def __init__(self, class_aggregation: str | None = "uniform_average", num_regressors: int = 0,
                 name: str | None = None, dtype=None):
        if class_aggregation not in _AGGREGATIONS:
            raise ValueError(f"R2Score: class_aggregation must be one of {_AGGREGATIONS}; received "
                             f"class_aggregation={class_aggregation!r}.")
        if num_regressors < 0:
            raise ValueError(f"R2Score: num_regressors must be >= 0; received num_regressors={num_regressors}.")
        self.class_aggregation, self.num_regressors = class_aggregation, num_regressors
        super().__init__(name, dtype)

    def reset(self) -> None:
        # (4, outputs): sum, squared sum, squared error, weight; built at the first update, as Keras builds it.
        self.sums: torch.Tensor | None = zeroed(self.__dict__.get("sums"))
        if "num_samples" not in self.__dict__:
            self.num_samples = self.add_variable((), dtype=self.dtype, name="num_samples")
        zeroed(self.num_samples)
        # Kept by reset, so that result() keeps its shape (one score per output) until the next update.
        self.num_outputs: int | None = getattr(self, "num_outputs", None)

    def update(self, y_true, y_pred, sample_weight=None) -> None:
        y_pred = y_pred.detach().to(count_dtype(self._torch_dtype))
        y_true, y_pred = squeeze_or_expand(y_true.to(y_pred.dtype), y_pred)
        if y_true.ndim != 2 or y_pred.ndim != 2:
            raise ValueError(f"R2Score expects targets and predictions of shape (batch, outputs); received "
                             f"y_true.shape={tuple(y_true.shape)} and y_pred.shape={tuple(y_pred.shape)}.")
        weight = torch.ones((), dtype=y_pred.dtype, device=y_pred.device) if sample_weight is None else \
            as_tensor(sample_weight, y_pred).to(y_pred.dtype)
        if weight.ndim == 1:
            weight = weight.unsqueeze(1)
        weight = weight.expand(y_true.shape)
        weighted = y_true * weight
        batch = torch.stack([weighted.sum(0), (y_true * weighted).sum(0), ((y_true - y_pred).square() * weight).sum(0),
                             weight.sum(0)])
        self.sums = accumulate(self.sums, batch)
        self.num_outputs = y_true.shape[1]
        # Keras counts every entry, not every row, as a sample for the adjusted score.
        self.num_samples.add_(y_true.numel())

    @property
    def variables(self) -> list[MetricVariable]:
        """Keras' variables: ``num_samples``, then (once built) ``squared_sum``, ``sum``, ``residual`` and
        ``count``, ``(outputs,)`` each, views of the state."""
        rows = ((1, "squared_sum"), (0, "sum"), (2, "residual"), (3, "count"))
        return super().variables + row_variables(self.sums, rows, self.name)

    def result(self) -> torch.Tensor:
        """The score, float32 as in Keras: ``(outputs,)`` for ``class_aggregation=None``, else ``()``. With no data
        since the last reset it is nan (0 / 0), as in Keras (one per output); before the first update, when the
        number of outputs is not known yet, a single nan."""
        sums = self.sums
        if sums is None:
            if self.num_outputs is None:
                return as_result(float("nan"))  # Keras fails here (its sums do not exist yet)
            sums = torch.zeros((4, self.num_outputs), dtype=count_dtype(self._torch_dtype), device=get_device())
        total_sum, squared_sum, squared_error, count = sums
        total = squared_sum - total_sum * (total_sum / count)
        raw = 1 - squared_error / total
        raw = torch.where(torch.isinf(raw), torch.zeros_like(raw), raw)
        if self.class_aggregation == "uniform_average":
            score = raw.mean()
        elif self.class_aggregation == "variance_weighted_average":
            score = (total * raw).sum() / total.sum()
        else:
            score = raw
        n, p = int(self.num_samples), self.num_regressors
        if p and p >= n - 1:
            warnings.warn("R2Score: " + ("more independent predictors than data points" if p > n - 1 else
                                         "division by zero") + " in the adjusted R2 score; falling back to the "
                          "standard R2 score.", stacklevel=2)
        elif p:
            score = 1.0 - (1.0 - score) * (n - 1.0) / (n - p - 1.0)
        return as_result(score)

    def get_config(self) -> dict:
        return {**super().get_config(), "class_aggregation": self.class_aggregation,
                "num_regressors": self.num_regressors}
