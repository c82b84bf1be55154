"""The optimizer base class: Keras' common arguments, the learning rate (a float or a schedule),
gradient clipping, decoupled weight decay, the exponential moving average of the weights
(``use_ema``), and the state that saving keeps.

Subclasses name their per-parameter slots (Keras' optimizer variables, e.g. ``momentum``) and
implement ``update`` with PyTorch's multi-tensor (``torch._foreach_*``) kernels.
"""
from __future__ import annotations

import re
import sys
import warnings

import numpy as np
import torch

from layerwise.optimizers import schedules
from layerwise.optimizers.schedules import LearningRateSchedule


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
    """``optimizer.iterations``: an int that also takes Keras' ``.numpy()``."""

    def numpy(self) -> np.int64:
        return np.int64(self)


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


class Optimizer:
    """Keras' optimizer contract; ``slot_names`` are the per-parameter state tensors.

    ``slots`` may also hold optimizer-wide values under names outside ``slot_names`` (Nadam's
    running momentum product), as one-element lists: they are saved and counted, not sliced per
    parameter. With ``use_ema=True`` the slot ``average`` holds each parameter's moving average,
    updated after every step as Keras does (``average = m * average + (1 - m) * weight``, a copy at the
    first step); every ``ema_overwrite_frequency`` steps, and at the end of ``fit``
    (``finalize_variable_values``), the averages are copied into the weights.
    """

    slot_names: tuple[str, ...] = ()

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
        # Keras' remaining common arguments are accepted at their defaults (so Keras configs load)
        # and refused otherwise rather than silently ignored.
        unsupported = {"loss_scale_factor": (loss_scale_factor, None),
                       "gradient_accumulation_steps": (gradient_accumulation_steps, None)}
        for arg, (value, default) in unsupported.items():
            if value != default:
                raise NotImplementedError(f"{cls}({arg}={value!r}) is not supported by layerwise; expected "
                                          f"{arg}={default!r}. Supported common arguments: learning_rate, "
                                          "weight_decay, clipnorm, clipvalue, global_clipnorm, use_ema, "
                                          "ema_momentum, ema_overwrite_frequency, name.")
        if use_ema and not 0 <= ema_momentum <= 1:
            raise ValueError(f"{cls}: ema_momentum must be in the range [0, 1], got ema_momentum={ema_momentum}.")
        if use_ema and ema_overwrite_frequency and (not isinstance(ema_overwrite_frequency, int)
                                                    or ema_overwrite_frequency < 1):
            raise ValueError(f"{cls}: ema_overwrite_frequency must be an integer >= 1 or None, got "
                             f"ema_overwrite_frequency={ema_overwrite_frequency!r}.")
        self._learning_rate = learning_rate if isinstance(learning_rate, LearningRateSchedule) else float(learning_rate)
        self.weight_decay, self.clipnorm, self.clipvalue = weight_decay, clipnorm, clipvalue
        self.global_clipnorm = global_clipnorm
        self.use_ema, self.ema_momentum = bool(use_ema), ema_momentum
        self.ema_overwrite_frequency = ema_overwrite_frequency
        self.name = name or cls.lower()
        self.iterations = 0
        self.params: list[torch.Tensor] = []
        self.slots: dict[str, list[torch.Tensor]] = {}

    def __setstate__(self, state: dict) -> None:
        if "iterations" in state:  # pickled before ``iterations`` became a property
            state["_iterations"] = state.pop("iterations")
        self.__dict__.update(state)

    @property
    def iterations(self) -> StepCount:
        """The number of steps taken."""
        return StepCount(self._iterations)

    @iterations.setter
    def iterations(self, value: int) -> None:
        self._iterations = int(value)

    @property
    def learning_rate(self) -> RateValue:
        """The rate the next step uses: the schedule's value at ``iterations`` when there is a schedule."""
        return RateValue(self._rate(), self)

    def _rate(self) -> float:
        """``learning_rate`` as a plain float, for the steps."""
        if isinstance(self._learning_rate, LearningRateSchedule):
            return float(self._learning_rate(self._iterations))
        return self._learning_rate

    @learning_rate.setter
    def learning_rate(self, value: float | LearningRateSchedule) -> None:
        if isinstance(self._learning_rate, LearningRateSchedule) and not isinstance(value, LearningRateSchedule):
            raise TypeError(f"This optimizer's learning rate is the schedule {type(self._learning_rate).__name__}, "
                            "so it cannot be set to a number (as LearningRateScheduler and ReduceLROnPlateau do). "
                            "Create the optimizer with a float learning_rate to set it during training.")
        self._learning_rate = value if isinstance(value, LearningRateSchedule) else float(value)

    def build(self, params: list[torch.Tensor]) -> None:
        """Bind to ``params`` and create one zeroed slot per parameter for each slot name."""
        if getattr(self, "_no_decay_pattern", None) is not None and not getattr(self, "_names_known", False):
            warnings.warn("exclude_from_weight_decay(var_names=...) needs the weights' names, which only a model "
                          "gives (compile and fit, or optimizer.build_for(model) before apply): pass the weights "
                          "themselves as var_list in a custom loop.", stacklevel=_caller_stacklevel())
        self.params = list(params)
        self.slots = {name: [self.initial_slot(name, p) for p in self.params] for name in self.slot_names}
        if self.use_ema:
            # Keras starts the averages at zero; its first step copies the weights in, so starting
            # from the weights differs only before any step (where finalizing must not zero the model).
            self.slots["average"] = [p.detach().clone(memory_format=torch.preserve_format) for p in self.params]

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
        leaves its variable as it is, with Keras' warning (all None: a ValueError). The first call builds an unbuilt optimizer on ``trainable_variables``."""
        name = type(self).__name__
        grads = list(grads)
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
        position = {id(p): i for i, p in enumerate(self.params)}
        index, given, missing = [], [], []
        for grad, variable in zip(grads, variables):
            if id(variable) not in position:
                raise ValueError(f"{name}.apply: a variable of shape {tuple(variable.shape)} is not among the "
                                 f"{len(self.params)} variables this optimizer was built with; an optimizer can "
                                 "only update the variables it was first applied to.")
            if grad is not None:
                index.append(position[id(variable)])
                given.append(grad)
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
        """One step for the parameters at positions ``index`` of ``params``, whose gradients are ``grads``."""
        params = [self.params[i] for i in index]
        grads = self._clip(grads)
        slots = {name: [self.slots[name][i] for i in index] for name in self.slot_names}
        lr = self._rate()
        self.apply_weight_decay(params, lr)
        self.update(params, grads, slots, self.iterations + 1, lr)
        if self.use_ema:
            self._update_average()
        self.iterations += 1

    def apply_weight_decay(self, params: list[torch.Tensor], lr: float) -> None:
        """Keras' decoupled decay before a step: ``w -= w * weight_decay * lr``."""
        if self.weight_decay:
            torch._foreach_mul_(self._decayed(params), 1 - self.weight_decay * lr)

    def _decayed(self, params: list[torch.Tensor]) -> list[torch.Tensor]:
        """``params`` less those ``exclude_from_weight_decay`` named."""
        excluded = getattr(self, "_no_decay", None)
        return [p for p in params if id(p) not in excluded] if excluded else params

    def _update_average(self) -> None:
        """Keras' order: average every parameter after the update, then overwrite when due."""
        averages = self.slots["average"]
        if self.iterations == 0:
            torch._foreach_copy_(averages, self.params)
        else:
            torch._foreach_lerp_(averages, self.params, 1 - self.ema_momentum)
        if self.ema_overwrite_frequency and (self.iterations + 1) % self.ema_overwrite_frequency == 0:
            torch._foreach_copy_(self.params, averages)

    @torch.no_grad()
    def finalize_variable_values(self, var_list: list[torch.Tensor] | None = None) -> None:
        """End of training: with ``use_ema``, copy the moving averages into the weights (``var_list``, by
        default the parameters the optimizer was built on); otherwise nothing."""
        if not self.use_ema or not self.built:
            return
        targets = self.params if var_list is None else list(var_list)
        averages = self.slots["average"]
        if len(targets) != len(averages):
            raise ValueError(f"{type(self).__name__}.finalize_variable_values: got {len(targets)} variables, but the "
                             f"optimizer holds {len(averages)} moving averages (one per parameter it was built on).")
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
        """Apply the optimizer's formula for update number ``step`` (from 1) at learning rate ``lr``."""
        raise NotImplementedError

    def get_config(self) -> dict:
        lr = self._learning_rate
        return {"name": self.name,
                "learning_rate": schedules.serialize(lr) if isinstance(lr, LearningRateSchedule) else lr,
                "weight_decay": self.weight_decay,
                "clipnorm": self.clipnorm, "clipvalue": self.clipvalue, "global_clipnorm": self.global_clipnorm,
                "use_ema": self.use_ema, "ema_momentum": self.ema_momentum,
                "ema_overwrite_frequency": self.ema_overwrite_frequency, "loss_scale_factor": None,
                "gradient_accumulation_steps": None}

    @classmethod
    def from_config(cls, config: dict) -> Optimizer:
        """The optimizer ``get_config`` described (a saved schedule is rebuilt too)."""
        settings = dict(config)
        if isinstance(settings.get("learning_rate"), dict):
            settings["learning_rate"] = schedules.deserialize(settings["learning_rate"])
        return cls(**settings)

    def state_tensors(self) -> dict[str, torch.Tensor]:
        """The optimizer's state as named tensors (for saving)."""
        tensors = {"iterations": torch.tensor(self.iterations)}
        for name, values in self.slots.items():
            tensors.update({f"{name}/{i}": v for i, v in enumerate(values)})
        return tensors

    def load_state_tensors(self, tensors: dict[str, torch.Tensor]) -> None:
        self.iterations = int(tensors["iterations"])
        for name, values in self.slots.items():
            for i, value in enumerate(values):
                value.copy_(tensors[f"{name}/{i}"])
