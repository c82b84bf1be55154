"""Confusion-matrix counts at thresholds, the state of Keras' threshold metrics (counts, precision, recall,
AUC).

A prediction is positive at threshold ``t`` when it is greater than ``t``; a target is positive when it is
not 0. A batch is counted in one pass whatever the number of thresholds: each prediction goes to the bucket
of the largest threshold below it, the weights of positive and negative targets are summed per bucket with
one ``index_add_``, and a reversed cumulative sum turns bucket sums into counts at every threshold.
"""
from __future__ import annotations

import numpy as np
import torch

from layerwise.backend import get_device
from layerwise.losses.base import as_tensor, squeeze_or_expand
from layerwise.metrics.base import Metric, accumulate, as_result, row_variables, zeroed
from layerwise.variables import MetricVariable

__all__ = ["NEG_INF", "ConfusionMetric", "count_dtype", "divide_no_nan", "evenly_spaced", "parse_thresholds",
           "threshold_counts"]

NEG_INF = -1e10  # Keras' threshold with top_k, and the value of the predictions top_k drops


def parse_thresholds(thresholds, owner: str, default: float = 0.5) -> list[float]:
    """``thresholds`` (a float or a list of floats in [0, 1]) as a list; ``[default]`` for None."""
    if thresholds is None:
        return [default]
    values = [thresholds] if isinstance(thresholds, (int, float)) else list(thresholds)
    try:
        floats = [float(t) for t in values if not isinstance(t, bool)]
    except (TypeError, ValueError):
        floats = []
    if not floats or len(floats) != len(values) or any(not 0 <= t <= 1 for t in floats):
        raise ValueError(f"{owner}: thresholds must be a float or a list of floats in [0, 1]; received "
                         f"thresholds={thresholds!r}.")
    return floats


def evenly_spaced(thresholds: list[float]) -> bool:
    """Whether Keras treats ``thresholds`` as the even grid ``0, 1/(n-1), ..., 1`` (its test, tolerance included):
    such thresholds are counted with Keras' grid arithmetic, which clips predictions to [0, 1]."""
    n = len(thresholds)
    return n >= 3 and bool(np.allclose(thresholds, np.arange(n, dtype=np.float32) / (n - 1), atol=1e-7))


def threshold_counts(y_true: torch.Tensor, y_pred: torch.Tensor, weight: torch.Tensor | None,
                     thresholds: list[float], evenly: bool, per_label: bool = False) -> torch.Tensor:
    """tp, fp, tn, fn of ``y_pred`` against ``y_true`` (same shape, as ``weight`` when given) at each threshold:
    ``(4, thresholds)``, or ``(4, thresholds, labels)`` with ``per_label`` for ``(batch, labels)`` inputs."""
    n = len(thresholds)
    grid = torch.tensor(thresholds, dtype=y_pred.dtype, device=y_pred.device)
    order = None
    if evenly:
        # Keras' bucket on an even grid; end points set off by epsilon keep predictions of exactly 0 in bucket 0.
        bucket = torch.ceil(y_pred.clamp(0, 1) * (n - 1)) - 1
        if thresholds[0] < 0 or thresholds[-1] > 1:
            bucket = bucket.clamp_min(0)
        bucket = bucket.long()
    else:
        grid, order = grid.sort()
        bucket = torch.bucketize(y_pred.contiguous(), grid) - 1  # -1: below every threshold
    labels = y_pred.shape[-1] if per_label else 1
    column = torch.arange(labels, device=y_pred.device) if per_label else 0
    negative = (y_true == 0).long()
    # Slot (target negative?, bucket + 1, label) of a flat (2, n + 1, labels) table.
    slot = ((negative * (n + 1) + bucket + 1) * labels + column).reshape(-1)
    weight = torch.ones_like(y_pred) if weight is None else weight
    sums = torch.zeros(2 * (n + 1) * labels, dtype=y_pred.dtype, device=y_pred.device)
    sums.index_add_(0, slot, weight.reshape(-1))
    above = sums.view(2, n + 1, labels).flip(1).cumsum(1).flip(1)  # weight in this bucket or higher
    tp, fp = above[0, 1:], above[1, 1:]
    counts = torch.stack([tp, fp, above[1, :1] - fp, above[0, :1] - tp])
    if order is not None:
        counts = counts[:, order.argsort()]
    return counts if per_label else counts.squeeze(-1)


def count_dtype(dtype: torch.dtype) -> torch.dtype:
    """The dtype that confusion counts and sums accumulate in: float32 at least, as Keras' variables (float16 stops
    counting exactly at 2048, bfloat16 at 256)."""
    return torch.promote_types(dtype, torch.float32)


