"""``LossScaleOptimizer``: Keras' dynamic loss scaling for float16 training, on PyTorch's fused unscale kernel.

float16 gradients underflow, so the loss is multiplied by a large scale before ``backward`` (``scale_loss``)
and the gradients divided by it before the update. The scale adapts as in Keras: a step whose gradients are
not all finite halves it and is skipped (the weights and the inner optimizer stay as they were); after
``dynamic_growth_steps`` finite steps in a row it doubles. ``compile`` wraps the optimizer in one for a model
whose policy is ``"mixed_float16"``; bfloat16 has float32's range and needs none.
"""
from __future__ import annotations

import torch

from layerwise.backend import unique_name
from layerwise.optimizers.base import Optimizer

# Keras' common optimizer arguments, which a LossScaleOptimizer accepts only at their defaults (from old configs)
_INNER_ONLY = {"weight_decay": None, "clipnorm": None, "global_clipnorm": None, "clipvalue": None, "use_ema": False,
               "ema_momentum": 0.99, "ema_overwrite_frequency": None, "loss_scale_factor": None,
               "gradient_accumulation_steps": None}


class LossScaleOptimizer(Optimizer):
    """Wraps ``inner_optimizer``, which makes the updates; this one scales the loss and unscales the gradients.

    ``dynamic_scale`` starts at ``initial_scale``; ``step_counter`` counts the finite steps since it last
    changed. ``learning_rate`` and ``iterations`` are the inner optimizer's (a skipped step is not counted).
    """

    def __init__(self, inner_optimizer: Optimizer, initial_scale: float = 2.0 ** 15, dynamic_growth_steps: int = 2000,
                 name: str | None = None, **kwargs):
        if not kwargs.pop("dynamic", True):
            raise ValueError("LossScaleOptimizer no longer supports `dynamic=False`. Instead, simply set "
                             "`loss_scale_factor` directly on the `inner_optimizer`.")
        for arg, default in _INNER_ONLY.items():
            if arg in kwargs and kwargs.pop(arg) != default:
                raise ValueError(f"LossScaleOptimizer does not support `{arg}`. Instead, set `{arg}` on the "
                                 "`inner_optimizer`.")
        if kwargs:
            raise ValueError(f"LossScaleOptimizer does not support arguments: `{'`, `'.join(kwargs)}`.")
        if not isinstance(inner_optimizer, Optimizer) or isinstance(inner_optimizer, LossScaleOptimizer):
            raise TypeError("LossScaleOptimizer expects inner_optimizer to be a layerwise optimizer (not itself a "
                            f"LossScaleOptimizer), e.g. Adam(); received {inner_optimizer!r}.")
        if not isinstance(dynamic_growth_steps, int) or dynamic_growth_steps < 1:
            raise ValueError(f"LossScaleOptimizer: dynamic_growth_steps must be a positive integer; received "
                             f"dynamic_growth_steps={dynamic_growth_steps!r}.")
        # The base constructor is not called: it would reset the iterations and parameters of an inner optimizer
        # that has already trained, which this one shares; the common arguments stay at their defaults.
        self.inner_optimizer = inner_optimizer
        inner_optimizer.loss_scale_factor = None  # as Keras: the gradients are unscaled here, not twice
        self.initial_scale, self.dynamic_growth_steps = float(initial_scale), dynamic_growth_steps
        self.name = name or unique_name("loss_scale_optimizer")  # Keras' automatic name
        self.weight_decay = self.clipnorm = self.clipvalue = self.global_clipnorm = None
        self.use_ema, self.ema_momentum, self.ema_overwrite_frequency = False, 0.99, None
        self.dynamic_scale: torch.Tensor | None = None  # float32 scalar, created by build
        self.step_counter: torch.Tensor | None = None  # int32 scalar, as Keras keeps it

    # ---- what the inner optimizer holds ---------------------------------------------------------
    @property
    def params(self) -> list[torch.Tensor]:
        return self.inner_optimizer.params

    @property
    def slots(self) -> dict[str, list[torch.Tensor]]:
        return self.inner_optimizer.slots

    @property
    def _positions(self) -> dict[int, int] | None:
        return self.inner_optimizer._positions

    @property
    def _iterations(self) -> int:
        return self.inner_optimizer._iterations

    @property
    def _learning_rate(self):
        return self.inner_optimizer._learning_rate

    @property
    def iterations(self) -> int:
        return self.inner_optimizer.iterations

    @iterations.setter
    def iterations(self, value: int) -> None:
        self.inner_optimizer.iterations = value

    @property
    def learning_rate(self) -> float:
        return self.inner_optimizer.learning_rate

    @learning_rate.setter
    def learning_rate(self, value) -> None:
        self.inner_optimizer.learning_rate = value

    @property
    def built(self) -> bool:
        return self.inner_optimizer.built and self.dynamic_scale is not None

    def build(self, params: list[torch.Tensor]) -> None:
        self.inner_optimizer.build(params)
        self._build_scale()

    def build_for(self, model, params: list[torch.Tensor] | None = None) -> None:
        self.inner_optimizer.build_for(model, params)
        self._build_scale()

    def _build_scale(self) -> None:
        device = self.params[0].device if self.params else torch.device("cpu")
        self.dynamic_scale = torch.tensor(self.initial_scale, dtype=torch.float32, device=device)
        self.step_counter = torch.tensor(0, dtype=torch.int32, device=device)

    # ---- scaling ----------------------------------------------------------------------------------
    def scale_loss(self, loss: torch.Tensor) -> torch.Tensor:
        """``loss * dynamic_scale`` (the initial scale before the first step): what to call ``backward`` on."""
        return loss * (self.dynamic_scale if self.dynamic_scale is not None else self.initial_scale)

    @torch.no_grad()
    def step(self) -> None:
        """One update from the parameters' scaled ``.grad`` (unscaled in place), or none when one is not finite."""
        index = [i for i, p in enumerate(self.params) if p.grad is not None]
        if index and self._unscale_and_check([self.params[i].grad for i in index]):
            self.inner_optimizer.step()

    @torch.no_grad()
    def apply(self, grads: list, trainable_variables: list | None = None) -> None:
        """Keras' ``apply``: ``grads`` are of the scaled loss; a step with a non-finite one is skipped."""
        grads = list(grads)
        if not self.built:
            if trainable_variables is None:
                raise ValueError("LossScaleOptimizer.apply: the optimizer is not built, so it needs "
                                 "trainable_variables (e.g. optimizer.apply(grads, model.trainable_weights)).")
            self.build(list(trainable_variables))
        given = [g.clone() for g in grads if g is not None]  # the caller's gradients stay as they were
        if not given or self._unscale_and_check(given):
            unscaled = iter(given)
            self.inner_optimizer.apply([None if g is None else next(unscaled) for g in grads], trainable_variables)

    def _unscale_and_check(self, grads: list[torch.Tensor]) -> bool:
        """Divide ``grads`` by the scale in place and update the scale as Keras does; whether all were finite."""
        found_inf = torch.zeros(1, dtype=torch.float32, device=self.dynamic_scale.device)
        by_dtype: dict[torch.dtype, list[torch.Tensor]] = {}
        for g in grads:  # the fused kernel takes one dtype and device per call
            by_dtype.setdefault(g.dtype, []).append(g)
        inverse = self.dynamic_scale.reciprocal()
        for group in by_dtype.values():
            torch._amp_foreach_non_finite_check_and_unscale_(group, found_inf, inverse)
        finite = not bool(found_inf.item())  # the one host sync per step, as torch.amp.GradScaler has
        if not finite:
            self.dynamic_scale.mul_(0.5)
            self.step_counter.zero_()
            return False
        self.step_counter.add_(1)
        grown = self.step_counter == self.dynamic_growth_steps  # on the device: no second sync
        self.dynamic_scale.mul_(grown + 1)
        self.step_counter.masked_fill_(grown, 0)
        return True

    def finalize_variable_values(self, var_list: list[torch.Tensor] | None = None) -> None:
        self.inner_optimizer.finalize_variable_values(var_list)

    # ---- Keras' list of variables ----------------------------------------------------------------
    def _keras_variables(self) -> list[tuple[str, torch.Tensor]]:
        """Keras' order: its own count and learning rate (unused, 0), its step counter and scale once built, then
        the inner optimizer's variables."""
        own = [("unused", torch.tensor(0, dtype=torch.int32)), ("unused", torch.tensor(0.0))]
        if self.built:
            own += [("state", self.step_counter), ("state", self.dynamic_scale)]
        return own + self.inner_optimizer._keras_variables()

    def _set_variable(self, kind: str, tensor: torch.Tensor, value: torch.Tensor) -> None:
        if kind != "unused":
            self.inner_optimizer._set_variable(kind, tensor, value)

    # ---- saving -----------------------------------------------------------------------------------
    def get_config(self) -> dict:
        from layerwise.optimizers import serialize
        return {"name": self.name, "inner_optimizer": serialize(self.inner_optimizer),
                "initial_scale": self.initial_scale, "dynamic_growth_steps": self.dynamic_growth_steps}

    @classmethod
    def from_config(cls, config: dict) -> "LossScaleOptimizer":
        from layerwise.optimizers import deserialize
        settings = dict(config)
        inner = settings.pop("inner_optimizer")
        return cls(deserialize(inner) if isinstance(inner, dict) else inner, **settings)

    def state_tensors(self) -> dict[str, torch.Tensor]:
        """The scale, the step counter, then the inner optimizer's state under ``inner/``."""
        own = {"step_counter": self.step_counter, "dynamic_scale": self.dynamic_scale}
        return {**own, **{f"inner/{k}": v for k, v in self.inner_optimizer.state_tensors().items()}}

    def load_state_tensors(self, tensors: dict[str, torch.Tensor]) -> None:
        self.step_counter.copy_(tensors["step_counter"])
        self.dynamic_scale.copy_(tensors["dynamic_scale"])
        self.inner_optimizer.load_state_tensors({k[len("inner/"):]: v for k, v in tensors.items()
                                                 if k.startswith("inner/")})
