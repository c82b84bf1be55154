"""Keras' ``AUC``: the area under the ROC, precision-recall or precision-recall-gain curve, a Riemann sum
over confusion counts at ``num_thresholds`` thresholds (or given ones) accumulated as ``(4, thresholds)``,
or ``(4, thresholds, labels)`` with ``multi_label``."""
from __future__ import annotations

import numpy as np
import torch

from layerwise.metrics.base import as_result
from layerwise.metrics.confusion_counts import ConfusionMetric, divide_no_nan, evenly_spaced, parse_thresholds

__all__ = ["AUC"]

_CURVES = {"ROC": "ROC", "roc": "ROC", "PR": "PR", "pr": "PR", "PRGAIN": "PRGAIN", "prgain": "PRGAIN"}
_SUMMATIONS = {"interpolation": "interpolation", "Interpolation": "interpolation", "majoring": "majoring",
               "Majoring": "majoring", "minoring": "minoring", "Minoring": "minoring"}
_END = 1e-7  # Keras' epsilon: the end thresholds -eps and 1 + eps catch predictions of exactly 0 and 1


class AUC(ConfusionMetric):
    """The area under a curve of ``(batch, ...)`` predictions in [0, 1] (logits with ``from_logits``):
    ``curve`` 'ROC', 'PR' or 'PRGAIN', summed by 'interpolation' (trapezoids; for PR, Davis & Goadrich's
    interpolation of the counts), 'minoring' or 'majoring'. With ``multi_label`` the AUC of each label
    of ``(batch, labels)`` data is averaged, weighted by ``label_weights`` when given; otherwise
    ``label_weights`` weight the columns' counts."""

    name = "auc"

    def __init__(self, num_thresholds: int = 200, curve: str = "ROC", summation_method: str = "interpolation",
                 name: str | None = None, dtype=None, thresholds=None, multi_label: bool = False,
                 num_labels: int | None = None, label_weights=None, from_logits: bool = False):
        if curve not in _CURVES:
            raise ValueError(f"AUC: curve must be one of 'ROC', 'PR', 'PRGAIN' (or lower case); received "
                             f"curve={curve!r}.")
        if summation_method not in _SUMMATIONS:
            raise ValueError("AUC: summation_method must be one of 'interpolation', 'majoring', 'minoring'; "
                             f"received summation_method={summation_method!r}.")
        self.explicit_thresholds = thresholds is not None
        if thresholds is not None:
            inner = sorted(parse_thresholds(thresholds, "AUC"))
            self.num_thresholds = len(inner) + 2
            self.evenly = evenly_spaced([0.0, *inner, 1.0])
        else:
            if isinstance(num_thresholds, bool) or not isinstance(num_thresholds, (int, np.integer)) \
                    or num_thresholds <= 1:
                raise ValueError(f"AUC: num_thresholds must be an integer > 1; received "
                                 f"num_thresholds={num_thresholds!r}.")
            self.num_thresholds = int(num_thresholds)
            inner = [(i + 1) * 1.0 / (num_thresholds - 1) for i in range(num_thresholds - 2)]
            self.evenly = True
        self.thresholds = [0.0 - _END, *inner, 1.0 + _END]
        if num_labels is not None and not multi_label:
            raise ValueError("AUC: num_labels is needed only with multi_label=True; received "
                             f"num_labels={num_labels!r} and multi_label=False.")
        self.curve, self.summation_method = _CURVES[curve], _SUMMATIONS[summation_method]
        self.multi_label, self.num_labels, self.from_logits = bool(multi_label), num_labels, bool(from_logits)
        self.label_weights = None
        if label_weights is not None:
            values = torch.as_tensor(label_weights, dtype=torch.float64)
            if values.ndim != 1:
                raise ValueError(f"AUC: label_weights must be a list with one weight per label; received "
                                 f"label_weights={label_weights!r}.")
            self.label_weights = values.tolist()
        super().__init__(name, dtype)

    def result(self) -> torch.Tensor:
        """The area, ``()`` float32 as in Keras."""
        if self.counts is None:
            return as_result(0.0)
        tp, fp, tn, fn = self.counts
        if self.curve == "PR" and self.summation_method == "interpolation":
            return self._average(self._interpolated_pr(tp, fp, fn))
        x, y = self._curve(tp, fp, tn, fn)
        if self.summation_method == "interpolation":
            heights = (y[:-1] + y[1:]) / 2.0
        elif self.summation_method == "minoring":
            heights = torch.minimum(y[:-1], y[1:])
        else:
            heights = torch.maximum(y[:-1], y[1:])
        return self._average(((x[:-1] - x[1:]) * heights).sum(0))

    def _curve(self, tp, fp, tn, fn):
        """The curve's points ``(x, y)`` at each threshold (from the lowest threshold, x decreasing)."""
        recall = divide_no_nan(tp, tp + fn)
        if self.curve == "ROC":
            return divide_no_nan(fp, fp + tn), recall
        if self.curve == "PR":
            return recall, divide_no_nan(tp, tp + fp)
        # Gains as Keras defines them: without true positives a point is (0, 1), and recall gain is at least 0.
        scale = divide_no_nan(tp + fn, tn + fp)
        no_tp = tp == 0
        recall_gain = torch.where(no_tp, torch.zeros_like(tp), 1.0 - scale * divide_no_nan(fn, tp))
        precision_gain = torch.where(no_tp, torch.ones_like(tp), 1.0 - scale * divide_no_nan(fp, tp))
        return recall_gain.clamp_min(0.0), precision_gain

    @staticmethod
    def _interpolated_pr(tp, fp, fn):
        """PR AUC with tp and the predicted positives p = tp + fp linear between thresholds (Davis & Goadrich):
        each interval adds ``slope * (dtp + intercept * log(p_a / p_b)) / positives``."""
        p = tp + fp
        dtp = tp[:-1] - tp[1:]
        slope = divide_no_nan(dtp, (p[:-1] - p[1:]).clamp_min(0))
        intercept = tp[1:] - slope * p[1:]
        both = (p[:-1] > 0) & (p[1:] > 0)
        ratio = torch.where(both, divide_no_nan(p[:-1], p[1:].clamp_min(0)), torch.ones_like(p[1:]))
        return divide_no_nan(slope * (dtp + intercept * torch.log(ratio)), (tp[1:] + fn[1:]).clamp_min(0)).sum(0)

    def _average(self, by_label: torch.Tensor) -> torch.Tensor:
        """One AUC: the sum itself, or with ``multi_label`` the (label-weighted) mean of the labels' AUCs."""
        if self.multi_label:
            if self.label_weights is None:
                by_label = by_label.mean()
            else:
                weights = torch.tensor(self.label_weights, dtype=by_label.dtype, device=by_label.device)
                by_label = divide_no_nan((by_label * weights).sum(), weights.sum())
        return as_result(by_label)

    def get_config(self) -> dict:
        config = {**super().get_config(), "num_thresholds": self.num_thresholds, "curve": self.curve,
                  "summation_method": self.summation_method, "multi_label": self.multi_label,
                  "num_labels": self.num_labels, "label_weights": self.label_weights,
                  "from_logits": self.from_logits}
        if self.explicit_thresholds:
            config["thresholds"] = self.thresholds[1:-1]
        return config
