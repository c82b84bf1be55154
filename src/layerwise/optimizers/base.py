"""The optimizer base class: Keras' common arguments, the learning rate (a float, a schedule or a callable),
gradient clipping, decoupled weight decay, the exponential moving average of the trainable weights
(``use_ema``), gradient accumulation, the loss scale factor, and the state that saving keeps.

Built-in optimizers name their per-parameter slots (Keras' optimizer variables, e.g. ``momentum``) and
implement ``update`` with PyTorch's multi-tensor (``torch._foreach_*``) kernels; a custom one may instead
implement Keras' per-variable ``update_step`` (``keras_api``).
"""
from __future__ import annotations

import re
import sys
import warnings

import numpy as np
import torch

from layerwise.backend import unique_name
from layerwise.optimizers import schedules
from layerwise.optimizers.keras_api import KerasOptimizerAPI
from layerwise.optimizers.schedules import LearningRateSchedule

_RATE_ERROR = ("Argument `learning_rate` should be float, or an instance of LearningRateSchedule, or a callable "
               "(that takes in the current iteration value and returns the corresponding learning rate value). "
               "Received instead: learning_rate={}")


class RateValue(float):
    """The learning rate as an optimizer gives it: a float that also takes what Keras code calls on Keras'
    learning-rate variable (``optimizer.learning_rate.assign(0.01)``, ``.numpy()``)."""

    def __new__(cls, value: float, optimizer: "Optimizer"):
        rate = super().__new__(cls, value)
        rate._optimizer = optimizer
        return rate

    def __reduce__(self):
        return float, (float(self),)  # a plain number when copied or pickled

    def assign(self, value) -> None:
        self._optimizer.learning_rate = float(value)

    def numpy(self) -> np.float32:
        return np.float32(self)


class StepCount(int):
    """``optimizer.iterations``: an int that also takes what Keras code calls on Keras' iterations variable
    (``.numpy()``, ``optimizer.iterations.assign(5)``)."""

    def __new__(cls, value: int, optimizer: "Optimizer | None" = None):
        count = super().__new__(cls, value)
        count._optimizer = optimizer
        return count

    def __reduce__(self):
        return int, (int(self),)  # a plain number when copied or pickled

    def assign(self, value) -> None:
        self._optimizer.iterations = int(value)

    def numpy(self) -> np.int64:
        return np.int64(self)


def _checked_rate(learning_rate):
    """``learning_rate`` as Keras takes it: a float, a schedule or a callable (called with no argument)."""
    if isinstance(learning_rate, LearningRateSchedule) or callable(learning_rate):
        return learning_rate
    if not isinstance(learning_rate, float):
        raise ValueError(_RATE_ERROR.format(learning_rate))
    return float(learning_rate)


def _default_name(cls: type) -> str:
    """Keras' automatic name: the class name in snake case (``adam_w``, ``rm_sprop``), then ``_1``, ``_2``... for
    later ones, from the counter that names layers (reset by ``clear_session``)."""
    from layerwise.layers.base import to_snake_case

    return unique_name(to_snake_case(cls.__name__))


def _caller_stacklevel() -> int:
    """The ``stacklevel`` of the first frame outside this package (and torch's wrappers of its methods), for
    warnings that name the user's line."""
    level, frame = 2, sys._getframe(2)
    while frame is not None and frame.f_globals.get("__name__", "").startswith(("layerwise.optimizers", "torch.")):
        frame, level = frame.f_back, level + 1
    return level


def _check_keras2_arguments(cls: str, kwargs: dict) -> None:
    """Keras 3's rule for arguments it does not take (``decay`` is ignored with a warning, anything else refused),
    with what to write instead of Keras 2's ``lr`` and ``decay``."""
    if kwargs.pop("decay", None) is not None:
        warnings.warn(f"{cls}: the argument `decay` is no longer supported and is ignored, as in Keras 3. Keras 2's "
                      "rate lr / (1 + decay * step) is learning_rate=layerwise.optimizers.schedules.InverseTimeDecay("
                      "lr, decay_steps=1, decay_rate=decay).", stacklevel=_caller_stacklevel())
    if "lr" in kwargs:
        raise ValueError(f"{cls}: `lr` is Keras 2's name; write learning_rate={kwargs['lr']!r}.")
    if kwargs:
        raise ValueError(f"{cls}: argument(s) not recognized: {kwargs}.")


