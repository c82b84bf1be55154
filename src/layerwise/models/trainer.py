"""compile / fit / evaluate / predict: the one training loop, shared by every model.

Hot-path rules: batches are index slices of tensors already on the device; metrics accumulate
on the device and are read (one sync) only when something shows or needs them; ``predict`` runs
under ``torch.inference_mode``. Callbacks get Keras' hooks in Keras' order (validation inside ``fit``
calls the test hooks); a batch hook no callback overrides is not called at all. A model that overrides
``train_step``, ``test_step`` or ``predict_step`` (``models/custom_steps.py``) has its step called per batch
instead, and the dict it returns is the logs; without overrides, the loops choose the fused step once.
"""
from __future__ import annotations

import warnings

import torch

from layerwise import metrics as metrics_module
from layerwise import optimizers as optimizers_module
from layerwise.callbacks import Callback, CallbackList, History
from layerwise.datasets.adapt import (
    ArrayData,
    as_tensor_parts,
    check_row_counts,
    default_batch_size,
    is_array_like,
    make_data,
    num_rows,
    split_parts,
    take_rows,
)
from layerwise.datasets.iterable import IterableData, first_item, peekable, take_steps
from layerwise.dtype_policies.autocast import float32_of_half, numpy_of
from layerwise.layers.calling import keeps_modes
from layerwise.layers.penalties import LayerPenalties, outermost_call
from layerwise.models.compile_arguments import json_plain, unexpected_compile_arguments
from layerwise.models.custom_steps import StepAPI, as_logs, parts_shape, restore_outputs
from layerwise.models.on_batch import OnBatchMethods
from layerwise.models.optimizer_binding import bind_optimizer
from layerwise.models.inputs import as_declared_inputs, declared_dtypes
from layerwise.models.loop_settings import (callbacks_with_defaults, capped_fit, capped_steps, resolve_verbose,
                                            validates_after)
from layerwise.models.outputs import CompiledMetric, CompiledOutputs, check_names, flat_outputs
from layerwise.models.targets import check_targets, class_weighted, class_weights_to_sample_weights
from layerwise.utils.py_dataset import is_py_dataset


