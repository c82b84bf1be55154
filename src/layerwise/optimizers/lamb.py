"""Keras' Lamb: Adam's direction scaled, weight by weight, by the ratio of the weight's norm to the direction's."""
from __future__ import annotations

import torch

from layerwise.optimizers.base import Optimizer


class Lamb(Optimizer):
    """Keras' Lamb: ``m = b1 * m + (1 - b1) * g``, ``v = b2 * v + (1 - b2) * g^2``,
    ``d = (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + epsilon)`` and ``w -= ratio * lr * d`` with
    ``ratio = ||w|| / ||d||`` (1 when either norm is 0), each norm over one whole weight, so the rule does not
    depend on how a weight is laid out."""

    slot_names = ("momentum", "velocity")

    def __init__(self, learning_rate: float = 0.001, beta_1: float = 0.9, beta_2: float = 0.999,
                 epsilon: float = 1e-7, **kwargs):
        super().__init__(learning_rate, **kwargs)
        self.beta_1, self.beta_2, self.epsilon = beta_1, beta_2, epsilon

    def update(self, params, grads, slots, step, lr):
        m, v = slots["momentum"], slots["velocity"]
        # lerp computes m + (1 - b1) * (g - m), Keras' own form of the moving averages.
        torch._foreach_lerp_(m, grads, 1 - self.beta_1)
        torch._foreach_lerp_(v, torch._foreach_mul(grads, grads), 1 - self.beta_2)
        direction = torch._foreach_div(m, 1 - self.beta_1 ** step)
        denom = torch._foreach_div(v, 1 - self.beta_2 ** step)
        torch._foreach_sqrt_(denom)
        torch._foreach_add_(denom, self.epsilon)
        torch._foreach_div_(direction, denom)
        w_norm = torch.stack(torch._foreach_norm(params))
        d_norm = torch.stack(torch._foreach_norm(direction))
        ratio = torch.where((w_norm > 0) & (d_norm > 0), w_norm / d_norm, torch.ones_like(w_norm))
        torch._foreach_mul_(direction, list((ratio * lr).unbind()))
        torch._foreach_sub_(params, direction)

    def get_config(self):
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2, "epsilon": self.epsilon}