class Optimizer(KerasOptimizerAPI):
    """Keras' optimizer contract; ``slot_names`` are the per-parameter state tensors.

    ``slots`` may also hold optimizer-wide values under names outside ``slot_names`` (Nadam's
    running momentum product), as one-element lists: they are saved and counted, not sliced per
    parameter. With ``use_ema=True`` the slot ``average`` holds each trainable parameter's moving average,
    updated after every ``apply`` as Keras does (``average = m * average + (1 - m) * weight``, a copy at the
    first step); every ``ema_overwrite_frequency`` steps, and at the end of ``fit``
    (``finalize_variable_values``), the averages are copied into the weights. A parameter that is not trainable
    when the optimizer is built (a counter, BatchNorm's statistics) is its own ``average``: Keras averages the
    trainable weights only, and the alias keeps ``average`` aligned with ``params`` without changing it.

    With ``gradient_accumulation_steps=n`` the slot ``gradient_accumulator`` sums the gradients; every n-th
    ``apply`` updates the weights with the mean and zeroes it. ``iterations`` then counts those updates (Keras'
    ``iterations // n``), while a schedule is asked at the count of ``apply`` calls, as in Keras. With
    ``loss_scale_factor`` the loss is multiplied by it before ``backward`` (``scale_loss``) and the gradients
    divided by it before anything else.
    """

    slot_names: tuple[str, ...] = ()
    loss_scale_factor: float | None = None
    gradient_accumulation_steps: int | None = None

    def __init__(self, learning_rate: float | LearningRateSchedule = 0.001, weight_decay: float | None = None,
                 clipnorm: float | None = None, clipvalue: float | None = None,
                 global_clipnorm: float | None = None, use_ema: bool = False, ema_momentum: float = 0.99,
                 ema_overwrite_frequency: int | None = None, loss_scale_factor: float | None = None,
                 gradient_accumulation_steps: int | None = None, name: str | None = None, **kwargs):
        cls = type(self).__name__
        _check_keras2_arguments(cls, kwargs)
        if sum(value is not None for value in (clipnorm, clipvalue, global_clipnorm)) > 1:
            raise ValueError(f"{cls}: only one of clipnorm, clipvalue and global_clipnorm can be set, got "
                             f"clipnorm={clipnorm}, clipvalue={clipvalue}, global_clipnorm={global_clipnorm}.")
        if gradient_accumulation_steps and (not isinstance(gradient_accumulation_steps, int)
                                            or gradient_accumulation_steps < 2):
            raise ValueError(f"{cls}: `gradient_accumulation_steps` must be an integer >= 2. Received: "
                             f"gradient_accumulation_steps={gradient_accumulation_steps!r}")
        if use_ema and not 0 <= ema_momentum <= 1:
            raise ValueError(f"{cls}: ema_momentum must be in the range [0, 1], got ema_momentum={ema_momentum}.")
        if use_ema and ema_overwrite_frequency and (not isinstance(ema_overwrite_frequency, int)
                                                    or ema_overwrite_frequency < 1):
            raise ValueError(f"{cls}: ema_overwrite_frequency must be an integer >= 1 or None, got "
                             f"ema_overwrite_frequency={ema_overwrite_frequency!r}.")
        self._learning_rate = _checked_rate(learning_rate)
        self.weight_decay, self.clipnorm, self.clipvalue = weight_decay, clipnorm, clipvalue
        self.global_clipnorm = global_clipnorm
        self.use_ema, self.ema_momentum = bool(use_ema), ema_momentum
        self.ema_overwrite_frequency = ema_overwrite_frequency
        self.loss_scale_factor, self.gradient_accumulation_steps = loss_scale_factor, gradient_accumulation_steps
        self.name = name or _default_name(type(self))
        self._iterations = 0
        self.params: list[torch.Tensor] = []
        self.slots: dict[str, list[torch.Tensor]] = {}

    def __setstate__(self, state: dict) -> None:
        if "iterations" in state:  # pickled before ``iterations`` became a property
            state["_iterations"] = state.pop("iterations")
        self.__dict__.update(state)
        self._positions = {id(p): i for i, p in enumerate(self.params)}  # the copies' ids

    @property
    def iterations(self) -> StepCount:
        """The number of updates made (Keras': with ``gradient_accumulation_steps``, the ``apply`` calls // the
        steps); setting it sets the count of ``apply`` calls."""
        return StepCount(self._updates(), self)

    @iterations.setter
    def iterations(self, value: int) -> None:
        self._iterations = int(value)

    def _updates(self) -> int:
        """Updates made so far: every ``apply``, or every ``gradient_accumulation_steps``-th one."""
        steps = self.gradient_accumulation_steps
        return self._iterations // steps if steps else self._iterations

    @property
    def learning_rate(self) -> RateValue:
        """The rate the next step uses: a schedule's value at the count of ``apply`` calls, a callable's value."""
        return RateValue(self._rate(), self)

    def _rate(self) -> float:
        """``learning_rate`` as a plain float, for the steps: a schedule at the count of ``apply`` calls, a
        callable called with no argument (Keras' rules)."""
        rate = self._learning_rate
        if isinstance(rate, LearningRateSchedule):
            return float(rate(self._iterations))
        return float(rate()) if callable(rate) else rate

    @learning_rate.setter
    def learning_rate(self, value) -> None:
        if isinstance(value, LearningRateSchedule) or callable(value):
            self._learning_rate = value
            return
        if isinstance(self._learning_rate, LearningRateSchedule):
            raise TypeError(f"This optimizer's learning rate is the schedule {type(self._learning_rate).__name__}, "
                            "so it cannot be set to a number (as LearningRateScheduler and ReduceLROnPlateau do). "
                            "Create the optimizer with a float learning_rate to set it during training.")
        self._learning_rate = float(value)

    def scale_loss(self, loss):
        """Keras': ``loss * loss_scale_factor`` (the loss itself without one), what to call ``backward`` on."""
        return loss if self.loss_scale_factor is None else loss * self.loss_scale_factor

    def build(self, params: list[torch.Tensor]) -> None:
        """Bind to ``params`` and create one zeroed slot per parameter for each slot name."""
        if getattr(self, "_no_decay_pattern", None) is not None and not getattr(self, "_names_known", False):
            warnings.warn("exclude_from_weight_decay(var_names=...) needs the weights' names, which only a model "
                          "gives (compile and fit, or optimizer.build_for(model) before apply): pass the weights "
                          "themselves as var_list in a custom loop.", stacklevel=_caller_stacklevel())
        self.params = list(params)
        self._positions = {id(p): i for i, p in enumerate(self.params)}
        self._own_variables = []
        self.slots = {name: [self.initial_slot(name, p) for p in self.params] for name in self.slot_names}
        if self.gradient_accumulation_steps:
            self.slots["gradient_accumulator"] = [torch.zeros_like(p, memory_format=torch.preserve_format)
                                                  for p in self.params]
        if self.use_ema:
            # Keras starts the averages at zero; its first step copies the weights in, so starting
            # from the weights differs only before any step (where finalizing must not zero the model).
            self._averaged = [i for i, p in enumerate(self.params) if p.requires_grad]
            self.slots["average"] = [p.detach().clone(memory_format=torch.preserve_format) if p.requires_grad
                                     else p for p in self.params]

    def build_for(self, model, params: list[torch.Tensor] | None = None) -> None:
        """``build`` on ``params`` (default: all of ``model``'s) for ``model``, whose layers tell the optimizers
        that need it (Adafactor, Muon) each weight's Keras layout, and its Keras name (``kernel``, ``bias``...)
        for ``exclude_from_weight_decay(var_names=...)``."""
        pattern = getattr(self, "_no_decay_pattern", None)
        if pattern is not None:
            self._no_decay |= {id(view.tensor) for view in model.weight_views() if pattern.search(view.name)}
        self._names_known = True
        self.build(list(model.parameters()) if params is None else params)

    def exclude_from_weight_decay(self, var_list=None, var_names: list[str] | None = None) -> None:
        """Keras': no weight decay for the weights in ``var_list``, nor for those whose name (``kernel``, ``bias``,
        ``recurrent_kernel``, ``gamma``...) contains one of ``var_names``. Call it before the optimizer is built."""
        if self.built:
            raise ValueError("`exclude_from_weight_decay()` can only be configured before the optimizer is built.")
        self._no_decay = {id(v) for v in var_list or []}
        self._no_decay_pattern = re.compile("|".join(set(var_names))) if var_names else None

    def initial_slot(self, name: str, param: torch.Tensor) -> torch.Tensor:
        return torch.zeros_like(param, memory_format=torch.preserve_format)

    @property
    def built(self) -> bool:
        return bool(self.params)

    @torch.no_grad()
    def step(self) -> None:
        """Apply one update from the parameters' ``.grad`` (parameters without a gradient are skipped)."""
        index = [i for i, p in enumerate(self.params) if p.grad is not None]
        if index:
            self._update_at(index, [self.params[i].grad for i in index])

    @torch.no_grad()
    def apply(self, grads: list, trainable_variables: list | None = None) -> None:
        """Keras' ``optimizer.apply(grads, trainable_variables)``: one update of ``trainable_variables`` (by
        default every variable the optimizer was built on) with ``grads``, in the same order; a None gradient
        leaves its variable as it is, with Keras' warning (all None: a ValueError), and a gradient of another
        dtype is cast to its variable's. The first call builds an unbuilt optimizer on ``trainable_variables``."""
        name = type(self).__name__
        grads = list(grads)
        if not grads:  # as Keras: nothing to apply
            return
        if trainable_variables is None:
            if not self.built:
                raise ValueError(f"{name}.apply: the optimizer is not built, so it needs trainable_variables "
                                 "(e.g. optimizer.apply(grads, model.trainable_weights)).")
            variables = self.params
        else:
            variables = list(trainable_variables)
            if not self.built:
                self.build(variables)
        if len(grads) != len(variables):
            raise ValueError(f"{name}.apply: expected one gradient per variable ({len(variables)}); received "
                             f"{len(grads)} gradients.")
        position = self._positions
        index, given, missing = [], [], []
        for grad, variable in zip(grads, variables):
            if id(variable) not in position:
                raise unknown_variable(variable, f"{name}.apply: it is not among the {len(self.params)} variables "
                                                 "this optimizer was built with")
            if grad is not None:
                index.append(position[id(variable)])
                given.append(grad if grad.dtype == variable.dtype else grad.to(variable.dtype))  # as Keras casts
            else:
                missing.append(getattr(variable, "path", None) or f"<weight of shape {tuple(variable.shape)}>")
        if not index:  # as Keras: a loss that reaches no weight is a mistake, not a step
            raise ValueError(f"No gradients provided for any variable ({name}.apply: each gradient is None; did "
                             "backward() run on a loss computed from these weights?).")
        if missing:
            warnings.warn(f"Gradients do not exist for variables {missing} when minimizing the loss; they were left "
                          "unchanged. If using model.compile(), did you forget to provide a loss argument?",
                          stacklevel=2)
        self._update_at(index, given)

    def apply_gradients(self, grads_and_vars) -> None:
        """Keras' ``apply_gradients(zip(grads, variables))``: ``apply`` with the pairs split."""
        pairs = list(grads_and_vars)
        self.apply([g for g, _ in pairs], [v for _, v in pairs])

    def _update_at(self, index: list[int], grads: list[torch.Tensor]) -> None:
        """One ``apply`` for the parameters at positions ``index`` of ``params``, whose gradients are ``grads``:
        unscaled, accumulated, then (on an update) clipped, decayed and stepped, as Keras orders them."""
        index, grads = self._overwrite_with_gradients(index, grads)
        if not index:
            self._iterations += 1
            return
        if self.loss_scale_factor is not None:
            grads = torch._foreach_div(grads, self.loss_scale_factor)
        if self.gradient_accumulation_steps:
            grads = self._accumulate(index, grads)
        if grads is not None:
            params = [self.params[i] for i in index]
            grads = self._clip(grads)
            slots = {name: [self.slots[name][i] for i in index] for name in self.slot_names}
            lr = self._rate()
            self.apply_weight_decay(params, lr)
            self.update(params, grads, slots, self._updates() + 1, lr)
        if self.use_ema:
            self._update_average()
        self._iterations += 1

    def _overwrite_with_gradients(self, index: list[int], grads: list[torch.Tensor]):
        """Keras' ``overwrite_with_gradient`` variables (float8 scales, computed as gradients) take their gradient
        as their new value, unscaled and unclipped; with gradient accumulation, the largest gradient of the
        window, on its last step. The other positions and gradients are returned for the usual update."""
        flagged = [k for k, i in enumerate(index) if getattr(self.params[i], "overwrite_with_gradient", False)]
        if not flagged:
            return index, grads
        steps = self.gradient_accumulation_steps
        for k in flagged:
            param, grad = self.params[index[k]], grads[k]
            if steps:
                accumulator = self.slots["gradient_accumulator"][index[k]]
                torch.maximum(grad, accumulator, out=accumulator)
                if (self._iterations + 1) % steps == 0:
                    param.copy_(accumulator)
                    accumulator.zero_()
            else:
                param.copy_(grad)
        kept = [k for k in range(len(index)) if k not in flagged]
        return [index[k] for k in kept], [grads[k] for k in kept]

    def _accumulate(self, index: list[int], grads: list[torch.Tensor]) -> list[torch.Tensor] | None:
        """Keras' gradient accumulation: on every ``gradient_accumulation_steps``-th call the mean
        ``(grads + accumulated) / steps``, every accumulator zeroed; on the others None, ``grads`` added in."""
        steps = self.gradient_accumulation_steps
        accumulators = [self.slots["gradient_accumulator"][i] for i in index]
        if (self._iterations + 1) % steps:
            torch._foreach_add_(accumulators, grads)
            return None
        mean = torch._foreach_add(grads, accumulators)
        torch._foreach_div_(mean, steps)
        torch._foreach_zero_(self.slots["gradient_accumulator"])
        return mean

    def apply_weight_decay(self, params: list[torch.Tensor], lr: float) -> None:
        """Keras' decoupled decay before a step: ``w -= w * weight_decay * lr``."""
        if self.weight_decay:
            self._decay(params, self.weight_decay * lr)

    def _decay(self, params: list[torch.Tensor], rate: float) -> None:
        """``w -= w * rate`` for the ``params`` that ``exclude_from_weight_decay`` does not name (maybe none)."""
        excluded = getattr(self, "_no_decay", None)
        decayed = [p for p in params if id(p) not in excluded] if excluded else params
        if decayed:  # _foreach_mul_ refuses an empty list
            torch._foreach_mul_(decayed, 1 - rate)

    def _averaged_pairs(self) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """The trainable parameters (at build) and their moving averages."""
        index = getattr(self, "_averaged", None)
        if index is None:  # pickled before the averages were restricted to the trainable parameters
            index = range(len(self.params))
        return [self.params[i] for i in index], [self.slots["average"][i] for i in index]

    def _update_average(self) -> None:
        """Keras' order: average every trainable parameter after each ``apply``, then overwrite when due."""
        params, averages = self._averaged_pairs()
        if not params:
            return
        updates = self._updates()
        if updates == 0:
            torch._foreach_copy_(averages, params)
        else:
            torch._foreach_lerp_(averages, params, 1 - self.ema_momentum)
        if self.ema_overwrite_frequency and (updates + 1) % self.ema_overwrite_frequency == 0:
            torch._foreach_copy_(params, averages)

    @torch.no_grad()
    def finalize_variable_values(self, var_list: list[torch.Tensor] | None = None) -> None:
        """End of training: with ``use_ema``, copy the moving averages into the weights (``var_list``, one per
        trainable parameter the optimizer was built on; by default those parameters); otherwise nothing."""
        if not self.use_ema or not self.built:
            return
        params, averages = self._averaged_pairs()
        targets = params if var_list is None else list(var_list)
        if len(targets) != len(averages):
            raise ValueError(f"{type(self).__name__}.finalize_variable_values: got {len(targets)} variables, but the "
                             f"optimizer holds {len(averages)} moving averages (one per trainable parameter it was "
                             "built on).")
        if targets:
            torch._foreach_copy_(targets, averages)

    def _clip(self, grads: list[torch.Tensor]) -> list[torch.Tensor]:
        if self.clipvalue is not None:
            grads = [g.clamp(-self.clipvalue, self.clipvalue) for g in grads]
        if self.clipnorm is not None:
            grads = [g * (self.clipnorm / torch.maximum(g.norm(), torch.tensor(self.clipnorm))) for g in grads]
        if self.global_clipnorm is not None:
            total = torch.linalg.vector_norm(torch.stack(torch._foreach_norm(grads)))
            scale = self.global_clipnorm / torch.maximum(total, torch.tensor(self.global_clipnorm))
            grads = torch._foreach_mul(grads, scale)
        return grads

    def update(self, params, grads, slots, step: int, lr: float) -> None:
        """Apply the optimizer's formula for update number ``step`` (from 1) at learning rate ``lr``; by default
        Keras' ``update_step(gradient, variable, learning_rate)`` for each parameter, which a custom optimizer
        implements."""
        for grad, param in zip(grads, params):
            self.update_step(grad, param, lr)

    def get_config(self) -> dict:
        return {"name": self.name, "learning_rate": _rate_config(self._learning_rate),
                "weight_decay": self.weight_decay,
                "clipnorm": self.clipnorm, "clipvalue": self.clipvalue, "global_clipnorm": self.global_clipnorm,
                "use_ema": self.use_ema, "ema_momentum": self.ema_momentum,
                "ema_overwrite_frequency": self.ema_overwrite_frequency, "loss_scale_factor": self.loss_scale_factor,
                "gradient_accumulation_steps": self.gradient_accumulation_steps}

    @classmethod
    def from_config(cls, config: dict, custom_objects: dict | None = None) -> Optimizer:
        """The optimizer ``get_config`` described (a saved schedule or registered function is rebuilt too,
        looked up in ``custom_objects`` as well)."""
        settings = dict(config)
        if isinstance(settings.get("learning_rate"), dict):
            settings["learning_rate"] = _rate_from_config(settings["learning_rate"], custom_objects)
        return cls(**settings)

    def state_tensors(self) -> dict[str, torch.Tensor]:
        """The optimizer's state as named tensors (for saving): the count of ``apply`` calls, the slots, and the
        variables a custom optimizer made with ``add_variable*`` (``own/<i>``)."""
        tensors = {"iterations": torch.tensor(self._iterations)}
        for name, values in self.slots.items():
            tensors.update({f"{name}/{i}": v for i, v in enumerate(values)})
        tensors.update({f"own/{i}": v for i, v in enumerate(self._own_variables)})
        return tensors

    def load_state_tensors(self, tensors: dict[str, torch.Tensor]) -> None:
        self.iterations = int(tensors["iterations"])
        for name, values in self.slots.items():
            for i, value in enumerate(values):
                value.copy_(tensors[f"{name}/{i}"])
        for i, variable in enumerate(self._own_variables):
            variable.copy_(tensors[f"own/{i}"])


