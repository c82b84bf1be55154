"""Keras' learning-rate schedules: ``Adam(learning_rate=CosineDecay(1e-2, decay_steps=8000))``.

A schedule maps the optimizer's step count (0 for the first update, as in Keras) to a learning
rate; the optimizer asks for it before every update, so it decays per batch, not per epoch. A step that is a
Python number gives a float; an array or tensor of steps gives a float32 tensor of rates, one per step, as Keras'
torch backend does (the formulas below take either: ``_floor``, ``_minimum``... pick the scalar or the tensor
operation).
"""
from __future__ import annotations

import math

import torch


def _steps(step):
    """``step`` as the formulas take it: a Python number (ints and 0-d values), else a float32 tensor."""
    if isinstance(step, (int, float)):
        return step
    steps = torch.as_tensor(step)
    return steps.item() if steps.dim() == 0 else steps.to(torch.float32)


def _floor(x):
    return torch.floor(x) if isinstance(x, torch.Tensor) else math.floor(x)


def _ceil(x):
    return torch.ceil(x) if isinstance(x, torch.Tensor) else math.ceil(x)


def _cos(x):
    return torch.cos(x) if isinstance(x, torch.Tensor) else math.cos(x)


def _minimum(x, bound):
    return torch.clamp(x, max=bound) if isinstance(x, torch.Tensor) else min(x, bound)


def _maximum(x, bound):
    return torch.clamp(x, min=bound) if isinstance(x, torch.Tensor) else max(x, bound)


def _where(condition, yes, no):
    return torch.where(condition, yes, no) if isinstance(condition, torch.Tensor) else (yes if condition else no)


class LearningRateSchedule:
    """Base class: subclasses implement ``__call__(step) -> float`` and ``get_config()``."""

    def __call__(self, step: int) -> float:
        raise NotImplementedError

    def get_config(self) -> dict:
        raise NotImplementedError

    @classmethod
    def from_config(cls, config: dict) -> LearningRateSchedule:
        return cls(**config)


def _positive(name: str, value: float) -> float:
    if not value > 0:
        raise ValueError(f"{name} must be positive, got {value!r}.")
    return value


class _RateDecay(LearningRateSchedule):
    """What ExponentialDecay and InverseTimeDecay share: a rate, a period and an optional staircase."""

    def __init__(self, initial_learning_rate: float, decay_steps: int, decay_rate: float,
                 staircase: bool = False, name: str | None = None):
        self.initial_learning_rate, self.decay_rate = float(initial_learning_rate), float(decay_rate)
        self.decay_steps, self.staircase = _positive("decay_steps", decay_steps), staircase
        self.name = name or type(self).__name__

    def _periods(self, step):
        """Decay periods elapsed at ``step``, whole periods only with ``staircase``."""
        progress = _steps(step) / self.decay_steps
        return _floor(progress) if self.staircase else progress

    def get_config(self) -> dict:
        return {"initial_learning_rate": self.initial_learning_rate, "decay_steps": self.decay_steps,
                "decay_rate": self.decay_rate, "staircase": self.staircase, "name": self.name}


class ExponentialDecay(_RateDecay):
    """``initial_learning_rate * decay_rate ** (step / decay_steps)`` (the exponent floored if ``staircase``)."""

    def __call__(self, step: int) -> float:
        return self.initial_learning_rate * self.decay_rate ** self._periods(step)


class InverseTimeDecay(_RateDecay):
    """``initial_learning_rate / (1 + decay_rate * step / decay_steps)`` (the ratio floored if ``staircase``)."""

    def __call__(self, step: int) -> float:
        return self.initial_learning_rate / (1 + self.decay_rate * self._periods(step))


