"""Keras' Adafactor: second moments factored into row and column averages over a kernel's last two axes."""
from __future__ import annotations

import math

import torch

from layerwise.optimizers.layouts import KerasLayout, LayoutAwareOptimizer


def _rms(x: torch.Tensor) -> torch.Tensor:
    return x.square().mean().sqrt()


class Adafactor(LayoutAwareOptimizer):
    """Keras' Adafactor, with ``beta_t = 1 - t^beta_2_decay`` and ``G = g^2 + epsilon_1`` at step ``t``:

    for a weight of 2 or more axes (in Keras' layout) ``r = beta_t * r + (1 - beta_t) * mean(G, -1)``,
    ``c = beta_t * c + (1 - beta_t) * mean(G, -2)`` and ``v = r / mean(r) (outer) c``; for the others
    ``v = beta_t * v + (1 - beta_t) * G``. Then ``u = g / sqrt(v)``, ``u /= max(1, rms(u) / clip_threshold)``
    and ``w -= max(epsilon_2, rms(w)) * min(lr, 1 / sqrt(t)) * u``.

    The factored axes are Keras' last two (a Conv2D kernel's ``in`` and ``out``), so a model's weights are
    treated as Keras treats them once the optimizer is bound to it (``bind_model``). Keras 3.15 takes
    ``min(lr, 1 / sqrt(t))`` whatever ``relative_step`` is, so ``relative_step`` is kept for the config only.
    Slots: ``r`` and ``c`` (one 0-D placeholder each for weights of fewer than 2 axes, as Keras keeps) and
    ``velocity``.
    """

    slot_names = ("r", "c", "velocity")

    def __init__(self, learning_rate: float = 0.001, beta_2_decay: float = -0.8, epsilon_1: float = 1e-30,
                 epsilon_2: float = 1e-3, clip_threshold: float = 1.0, relative_step: bool = True, **kwargs):
        if not clip_threshold > 0:
            raise ValueError(f"Adafactor: clip_threshold must be positive (it divides the update's RMS), got "
                             f"clip_threshold={clip_threshold}.")
        super().__init__(learning_rate, **kwargs)
        self.beta_2_decay, self.epsilon_1, self.epsilon_2 = beta_2_decay, epsilon_1, epsilon_2
        self.clip_threshold, self.relative_step = clip_threshold, relative_step

    def slot_shape(self, name: str, param: torch.Tensor, layout: KerasLayout) -> tuple[int, ...]:
        shape = layout.shape
        if name == "velocity":
            return tuple(param.shape)
        if len(shape) < 2:
            return ()
        return shape[:-1] if name == "r" else (*shape[:-2], shape[-1])

    def update(self, params, grads, slots, step, lr):
        rho = min(lr, 1 / math.sqrt(step))
        beta = 1 - step ** self.beta_2_decay
        for param, grad, r, c, v in zip(params, grads, slots["r"], slots["c"], slots["velocity"]):
            squared = grad.square().add_(self.epsilon_1)
            layout = self.layout(param)
            if len(layout.shape) >= 2:
                keras_squared = layout.keras(squared)
                if r.shape != keras_squared.shape[:-1]:
                    raise ValueError(f"Adafactor: the saved row factor of '{layout.path or tuple(param.shape)}' has "
                                     f"shape {tuple(r.shape)}, not that of the weight in this layout "
                                     f"{tuple(keras_squared.shape)}: call optimizer.bind_model(model) first.")
                r.mul_(beta).add_(keras_squared.mean(-1), alpha=1 - beta)
                c.mul_(beta).add_(keras_squared.mean(-2), alpha=1 - beta)
                factored = (r / r.mean(-1, keepdim=True)).unsqueeze(-1) * c.unsqueeze(-2)
                v.copy_(layout.torch(factored))
            else:
                v.mul_(beta).add_(squared, alpha=1 - beta)
            u = grad / v.sqrt()
            u.div_(torch.clamp(_rms(u) / self.clip_threshold, min=1.0))
            param.sub_(u.mul_(torch.clamp(_rms(param), min=self.epsilon_2) * rho))

    def get_config(self):
        return {**super().get_config(), "beta_2_decay": self.beta_2_decay, "epsilon_1": self.epsilon_1,
                "epsilon_2": self.epsilon_2, "clip_threshold": self.clip_threshold,
                "relative_step": self.relative_step}
