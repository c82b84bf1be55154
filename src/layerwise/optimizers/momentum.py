"""Momentum optimizers with Keras' formulas: SGD (plain, momentum, Nesterov) and Lion (sign of momentum)."""
from __future__ import annotations

import torch

from layerwise.optimizers.base import Optimizer


class SGD(Optimizer):
    """Keras' SGD: ``m = momentum * m - lr * g``; ``w += m`` (or ``momentum * m - lr * g`` if nesterov)."""

    def __init__(self, learning_rate: float = 0.01, momentum: float = 0.0, nesterov: bool = False, **kwargs):
        if not isinstance(momentum, float) or not 0 <= momentum <= 1:  # Keras' rule: an int 0 is refused too
            raise ValueError(f"`momentum` must be a float between [0, 1]. Received: momentum={momentum!r}")
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


class Lion(Optimizer):
    """Keras' Lion: ``w -= lr * sign(b1 * m + (1 - b1) * g)``, then ``m = b2 * m + (1 - b2) * g``.

    Every coordinate moves by exactly ``lr``, so Lion wants a learning rate 3-10x smaller than Adam's.
    """

    slot_names = ("momentum",)

    def __init__(self, learning_rate: float = 0.001, beta_1: float = 0.9, beta_2: float = 0.99, **kwargs):
        if not 0 < beta_1 <= 1:
            raise ValueError(f"Lion: beta_1 must be in (0, 1] (at 0 Lion is plain sign SGD), got beta_1={beta_1}.")
        super().__init__(learning_rate, **kwargs)
        self.beta_1, self.beta_2 = beta_1, beta_2

    def update(self, params, grads, slots, step, lr):
        # Multiply-then-add (not lerp) rounds as Keras does: the sign of a near-zero mix must agree.
        m = slots["momentum"]
        direction = torch._foreach_mul(m, self.beta_1)
        torch._foreach_add_(direction, grads, alpha=1 - self.beta_1)
        torch._foreach_sign_(direction)
        torch._foreach_add_(params, direction, alpha=-lr)
        torch._foreach_mul_(m, self.beta_2)
        torch._foreach_add_(m, grads, alpha=1 - self.beta_2)

    def get_config(self):
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2}