class PiecewiseConstantDecay(LearningRateSchedule):
    """``values[0]`` up to and including step ``boundaries[0]``, ``values[1]`` up to ``boundaries[1]``, ..."""

    def __init__(self, boundaries: list[int], values: list[float], name: str = "PiecewiseConstant"):
        if len(values) != len(boundaries) + 1:
            raise ValueError(f"values must have one more element than boundaries: got {len(values)} values "
                             f"for {len(boundaries)} boundaries.")
        if list(boundaries) != sorted(boundaries):
            raise ValueError(f"boundaries must be increasing, got {list(boundaries)}.")
        self.boundaries, self.values, self.name = list(boundaries), [float(v) for v in values], name

    def __call__(self, step: int) -> float:
        step = _steps(step)
        if isinstance(step, torch.Tensor):
            passed = torch.zeros(step.shape, dtype=torch.long)
            for boundary in self.boundaries:
                passed += step > boundary
            return torch.tensor(self.values, dtype=torch.float32)[passed]
        return self.values[sum(step > boundary for boundary in self.boundaries)]

    def get_config(self) -> dict:
        return {"boundaries": self.boundaries, "values": self.values, "name": self.name}


class PolynomialDecay(LearningRateSchedule):
    """From ``initial_learning_rate`` to ``end_learning_rate`` along ``(1 - step / decay_steps) ** power``.

    With ``cycle`` the decay restarts, each cycle ``decay_steps`` times a whole number longer.
    """

    def __init__(self, initial_learning_rate: float, decay_steps: int, end_learning_rate: float = 0.0001,
                 power: float = 1.0, cycle: bool = False, name: str = "PolynomialDecay"):
        self.initial_learning_rate, self.end_learning_rate = float(initial_learning_rate), float(end_learning_rate)
        self.decay_steps, self.power, self.cycle = _positive("decay_steps", decay_steps), float(power), cycle
        self.name = name

    def __call__(self, step: int) -> float:
        step, decay_steps = _steps(step), self.decay_steps
        if self.cycle:
            decay_steps = decay_steps * _maximum(_ceil(step / decay_steps), 1)
        else:
            step = _minimum(step, decay_steps)
        remaining = (1 - step / decay_steps) ** self.power
        return (self.initial_learning_rate - self.end_learning_rate) * remaining + self.end_learning_rate

    def get_config(self) -> dict:
        return {"initial_learning_rate": self.initial_learning_rate, "decay_steps": self.decay_steps,
                "end_learning_rate": self.end_learning_rate, "power": self.power, "cycle": self.cycle,
                "name": self.name}


class CosineDecay(LearningRateSchedule):
    """Half a cosine from the learning rate down to ``alpha`` times it over ``decay_steps``.

    With ``warmup_target`` the rate first rises linearly from ``initial_learning_rate`` to
    ``warmup_target`` over ``warmup_steps``, then decays from there.
    """

    def __init__(self, initial_learning_rate: float, decay_steps: int, alpha: float = 0.0,
                 name: str = "CosineDecay", warmup_target: float | None = None, warmup_steps: int = 0):
        self.initial_learning_rate, self.alpha = float(initial_learning_rate), float(alpha)
        self.decay_steps, self.name = _positive("decay_steps", decay_steps), name
        self.warmup_target = None if warmup_target is None else float(warmup_target)
        self.warmup_steps = warmup_steps

    def __call__(self, step: int) -> float:
        step = _steps(step)
        if self.warmup_target is None:
            return self._decay(_minimum(step, self.decay_steps), self.initial_learning_rate)
        step = _minimum(step, self.decay_steps + self.warmup_steps)
        rise = (self.warmup_target - self.initial_learning_rate) * step / max(self.warmup_steps, 1)
        decayed = self._decay(step - self.warmup_steps, self.warmup_target)
        return _where(step < self.warmup_steps, self.initial_learning_rate + rise, decayed)

    def _decay(self, step, start: float):
        cosine = 0.5 * (1 + _cos(math.pi * step / self.decay_steps))
        return start * ((1 - self.alpha) * cosine + self.alpha)

    def get_config(self) -> dict:
        return {"initial_learning_rate": self.initial_learning_rate, "decay_steps": self.decay_steps,
                "alpha": self.alpha, "name": self.name, "warmup_target": self.warmup_target,
                "warmup_steps": self.warmup_steps}


