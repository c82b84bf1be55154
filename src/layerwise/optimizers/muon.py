"""Keras' Muon: momentum orthogonalised by a Newton-Schulz iteration for matrices, AdamW for the rest."""
from __future__ import annotations

import math
import re

import torch

from layerwise.optimizers.layouts import KerasLayout, LayoutAwareOptimizer


def newton_schulz(x: torch.Tensor, steps: int, a: float, b: float, c: float) -> torch.Tensor:
    """Keras' quintic Newton-Schulz iteration towards the orthogonal factor of the matrix ``x`` (rows <= columns
    inside, so a tall ``x`` is worked on transposed): ``x = a * x + (b * A + c * A @ A) @ x`` with ``A = x x^T``,
    from ``x / (||x||_F + 1e-7)``."""
    tall = x.shape[-2] > x.shape[-1]
    if tall:
        x = x.mT
    x = x / (torch.linalg.matrix_norm(x) + 1e-7)
    for _ in range(steps):
        gram = x @ x.mT
        x = torch.addmm(x, torch.addmm(gram, gram, gram, beta=b, alpha=c), x, beta=a)
    return x.mT if tall else x


class Muon(LayoutAwareOptimizer):
    """Keras' Muon. A weight that is a matrix in Keras' layout (a Dense kernel) takes the Muon step:
    ``m = momentum * m + g``, ``d = g + momentum * m`` (``d = m`` without ``nesterov``) and
    ``w -= lr * newton_schulz(d) * sqrt(max(rows, columns)) * rms_rate`` (no scale when ``rms_rate`` is None).
    Every other weight takes Keras' AdamW step at ``lr * adam_lr_ratio``: those not of 2 axes in Keras' layout
    (biases, Conv2D kernels), embeddings (``"embedding"`` in the variable's path, with ``exclude_embeddings``)
    and those whose path matches a regular expression of ``exclude_layers``. Weight decay is
    ``weight_decay`` for the Muon weights and ``adam_weight_decay`` for the others.

    Which weights are matrices, and their paths, are Keras' once the optimizer is bound to the model
    (``bind_model``). Slots: ``momentum`` for all, ``velocity`` for the AdamW weights (empty for the others).
    """

    slot_names = ("momentum", "velocity")

    def __init__(self, learning_rate: float = 0.001, adam_beta_1: float = 0.9, adam_beta_2: float = 0.999,
                 adam_weight_decay: float | None = 0.004, epsilon: float = 1e-7,
                 weight_decay: float | None = 0.004, exclude_layers: list[str] | None = None,
                 exclude_embeddings: bool = True, muon_a: float = 3.4445, muon_b: float = -4.7750,
                 muon_c: float = 2.0315, adam_lr_ratio: float = 1, momentum: float = 0.95, ns_steps: int = 5,
                 nesterov: bool = True, rms_rate: float | None = 0.2, **kwargs):
        if isinstance(exclude_layers, str) or not all(isinstance(k, str) for k in exclude_layers or []):
            raise ValueError("Muon: exclude_layers must be a list of regular expressions (strings) matched against "
                             f"variable paths, e.g. ['output_dense']; got exclude_layers={exclude_layers!r}.")
        for keyword in exclude_layers or []:
            try:
                re.compile(keyword)
            except re.error as err:
                raise ValueError(f"Muon: exclude_layers holds {keyword!r}, not a valid regular expression "
                                 f"({err}).") from None
        if not isinstance(ns_steps, int) or ns_steps < 0:
            raise ValueError(f"Muon: ns_steps must be an integer >= 0, got ns_steps={ns_steps!r}.")
        super().__init__(learning_rate, weight_decay=weight_decay, **kwargs)
        self.adam_beta_1, self.adam_beta_2, self.adam_weight_decay = adam_beta_1, adam_beta_2, adam_weight_decay
        self.epsilon, self.exclude_layers, self.exclude_embeddings = epsilon, list(exclude_layers or []), \
            exclude_embeddings
        self.muon_a, self.muon_b, self.muon_c = muon_a, muon_b, muon_c
        self.adam_lr_ratio, self.momentum, self.ns_steps = adam_lr_ratio, momentum, ns_steps
        self.nesterov, self.rms_rate = nesterov, rms_rate

    def uses_adamw(self, layout: KerasLayout) -> bool:
        """Whether Keras gives the weight laid out as ``layout`` the AdamW step."""
        if len(layout.shape) != 2:
            return True
        if self.exclude_embeddings and "embedding" in layout.path.lower():
            return True
        return any(re.search(keyword, layout.path) for keyword in self.exclude_layers)

    def slot_shape(self, name: str, param: torch.Tensor, layout: KerasLayout) -> tuple[int, ...]:
        if name == "velocity" and not self.uses_adamw(layout):
            return (0,)
        return tuple(param.shape)

    def _groups(self, params: list[torch.Tensor]) -> tuple[list[int], list[int]]:
        """Positions of the AdamW weights and of the Muon weights among ``params``."""
        adam, muon = [], []
        for i, param in enumerate(params):
            (adam if self.uses_adamw(self.layout(param)) else muon).append(i)
        return adam, muon

    def apply_weight_decay(self, params: list[torch.Tensor], lr: float) -> None:
        """Keras decays the two kinds of weights at their own rates."""
        for group, rate in zip(self._groups(params), (self.adam_weight_decay, self.weight_decay)):
            if group and rate is not None:
                self._decay([params[i] for i in group], rate * lr)

    def update(self, params, grads, slots, step, lr):
        adam, muon = self._groups(params)
        if adam:
            self._adamw([params[i] for i in adam], [grads[i] for i in adam],
                        [slots["momentum"][i] for i in adam], [slots["velocity"][i] for i in adam],
                        step, lr * self.adam_lr_ratio)
        if muon:
            self._muon([params[i] for i in muon], [grads[i] for i in muon], [slots["momentum"][i] for i in muon],
                       lr)

    def _adamw(self, params, grads, m, v, step, lr):
        """Keras' Adam step (epsilon added to the uncorrected ``sqrt(v)``)."""
        alpha = lr * math.sqrt(1 - self.adam_beta_2 ** step) / (1 - self.adam_beta_1 ** step)
        torch._foreach_lerp_(m, grads, 1 - self.adam_beta_1)
        torch._foreach_lerp_(v, torch._foreach_mul(grads, grads), 1 - self.adam_beta_2)
        denom = torch._foreach_sqrt(v)
        torch._foreach_add_(denom, self.epsilon)
        torch._foreach_addcdiv_(params, m, denom, value=-alpha)

    def _muon(self, params, grads, m, lr):
        # Keras' m += g + (momentum - 1) * m, in its order of rounding.
        step = torch._foreach_mul(m, self.momentum - 1)
        torch._foreach_add_(step, grads)
        torch._foreach_add_(m, step)
        directions = torch._foreach_add(grads, m, alpha=self.momentum) if self.nesterov else m
        for param, direction in zip(params, directions):
            layout = self.layout(param)
            update = newton_schulz(layout.keras(direction), self.ns_steps, self.muon_a, self.muon_b, self.muon_c)
            scale = lr if self.rms_rate is None else lr * math.sqrt(max(update.shape)) * self.rms_rate
            param.sub_(layout.torch(update), alpha=scale)

    def get_config(self):
        return {**super().get_config(), "adam_beta_1": self.adam_beta_1, "adam_beta_2": self.adam_beta_2,
                "epsilon": self.epsilon, "exclude_layers": list(self.exclude_layers), "muon_a": self.muon_a,
                "muon_b": self.muon_b, "muon_c": self.muon_c, "adam_lr_ratio": self.adam_lr_ratio,
                "momentum": self.momentum, "ns_steps": self.ns_steps, "nesterov": self.nesterov,
                "exclude_embeddings": self.exclude_embeddings, "adam_weight_decay": self.adam_weight_decay,
                "rms_rate": self.rms_rate}
