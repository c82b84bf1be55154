"""Keras' one-batch methods, ``train_on_batch``, ``test_on_batch`` and ``predict_on_batch``: a mixin of
``Trainer`` (``models/trainer.py``), whose data preparation, steps and logs they reuse on a single batch."""
from __future__ import annotations

import torch

from layerwise.datasets.adapt import ArrayData
from layerwise.dtype_policies.autocast import numpy_of
from layerwise.models.custom_steps import as_logs


class OnBatchMethods:
    """``train_on_batch``, ``test_on_batch`` and ``predict_on_batch`` for a ``Trainer``: all of ``x`` is the batch."""

    def predict_on_batch(self, x):
        x = self._input_parts(x)
        self.eval()
        if self._uses_steps("predict_step"):
            with torch.no_grad():
                return self._structure_outputs([numpy_of(out) for out in self._predict_step_outputs(x)])
        with torch.inference_mode():
            return self._structure_outputs([numpy_of(out) for out in self._infer(x)])

    def _batch_data(self, x, y, sample_weight, step: str, method: str, class_weight=None) -> ArrayData:
        """``x`` (and ``y``, ``sample_weight``) as one batch for ``method`` (``train_on_batch``...), which runs
        ``step``."""
        data = self._make_data(x, y, sample_weight, None)
        if not isinstance(data, ArrayData):
            raise ValueError(f"x must be an array or a tensor (one per input), got {type(x).__name__}.")
        data.batch_size = data.num_samples
        self._apply_class_weight(data, class_weight)
        self._prepare_steps(data) if self._uses_steps(step) else self._prepare(data, method)
        return data

    def train_on_batch(self, x, y=None, sample_weight=None, class_weight=None, return_dict: bool = False):
        """One optimizer step on one batch; returns the batch loss (and metrics) as ``evaluate`` does."""
        self._require_compiled("train_on_batch")
        data = self._batch_data(x, y, sample_weight, "train_step", "train_on_batch", class_weight)
        if self._uses_steps("train_step"):
            self.reset_metrics()
            self.train()
            logs = as_logs(self._run_step("train_step", (data.x, data.y, data.sample_weight)))
            self.eval()
            return logs if return_dict else self._ordered_logs(logs)
        trackers = self._reset_metrics()
        self.train()
        self._train_step(data.x, data.y, data.sample_weight, trackers)
        self.eval()
        logs = self._logs(trackers)
        return logs if return_dict else self._flat_logs(logs)

    def test_on_batch(self, x, y=None, sample_weight=None, return_dict: bool = False):
        self._require_compiled("test_on_batch")
        logs = self._evaluate_data(self._batch_data(x, y, sample_weight, "test_step", "test_on_batch"))
        if return_dict:
            return logs
        return self._ordered_logs(logs) if self._uses_steps("test_step") else self._flat_logs(logs)