def unknown_variable(variable: torch.Tensor, where: str, path: str | None = None,
                     shape: tuple[int, ...] | None = None) -> ValueError:
    """Keras' error for a weight (at Keras' ``path`` and of Keras' ``shape``, when known) that an optimizer built
    for other weights is asked to update; ``where`` says what asked."""
    path = path or getattr(variable, "path", None)
    described = f"<weight {'path=' + path + ', ' if path else ''}shape={shape or tuple(variable.shape)}>"
    return ValueError(f"Unknown variable: {described}. This optimizer can only be called for the variables it was "
                      "originally built with. When working with a new set of variables, you should recreate a new "
                      f"optimizer instance ({where}).")


def _rate_config(rate):
    """The learning rate in a config: a number, a schedule's dict, or a registered function's."""
    if isinstance(rate, LearningRateSchedule):
        return schedules.serialize(rate)
    if callable(rate):
        from layerwise.saving_registry import serialize_custom

        return {"module": "builtins", "class_name": "function", "config": serialize_custom(rate, "learning rate"),
                "registered_name": "function"}
    return rate


def _rate_from_config(config: dict, custom_objects: dict | None):
    """What ``_rate_config`` wrote, as a schedule or function again."""
    if config.get("class_name") != "function":
        return schedules.deserialize(config, custom_objects)
    from layerwise.saving_registry import deserialize_custom, how_to_load, loading_scope

    with loading_scope(custom_objects, "Optimizer.from_config"):
        found = deserialize_custom(config)
    if found is None:
        raise ValueError(f"Unknown learning-rate function {config.get('config')!r} in a saved config. "
                         + how_to_load(str(config.get("config"))))
    return found
