"""The Adam family with Keras' formulas: Adam, AdamW, Adamax (infinity norm) and Nadam (Nesterov momentum)."""
from __future__ import annotations

import math

import torch

from layerwise.optimizers.base import Optimizer

# One fused kernel for Adam on CPU and CUDA (PyTorch >= 2.4); older versions use the foreach path.
_FUSED_ADAM = hasattr(torch, "_fused_adam_") and tuple(int(v) for v in torch.__version__.split(".")[:2]) >= (2, 4)


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

    def slot_groups(self) -> list[tuple[str, ...]]:
        return [("momentum", "velocity"), ("velocity_hat",)] if self.amsgrad else [("momentum", "velocity")]

    def update(self, params, grads, slots, step, lr):
        m, v = slots["momentum"], slots["velocity"]
        # The fused kernel takes Keras' epsilon divided by sqrt(1 - beta_2^t), which is 0 when beta_2 == 1 (Keras'
        # step is then 0: the weights stay, the slots move).
        if not self.amsgrad and _FUSED_ADAM and 1 - self.beta_2 ** step != 0:
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
        if weight_decay is None:  # AdamW without decay would silently be Adam
            raise ValueError(f"Argument `weight_decay` must be a float. Received: weight_decay={weight_decay}")
        super().__init__(learning_rate, weight_decay=weight_decay, **kwargs)


class Adamax(Optimizer):
    """Keras' Adamax: ``m = b1 * m + (1 - b1) * g``; ``u = max(b2 * u, |g|)``;
    ``w -= lr * m / ((1 - b1^t) * (u + epsilon))``.

    PyTorch's Adamax puts epsilon inside the maximum, so its updates differ; this is Keras' form.
    """

    slot_names = ("momentum", "norm")

    def __init__(self, learning_rate: float = 0.001, beta_1: float = 0.9, beta_2: float = 0.999,
                 epsilon: float = 1e-7, **kwargs):
        super().__init__(learning_rate, **kwargs)
        self.beta_1, self.beta_2, self.epsilon = beta_1, beta_2, epsilon

    def update(self, params, grads, slots, step, lr):
        m, u = slots["momentum"], slots["norm"]
        torch._foreach_lerp_(m, grads, 1 - self.beta_1)
        torch._foreach_mul_(u, self.beta_2)
        torch._foreach_maximum_(u, torch._foreach_abs(grads))
        denom = torch._foreach_add(u, self.epsilon)
        torch._foreach_addcdiv_(params, m, denom, value=-lr / (1 - self.beta_1 ** step))

    def get_config(self):
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2, "epsilon": self.epsilon}


class Nadam(Optimizer):
    """Keras' Nadam: Adam with Nesterov momentum whose coefficient ``mu_t = b1 * (1 - 0.5 * 0.96^t)`` warms up.

    ``w -= lr * (mu_{t+1} * m / (1 - prod mu_1..t+1) + (1 - mu_t) * g / (1 - prod mu_1..t))
    / (sqrt(v / (1 - b2^t)) + epsilon)``. The running product ``u_product`` is optimizer state, as in
    Keras (saved with the model, counted in the summary's optimizer parameters).
    """

    slot_names = ("momentum", "velocity")

    def __init__(self, learning_rate: float = 0.001, beta_1: float = 0.9, beta_2: float = 0.999,
                 epsilon: float = 1e-7, **kwargs):
        super().__init__(learning_rate, **kwargs)
        self.beta_1, self.beta_2, self.epsilon = beta_1, beta_2, epsilon

    def build(self, params: list[torch.Tensor]) -> None:
        super().build(params)
        # Kept on the CPU in float64: it only feeds the scalar coefficients, read every step.
        self.slots["u_product"] = [torch.ones((), dtype=torch.float64)]

    def _mu(self, step: int) -> float:
        return self.beta_1 * (1 - 0.5 * 0.96 ** step)

    def update(self, params, grads, slots, step, lr):
        product = self.slots["u_product"][0]
        mu, mu_next = self._mu(step), self._mu(step + 1)
        product.mul_(mu)
        u_product = float(product)
        m, v = slots["momentum"], slots["velocity"]
        torch._foreach_lerp_(m, grads, 1 - self.beta_1)
        torch._foreach_mul_(v, self.beta_2)
        torch._foreach_addcmul_(v, grads, grads, value=1 - self.beta_2)
        # sqrt(v / (1 - b2^t)) + eps == (sqrt(v) + eps * sqrt(1 - b2^t)) / sqrt(1 - b2^t): the
        # correction moves into the two step sizes and the denominator needs no extra pass.
        correction = math.sqrt(1 - self.beta_2 ** step)
        denom = torch._foreach_sqrt(v)
        torch._foreach_add_(denom, self.epsilon * correction)
        torch._foreach_addcdiv_(params, m, denom, value=-lr * correction * mu_next / (1 - u_product * mu_next))
        torch._foreach_addcdiv_(params, grads, denom, value=-lr * correction * (1 - mu) / (1 - u_product))

    def get_config(self):
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2, "epsilon": self.epsilon}
