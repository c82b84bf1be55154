"""The ``Metric`` base, running means and sums, and the wrapper that makes a metric of a function.

Metrics accumulate tensors on the device where the data is, so the training loop never syncs per batch;
``result()`` returns a tensor on that device, as Keras' does: ``()``, or ``(n,)`` for metrics with one value
per class or per threshold (the trainer's logs make them Python floats, as Keras' do).
``update_state``/``reset_state`` are Keras' spellings of ``update``/``reset`` and also take numpy arrays.

A Keras-style subclass overrides ``update_state``/``result`` (and perhaps ``reset_state``) and keeps its
state in ``add_variable`` variables (``variables.py``); the base then routes the trainer's
``update``/``reset`` to those methods; its ``result()`` returns whatever it returns, as in Keras.
"""
from __future__ import annotations

from typing import Callable

import numpy as np
import torch

from layerwise import initializers
from layerwise.backend import float_dtype, get_device, to_snake_case, unique_name
from layerwise.losses.base import CHECK_SHAPES, as_tensor, rank_rule, squeeze_or_expand
from layerwise.variables import MetricVariable

__all__ = ["Mean", "MeanMetricWrapper", "Metric", "Sum", "accumulate", "as_result", "mean_dtype", "row_variables",
           "masked_weights", "samplewise", "zeroed"]

# Modules of the built-in functions that compare y_true and y_pred entry by entry (a user's function may not).
_ELEMENTWISE_MODULES = ("layerwise.losses.functions", "layerwise.metrics.correlation", "layerwise.metrics.regression")


