"""Keras' optimizers with Keras' update formulas, applied with PyTorch's multi-tensor
(``torch._foreach_*``) kernels: one kernel launch per operation for all parameters.

An optimizer is created without parameters (``Adam(learning_rate=1e-3)``) and bound to a model's
parameters on the first step, as in Keras. ``learning_rate`` may be a float or a schedule from
``layerwise.optimizers.schedules``, which is asked for the rate before every step.
"""
from __future__ import annotations

import math

import torch

from layerwise.optimizers import schedules
from layerwise.optimizers.schedules import LearningRateSchedule

# One fused kernel for Adam on CPU and CUDA (PyTorch >= 2.4); older versions use the foreach path.
_FUSED_ADAM = hasattr(torch, "_fused_adam_") and tuple(int(v) for v in torch.__version__.split(".")[:2]) >= (2, 4)


class Optimizer:
    slot_names: tuple[str, ...] = ()

    def __init__(self, learning_rate: float | LearningRateSchedule = 0.001, weight_decay: float | None = None,
                 clipnorm: float | None = None, clipvalue: float | None = None,
                 global_clipnorm: float | None = None, name: str | None = None):
        self._learning_rate = learning_rate if isinstance(learning_rate, LearningRateSchedule) else float(learning_rate)
        self.weight_decay, self.clipnorm, self.clipvalue = weight_decay, clipnorm, clipvalue
        self.global_clipnorm = global_clipnorm
        self.name = name or type(self).__name__.lower()
        self.iterations = 0
        self.params: list[torch.Tensor] = []
        self.slots: dict[str, list[torch.Tensor]] = {}

    @property
    def learning_rate(self) -> float:
        """The rate the next step uses: the schedule's value at ``iterations`` when there is a schedule."""
        if isinstance(self._learning_rate, LearningRateSchedule):
            return float(self._learning_rate(self.iterations))
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
        self.params = list(params)
        self.slots = {name: [self.initial_slot(name, p) for p in self.params] for name in self.slot_names}

    def initial_slot(self, name: str, param: torch.Tensor) -> torch.Tensor:
        return torch.zeros_like(param, memory_format=torch.preserve_format)

    @property
    def built(self) -> bool:
        return bool(self.params)

    @torch.no_grad()
    def step(self) -> None:
        """Apply one update from the parameters' ``.grad`` (parameters without a gradient are skipped)."""
        index = [i for i, p in enumerate(self.params) if p.grad is not None]
        if not index:
            return
        params = [self.params[i] for i in index]
        grads = self._clip([self.params[i].grad for i in index])
        slots = {name: [values[i] for i in index] for name, values in self.slots.items()}
        lr = self.learning_rate
        if self.weight_decay:
            torch._foreach_mul_(params, 1 - self.weight_decay * lr)
        self.update(params, grads, slots, self.iterations + 1, lr)
        self.iterations += 1

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
                "clipnorm": self.clipnorm, "clipvalue": self.clipvalue, "global_clipnorm": self.global_clipnorm}

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


class SGD(Optimizer):
    """Keras' SGD: ``m = momentum * m - lr * g``; ``w += m`` (or ``momentum * m - lr * g`` if nesterov)."""

    def __init__(self, learning_rate: float = 0.01, momentum: float = 0.0, nesterov: bool = False, **kwargs):
        super().__init__(learning_rate, **kwargs)
        self.momentum, self.nesterov = momentum, nesterov
        self.slot_names = ("momentum",) if momentum else ()

    def update(self, params, grads, slots, step, lr):
        if not self.momentum:
            torch._foreach_add_(params, grads, alpha=-lr)
            return
        m = slots["momentum"]
        torch._foreach_mul_(m, self.momentum)
        torch._foreach_add_(m, grads, alpha=-lr)
        if self.nesterov:
            torch._foreach_add_(params, m, alpha=self.momentum)
            torch._foreach_add_(params, grads, alpha=-lr)
        else:
            torch._foreach_add_(params, m)

    def get_config(self):
        return {**super().get_config(), "momentum": self.momentum, "nesterov": self.nesterov}


class Adam(Optimizer):
    """Keras' Adam: ``w -= lr * sqrt(1 - b2^t) / (1 - b1^t) * m / (sqrt(v) + epsilon)``.

    Keras adds epsilon to the bias-*un*corrected ``sqrt(v)`` (the "epsilon hat" form of the paper);
    PyTorch adds it after correction, so the two differ early in training and for small gradients.
    """

    slot_names = ("momentum", "velocity")

    def __init__(self, learning_rate: float = 0.001, beta_1: float = 0.9, beta_2: float = 0.999,
                 epsilon: float = 1e-7, amsgrad: bool = False, **kwargs):
        super().__init__(learning_rate, **kwargs)
        self.beta_1, self.beta_2, self.epsilon, self.amsgrad = beta_1, beta_2, epsilon, amsgrad
        if amsgrad:
            self.slot_names = ("momentum", "velocity", "velocity_hat")

    def update(self, params, grads, slots, step, lr):
        m, v = slots["momentum"], slots["velocity"]
        if not self.amsgrad and _FUSED_ADAM:
            # PyTorch's fused kernel does the whole update in one pass over memory. Its epsilon is
            # added after bias correction; dividing Keras' epsilon by sqrt(1 - beta_2^t) gives
            # exactly Keras' update: lr*sqrt(1-b2^t)/(1-b1^t) * m / (sqrt(v) + epsilon).
            steps = [torch.tensor(float(step), device=params[0].device)] * len(params)
            torch._fused_adam_(params, grads, m, v, [], steps, lr=lr, beta1=self.beta_1,
                               beta2=self.beta_2, weight_decay=0.0,
                               eps=self.epsilon / math.sqrt(1 - self.beta_2 ** step), amsgrad=False,
                               maximize=False)
            return
        alpha = lr * math.sqrt(1 - self.beta_2 ** step) / (1 - self.beta_1 ** step)
        torch._foreach_lerp_(m, grads, 1 - self.beta_1)
        torch._foreach_mul_(v, self.beta_2)
        torch._foreach_addcmul_(v, grads, grads, value=1 - self.beta_2)
        if self.amsgrad:
            torch._foreach_maximum_(slots["velocity_hat"], v)
            v = slots["velocity_hat"]
        denom = torch._foreach_sqrt(v)
        torch._foreach_add_(denom, self.epsilon)
        torch._foreach_addcdiv_(params, m, denom, value=-alpha)

    def get_config(self):
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2,
                "epsilon": self.epsilon, "amsgrad": self.amsgrad}


