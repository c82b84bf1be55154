"""The optimizer base class: Keras' common arguments, the learning rate (a float or a schedule),
gradient clipping, decoupled weight decay, and the state that saving keeps.

Subclasses name their per-parameter slots (Keras' optimizer variables, e.g. ``momentum``) and
implement ``update`` with PyTorch's multi-tensor (``torch._foreach_*``) kernels.
"""
from __future__ import annotations

import torch

from layerwise.optimizers import schedules
from layerwise.optimizers.schedules import LearningRateSchedule


class Optimizer:
    """Keras' optimizer contract; ``slot_names`` are the per-parameter state tensors.

    ``slots`` may also hold optimizer-wide values under names outside ``slot_names`` (Nadam's
    running momentum product), as one-element lists: they are saved and counted, not sliced per
    parameter.
    """

    slot_names: tuple[str, ...] = ()

    def __init__(self, learning_rate: float | LearningRateSchedule = 0.001, weight_decay: float | None = None,
                 clipnorm: float | None = None, clipvalue: float | None = None,
                 global_clipnorm: float | None = None, use_ema: bool = False, ema_momentum: float = 0.99,
                 ema_overwrite_frequency: int | None = None, loss_scale_factor: float | None = None,
                 gradient_accumulation_steps: int | None = None, name: str | None = None):
        cls = type(self).__name__
        if sum(value is not None for value in (clipnorm, clipvalue, global_clipnorm)) > 1:
            raise ValueError(f"{cls}: only one of clipnorm, clipvalue and global_clipnorm can be set, got "
                             f"clipnorm={clipnorm}, clipvalue={clipvalue}, global_clipnorm={global_clipnorm}.")
        # Keras' remaining common arguments are accepted at their defaults (so Keras configs load)
        # and refused otherwise rather than silently ignored.
        unsupported = {"use_ema": (use_ema, False), "loss_scale_factor": (loss_scale_factor, None),
                       "gradient_accumulation_steps": (gradient_accumulation_steps, None)}
        for arg, (value, default) in unsupported.items():
            if value != default:
                raise NotImplementedError(f"{cls}({arg}={value!r}) is not supported by layerwise; expected "
                                          f"{arg}={default!r}. Supported common arguments: learning_rate, "
                                          "weight_decay, clipnorm, clipvalue, global_clipnorm, name.")
        self._learning_rate = learning_rate if isinstance(learning_rate, LearningRateSchedule) else float(learning_rate)
        self.weight_decay, self.clipnorm, self.clipvalue = weight_decay, clipnorm, clipvalue
        self.global_clipnorm = global_clipnorm
        self.ema_momentum, self.ema_overwrite_frequency = ema_momentum, ema_overwrite_frequency
        self.name = name or cls.lower()
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
        slots = {name: [self.slots[name][i] for i in index] for name in self.slot_names}
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
                "clipnorm": self.clipnorm, "clipvalue": self.clipvalue, "global_clipnorm": self.global_clipnorm,
                "use_ema": False, "ema_momentum": self.ema_momentum,
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