class Trainer(OnBatchMethods, StepAPI):
    """Mixin giving a model Keras' training API. The model provides ``forward``, ``build``,
    ``check_input``, ``built``, ``batch_input_shape``, ``output_shape``, ``input_names``,
    ``output_names`` and ``device()``.

    Inputs and targets of a model with several inputs or outputs travel as tuples of tensors
    (``datasets/adapt.py``); ``CompiledOutputs`` holds each output's loss and metrics."""

    def __init__(self):
        self.optimizer: optimizers_module.Optimizer | None = None
        self.loss = None
        self.compiled_metrics: list = []
        self._compile_args: tuple | None = None
        self._compile_config: dict | None = None  # compile's arguments as given, for get_compile_config
        # Keras' values before compile on the torch backend: eager ("auto" resolves to no compilation), one batch
        # per step. layerwise always runs that way; compile records what it is given, as Keras does.
        self.run_eagerly, self.jit_compile, self.steps_per_execution = False, False, 1
        self._outputs: CompiledOutputs | None = None
        self._metrics: list[CompiledMetric] | None = None
        self._trackers: list[metrics_module.Mean] = []  # the loss's running mean, then each output's
        self._layer_metrics: list = []  # metrics held by the model or its layers (see _attribute_metrics)
        self._compile_metrics_entry = None  # ``metrics``' view of the compiled metrics (custom_steps.py)
        self._predicted_structure = None  # what an overridden predict_step returns: dict keys, list or tuple
        self.stop_training = self.stop_evaluating = self.stop_predicting = False
        self.history: History | None = None
        self._initial_epoch: int | None = None  # set by BackupAndRestore to resume an interrupted fit
        self._penalised = self._constrained = False

    # ---- compile ------------------------------------------------------------------------------
    def compile(self, optimizer="rmsprop", loss=None, loss_weights=None, metrics=None, weighted_metrics=None,
                run_eagerly: bool = False, steps_per_execution: int = 1, jit_compile="auto",
                auto_scale_loss: bool = True, **kwargs) -> None:
        """Choose optimizer, loss and metrics. Names are checked here, before any data is seen.

        ``metrics`` ignore sample and class weights; ``weighted_metrics`` apply them, as in Keras. For several
        outputs, ``loss``, ``loss_weights`` and the metrics may be lists (one entry per output) or dicts
        keyed by output name (see ``models/outputs.py``). The loss may be left out, as in Keras, by a model
        that adds its own (``add_loss``) or overrides ``train_step``. Under the ``"mixed_float16"`` policy the
        optimizer is wrapped in a ``LossScaleOptimizer`` (unless ``auto_scale_loss=False``), as in Keras.

        ``run_eagerly``, ``steps_per_execution`` and ``jit_compile`` become the model's attributes and are in
        ``get_compile_config()``, resolved as Keras' torch backend does (``"auto"``: False); layerwise itself
        always runs eagerly, one batch per step. Any other keyword is a TypeError, as in Keras."""
        if kwargs:
            raise unexpected_compile_arguments(kwargs)
        if jit_compile == "auto":
            jit_compile = False
        if jit_compile and run_eagerly:
            jit_compile = False
            warnings.warn("If `run_eagerly` is True, then `jit_compile` cannot also be True. Disabling `jit_compile`.",
                          stacklevel=2)
        self.run_eagerly, self.jit_compile, self.steps_per_execution = run_eagerly, jit_compile, steps_per_execution
        self.optimizer = optimizers_module.get(optimizer)
        self._compile_config = {"optimizer": self.optimizer, "loss": loss, "loss_weights": loss_weights,
                                "metrics": metrics, "weighted_metrics": weighted_metrics, "run_eagerly": run_eagerly,
                                "steps_per_execution": steps_per_execution, "jit_compile": jit_compile}
        if auto_scale_loss and self.dtype_policy.name == "mixed_float16" and \
                not isinstance(self.optimizer, optimizers_module.LossScaleOptimizer):
            self.optimizer = optimizers_module.LossScaleOptimizer(self.optimizer, name="loss_scale_optimizer")
        self._compile_args, self._outputs = (loss, loss_weights, metrics, weighted_metrics), None
        self._trackers, self._metrics = [metrics_module.Mean(name="loss")], None
        self.compiled_metrics = metrics
        self.loss = loss if loss is not None else self.loss  # as Keras: as given; a model's own `loss` stays
        check_names(loss, [metrics, weighted_metrics])
        self._resolve_outputs()  # now, or once a subclassed model's first call shows its outputs

    @property
    def compiled(self) -> bool:
        """Whether ``compile`` has been called, as Keras' ``model.compiled``."""
        return self._compile_args is not None

    def get_compile_config(self) -> dict | None:
        """``compile``'s arguments as Keras' ``get_compile_config`` returns them (None before ``compile``), so that
        Keras' ``compile_from_config`` reads them too: names, numbers and None as given (``loss="mse"`` stays
        ``"mse"``), the optimizer and loss or metric objects in Keras' serialized form, and ``run_eagerly``,
        ``steps_per_execution`` and ``jit_compile`` as compiled."""
        if self._compile_config is None:
            return None
        from layerwise.keras_export import keras_compile_config  # it imports the models: not at module level

        serialized = keras_compile_config(self)
        return {key: value if json_plain(value) else serialized[key] for key, value in self._compile_config.items()}

    def _resolve_outputs(self) -> None:
        """Each output's loss and metrics (``models/outputs.py``) for the model's output names."""
        if not self._outputs_known() or (self._outputs is not None and self._outputs.names == self.output_names):
            return
        structure = getattr(self, "_output_structure", None)
        self._outputs = CompiledOutputs(*self._compile_args, self.output_names, structure)
        self.compiled_metrics = self._outputs.metric_ids if self._outputs.several else self._outputs.metric_ids[0]
        self._metrics = None
        self._trackers = [metrics_module.Mean(name=name) for name in ["loss", *self._outputs.loss_log_names]]

    def _require_compiled(self, what: str) -> None:
        if self.optimizer is None or self._compile_args is None:
            raise RuntimeError(f"You must call compile() before {what}(), e.g. "
                               "model.compile(optimizer='adam', loss='categorical_crossentropy', "
                               "metrics=['accuracy']).")

    def _make_data(self, x, y, sample_weight, batch_size, steps: int | None = None):
        """``make_data`` for this model; ``steps``: the batches the caller takes, which set Keras' default batch
        size for arrays (``default_batch_size``)."""
        x = peekable(x)  # a generator's first batch may build the model: it must not be lost
        self._adopt_input_structure(x)
        self._build_from_data(x)
        self._resolve_outputs()
        untrained = frozenset() if self._outputs is None else self._outputs.untrained()
        return make_data(x, y, sample_weight, batch_size, self.device(), self.input_names, self.output_names,
                         untrained, steps, declared_dtypes(self))

    def _forward_batch(self, x):
        """The model on a batch: ``x`` is a tensor, or a tuple with one tensor per input; the output is a
        tensor, or a flat list with one per output."""
        x = as_declared_inputs(self, x)
        with outermost_call(self):
            out = self.forward(*x) if isinstance(x, tuple) else self.forward(x)
        flat = flat_outputs(out)  # a functional model's nested lists, tuples and dicts too
        return flat[0] if len(flat) == 1 else flat

    def _prepare(self, data, what: str | None = None) -> None:
        """Build from the first batch if needed, check the targets, resolve metrics, bind the optimizer; ``what``
        names the method called (``"evaluate"``...), for errors."""
        x0, y0 = (data.x, data.y) if isinstance(data, ArrayData) else data.first_batch()[:2]
        x_shape = parts_shape(x0)
        if not self.built:
            self._build_for_batches(x_shape, data.batch_size if isinstance(data, ArrayData) else None)
        self.check_input(x_shape)
        if y0 is None and (self._compile_args[0] is not None or self._compile_args[2] or self._compile_args[3]):
            needs = f"{what}() needs" if what else "Training and evaluation need"
            raise ValueError(f"{needs} targets y (or a dataset that yields (x, y) batches): the model is compiled "
                             "with a loss or metrics to compute against them.")
        self._resolve_outputs()
        outputs = self._outputs
        pred_shapes = [(None, *shape[1:]) for shape in outputs.parts(self.output_shape)]
        for loss, y, pred_shape in zip(outputs.losses, outputs.parts(y0), pred_shapes):
            if loss is not None:
                check_targets(loss, y, pred_shape)
        if self._metrics is None:
            y_shapes = [None if y is None else tuple(y.shape) for y in outputs.parts(y0)]
            self._metrics = outputs.make_metrics(y_shapes, pred_shapes)
        bind_optimizer(self, what)
        # Checked once here so that models without regularizers or constraints pay nothing per step.
        self._penalised = any(getattr(m, "weight_regularizers", None) or getattr(m, "activity_regularizer", None)
                              for m in self.modules())
        self._constrained = any(getattr(m, "weight_constraints", None) for m in self.modules())

    # ---- one step -----------------------------------------------------------------------------
    def _total_loss(self, y, y_pred, sample_weight, added: bool = False) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """The compiled loss plus every regularization penalty (and, when ``added``, what the forward pass
        gave ``add_loss``), as Keras minimises and reports it, and each output's own loss when several."""
        loss, each = self._outputs.total(y, y_pred, sample_weight)
        if self._penalised or added:
            loss = loss + sum(penalty.sum() for penalty in self.losses)  # Keras sums a non-scalar added loss
        elif self._compile_args[0] is None:
            raise ValueError(f"Model '{self.name}' was compiled without a loss and adds none (add_loss or "
                             "regularizers), so there is no loss to compute: pass a loss to compile(), e.g. "
                             "loss='mse', or override train_step()/test_step().")
        return loss, each

    def _track(self, trackers, x, y, y_pred, sample_weight, loss, each) -> None:
        """Add one batch's loss(es) and metric values to the running means."""
        rows = num_rows(x)
        for tracker, value in zip(trackers, [loss, *each]):
            tracker.update_value(value, rows)
        if not self._outputs.several:  # the usual case, without splitting into per-output parts
            for m in self._metrics:
                m.metric.update(y, y_pred, sample_weight if m.weighted else None)
            return
        ys, preds, weights = self._outputs.parts(y), self._outputs.parts(y_pred), self._outputs.parts(sample_weight)
        for _, i, metric, weighted in self._metrics:
            metric.update(ys[i], preds[i], weights[i] if weighted else None)

    def _train_step(self, x, y, sample_weight, trackers) -> None:
        calls = LayerPenalties.added_loss_calls
        y_pred = float32_of_half(self._forward_batch(x))  # losses and metrics compute in float32, as in Keras
        loss, each = self._total_loss(y, y_pred, sample_weight, LayerPenalties.added_loss_calls != calls)
        for p in self.optimizer.params:
            p.grad = None
        if loss.requires_grad and self.trainable:  # else only the loss, as Keras (a frozen model trains nothing)
            scale_loss = getattr(self.optimizer, "scale_loss", None)  # a LossScaleOptimizer's, for float16
            (loss if scale_loss is None else scale_loss(loss)).backward()
            self.optimizer.step()
        if self._constrained:
            self.apply_constraints()
        with torch.no_grad():
            self._track(trackers, x, y, y_pred, sample_weight, loss, each)

    def _logs(self, trackers, prefix: str = "") -> dict[str, float]:
        logs = {m.name: m.metric.result() for m in self._metrics}
        for metric in self._layer_metrics:
            value = metric.result()
            logs.update(value if isinstance(value, dict) else {metric.name: value})
        logs.update((tracker.name, tracker.result()) for tracker in trackers)
        # Keras' logs: sorted by name (History keys, evaluate's dict and list follow it), results as floats.
        return {prefix + name: value for name, value in as_logs(logs).items()}

    def _flat_logs(self, logs: dict[str, float]) -> float | list[float]:
        """Keras' list form of ``logs``: the loss, each output's loss, then the metrics (in compile order for
        one output, by name for several, as Keras orders them)."""
        metric_names = [m.name for m in self._metrics]
        if self._outputs.several:
            metric_names.sort()
        names = ["loss", *self._outputs.loss_log_names, *metric_names]
        values = [logs[name] for name in names]
        return values[0] if len(values) == 1 else values

    def _reset_metrics(self) -> list[metrics_module.Mean]:
        """Reset the metrics and the running means of the loss and each output's loss, in place: as in Keras, an
        ``evaluate`` called by a callback mid-epoch restarts the epoch's loss too, not only its metrics."""
        for m in self._metrics:
            m.metric.reset()
        self._layer_metrics = self._attribute_metrics()
        for metric in self._layer_metrics:
            metric.reset_state()
        names = ["loss", *self._outputs.loss_log_names]
        if [tracker.name for tracker in self._trackers] != names:
            self._trackers = [metrics_module.Mean(name=name) for name in names]
        for tracker in self._trackers:
            tracker.reset()
        return self._trackers

    # ---- fit ----------------------------------------------------------------------------------
    def fit(self, x=None, y=None, batch_size: int | None = None, epochs: int = 1, verbose="auto",
            callbacks: list[Callback] | None = None, validation_split: float = 0.0, validation_data=None,
            shuffle: bool = True, class_weight: dict | None = None, sample_weight=None, initial_epoch: int = 0,
            steps_per_epoch: int | None = None, validation_steps: int | None = None,
            validation_batch_size: int | None = None, validation_freq: int | list[int] = 1) -> History:
        """Train for ``epochs`` epochs; returns a History whose ``.history`` has Keras' keys.

        With ``steps_per_epoch`` an epoch takes that many batches and the next one goes on from there, as in
        Keras; a generator that runs dry gives Keras' warning and training goes on as in Keras (later epochs on
        the two batches it peeked at; an epoch that finds no batch logs nothing). Validation
        (``validation_steps`` batches, when given) starts from the first batch every epoch, as Keras' evaluate does.
        """
        self._require_compiled("fit")
        epochs, steps_per_epoch, validation_steps = capped_fit(epochs, steps_per_epoch, validation_steps,
                                                               validation_data, validation_split)
        verbose = resolve_verbose(verbose)
        data = self._make_data(x, y, sample_weight, batch_size, steps_per_epoch)
        val_data = None
        if validation_data is not None:
            val_data = self._validation_data(validation_data, validation_batch_size or batch_size, validation_steps)
        elif validation_split:
            if not isinstance(data, ArrayData):
                raise ValueError("validation_split works with arrays only; pass validation_data for datasets.")
            data, val_data = data.split(validation_split, steps_per_epoch, validation_batch_size, validation_steps)
        self._apply_class_weight(data, class_weight)  # after the split: as in Keras, validation is unweighted
        data, val_data = take_steps(data, steps_per_epoch), take_steps(val_data, validation_steps, restart=True)
        custom = self._uses_steps("train_step")
        self._prepare_steps(data) if custom else self._prepare(data, "fit")

        # As in Keras, History (which records what the other callbacks add to the logs) and the progress
        # bar follow the user's callbacks, unless the user passed their own.
        callback_list = callbacks_with_defaults(callbacks, self, verbose, epochs, len(data), add_history=True)
        self.stop_training = False
        callback_list.on_train_begin()
        initial_epoch, self._initial_epoch = self._initial_epoch or initial_epoch, None
        epoch_logs: dict[str, float] = {}
        for epoch in range(initial_epoch, epochs):
            trackers = self.reset_metrics() if custom else self._reset_metrics()  # None with a custom step
            callback_list.on_epoch_begin(epoch)
            if not custom:  # as Keras, a custom train_step's calls train only where it passes training=True
                self.train()
            step, logs = 0, {}
            for step, batch in enumerate(data.batches(shuffle), start=1):
                callback_list.on_train_batch_begin(step - 1)
                if custom:
                    logs = self._run_step("train_step", batch)
                    batch_logs = as_logs(logs)
                else:
                    self._train_step(*batch, trackers)
                    wanted = callback_list.wants_logs("on_train_batch_end", step)
                    batch_logs = self._logs(trackers) if wanted else None
                callback_list.on_train_batch_end(step - 1, batch_logs)
                if self.stop_training:
                    break
            self.eval()
            if step == 0 and getattr(data, "ran_out", False):
                epoch_logs = {}
                callback_list.on_epoch_end(epoch, epoch_logs)
                continue
            epoch_logs = self._final_logs(logs) if custom else self._logs(trackers)
            if val_data is not None and validates_after(epoch, validation_freq):
                epoch_logs.update(self._evaluate_data(val_data, prefix="val_", callbacks=callback_list))
                # Keras' CallbackList sorts the epoch's logs: training and val_ keys together.
                epoch_logs = dict(sorted(epoch_logs.items()))
            if custom or self._uses_steps("test_step"):
                epoch_logs = as_logs(epoch_logs)  # a step's logs sorted and flattened, as Keras gives them
            callback_list.on_epoch_end(epoch, epoch_logs)
            if self.stop_training:
                break
        if epochs > 0 and self.optimizer.built:
            self.optimizer.finalize_variable_values()  # with use_ema: the averages become the weights
        callback_list.on_train_end(epoch_logs)
        return self.history

    def _apply_class_weight(self, data, class_weight: dict | None) -> None:
        """Fold ``class_weight`` into the sample weights of array data, or of each batch of a PyDataset."""
        if class_weight is None:
            return
        if self._outputs is not None and self._outputs.several:
            raise ValueError("class_weight is only supported for models with a single output; pass "
                             "sample_weight (one array per output) instead.")
        shape = getattr(self, "output_shape", None)  # None until a subclassed model has run
        output_rank = len(shape) if isinstance(shape, tuple) else None
        if isinstance(data, IterableData) and is_py_dataset(data.source):
            data.to_batch = class_weighted(data.to_batch, class_weight, output_rank)  # as Keras' PyDataset adapter
            return
        if not isinstance(data, ArrayData):
            raise ValueError("class_weight needs arrays or a PyDataset (as in Keras); weight the batches of other "
                             "datasets yourself, with (x, y, sample_weight) batches.")
        if data.sample_weight is not None:
            raise ValueError("You cannot pass `class_weight` and `sample_weight` at the same time (as in Keras). "
                             "Fold the class weights into sample_weight instead, e.g. "
                             "sample_weight * np.array([class_weight[label] for label in y]).")
        data.sample_weight = class_weights_to_sample_weights(class_weight, data.y, output_rank)

    def _validation_data(self, validation_data, batch_size: int | None, steps: int | None):
        """``fit``'s ``validation_data`` as data; ``steps`` (``validation_steps``) sets the default batch size of
        arrays, as ``evaluate``'s ``steps`` does."""
        if isinstance(validation_data, (tuple, list)):
            if len(validation_data) not in (2, 3):
                raise ValueError("validation_data must be (x_val, y_val) or (x_val, y_val, sample_weight).")
            vx, vy, vw = (*validation_data, None)[:3]
            return self._make_data(vx, vy, vw, batch_size, steps)
        return self._make_data(validation_data, None, None, batch_size, steps)

    # ---- evaluate -----------------------------------------------------------------------------
    @keeps_modes
    def _evaluate_data(self, data, prefix: str = "", callbacks: CallbackList | None = None) -> dict[str, float]:
        """Loss and metrics over ``data``, their names prefixed; ``callbacks`` get the test hooks."""
        callbacks = callbacks or CallbackList()
        if self._uses_steps("test_step"):
            return self._evaluate_steps(data, prefix, callbacks)
        trackers = self._reset_metrics()
        self.eval()
        self.stop_evaluating = False
        callbacks.on_test_begin()  # outside inference mode: SwapEMAWeights writes the weights here
        with torch.inference_mode():
            for step, (xb, yb, wb) in enumerate(data.batches(), start=1):
                callbacks.on_test_batch_begin(step - 1)
                calls = LayerPenalties.added_loss_calls
                y_pred = float32_of_half(self._forward_batch(xb))
                added = LayerPenalties.added_loss_calls != calls
                self._track(trackers, xb, yb, y_pred, wb, *self._total_loss(yb, y_pred, wb, added))
                if callbacks.has("on_test_batch_end"):
                    logs = self._logs(trackers) if callbacks.wants_logs("on_test_batch_end", step) else None
                    callbacks.on_test_batch_end(step - 1, logs)
                if self.stop_evaluating:
                    break
        logs = self._logs(trackers)
        callbacks.on_test_end(logs)
        return {prefix + name: value for name, value in logs.items()} if prefix else logs

    def evaluate(self, x=None, y=None, batch_size: int | None = None, verbose="auto", sample_weight=None,
                 steps: int | None = None, callbacks=None, return_dict: bool = False):
        """Loss and metrics on the given data (``steps`` batches of a dataset, when given): a scalar,
        ``[loss, *output losses, *metrics]``, or a dict."""
        self._require_compiled("evaluate")
        verbose, steps = resolve_verbose(verbose), capped_steps(steps)
        data = take_steps(self._make_data(x, y, sample_weight, batch_size, steps), steps)
        custom = self._uses_steps("test_step")
        self._prepare_steps(data) if custom else self._prepare(data, "evaluate")
        logs = self._evaluate_data(data, callbacks=callbacks_with_defaults(callbacks, self, verbose, 1, len(data)))
        return logs if return_dict else self._ordered_logs(logs) if custom else self._flat_logs(logs)

    # ---- predict ------------------------------------------------------------------------------
    def _infer(self, x) -> list[torch.Tensor]:
        """One tensor per output for the batch ``x`` (a tensor, or a tuple with one per input)."""
        out = self._forward_batch(x)
        return list(out) if isinstance(out, (list, tuple)) else [out]

    def _structure_outputs(self, values: list):
        """Outputs (one array per output) as the model, or its overridden ``predict_step``, returns them."""
        if self._uses_steps("predict_step"):
            return restore_outputs(values, self._predicted_structure)
        return self._pack_outputs(values)

    def _pack_outputs(self, values: list):
        """``values`` (one per output, in order) as the model returns them: one value, a dict keyed by output
        name, or a list (a tuple when the model returns one). Functional models pack their own structure."""
        structure = getattr(self, "_output_structure", None)
        if isinstance(structure, dict):
            return dict(zip(self.output_names, values))
        if getattr(self, "_output_keys", None) is not None:  # a subclassed model's list or tuple, even of one
            return tuple(values) if isinstance(structure, tuple) else values
        return values if len(values) > 1 else values[0]

    def _input_parts(self, x, what: str = "x", batch_size: int | None = None):
        """``x`` as a tensor (or tuple of tensors) on the device that fits the model, which it builds (its batches:
        ``batch_size`` rows, all of ``x`` when None)."""
        self._adopt_input_structure(x)
        names = self.input_names
        x = as_tensor_parts(split_parts(x, names, what, "input"), what, names, self.device(), inputs=True,
                            dtypes=declared_dtypes(self))
        check_row_counts(x, what, names)
        if not self.built:
            self._build_for_batches(parts_shape(x), batch_size)
        self.check_input(parts_shape(x))
        return x

    def predict(self, x, batch_size: int | None = None, verbose="auto", steps=None, callbacks=None):
        """Outputs for ``x`` as a numpy array (a list or dict of them for several outputs), computed batch by
        batch in inference mode (the first ``steps`` batches, when given). ``x`` may also be a dataset of
        ``x`` or ``(x, y)`` batches."""
        verbose, steps = resolve_verbose(verbose), capped_steps(steps)
        x = peekable(x)
        self._adopt_input_structure(x)
        if not (is_array_like(x) or isinstance(x, dict) or (len(self.input_names) > 1 and isinstance(x, tuple))):
            source = IterableData(x, steps=steps)
            first = first_item(source.source)
            self._input_parts(first[0] if isinstance(first, (tuple, list)) else first)  # builds, outside inference mode
            batches = (self._input_parts(batch[0] if isinstance(batch, (tuple, list)) else batch)
                       for batch in source.items())
            chunks = self._predict_batches(batches, callbacks_with_defaults(callbacks, self, verbose, 1, len(source)))
            if not chunks:
                raise ValueError("The dataset yielded no batch: there is nothing to predict.")
        else:
            x = self._input_parts(x, batch_size=batch_size or (None if steps else 32))
            n = num_rows(x)
            size = default_batch_size(n, batch_size, steps)  # Keras': steps batches cover x when batch_size is None
            if n == 0:
                raise ValueError("x is empty: there is nothing to predict.")
            if steps is not None:
                n = min(n, steps * size)
            batches = (take_rows(x, slice(i, i + size)) for i in range(0, n, size))
            callback_list = callbacks_with_defaults(callbacks, self, verbose, 1, (n + size - 1) // size)
            chunks = self._predict_batches(batches, callback_list)
        outputs = [parts[0] if len(parts) == 1 else torch.cat(parts) for parts in zip(*chunks)]
        return self._structure_outputs([numpy_of(out) for out in outputs])

    @keeps_modes
    def _predict_batches(self, batches, callbacks: CallbackList) -> list[list[torch.Tensor]]:
        """Each batch's outputs (one tensor per output), with Keras' predict hooks around them."""
        self.eval()
        self.stop_predicting = False
        chunks = []
        callbacks.on_predict_begin()
        batch_hooks = callbacks.has("on_predict_batch_begin") or callbacks.has("on_predict_batch_end")
        custom = self._uses_steps("predict_step")
        infer = self._predict_step_outputs if custom else self._infer
        # the model is built by now; an overridden step runs under no_grad as in Keras
        with torch.no_grad() if custom else torch.inference_mode():
            for i, xb in enumerate(batches):
                if batch_hooks:
                    callbacks.on_predict_batch_begin(i)
                chunks.append(infer(xb))
                if batch_hooks:
                    outputs = self._structure_outputs([numpy_of(out) for out in chunks[-1]])
                    callbacks.on_predict_batch_end(i, {"outputs": outputs})
                if self.stop_predicting:
                    break
        callbacks.on_predict_end()
        return chunks
