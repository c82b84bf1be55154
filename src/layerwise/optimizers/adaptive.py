"""Per-coordinate adaptive optimizers with Keras' formulas: RMSprop, Adagrad, Adadelta and Ftrl."""
from __future__ import annotations

import torch

from layerwise.optimizers.base import Optimizer


class RMSprop(Optimizer):
    """Keras' RMSprop: ``v = rho * v + (1 - rho) * g^2``; ``w -= lr * g / sqrt(v + epsilon)``."""

    def __init__(self, learning_rate: float = 0.001, rho: float = 0.9, momentum: float = 0.0,
                 epsilon: float = 1e-7, centered: bool = False, **kwargs):
        super().__init__(learning_rate, **kwargs)
        self.rho, self.momentum, self.epsilon, self.centered = rho, momentum, epsilon, centered
        self.slot_names = (("velocity",) + (("momentum",) if momentum else ())
                           + (("average_gradient",) if centered else ()))

    def slot_groups(self) -> list[tuple[str, ...]]:
        return [(name,) for name in self.slot_names]  # Keras creates each slot for all weights in turn

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


class Adadelta(Optimizer):
    """Keras' Adadelta: ``a = rho * a + (1 - rho) * g^2``; ``d = -sqrt(b + eps) / sqrt(a + eps) * g``;
    ``b = rho * b + (1 - rho) * d^2``; ``w += lr * d``.

    The same update as ``torch.optim.Adadelta`` (epsilon inside both square roots in both), written
    with the same multi-tensor kernels but without its per-parameter step counters.
    """

    slot_names = ("accumulated_grad", "accumulated_delta_var")

    def __init__(self, learning_rate: float = 0.001, rho: float = 0.95, epsilon: float = 1e-7, **kwargs):
        super().__init__(learning_rate, **kwargs)
        self.rho, self.epsilon = rho, epsilon

    def update(self, params, grads, slots, step, lr):
        acc_grad, acc_delta = slots["accumulated_grad"], slots["accumulated_delta_var"]
        torch._foreach_mul_(acc_grad, self.rho)
        torch._foreach_addcmul_(acc_grad, grads, grads, value=1 - self.rho)
        std = torch._foreach_add(acc_grad, self.epsilon)
        torch._foreach_sqrt_(std)
        delta = torch._foreach_add(acc_delta, self.epsilon)
        torch._foreach_sqrt_(delta)
        torch._foreach_div_(delta, std)
        torch._foreach_mul_(delta, grads)
        torch._foreach_mul_(acc_delta, self.rho)
        torch._foreach_addcmul_(acc_delta, delta, delta, value=1 - self.rho)
        torch._foreach_add_(params, delta, alpha=-lr)

    def get_config(self):
        return {**super().get_config(), "rho": self.rho, "epsilon": self.epsilon}


class Ftrl(Optimizer):
    """Keras' FTRL-Proximal: per coordinate, ``n += g^2``,
    ``z += g' - (n_new^-p - n_old^-p) / lr * w`` with ``g' = g + 2 * l2_shrinkage * w``, then
    ``w = (clip(z, -l1, l1) - z) / (n^-p / lr + 2 * (l2 + beta / (2 * lr)))`` where ``p = learning_rate_power``.
    """

    slot_names = ("accumulator", "linear")

    def __init__(self, learning_rate: float = 0.001, learning_rate_power: float = -0.5,
                 initial_accumulator_value: float = 0.1, l1_regularization_strength: float = 0.0,
                 l2_regularization_strength: float = 0.0, l2_shrinkage_regularization_strength: float = 0.0,
                 beta: float = 0.0, **kwargs):
        if learning_rate_power > 0:
            raise ValueError(f"Ftrl: learning_rate_power must be negative or zero, got {learning_rate_power}.")
        non_negative = {"initial_accumulator_value": initial_accumulator_value,
                        "l1_regularization_strength": l1_regularization_strength,
                        "l2_regularization_strength": l2_regularization_strength,
                        "l2_shrinkage_regularization_strength": l2_shrinkage_regularization_strength}
        for arg, value in non_negative.items():
            if value < 0:
                raise ValueError(f"Ftrl: {arg} must be positive or zero, got {value}.")
        super().__init__(learning_rate, **kwargs)
        self.learning_rate_power, self.initial_accumulator_value = learning_rate_power, initial_accumulator_value
        self.l1_regularization_strength = l1_regularization_strength
        self.l2_regularization_strength = l2_regularization_strength
        self.l2_shrinkage_regularization_strength = l2_shrinkage_regularization_strength
        self.beta = beta

    def initial_slot(self, name, param):
        if name == "accumulator":
            return torch.full_like(param, self.initial_accumulator_value)
        return super().initial_slot(name, param)

    def _power(self, tensors: list[torch.Tensor]) -> list[torch.Tensor]:
        """``tensors ** -learning_rate_power``, with a square root for the default power -0.5."""
        if self.learning_rate_power == -0.5:
            return torch._foreach_sqrt(tensors)
        return torch._foreach_pow(tensors, -self.learning_rate_power)

    def update(self, params, grads, slots, step, lr):
        accumulator, linear = slots["accumulator"], slots["linear"]
        old_power = self._power(accumulator)
        torch._foreach_addcmul_(accumulator, grads, grads)
        new_power = self._power(accumulator)
        sigma = torch._foreach_sub(new_power, old_power)
        torch._foreach_div_(sigma, lr)
        torch._foreach_add_(linear, grads)
        if self.l2_shrinkage_regularization_strength:
            torch._foreach_add_(linear, params, alpha=2 * self.l2_shrinkage_regularization_strength)
        torch._foreach_addcmul_(linear, sigma, params, value=-1)
        quadratic = torch._foreach_div(new_power, lr)
        torch._foreach_add_(quadratic, 2 * self.l2_regularization_strength + self.beta / lr)
        l1 = self.l1_regularization_strength
        numerator = torch._foreach_clamp_max(linear, l1)
        torch._foreach_clamp_min_(numerator, -l1)
        torch._foreach_sub_(numerator, linear)
        torch._foreach_div_(numerator, quadratic)
        torch._foreach_copy_(params, numerator)

    def get_config(self):
        return {**super().get_config(), "learning_rate_power": self.learning_rate_power,
                "initial_accumulator_value": self.initial_accumulator_value,
                "l1_regularization_strength": self.l1_regularization_strength,
                "l2_regularization_strength": self.l2_regularization_strength,
                "l2_shrinkage_regularization_strength": self.l2_shrinkage_regularization_strength,
                "beta": self.beta}
