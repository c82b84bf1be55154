"""Keras' step API, for models that customise what ``fit`` does: ``train_step``, ``test_step`` and
``predict_step`` (the defaults, which an override may call through ``super()``), and what an override uses:
``compute_loss``, ``compute_metrics``, ``metrics``, ``reset_metrics`` and ``get_metrics_result``.

The trainer runs its own fused step unless a subclass overrides a step (or ``compute_loss`` /
``compute_metrics``, which the default steps call): then ``fit``, ``evaluate`` and ``predict`` call that step
once per batch with the batch packed as Keras packs it (``x``, ``(x, y)`` or ``(x, y, sample_weight)``) and
take the dict it returns as the logs. ``as_logs`` turns that dict (or the metrics' results, tensors as in
Keras) into Keras' logs of floats.
"""
from __future__ import annotations

import inspect
import warnings

import numpy as np
import torch

from layerwise.callbacks import CallbackList
from layerwise.datasets.adapt import ArrayData
from layerwise.dtype_policies.autocast import float32_of_half, numpy_of
from layerwise.metrics import Metric
from layerwise.models.outputs import CompiledMetric, CompiledOutputs
from layerwise.utils.data_packing import pack_x_y_sample_weight, unpack_x_y_sample_weight

# The methods whose override makes a loop call the model's step instead of the trainer's own.
_STEP_HOOKS = {"train_step": ("train_step", "compute_loss", "compute_metrics"),
               "test_step": ("test_step", "compute_loss", "compute_metrics"),
               "predict_step": ("predict_step",)}


def parts_shape(parts) -> tuple | list[tuple]:
    """The shape of a batch's tensor, or of each tensor of a tuple (one per input)."""
    return [tuple(p.shape) for p in parts] if isinstance(parts, tuple) else tuple(parts.shape)


def batch_free(shape: tuple | list[tuple]) -> tuple | list[tuple]:
    """A data batch's shape (or list of them) with the batch axis None: a model built from data takes every
    batch size, where ``build`` keeps a batch size given to it."""
    return [batch_free(s) for s in shape] if isinstance(shape, list) else (None, *tuple(shape)[1:])


def _as_outputs(value):
    """Predictions or targets as the compiled losses take them: one tensor, or a list with one per output."""
    if isinstance(value, dict):
        value = list(value.values())
    return value[0] if isinstance(value, (list, tuple)) and len(value) == 1 else value


def log_value(value: object) -> object:
    """A value as Keras' logs hold it: a Python float when it is one number (a 0-d tensor or array, an int...),
    else as it is, a tensor as a numpy array (a metric's per-class result, also of one class: ``(1,)``)."""
    if isinstance(value, torch.Tensor):
        if value.ndim == 0:
            return value.item() if value.is_floating_point() else float(value.item())
        value = numpy_of(value).copy()  # a copy: the tensor may be a metric's state, reset in place
    if isinstance(value, np.ndarray) and value.ndim > 0:
        return value
    try:
        return float(value.item() if isinstance(value, np.ndarray) else value)
    except (TypeError, ValueError, OverflowError):
        return value


def as_logs(logs: dict) -> dict:
    """A step's dict (or the metrics' results) as Keras gives logs to callbacks and History: keys sorted, a
    nested dict (a metric whose result is a dict) merged in at its key's place, values as ``log_value``."""
    flat = {}
    for key, value in sorted(logs.items()):
        if isinstance(value, dict):
            flat.update(as_logs(value))
        else:
            flat[key] = log_value(value)
    return flat


def _rows(value) -> int:
    """The batch size of ``x``: the length of its first tensor (Keras' rule for several inputs)."""
    if isinstance(value, dict):
        value = list(value.values())
    if isinstance(value, (list, tuple)):
        return _rows(next(v for v in value if v is not None))
    return len(value)


def flatten_outputs(out) -> tuple[list[torch.Tensor], object]:
    """A ``predict_step`` result as a list of tensors, and its structure for ``restore_outputs``."""
    if isinstance(out, dict):
        return [torch.as_tensor(v) for v in out.values()], list(out)
    if isinstance(out, (list, tuple)):
        return [torch.as_tensor(v) for v in out], type(out)
    return [torch.as_tensor(out)], None


def restore_outputs(values: list, structure):
    """``values`` (one per flattened output) in the structure ``flatten_outputs`` recorded."""
    if isinstance(structure, list):
        return dict(zip(structure, values))
    return values[0] if structure is None else structure(values)


