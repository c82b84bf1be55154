"""compile / fit / evaluate / predict: the one training loop, shared by every model.

Hot-path rules: batches are index slices of tensors already on the device; metrics accumulate
on the device and are read (one sync) only when something shows or needs them; ``predict`` runs
under ``torch.inference_mode`` with no callbacks.
"""
from __future__ import annotations

import numpy as np
import torch

from layerwise import losses as losses_module
from layerwise import metrics as metrics_module
from layerwise import optimizers as optimizers_module
from layerwise.callbacks import Callback, CallbackList, History
from layerwise.datasets.adapt import ArrayData, as_array_tensor, make_data
from layerwise.models.targets import check_targets, class_weights_to_sample_weights
from layerwise.utils.progbar import Progbar


def _resolve_verbose(verbose, default: int = 1) -> int:
    if verbose == "auto":
        return default
    if verbose not in (0, 1, 2):
        raise ValueError(f"verbose must be 'auto', 0, 1 or 2, got {verbose!r}.")
    return int(verbose)


class Trainer:
    """Mixin giving a model Keras' training API. The model provides ``forward``, ``build``,
    ``check_input``, ``built``, ``batch_input_shape``, ``output_shape`` and ``device()``."""

    def __init__(self):
        self.optimizer: optimizers_module.Optimizer | None = None
        self.loss: losses_module.Loss | None = None
        self.compiled_metrics: list = []
        self.stop_training = False
        self.history: History | None = None
        self._penalised = self._constrained = False

    # ---- compile ------------------------------------------------------------------------------
    def compile(self, optimizer="rmsprop", loss=None, metrics=None, loss_weights=None, run_eagerly=False,
                jit_compile="auto", **kwargs) -> None:
        """Choose optimizer, loss and metrics. Names are checked here, before any data is seen."""
        self.optimizer = optimizers_module.get(optimizer)
        if loss is None:
            raise ValueError("compile() needs a loss, e.g. loss='categorical_crossentropy'.")
        self.loss = losses_module.get(loss)
        metrics = list(metrics or [])
        for metric in metrics:  # validate now; 'accuracy' is resolved from the data shapes in fit
            metrics_module.get(metric, (None, 2), (None, 2))
        self.compiled_metrics = metrics
        self._metrics: list[metrics_module.Metric] | None = None

    def _require_compiled(self, what: str) -> None:
        if self.optimizer is None or self.loss is None:
            raise RuntimeError(f"You must call compile() before {what}(), e.g. "
                               "model.compile(optimizer='adam', loss='categorical_crossentropy', "
                               "metrics=['accuracy']).")

    def _require_one_input_and_output(self, what: str) -> None:
        """The training API handles models of one input and one output so far (README: differences)."""
        n_in, n_out = len(getattr(self, "inputs", [None])), len(getattr(self, "outputs", [None]))
        if n_in != 1 or n_out != 1:
            raise NotImplementedError(
                f"{what}() supports models with one input and one output so far; model '{self.name}' has "
                f"{n_in} inputs and {n_out} outputs. Call the model on tensors instead (model([a, b]) returns "
                "its outputs, and it is a torch.nn.Module for a training loop of your own).")

    def _prepare(self, data) -> None:
        """Build from the first batch if needed, check the targets, resolve metrics, bind the optimizer."""
        if isinstance(data, ArrayData):
            x_shape, y_shape = tuple(data.x.shape), None if data.y is None else tuple(data.y.shape)
        else:
            x0, y0, _ = next(iter(data.batches()))
            x_shape, y_shape = tuple(x0.shape), None if y0 is None else tuple(y0.shape)
        if not self.built:
            self.build(x_shape)
        self.check_input(x_shape)
        if y_shape is None:
            raise ValueError("fit() needs targets y (or a dataset that yields (x, y) batches).")
        pred_shape = (None, *self.output_shape[1:])
        if isinstance(data, ArrayData):
            check_targets(self.loss, data.y, pred_shape)
        else:
            check_targets(self.loss, y0, pred_shape)
        if self._metrics is None:
            self._metrics = [metrics_module.get(m, y_shape, pred_shape) for m in self.compiled_metrics]
        if not self.optimizer.built:
            self.optimizer.build([p for p in self.parameters()])
        # Checked once here so that models without regularizers or constraints pay nothing per step.
        self._penalised = any(getattr(m, "weight_regularizers", None) or getattr(m, "activity_regularizer", None)
                              for m in self.modules())
        self._constrained = any(getattr(m, "weight_constraints", None) for m in self.modules())

    # ---- one step -----------------------------------------------------------------------------
    def _total_loss(self, y, y_pred, sample_weight) -> torch.Tensor:
        """The compiled loss plus every regularization penalty, as Keras minimises and reports it."""
        loss = self.loss(y, y_pred, sample_weight)
        if self._penalised:
            loss = loss + sum(self.losses)
        return loss

    def _train_step(self, x, y, sample_weight, loss_tracker) -> None:
        y_pred = self.forward(x)
        loss = self._total_loss(y, y_pred, sample_weight)
        for p in self.optimizer.params:
            p.grad = None
        loss.backward()
        self.optimizer.step()
        if self._constrained:
            self.apply_constraints()
        with torch.no_grad():
            loss_tracker.update_value(loss, len(x))
            for metric in self._metrics:
                metric.update(y, y_pred)

    def _logs(self, loss_tracker, prefix: str = "") -> dict[str, float]:
        logs = {prefix + m.name: m.result() for m in self._metrics}
        logs[prefix + "loss"] = loss_tracker.result()
        # Keras sorts its logs by name: History keys, evaluate's dict and its list all follow it.
        return dict(sorted(logs.items()))

    def _flat_logs(self, logs: dict[str, float]) -> float | list[float]:
        """Keras' list form of ``logs``: the loss first, then the metrics in compile order."""
        values = [logs["loss"], *(logs[m.name] for m in self._metrics)]
        return values[0] if len(values) == 1 else values

    def _reset_metrics(self) -> metrics_module.Mean:
        for metric in self._metrics:
            metric.reset()
        return metrics_module.Mean(name="loss")

    # ---- fit ----------------------------------------------------------------------------------
    def fit(self, x=None, y=None, batch_size: int | None = None, epochs: int = 1, verbose="auto",
            callbacks: list[Callback] | None = None, validation_split: float = 0.0, validation_data=None,
            shuffle: bool = True, class_weight: dict | None = None, sample_weight=None, initial_epoch: int = 0,
            validation_batch_size: int | None = None, validation_freq: int = 1) -> History:
        """Train for ``epochs`` epochs; returns a History whose ``.history`` has Keras' keys."""
        self._require_one_input_and_output("fit")
        self._require_compiled("fit")
        verbose = _resolve_verbose(verbose)
        device = self.device()
        data = make_data(x, y, sample_weight, batch_size, device)
        if class_weight is not None:
            if not isinstance(data, ArrayData):
                raise ValueError("class_weight needs array inputs; weight the batches of a dataset yourself.")
            weights = class_weights_to_sample_weights(class_weight, data.y)
            data.sample_weight = weights if data.sample_weight is None else data.sample_weight * weights
        val_data = None
        if validation_data is not None:
            val_data = self._validation_data(validation_data, validation_batch_size or batch_size, device)
        elif validation_split:
            if not isinstance(data, ArrayData):
                raise ValueError("validation_split works with arrays only; pass validation_data for datasets.")
            data, val_data = data.split(validation_split)
        self._prepare(data)

        self.history = History()
        # History goes last, as in Keras: it records what the other callbacks add to the logs.
        callback_list = CallbackList([*(callbacks or []), self.history], self,
                                     {"verbose": verbose, "epochs": epochs, "steps": len(data)})
        batch_logs_needed = any(type(cb).on_train_batch_end is not Callback.on_train_batch_end
                                for cb in callbacks or [])
        self.stop_training = False
        callback_list.on_train_begin()
        for epoch in range(initial_epoch, epochs):
            loss_tracker = self._reset_metrics()
            callback_list.on_epoch_begin(epoch)
            if verbose and epochs > 1:  # as Keras' ProgbarLogger: for verbose 1 and 2, not for a single epoch
                print(f"Epoch {epoch + 1}/{epochs}")
            bar = Progbar(len(data), verbose) if verbose else None
            self.train()
            step = 0
            for step, (xb, yb, wb) in enumerate(data.batches(shuffle), start=1):
                callback_list.on_train_batch_begin(step - 1)
                self._train_step(xb, yb, wb, loss_tracker)
                show = bar is not None and bar.due(step)
                logs = self._logs(loss_tracker) if (show or batch_logs_needed) else None
                callback_list.on_train_batch_end(step - 1, logs)
                if show and step < len(data):  # the last step is drawn with the epoch's logs
                    bar.update(step, logs)
                if self.stop_training:
                    break
            self.eval()
            epoch_logs = self._logs(loss_tracker)
            if val_data is not None and (epoch + 1) % validation_freq == 0:
                epoch_logs.update(self._evaluate_data(val_data, prefix="val_"))
            callback_list.on_epoch_end(epoch, epoch_logs)
            if bar is not None:
                bar.update(step, epoch_logs, finalize=True)
            if self.stop_training:
                break
        callback_list.on_train_end()
        return self.history

    def _validation_data(self, validation_data, batch_size, device):
        if isinstance(validation_data, (tuple, list)):
            if len(validation_data) not in (2, 3):
                raise ValueError("validation_data must be (x_val, y_val) or (x_val, y_val, sample_weight).")
            vx, vy, vw = (*validation_data, None)[:3]
            return make_data(vx, vy, vw, batch_size, device)
        return make_data(validation_data, None, None, batch_size, device)

    # ---- evaluate -----------------------------------------------------------------------------
    def _evaluate_data(self, data, prefix: str = "") -> dict[str, float]:
        loss_tracker = self._reset_metrics()
        self.eval()
        with torch.inference_mode():
            for xb, yb, wb in data.batches():
                y_pred = self.forward(xb)
                loss_tracker.update_value(self._total_loss(yb, y_pred, wb), len(xb))
                for metric in self._metrics:
                    metric.update(yb, y_pred)
        return self._logs(loss_tracker, prefix)

    def evaluate(self, x=None, y=None, batch_size: int | None = None, verbose="auto", sample_weight=None,
                 return_dict: bool = False, callbacks=None):
        """Loss and metrics on the given data: a scalar, ``[loss, *metrics]``, or a dict."""
        self._require_one_input_and_output("evaluate")
        self._require_compiled("evaluate")
        data = make_data(x, y, sample_weight, batch_size, self.device())
        self._prepare(data)
        logs = self._evaluate_data(data)
        if _resolve_verbose(verbose):
            Progbar(len(data), _resolve_verbose(verbose)).update(len(data), logs, finalize=True)
        if return_dict:
            return logs
        return self._flat_logs(logs)

    # ---- predict ------------------------------------------------------------------------------
    def predict(self, x, batch_size: int | None = None, verbose="auto", steps=None, callbacks=None) -> np.ndarray:
        """Outputs for ``x`` as a numpy array, computed batch by batch in inference mode."""
        self._require_one_input_and_output("predict")
        verbose = _resolve_verbose(verbose)
        if not isinstance(x, (np.ndarray, torch.Tensor, list)):
            outputs = [self.predict_on_batch(batch[0] if isinstance(batch, (tuple, list)) else batch)
                       for batch in x]
            return np.concatenate(outputs)
        x = as_array_tensor(x, "x", self.device())
        batch_size = batch_size or 32
        if not self.built:
            self.build(tuple(x.shape))
        self.check_input(x.shape)
        self.eval()
        bar = Progbar((len(x) + batch_size - 1) // batch_size, verbose) if verbose else None
        with torch.inference_mode():
            if len(x) <= batch_size:
                out = self.forward(x)
            else:
                out = torch.cat([self.forward(x[i:i + batch_size]) for i in range(0, len(x), batch_size)])
        if bar is not None:
            bar.update(bar.target, finalize=True)
        return out.cpu().numpy()

    def predict_on_batch(self, x) -> np.ndarray:
        self._require_one_input_and_output("predict_on_batch")
        x = as_array_tensor(x, "x", self.device())
        if not self.built:
            self.build(tuple(x.shape))
        self.check_input(x.shape)
        self.eval()
        with torch.inference_mode():
            return self.forward(x).cpu().numpy()

    def train_on_batch(self, x, y=None, sample_weight=None, class_weight=None, return_dict: bool = False):
        """One optimizer step on one batch; returns the batch loss (and metrics) as ``evaluate`` does."""
        self._require_one_input_and_output("train_on_batch")
        self._require_compiled("train_on_batch")
        data = make_data(x, y, sample_weight, len(x), self.device())
        if class_weight is not None:
            data.sample_weight = class_weights_to_sample_weights(class_weight, data.y)
        self._prepare(data)
        loss_tracker = self._reset_metrics()
        self.train()
        self._train_step(data.x, data.y, data.sample_weight, loss_tracker)
        self.eval()
        logs = self._logs(loss_tracker)
        if return_dict:
            return logs
        return self._flat_logs(logs)

    def test_on_batch(self, x, y=None, sample_weight=None, return_dict: bool = False):
        return self.evaluate(x, y, batch_size=len(x), verbose=0, sample_weight=sample_weight,
                             return_dict=return_dict)