def as_result(value: torch.Tensor | float, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """A metric's value as Keras' ``result()`` gives it: a tensor of ``dtype``, ``()`` or ``(n,)``, detached and
    not sharing memory with the state (which resets in place). A number (no state yet) goes to the device."""
    if not isinstance(value, torch.Tensor):
        return torch.tensor(value, dtype=dtype, device=get_device())
    return value.detach().as_subclass(torch.Tensor).to(dtype, copy=True)


def mean_dtype(dtype: torch.dtype) -> torch.dtype:
    """The dtype of a running mean's result in Keras: its own half or single precision, else float32 (Keras
    divides by a Python float, which makes float64 float32)."""
    return dtype if dtype in (torch.float16, torch.bfloat16, torch.float32) else torch.float32


def samplewise(values: torch.Tensor, sample_weight, reduce: Callable, owner: str = "metric"):
    """Weighted values reduced to one per sample, and the weights reduced alike (Keras' rules):
    weights of shape ``(batch,)`` weight every value of their sample. ``owner`` names the metric in errors."""
    values = values.float() if not values.is_floating_point() else values
    weight = None
    if sample_weight is not None:
        weight = as_tensor(sample_weight, values).to(values.dtype)
        values, weight = squeeze_or_expand(values, weight)
        if values.ndim > weight.ndim:
            values = reduce(values, dim=tuple(range(weight.ndim, values.ndim)))
        try:
            weight = weight.expand(values.shape)
        except RuntimeError:
            raise ValueError(f"{owner}: sample_weight of shape {tuple(weight.shape)} does not fit the values of "
                             f"shape {tuple(values.shape)}: give one weight per sample, (batch,), or per value, "
                             f"{tuple(values.shape)}.") from None
        values = values * weight
        if weight.ndim > 1:
            weight = reduce(weight, dim=tuple(range(1, weight.ndim)))
    if values.ndim > 1:
        values = reduce(values, dim=tuple(range(1, values.ndim)))
    return values, weight


def accumulate(state: torch.Tensor | None, batch: torch.Tensor) -> torch.Tensor:
    """``state + batch``, added in place (on ``batch``'s device) so that variables viewing the state follow it."""
    if state is None:
        return batch
    if state.device != batch.device:  # the state moves to the data once, not the data each batch
        state = state.to(batch.device)
    with torch.no_grad():
        return state.add_(batch.to(state.dtype))


def row_variables(state: torch.Tensor | None, rows, owner: str) -> list[MetricVariable]:
    """Keras' state variables as views of the rows ``(index, name)`` of a stacked ``state`` ``(rows, ...)``:
    assigning one changes the metric's state. None (a state not built yet, as Keras builds it at the first
    update) has none."""
    return [] if state is None else [MetricVariable(state[index], name, "sum", owner) for index, name in rows]


def zeroed(state: torch.Tensor | None) -> torch.Tensor | None:
    """``state`` set to zeros in place (variables taken from it keep following the metric), or None."""
    if state is not None:
        with torch.no_grad():
            state.zero_()
    return state


def _numeric(x: torch.Tensor) -> torch.Tensor:
    """Bool targets or predictions as 0/1 floats, which Keras' metrics take (argmax and arithmetic refuse bool)."""
    return x.float() if x.dtype == torch.bool else x


def _torch_dtype(dtype) -> torch.dtype:
    if dtype is None:
        return float_dtype()
    if isinstance(dtype, torch.dtype):
        return dtype
    return getattr(torch, dtype if isinstance(dtype, str) else np.dtype(dtype).name)


class Metric:
    """A metric of ``(y_true, y_pred)``; the base computes the running mean of ``values(y_true, y_pred)``.

    Keras' way works too: override ``update_state(y_true, y_pred, sample_weight=None)`` and ``result()``,
    keeping the state in ``add_variable(...)`` variables; ``reset_state()`` then sets them all to zeros
    unless overridden. A subclass of a built-in metric may override ``update_state`` (and ``reset_state``) and
    call ``super()``: ``update`` and ``reset``, which the trainer calls, then go through those overrides."""

    name = "metric"
    # Keras numbers a default name (``auc``, ``auc_1``...) taken from the class, unless the class has a fixed one
    # (``accuracy``): a direct subclass that sets ``name`` has a fixed one.
    _auto_named = True
    _keras_style = False  # set by __init_subclass__ for classes that override update_state, not update
    # A subclass of a built-in metric that overrides update_state (reset_state) has its update (reset) routed to
    # that override, as the trainer calls update; these keep the built-in's, which the override's super() reaches.
    _builtin_update: Callable | None = None
    _builtin_reset: Callable | None = None

    def __init__(self, name: str | None = None, dtype=None):
        self.name = name or (unique_name(to_snake_case(type(self).__name__)) if self._auto_named else self.name)
        self.dtype = str(dtype or "float32").removeprefix("torch.")
        self._torch_dtype = getattr(torch, self.dtype)
        self._variables: list[MetricVariable] = []
        if not self._keras_style:  # a Keras-style subclass adds its variables after this returns
            self._reset_builtin()  # not a user's reset_state: its attributes are not set yet

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "name" in cls.__dict__ and Metric in cls.__bases__:
            cls._auto_named = False
        # Keras-style: update_state is overridden while update is still the running mean's, with no values of
        # its own. A subclass of a built-in that overrides update_state gets update routed to it instead.
        update = next(klass.__dict__["update"] for klass in cls.__mro__
                      if klass.__dict__.get("update") not in (None, Metric._update_through_state))
        # (A built-in running mean, such as BinaryAccuracy, keeps Metric.update but gives its own values.)
        if update is Metric.update and cls.update_state is not Metric.update_state and cls.values is Metric.values:
            cls._keras_style = True
            cls.update, cls.reset = Metric._update_through_state, Metric._reset_through_state
        elif "update_state" in cls.__dict__ and "update" not in cls.__dict__:
            cls._builtin_update, cls.update = update, Metric._update_through_state
        routed = cls._builtin_update is not None
        if not cls._keras_style and ("reset_state" in cls.__dict__ or routed) and "reset" not in cls.__dict__:
            cls._builtin_reset = next(klass.__dict__["reset"] for klass in cls.__mro__
                                      if klass.__dict__.get("reset") not in (None, Metric._reset_through_state))
            cls.reset = Metric._reset_through_state

    def _update_through_state(self, y_true, y_pred, sample_weight=None) -> None:
        # Keras passes sample_weight only to weighted metrics; some update_state signatures lack it.
        if sample_weight is None:
            self.update_state(y_true, y_pred)
        else:
            self.update_state(y_true, y_pred, sample_weight)

    def _reset_through_state(self) -> None:
        self.reset_state()

    def add_variable(self, shape=(), initializer="zeros", dtype=None, aggregation: str = "sum",
                     name: str | None = None) -> MetricVariable:
        """A state variable of ``shape``, set by ``initializer`` (a name, an Initializer or a function
        ``fn(shape, dtype)``), on the device; ``reset_state()`` sets it to zeros, as Keras does."""
        owner = f"{type(self).__name__}({getattr(self, 'name', None)!r})"
        if "_variables" not in self.__dict__:
            raise RuntimeError(f"{owner}.add_variable: call super().__init__() in __init__ before adding variables.")
        shape = (shape,) if isinstance(shape, int) else tuple(shape)
        name = name or f"variable_{len(self._variables)}"
        try:
            init = initializers.get(initializer)
        except ValueError as error:
            raise ValueError(f"{owner}.add_variable(name={name!r}): {error}") from None
        torch_dtype = _torch_dtype(dtype)
        value = torch.as_tensor(init(shape, dtype=torch_dtype), dtype=torch_dtype)
        variable = MetricVariable(value.to(get_device()), name, aggregation, self.name)
        self._variables.append(variable)
        return variable

    def add_weight(self, shape=(), initializer="zeros", dtype=None, name: str | None = None) -> MetricVariable:
        """Keras' older name of ``add_variable``."""
        return self.add_variable(shape=shape, initializer=initializer, dtype=dtype, name=name)

    @property
    def variables(self) -> list[MetricVariable]:
        """The ``add_variable`` variables of this metric, then those of the metrics it holds as attributes."""
        found = list(self.__dict__.get("_variables", ()))
        for value in self.__dict__.values():
            if isinstance(value, Metric):
                found.extend(value.variables)
        return found

    def reset(self) -> None:
        """Zero the running mean's state: two scalar variables, ``total`` and ``count`` (in the metric's dtype),
        as Keras' ``Mean`` has. They change in place, so a variable taken from ``variables`` keeps following
        the metric."""
        if "count" not in self.__dict__:  # the first reset, from __init__, makes the variables
            self.total = self.add_variable((), dtype=self.dtype, name="total")
            self.count = self.add_variable((), dtype=self.dtype, name="count")
            return
        with torch.no_grad():
            self.total.zero_()
            self.count.zero_()

    def values(self, y_true: torch.Tensor, y_pred: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def update(self, y_true: torch.Tensor, y_pred: torch.Tensor, sample_weight=None) -> None:
        """Add a batch: the mean of ``values`` per sample, weighted by ``sample_weight`` and, as Keras, by the
        mask ``y_pred`` carries (a sequence model's padding)."""
        mask = getattr(y_pred, "_keras_mask", None)
        values = self.values(y_true, y_pred.detach())
        if isinstance(mask, torch.Tensor) and tuple(values.shape[:mask.ndim]) == tuple(mask.shape):
            mask = mask.to(values.dtype if values.is_floating_point() else torch.float32)
            sample_weight = mask if sample_weight is None else masked_weights(mask, sample_weight)
        self._add(values if values.dtype == self._torch_dtype else values.to(self._torch_dtype), sample_weight)

    def _add(self, values: torch.Tensor, sample_weight) -> None:
        """Add a batch of ``values`` (one per sample, or more, reduced per sample) weighted by ``sample_weight``."""
        if sample_weight is None and values.ndim == 1:  # the training loop's usual case: one value per sample
            self._accumulate(values.detach().sum(), values.shape[0])
            return
        values, weight = samplewise(values.detach(), sample_weight, torch.mean, self._owner())
        self._accumulate(values.sum(), weight.sum() if weight is not None else values.shape[0] if values.ndim else 1)

    def _accumulate(self, total: torch.Tensor, count: torch.Tensor | int) -> None:
        """Add a batch's weighted sum (a scalar tensor) and its weight to the running state."""
        with torch.no_grad():
            if self.total.device != total.device:  # the state moves to the data once, not the data each batch
                for variable in (self.total, self.count):
                    variable.data = variable.data.to(total.device)
            self.total.add_(total.to(self.total.dtype))
            self.count.add_(count)  # a number adds with no copy to the device (no sync per batch)

    def result(self) -> torch.Tensor:
        """The running mean, ``()``, in the metric's dtype (float32 for float64, as Keras); 0 with no data."""
        if self._keras_style:
            raise NotImplementedError(f"{type(self).__name__} ({self.name!r}) overrides update_state but not "
                                      "result(): return the metric's value from result().")
        total, count = self.total.as_subclass(torch.Tensor), self.count.as_subclass(torch.Tensor)
        mean = total / torch.where(count == 0, torch.ones_like(count), count)
        return as_result(torch.where(count == 0, torch.zeros_like(mean), mean), mean_dtype(self._torch_dtype))

    def _update_builtin(self, *args) -> None:
        """The built-in accumulation of a batch: ``update``, or the one a subclass's ``update_state`` extends."""
        (type(self)._builtin_update or type(self).update)(self, *args)

    def _reset_builtin(self) -> None:
        """The built-in reset: ``reset``, or the one a subclass's ``reset_state`` extends."""
        (type(self)._builtin_reset or type(self).reset)(self)

    def update_state(self, y_true, y_pred, sample_weight=None) -> None:
        y_pred = _numeric(as_tensor(y_pred))
        self._update_builtin(_numeric(as_tensor(y_true, y_pred)), y_pred,
                             None if sample_weight is None else as_tensor(sample_weight, y_pred))

    def __call__(self, *args, **kwargs):
        """Update with one batch and return the result: Keras' ``metric(y_true, y_pred)``."""
        self.update_state(*args, **kwargs)
        return self.result()

    def reset_state(self) -> None:
        if not self._keras_style:
            self._reset_builtin()
            # and the add_variable variables of a subclass of a built-in, as Keras zeroes every variable
            for variable in self.__dict__.get("_variables", ()):
                variable.assign(0)
            return
        for variable in self.variables:
            variable.assign(0)

    def stateless_update_state(self, metric_variables: list, *args, **kwargs) -> list[torch.Tensor]:
        """Keras': the variables ``update_state(*args, **kwargs)`` would leave, starting from ``metric_variables``
        (values in the order of ``variables``); the metric's own state is left as it was."""
        saved = self._swap_in(metric_variables)
        try:
            self.update_state(*args, **kwargs)
            return [variable.detach().clone() for variable in self.variables]
        finally:
            self._swap_in(saved)

    def stateless_result(self, metric_variables: list) -> torch.Tensor:
        """Keras': the result for the state ``metric_variables``; the metric's own state is left as it was."""
        saved = self._swap_in(metric_variables)
        try:
            return self.result()
        finally:
            self._swap_in(saved)

    def stateless_reset_state(self) -> list[torch.Tensor]:
        """Keras': the variables ``reset_state`` would leave; the metric's own state is left as it was."""
        saved = self._swap_in([variable.detach() for variable in self.variables])
        try:
            self.reset_state()
            return [variable.detach().clone() for variable in self.variables]
        finally:
            self._swap_in(saved)

    def _swap_in(self, values: list) -> list[torch.Tensor]:
        """Copy ``values`` into ``variables`` (which change in place) and return the values they held."""
        variables = self.variables
        if len(values) != len(variables):
            raise ValueError(f"Argument `metric_variables` must be a list of tensors corresponding 1:1 to "
                             f"{type(self).__name__}().variables. Received list with length {len(values)}, but "
                             f"expected {len(variables)} variables.")
        saved = [variable.detach().clone() for variable in variables]
        with torch.no_grad():
            for variable, value in zip(variables, values):
                variable.copy_(torch.as_tensor(value, dtype=variable.dtype, device=variable.device))
        return saved

    def _owner(self) -> str:
        """The metric as errors name it: ``MeanSquaredError('mse')``."""
        return f"{type(self).__name__}({self.name!r})"

    def get_config(self) -> dict:
        return {"name": self.name, "dtype": self.dtype}

    @classmethod
    def from_config(cls, config: dict) -> "Metric":
        return cls(**config)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} name={self.name!r}>"


def masked_weights(mask: torch.Tensor, sample_weight) -> torch.Tensor:
    """``sample_weight`` times a float ``mask`` ``(batch, ...)``, ranks matched as Keras matches them (a weight per
    sample spreads over that sample's entries)."""
    mask, weight = squeeze_or_expand(mask, as_tensor(sample_weight, mask).to(mask.dtype))
    return mask * weight.reshape((*weight.shape, *[1] * (mask.ndim - weight.ndim)))


class MeanMetricWrapper(Metric):
    """The running mean of ``fn(y_true, y_pred, **kwargs)``, a function giving one value per sample.

    Without ``name`` it is named as Keras names it: after its class (``mean_metric_wrapper``, then
    ``mean_metric_wrapper_1``...), not after ``fn``; ``compile(metrics=[fn])`` names it after ``fn``."""

    def __init__(self, fn: Callable, name: str | None = None, dtype=None, **kwargs):
        self.fn, self.fn_kwargs = fn, kwargs
        super().__init__(name, dtype)

    def values(self, y_true, y_pred):
        if not y_pred.is_floating_point():
            # Integer predictions (Keras' examples pass lists of ints) are numbers: the functions' means, norms and
            # logarithms need floats, and the targets are cast to the predictions' dtype.
            y_pred = y_pred.to(self._torch_dtype if self._torch_dtype.is_floating_point else torch.float32)
        if y_true.ndim != y_pred.ndim:
            y_true, y_pred = rank_rule(self.fn)(y_true, y_pred)  # as in Loss
        if self.fn not in CHECK_SHAPES and getattr(self.fn, "__module__", None) in _ELEMENTWISE_MODULES:
            self._check_broadcast(y_true, y_pred)
        # update gets tensors: a loss function is called without its array wrapper.
        return getattr(self.fn, "__wrapped__", self.fn)(y_true, y_pred, **self.fn_kwargs)

    def _check_broadcast(self, y_true: torch.Tensor, y_pred: torch.Tensor) -> None:
        """A ValueError naming the metric when targets and predictions cannot be compared entry by entry."""
        try:
            torch.broadcast_shapes(y_true.shape, y_pred.shape)
        except RuntimeError:
            raise ValueError(f"{self._owner()} compares targets and predictions entry by entry; "
                             f"received y_true.shape={tuple(y_true.shape)} and y_pred.shape={tuple(y_pred.shape)}. "
                             "Give targets of the predictions' shape.") from None

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
        self._update_builtin(values, sample_weight)

    def update_value(self, value: torch.Tensor, weight: int) -> None:
        """Add ``value`` (a scalar tensor, e.g. a batch's mean loss) with weight ``weight`` (its batch size)."""
        self._accumulate(value.detach() * weight, weight)


class Sum(Metric):
    """The running (weighted) sum of values: ``update(values, sample_weight=None)``."""

    name = "sum"

    def reset(self) -> None:
        """Zero ``total``, a scalar variable as in Keras' ``Sum``."""
        if "total" not in self.__dict__:
            self.total = self.add_variable((), dtype=self.dtype, name="total")
            return
        zeroed(self.total)

    def update(self, values, sample_weight=None) -> None:
        values, _ = samplewise(as_tensor(values).detach(), sample_weight, torch.sum, self._owner())
        with torch.no_grad():
            if self.total.device != values.device:
                self.total.data = self.total.data.to(values.device)
            self.total.add_(values.sum().to(self.total.dtype))

    def update_state(self, values, sample_weight=None) -> None:
        self._update_builtin(values, sample_weight)

    def result(self) -> torch.Tensor:
        """The sum, ``()``, in the metric's dtype."""
        return as_result(self.total, self._torch_dtype)