class CompileMetrics:
    """The ``compile_metrics`` entry of Keras' ``model.metrics``: every metric given to ``compile`` as one
    object, whose ``result()`` is a dict keyed by the metrics' log names. It is unbuilt (``compiled`` None)
    until the first batch makes the metrics, which need the shapes of the targets and predictions."""

    name = "compile_metrics"

    def __init__(self, compiled: list[CompiledMetric] | None, outputs: CompiledOutputs | None):
        self.compiled, self.outputs = compiled, outputs

    @property
    def built(self) -> bool:
        return self.compiled is not None

    @property
    def names(self) -> list[str]:
        """The metrics' log names, in Keras' order (none before the metrics are built)."""
        return [m.name for m in self.compiled or ()]

    @property
    def metrics(self) -> list[Metric]:
        """The metric objects (none before they are built), as Keras' ``CompileMetrics.metrics``."""
        return [m.metric for m in self.compiled or ()]

    @property
    def variables(self) -> list:
        """The state variables of every metric."""
        return [variable for metric in self.metrics for variable in metric.variables]

    def update_state(self, y_true, y_pred, sample_weight=None) -> None:
        """Add a batch to each metric (the ``weighted_metrics`` with ``sample_weight``), output by output."""
        parts = self.outputs.parts
        ys, preds, weights = parts(_as_outputs(y_true)), parts(_as_outputs(y_pred)), parts(sample_weight)
        for _, i, metric, weighted in self.compiled:
            metric.update_state(ys[i], preds[i], weights[i] if weighted else None)

    def result(self) -> dict:
        if not self.built:
            raise ValueError("Cannot get result() since the compiled metrics have not yet been built: they are "
                             "made from the first batch. Call fit(), evaluate(), train_on_batch() or "
                             "compute_metrics(x, y, y_pred) first.")
        return {m.name: m.metric.result() for m in self.compiled}

    def reset_state(self) -> None:
        for m in self.compiled or ():
            m.metric.reset()