def divide_no_nan(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """``x / y``, and 0 where ``y`` is 0."""
    return torch.where(y == 0, torch.zeros_like(x), x / torch.where(y == 0, torch.ones_like(y), y))


class ConfusionMetric(Metric):
    """A metric of tp, fp, tn, fn counts at ``thresholds``, accumulated on the device as ``counts``
    ``(4, thresholds)``, or ``(4, thresholds, labels)`` when ``multi_label``. Subclasses set the options
    Keras gives them: ``top_k`` keeps each row's k largest predictions, ``class_id`` scores one column,
    ``from_logits`` applies a sigmoid, ``label_weights`` weight the columns of ``(batch, labels)`` data."""

    thresholds: list[float] = [0.5]
    evenly = False
    top_k: int | None = None
    class_id: int | None = None
    multi_label = False
    num_labels: int | None = None
    label_weights: list[float] | None = None
    from_logits = False
    # The rows of ``counts`` that Keras keeps as variables, with Keras' names (all four for AUC and the *At*).
    _rows: tuple[tuple[int, str], ...] = ((0, "true_positives"), (1, "false_positives"), (2, "true_negatives"),
                                          (3, "false_negatives"))

    def reset(self) -> None:
        """Zero the counts; they exist from the start unless ``multi_label`` waits for the number of labels."""
        if self.__dict__.get("counts") is not None:
            zeroed(self.counts)
            return
        labels = (self.num_labels,) if self.multi_label else ()
        self.counts: torch.Tensor | None = None if None in labels else torch.zeros(
            (4, len(self.thresholds), *labels), dtype=count_dtype(self._torch_dtype), device=get_device())

    @property
    def variables(self) -> list[MetricVariable]:
        """Keras' variables of this metric, ``(thresholds,)`` or ``(thresholds, labels)`` each: views of
        ``counts`` (assigning one changes the state), then any ``add_variable`` ones."""
        return row_variables(self.counts, self._rows, self.name) + super().variables

    def update(self, y_true, y_pred, sample_weight=None) -> None:
        owner = type(self).__name__
        y_pred = y_pred.detach().to(count_dtype(self._torch_dtype))
        if self.from_logits:
            y_pred = torch.sigmoid(y_pred)
        if self.multi_label:
            self._check_labels(y_pred)
        y_pred, y_true = squeeze_or_expand(y_pred, y_true)
        weight = None
        if sample_weight is not None:
            weight = as_tensor(sample_weight, y_pred).to(y_pred.dtype).unsqueeze(-1)
            _, weight = squeeze_or_expand(y_true, weight, expand_rank_1=False)
        if self.top_k is not None:
            y_pred = self._keep_top_k(y_pred)
        if self.class_id is not None:
            y_true, y_pred = self._one_class(y_true, y_pred)
        if y_true.shape != y_pred.shape:
            raise ValueError(f"{owner} expects targets of the predictions' shape; received "
                             f"y_true.shape={tuple(y_true.shape)} and y_pred.shape={tuple(y_pred.shape)}.")
        weight = self._weight(weight, y_pred)
        batch = threshold_counts(y_true, y_pred, weight, self.thresholds, self.evenly, self.multi_label)
        self.counts = accumulate(self.counts, batch)

    def _check_labels(self, y_pred: torch.Tensor) -> None:
        owner = type(self).__name__
        if y_pred.ndim != 2:
            raise ValueError(f"{owner}(multi_label=True) expects predictions of shape (batch, labels); received "
                             f"y_pred.shape={tuple(y_pred.shape)}.")
        expected = self.num_labels or (len(self.label_weights) if self.label_weights is not None else None)
        if expected is not None and y_pred.shape[1] != expected:
            what = "num_labels" if self.num_labels else "len(label_weights)"
            raise ValueError(f"{owner}: {what}={expected} but the predictions have {y_pred.shape[1]} labels "
                             f"(y_pred.shape={tuple(y_pred.shape)}).")

    def _keep_top_k(self, y_pred: torch.Tensor) -> torch.Tensor:
        classes = y_pred.shape[-1] if y_pred.ndim else 0
        if self.top_k > classes:
            raise ValueError(f"{type(self).__name__}: top_k={self.top_k} is larger than the number of classes, "
                             f"{classes} (y_pred.shape={tuple(y_pred.shape)}).")
        kept = torch.zeros_like(y_pred, dtype=torch.bool).scatter_(-1, y_pred.topk(self.top_k, -1).indices, True)
        return torch.where(kept, y_pred, torch.tensor(NEG_INF, dtype=y_pred.dtype, device=y_pred.device))

    def _one_class(self, y_true: torch.Tensor, y_pred: torch.Tensor):
        owner = type(self).__name__
        if y_pred.ndim < 2:
            raise ValueError(f"{owner}: class_id needs predictions of shape (batch, classes); received "
                             f"y_pred.shape={tuple(y_pred.shape)}.")
        classes = y_pred.shape[-1]
        if self.class_id >= classes:
            raise ValueError(f"{owner}: class_id={self.class_id} is out of range for predictions of {classes} "
                             f"classes (y_pred.shape={tuple(y_pred.shape)}).")
        pick = slice(self.class_id, self.class_id + 1)
        return y_true[..., pick], y_pred[..., pick]

    def _weight(self, weight: torch.Tensor | None, y_pred: torch.Tensor) -> torch.Tensor | None:
        """Sample weights times (unless per-label counts are averaged later) label weights, as ``y_pred``."""
        if self.label_weights is not None and not self.multi_label:
            columns = torch.tensor(self.label_weights, dtype=y_pred.dtype, device=y_pred.device)
            weight = columns if weight is None else weight * columns
        if weight is None:
            return None
        try:
            return torch.broadcast_to(weight, y_pred.shape)
        except RuntimeError:
            raise ValueError(f"{type(self).__name__}: the weights of shape {tuple(weight.shape)} (sample_weight, "
                             f"times label_weights if any) do not broadcast to the predictions' shape "
                             f"{tuple(y_pred.shape)}.") from None

    def _per_threshold(self, values: torch.Tensor) -> torch.Tensor:
        """Keras' result: float32, ``()`` for one threshold, ``(thresholds,)`` for several."""
        return as_result(values[0] if len(self.thresholds) == 1 else values)

    def _zeros(self) -> torch.Tensor:
        return as_result(torch.zeros(() if len(self.thresholds) == 1 else len(self.thresholds), device=get_device()))