class CosineDecayRestarts(LearningRateSchedule):
    """SGDR (Loshchilov & Hutter): cosine decays from the rate to ``alpha`` times it, with warm restarts.

    The first decay lasts ``first_decay_steps``; each next one lasts ``t_mul`` times longer and starts
    from ``m_mul`` times the previous start. Computed in float32 with Keras' formulas, so that a restart
    falls on the same step as in Keras (the float32 rounding decides the step that ends a period).
    """

    def __init__(self, initial_learning_rate: float, first_decay_steps: int, t_mul: float = 2.0,
                 m_mul: float = 1.0, alpha: float = 0.0, name: str = "SGDRDecay"):
        self.initial_learning_rate, self.alpha = float(initial_learning_rate), float(alpha)
        self.first_decay_steps = _positive("first_decay_steps", first_decay_steps)
        self.t_mul, self.m_mul, self.name = float(_positive("t_mul", t_mul)), float(m_mul), name

    def __call__(self, step: int) -> float:
        f32 = torch.float32
        t_mul, m_mul, alpha = (torch.tensor(v, dtype=f32) for v in (self.t_mul, self.m_mul, self.alpha))
        steps = torch.as_tensor(step).to(f32)
        fraction = steps / torch.tensor(float(self.first_decay_steps), dtype=f32)
        if bool(t_mul == 1.0):  # compared in float32, as Keras does
            restarts = torch.floor(fraction)
            fraction = fraction - restarts
        else:
            # Periods 1, t, t^2...: ``restarts`` whole periods end at (1 - t^restarts) / (1 - t) decays.
            restarts = torch.floor(torch.log(1.0 - fraction * (1.0 - t_mul)) / torch.log(t_mul))
            fraction = (fraction - (1.0 - t_mul ** restarts) / (1.0 - t_mul)) / t_mul ** restarts
        cosine = 0.5 * m_mul ** restarts * (1.0 + torch.cos(torch.tensor(math.pi, dtype=f32) * fraction))
        decayed = (1 - alpha) * cosine + alpha
        rates = torch.tensor(self.initial_learning_rate, dtype=f32) * decayed
        return rates if steps.dim() else float(rates)

    def get_config(self) -> dict:
        return {"initial_learning_rate": self.initial_learning_rate, "first_decay_steps": self.first_decay_steps,
                "t_mul": self.t_mul, "m_mul": self.m_mul, "alpha": self.alpha, "name": self.name}


_BY_NAME: dict[str, type] = {cls.__name__: cls for cls in (
    ExponentialDecay, InverseTimeDecay, PiecewiseConstantDecay, PolynomialDecay, CosineDecay,
    CosineDecayRestarts)}


def serialize(learning_rate_schedule: LearningRateSchedule) -> dict:
    """Keras' form: ``{"module": "keras.optimizers.schedules", "class_name": ..., "config": ...,
    "registered_name": None}`` for a built-in schedule; for your own, its registered name (see
    ``layerwise.saving.register_keras_serializable``), a TypeError saying how to register it otherwise."""
    name = type(learning_rate_schedule).__name__
    if _BY_NAME.get(name) is type(learning_rate_schedule):
        return {"module": "keras.optimizers.schedules", "class_name": name,
                "config": learning_rate_schedule.get_config(), "registered_name": None}
    from layerwise.saving_registry import serialize_custom

    return {"module": None, **serialize_custom(learning_rate_schedule, "schedule")}


def deserialize(config: dict, custom_objects: dict | None = None) -> LearningRateSchedule:
    """The schedule ``serialize`` described: a built-in one by class name, your own by its registered name,
    looked up in ``custom_objects``, the active ``custom_object_scope`` and the registry, as Keras does."""
    from layerwise.saving_registry import deserialize_custom, how_to_load, loading_scope

    name, registered = config.get("class_name", ""), config.get("registered_name")
    if name in _BY_NAME and (registered is None or registered == name):
        return _BY_NAME[name].from_config(config.get("config", {}))
    with loading_scope(custom_objects, "schedules.deserialize"):
        found = deserialize_custom(config)
    if not isinstance(found, LearningRateSchedule):
        raise ValueError(f"Unknown learning-rate schedule {registered or name!r} in a saved config. Built-in "
                         f"schedules: {', '.join(_BY_NAME)}. " + how_to_load(registered or name))
    return found
