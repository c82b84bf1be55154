"""Keras' ScheduleFreeAdamW: no learning-rate schedule, an average of the iterates instead."""
from __future__ import annotations

import torch

from layerwise.optimizers.base import Optimizer


class ScheduleFreeAdamW(Optimizer):
    """Keras' Schedule-Free AdamW (Defazio et al., 2024). The model's weights are ``y``; the slot ``momentum``
    is the sequence ``z`` that takes the gradient steps (it starts as a copy of the weights) and
    ``x = (y - (1 - b1) * z) / b1`` the running average. At step ``t``, with ``lr`` scaled by
    ``min(t / warmup_steps, 1)`` when ``warmup_steps > 0``::

        v = b2 * v + (1 - b2) * g^2
        z -= lr * g / (sqrt(v / (1 - b2^t)) + epsilon)
        x = (1 - 1/t) * x + (1/t) * z
        y = (1 - b1) * z + b1 * x

    As in Keras 3.15 the weights stay ``y`` for evaluation and saving too: Keras swaps in no ``x`` at the end
    of training or for ``evaluate``/``predict``, and neither does layerwise. ``x`` is recovered from ``z``
    before its step, as Keras' code reads and as its JAX and TensorFlow backends compute; its torch backend
    recovers it from the already stepped ``z`` (the old value aliases the updated variable), so Keras on torch
    gives slightly different weights from the second step on.
    """

    slot_names = ("momentum", "velocity")

    def __init__(self, learning_rate: float = 0.0025, beta_1: float = 0.9, beta_2: float = 0.999,
                 epsilon: float = 1e-8, warmup_steps: int = 0, name: str | None = None, **kwargs):
        if not 0 < beta_1 <= 1:
            raise ValueError(f"ScheduleFreeAdamW: beta_1 must be in (0, 1] (the average x is recovered by dividing "
                             f"by it), got beta_1={beta_1}.")
        if not isinstance(warmup_steps, int) or warmup_steps < 0:
            raise ValueError(f"ScheduleFreeAdamW: warmup_steps must be an integer >= 0, got "
                             f"warmup_steps={warmup_steps!r}.")
        super().__init__(learning_rate, name=name, **kwargs)
        self.beta_1, self.beta_2, self.epsilon, self.warmup_steps = beta_1, beta_2, epsilon, warmup_steps

    def initial_slot(self, name: str, param: torch.Tensor) -> torch.Tensor:
        if name == "momentum":
            return param.detach().clone(memory_format=torch.preserve_format)
        return super().initial_slot(name, param)

    def update(self, params, grads, slots, step, lr):
        z, v = slots["momentum"], slots["velocity"]
        if self.warmup_steps > 0:
            lr = lr * min(step / self.warmup_steps, 1.0)
        b1 = self.beta_1
        # x from the weights and z before z's step.
        x = torch._foreach_mul(z, 1 - b1)
        torch._foreach_sub_(x, params)
        torch._foreach_div_(x, -b1)
        torch._foreach_lerp_(v, torch._foreach_mul(grads, grads), 1 - self.beta_2)
        denom = torch._foreach_div(v, 1 - self.beta_2 ** step)
        torch._foreach_sqrt_(denom)
        torch._foreach_add_(denom, self.epsilon)
        torch._foreach_sub_(z, torch._foreach_div(torch._foreach_mul(grads, lr), denom))
        weight = 1 / step
        torch._foreach_mul_(x, 1 - weight)
        torch._foreach_add_(x, z, alpha=weight)
        torch._foreach_mul_(x, b1)
        torch._foreach_add_(x, z, alpha=1 - b1)
        torch._foreach_copy_(params, x)

    def get_config(self):
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2, "epsilon": self.epsilon,
                "warmup_steps": self.warmup_steps}