class AdamW(Adam):
    """Adam with decoupled weight decay (``w -= w * weight_decay * lr`` before each step), Keras' default 0.004."""

    def __init__(self, learning_rate: float = 0.001, weight_decay: float = 0.004, **kwargs):
        super().__init__(learning_rate, weight_decay=weight_decay, **kwargs)


class RMSprop(Optimizer):
    """Keras' RMSprop: ``v = rho * v + (1 - rho) * g^2``; ``w -= lr * g / sqrt(v + epsilon)``."""

    def __init__(self, learning_rate: float = 0.001, rho: float = 0.9, momentum: float = 0.0,
                 epsilon: float = 1e-7, centered: bool = False, **kwargs):
        super().__init__(learning_rate, **kwargs)
        self.rho, self.momentum, self.epsilon, self.centered = rho, momentum, epsilon, centered
        self.slot_names = (("velocity",) + (("momentum",) if momentum else ())
                           + (("average_gradient",) if centered else ()))

    def update(self, params, grads, slots, step, lr):
        v = slots["velocity"]
        torch._foreach_mul_(v, self.rho)
        torch._foreach_addcmul_(v, grads, grads, value=1 - self.rho)
        if self.centered:
            avg = slots["average_gradient"]
            torch._foreach_lerp_(avg, grads, 1 - self.rho)
            denom = torch._foreach_sub(v, torch._foreach_mul(avg, avg))
            torch._foreach_add_(denom, self.epsilon)
        else:
            denom = torch._foreach_add(v, self.epsilon)
        torch._foreach_sqrt_(denom)
        increment = torch._foreach_div(torch._foreach_mul(grads, lr), denom)
        if self.momentum:
            m = slots["momentum"]
            torch._foreach_mul_(m, self.momentum)
            torch._foreach_add_(m, increment)
            increment = m
        torch._foreach_sub_(params, increment)

    def get_config(self):
        return {**super().get_config(), "rho": self.rho, "momentum": self.momentum,
                "epsilon": self.epsilon, "centered": self.centered}


class Adagrad(Optimizer):
    """Keras' Adagrad: ``acc += g^2``; ``w -= lr * g / sqrt(acc + epsilon)``, ``acc`` starting at 0.1."""

    slot_names = ("accumulator",)

    def __init__(self, learning_rate: float = 0.001, initial_accumulator_value: float = 0.1,
                 epsilon: float = 1e-7, **kwargs):
        super().__init__(learning_rate, **kwargs)
        self.initial_accumulator_value, self.epsilon = initial_accumulator_value, epsilon

    def initial_slot(self, name, param):
        return torch.full_like(param, self.initial_accumulator_value)

    def update(self, params, grads, slots, step, lr):
        acc = slots["accumulator"]
        torch._foreach_addcmul_(acc, grads, grads)
        denom = torch._foreach_add(acc, self.epsilon)
        torch._foreach_sqrt_(denom)
        torch._foreach_addcdiv_(params, grads, denom, value=-lr)

    def get_config(self):
        return {**super().get_config(), "initial_accumulator_value": self.initial_accumulator_value,
                "epsilon": self.epsilon}


_BY_NAME: dict[str, type] = {"sgd": SGD, "adam": Adam, "adamw": AdamW, "rmsprop": RMSprop, "adagrad": Adagrad}


def get(identifier) -> Optimizer:
    """Resolve ``"adam"`` and friends (Keras defaults) or pass an Optimizer through."""
    if isinstance(identifier, Optimizer):
        return identifier
    if isinstance(identifier, str) and identifier.lower() in _BY_NAME:
        return _BY_NAME[identifier.lower()]()
    raise ValueError(f"Unknown optimizer {identifier!r}. Valid names: {', '.join(sorted(_BY_NAME))}, "
                     "or pass an optimizer object such as layerwise.optimizers.Adam(learning_rate=1e-3).")


def serialize(optimizer: Optimizer) -> dict:
    name = next(k for k, v in _BY_NAME.items() if type(optimizer) is v)
    return {"class_name": name, "config": optimizer.get_config()}


def deserialize(config: dict) -> Optimizer:
    settings = dict(config["config"])
    if isinstance(settings.get("learning_rate"), dict):
        settings["learning_rate"] = schedules.deserialize(settings["learning_rate"])
    return _BY_NAME[config["class_name"]](**settings)