class StepAPI:
    """Mixin of the trainer: Keras' overridable steps, the methods they use, and the loops' calls of them. The
    model provides ``__call__``, ``losses``, ``trainable_weights`` and ``name``; the trainer ``optimizer``,
    ``_prepare``, ``_outputs`` (the compiled losses, None without a loss), ``_metrics`` (the compiled metrics
    once made, by ``_prepare`` or ``compute_metrics``) and ``_trackers`` (the loss's running mean, then each
    output's)."""

    def _build_for_batches(self, shape, batch_size: int | None = None) -> None:
        """Build from a data batch's ``shape`` (or list of them) for any batch size; ``batch_size``: the rows of
        the first batch the loop will take, where a model keeps it (a Sequential, as in Keras)."""
        self.build(batch_free(shape))

    def _uses_steps(self, step: str) -> bool:
        """Whether the loops must call ``step``: it, or a method the default calls, is overridden."""
        cls = type(self)
        return any(getattr(cls, name) is not getattr(StepAPI, name) for name in _STEP_HOOKS[step])

    # ---- the default steps, as Keras' PyTorch trainer takes them ------------------------------------
    def train_step(self, data) -> dict:
        """One optimizer step on ``data`` (``x``, ``(x, y)`` or ``(x, y, sample_weight)``); returns the logs."""
        x, y, sample_weight = unpack_x_y_sample_weight(data)
        y_pred = self(x, training=True)
        self.zero_grad()
        loss = self._step_loss(x, y, y_pred, sample_weight, training=True)
        trainable = self.trainable_weights
        if trainable:
            scale_loss = getattr(self.optimizer, "scale_loss", None)  # a LossScaleOptimizer's, as Keras scales
            (loss if scale_loss is None else scale_loss(loss)).backward()
            self.optimizer.apply([v.grad for v in trainable], trainable)
        else:
            warnings.warn(f"Model '{self.name}' has no trainable weights: train_step changes nothing.", stacklevel=2)
        return self.compute_metrics(x, y, y_pred, sample_weight)

    def test_step(self, data) -> dict:
        """The loss and metrics of ``data``, added to the running values; returns the logs."""
        x, y, sample_weight = unpack_x_y_sample_weight(data)
        y_pred = self(x, training=False)
        self._step_loss(x, y, y_pred, sample_weight, training=False)
        return self.compute_metrics(x, y, y_pred, sample_weight)

    def predict_step(self, data):
        """The model's outputs for the ``x`` of ``data``."""
        x, _, _ = unpack_x_y_sample_weight(data)
        return self(x, training=False)

    def _step_loss(self, x, y, y_pred, sample_weight, training: bool) -> torch.Tensor:
        """``compute_loss`` (an override may lack ``training``, as before Keras 3.3), added to the loss tracker."""
        if "training" in inspect.signature(self.compute_loss).parameters:
            loss = self.compute_loss(x, y, y_pred, sample_weight, training=training)
        else:
            loss = self.compute_loss(x, y, y_pred, sample_weight)
        self._trackers[0].update_value(loss, _rows(x))
        return loss

    # ---- what a step uses ---------------------------------------------------------------------------
    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training: bool = True) -> torch.Tensor:
        """The scalar a step minimises: the compiled loss of ``y_pred`` against ``y`` (each output's loss is
        added to its running mean) plus every penalty in ``losses`` (regularizers, ``add_loss``)."""
        terms = []
        if self._outputs is None:  # a subclassed model's compiled loss waits for its first call to know its outputs
            self._resolve_outputs()
        if self._outputs is not None:
            y_pred = float32_of_half(_as_outputs(y_pred))  # a mixed model's outputs, in float32 as Keras' losses
            loss, each = self._outputs.total(_as_outputs(y), y_pred, sample_weight)
            for tracker, value in zip(self._trackers[1:], each):
                tracker.update_value(value, _rows(y_pred))
            terms.append(loss)
        terms.extend(penalty.sum() for penalty in self.losses)  # Keras sums a non-scalar added loss
        if not terms:
            raise ValueError(f"Model '{self.name}': no loss to compute. Pass a loss to compile(), e.g. "
                             "compile(optimizer='adam', loss='mse'), or compute the loss in your own train_step.")
        return sum(terms[1:], terms[0])

    def compute_metrics(self, x, y, y_pred, sample_weight=None) -> dict:
        """Add the batch to the compiled metrics (made from this batch's shapes if no fit, evaluate or
        ``train_on_batch`` has made them yet, as Keras builds them); returns ``get_metrics_result()``."""
        y_pred = float32_of_half(y_pred)
        compiled = self._compile_metrics()
        if compiled is not None:
            if not compiled.built:
                self._build_compile_metrics(y, y_pred)
                compiled = self._compile_metrics()
            compiled.update_state(y, y_pred, sample_weight)
        return self.get_metrics_result()

    def _build_compile_metrics(self, y, y_pred) -> None:
        """Make the compiled metrics for targets ``y`` and predictions ``y_pred`` (a tensor, or one per
        output): the shapes choose what ``"accuracy"`` and the like resolve to, as in ``_prepare``."""
        self._resolve_outputs()  # a subclassed model's outputs are known once it has been called
        if self._outputs is None:
            raise ValueError(f"Model '{self.name}': compute_metrics() needs the model's outputs, which a subclassed "
                             "model knows once it has been called. Call the model on a batch first, e.g. "
                             "y_pred = model(x).")
        parts = self._outputs.parts
        y_shapes = [None if part is None else tuple(np.shape(part)) for part in parts(_as_outputs(y))]
        pred_shapes = [(None, *tuple(np.shape(part))[1:]) for part in parts(_as_outputs(y_pred))]
        self._metrics = self._outputs.make_metrics(y_shapes, pred_shapes)

    def get_metrics_result(self) -> dict:
        """``{name: result}`` of every metric in ``metrics`` (a dict result is merged in): tensors, as in Keras."""
        results = {}
        for metric in self.metrics:
            value = metric.result()
            if isinstance(value, dict):
                results.update(value)
            else:
                results[metric.name] = value
        return results

    @property
    def metrics(self) -> list:
        """Keras' order: the loss tracker, the compiled metrics, each output's loss tracker, then the metrics
        set as attributes of the model. ``fit`` resets them at each epoch, ``evaluate`` at its start."""
        found = list(self._trackers[:1])
        compiled = self._compile_metrics()
        if compiled is not None:
            found.append(compiled)
        found.extend(self._trackers[1:])
        return found + self._attribute_metrics()

    def _attribute_metrics(self) -> list:
        """The metrics set as attributes of the model or of its layers (a layer's ``call`` may update one, as
        Keras 3 advises in place of ``add_metric``): logged and reset with the compiled ones."""
        found = []
        for module in self.modules():
            found.extend(value for value in vars(module).values()
                         if isinstance(value, Metric) and not any(value is f for f in found))
        return found

    @property
    def metrics_names(self) -> list[str]:
        return [m.name for m in self.metrics]

    def reset_metrics(self) -> None:
        for metric in self.metrics:
            metric.reset_state()

    def _compile_metrics(self) -> CompileMetrics | None:
        """The compiled metrics as one ``CompileMetrics``: there once ``compile`` is given ``metrics`` or
        ``weighted_metrics`` (even empty ones, as in Keras), unbuilt until the metrics are made."""
        if self._compile_args is None or (self._compile_args[2] is None and self._compile_args[3] is None):
            return None
        entry = self._compile_metrics_entry
        # compile() and the trainer's _prepare replace the metrics list: the entry follows the current one.
        if entry is None or entry.compiled is not self._metrics or entry.outputs is not self._outputs:
            self._compile_metrics_entry = CompileMetrics(self._metrics, self._outputs)
        return self._compile_metrics_entry

    def _ordered_logs(self, logs: dict):
        """Keras' list form of a step's logs: the names of ``metrics`` in order, then the other keys sorted;
        a scalar when there is one."""
        names = [name for m in self.metrics for name in (m.names if isinstance(m, CompileMetrics) else [m.name])]
        values = [logs[name] for name in names if name in logs] + [logs[k] for k in sorted(logs) if k not in names]
        return values[0] if len(values) == 1 else values

    # ---- the loops' side: overridden steps on the trainer's batches --------------------------------
    def _prepare_steps(self, data) -> None:
        """``_prepare`` for overridden steps: a model compiled without a loss, or data without targets, only
        needs to be built and its optimizer bound to the trainable weights (as Keras binds it)."""
        x0, y0 = (data.x, data.y) if isinstance(data, ArrayData) else data.first_batch()[:2]
        loss, metrics, weighted = self._compile_args[0], self._compile_args[2], self._compile_args[3]
        if y0 is not None and (loss is not None or metrics or weighted):  # the compiled metrics need resolving
            self._prepare(data)
            return
        if not self.built:
            self._build_for_batches(parts_shape(x0), getattr(data, "batch_size", None))
        if not self.optimizer.built:
            self.optimizer.build_for(self, self.trainable_weights)
        self._constrained = any(getattr(m, "weight_constraints", None) for m in self.modules())

    def _run_step(self, step: str, batch) -> dict:
        """The model's overridden ``step`` on one batch ``(x, y, sample_weight)``: the dict it returns."""
        logs = getattr(self, step)(pack_x_y_sample_weight(*batch))
        if not isinstance(logs, dict):
            raise TypeError(f"Model '{self.name}': {step}() must return a dict of logs such as "
                            f"{{'loss': self.loss_tracker.result()}}; received {type(logs).__name__}.")
        if step == "train_step" and self._constrained:
            self.apply_constraints()
        return logs

    def _final_logs(self, logs: dict) -> dict:
        """Keras' logs at the end of an epoch of overridden steps: the metrics' results when the last step
        logged exactly their names, else the last step's dict."""
        results = self.get_metrics_result()
        return results if set(results) == set(logs) else dict(logs)

    def _predict_step_outputs(self, x) -> list[torch.Tensor]:
        """An overridden ``predict_step`` on the batch ``x``, flattened (its structure is kept for the end)."""
        values, self._predicted_structure = flatten_outputs(self.predict_step(pack_x_y_sample_weight(x)))
        return values

    def _evaluate_steps(self, data, prefix: str, callbacks: CallbackList) -> dict[str, float]:
        """``_evaluate_data`` with the model's overridden ``test_step``, under ``no_grad`` as in Keras."""
        self.reset_metrics()
        self.eval()
        self.stop_evaluating = False
        callbacks.on_test_begin()
        logs = {}
        with torch.no_grad():
            for step, batch in enumerate(data.batches()):
                callbacks.on_test_batch_begin(step)
                logs = self._run_step("test_step", batch)
                callbacks.on_test_batch_end(step, as_logs(logs))
                if self.stop_evaluating:
                    break
        logs = as_logs(self._final_logs(logs))
        callbacks.on_test_end(logs)
        return {prefix + name: value for name, value in logs.items()}
