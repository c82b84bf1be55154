"""Layers that start a mask: Embedding (token ids -> vectors, ``mask_zero``) and Masking.

A mask is a ``(batch, timesteps)`` boolean tensor, True where a step is real. Inside a Sequential
model the plan hands it from these layers to the ones after them that use it (recurrent layers,
Bidirectional, TimeDistributed, GlobalAveragePooling1D); see ``models/plan.py``.
"""
from __future__ import annotations

import warnings

import numpy as np
import torch
import torch.nn.functional as F

from layerwise.backend import get_device
from layerwise.layers.base import Layer, Shape
from layerwise.layers.symbolic import KerasTensor
from layerwise.layers.weights import new_parameter, WeightView


def _as_tensor(x) -> torch.Tensor:
    """A tensor as it is; an array (Keras code calls ``compute_mask`` on numpy data) on the default device."""
    return x if isinstance(x, torch.Tensor) else torch.as_tensor(np.asarray(x), device=get_device())


class Embedding(Layer):
    """Token ids ``(batch, ...)`` -> vectors ``(batch, ..., output_dim)``; weight ``embeddings
    (input_dim, output_dim)`` in Keras' layout and PyTorch's alike. With ``mask_zero=True`` id 0 is
    padding: it is masked out downstream (so the vocabulary needs ``input_dim = largest id + 1``)."""
    takes_ids = True

    config_activity_regularizer = True
    # as Keras: the vectors are the layer's weights, saved with them; input_length is Keras 2's, dropped.
    # LoRA is refused below, and Keras writes lora_rank and lora_alpha only when set.
    config_omitted = ("weights", "input_length", "lora_rank", "lora_alpha")
    resolved_config = ("quantization_config",)  # written by ReversibleEmbedding too, as Keras

    def __init__(self, input_dim: int, output_dim: int, embeddings_initializer="uniform",
                 embeddings_regularizer=None, embeddings_constraint=None, mask_zero: bool = False, weights=None,
                 lora_rank: int | None = None, lora_alpha: float | None = None, quantization_config=None, **kwargs):
        if kwargs.pop("input_length", None) is not None:  # Keras 2 tutorials pass it; Keras 3 warns and drops it
            warnings.warn("Argument `input_length` is deprecated. Just remove it.", stacklevel=2)
        super().__init__(**kwargs)
        if lora_rank or lora_alpha is not None:
            raise ValueError("Embedding: LoRA (lora_rank, lora_alpha) is not supported by layerwise. Leave them "
                             "unset: train the full embeddings, or freeze them with trainable=False.")
        if quantization_config is not None:
            raise ValueError("Embedding: quantization (quantization_config) is not supported by layerwise.")
        self.quantization_config = None
        self.regularize_weights(embeddings=embeddings_regularizer)
        self.constrain_weights(embeddings=embeddings_constraint)
        for what, value in (("input_dim", input_dim), ("output_dim", output_dim)):
            if not isinstance(value, int) or value <= 0:
                raise ValueError(f"Embedding {what} must be a positive integer, got {value!r}.")
        self.input_dim, self.output_dim, self.mask_zero = input_dim, output_dim, mask_zero
        # Keras' "uniform" is RandomUniform(-0.05, 0.05).
        self.embeddings_initializer = ("random_uniform" if embeddings_initializer == "uniform"
                                       else embeddings_initializer)
        # As Keras: both follow mask_zero (without it, the layer neither makes a mask nor takes one in).
        self.produces_mask = self.supports_masking = mask_zero
        if weights is not None:  # pretrained vectors (input_dim, output_dim), or Keras 2's [matrix]
            self.build((None,))
            self.set_weights(weights if isinstance(weights, list) and len(weights) == 1 else [weights])

    def build(self, input_shape: Shape) -> None:
        self.embeddings = new_parameter(self.embeddings_initializer, (self.input_dim, self.output_dim))

    def check_input_shape(self, input_shape: Shape) -> None:
        """Ids of any shape, as in Keras: the weights do not depend on it (the last axis is often time)."""

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        return (*input_shape, self.output_dim)

    def compute_mask(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor | None:
        """``(batch, ...)`` ids (a tensor or an array) -> the boolean tensor ``ids != 0`` with ``mask_zero``."""
        if not self.mask_zero:
            return None
        return (x != 0) if isinstance(x, KerasTensor) else (_as_tensor(x) != 0)  # symbolic: Keras' NotEqual op

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        ids = x.long() if x.dtype != torch.long else x
        if ids.device.type != "cpu":
            # An id out of range is a device-side assert on a GPU: check first to name it.
            self._check_ids(ids)
        try:
            return F.embedding(ids, self.embeddings)
        except IndexError:
            self._check_ids(ids)
            raise

    def _check_ids(self, ids: torch.Tensor) -> None:
        if ids.numel() == 0:
            return
        low, high = (int(v) for v in torch.aminmax(ids))
        if low < 0:
            raise ValueError(f"Layer '{self.name}' (Embedding) received the negative token id {low}; ids are "
                             f"0..{self.input_dim - 1}. Padding is 0 (with mask_zero=True), not -1.")
        if high >= self.input_dim:
            raise ValueError(f"Layer '{self.name}' (Embedding) received token id {high} (largest id seen: "
                             f"{high}), but input_dim={self.input_dim} allows ids 0..{self.input_dim - 1}. "
                             f"Use Embedding(input_dim={max(high + 1, self.input_dim)}, ...) or map rare "
                             "tokens to an out-of-vocabulary id.")

    def weight_views(self) -> list[WeightView]:
        return [WeightView("embeddings", self.embeddings)] if self.built else []


class Masking(Layer):
    """Masks time steps whose features all equal ``mask_value``: ``(batch, timesteps, features)``
    in and out (masked steps are zeroed, as in Keras); on ``(batch, features)`` it masks whole rows."""

    produces_mask = True
    supports_masking = True
    min_ndim = 2

    def __init__(self, mask_value: float = 0.0, **kwargs):
        super().__init__(**kwargs)
        self.mask_value = mask_value

    def compute_mask(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """``(batch, timesteps, features)`` (a tensor or an array) -> ``(batch, timesteps)`` boolean tensor."""
        if isinstance(x, KerasTensor):  # Keras' two ops, NotEqual then Any, in a functional model's graph
            from layerwise import ops
            return ops.any(x != self.mask_value, axis=-1)
        return (_as_tensor(x) != self.mask_value).any(dim=-1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # A select, as Keras' ops.where: x * mask would give NaN at the steps masked by an infinite mask_value.
        return torch.where(self.compute_mask(x)[..., None], x, 0)


class ReversibleEmbedding(Embedding):
    """An Embedding that also projects back to the vocabulary: ``layer(ids)`` gives vectors ``(batch, ...,
    output_dim)``, ``layer(h, reverse=True)`` gives logits ``(batch, ..., input_dim)``, ``h @ embeddings.T``
    (weight tying, as in GPT), or ``h @ reverse_embeddings`` ``(output_dim, input_dim)`` when
    ``tie_weights=False``. ``logit_soft_cap`` squashes the logits to ``cap * tanh(logits / cap)``."""

    def __init__(self, input_dim: int, output_dim: int, tie_weights: bool = True, embeddings_initializer="uniform",
                 embeddings_regularizer=None, embeddings_constraint=None, mask_zero: bool = False,
                 reverse_dtype=None, logit_soft_cap: float | None = None, **kwargs):
        super().__init__(input_dim, output_dim, embeddings_initializer=embeddings_initializer,
                         embeddings_regularizer=embeddings_regularizer, embeddings_constraint=embeddings_constraint,
                         mask_zero=mask_zero, **kwargs)
        self.tie_weights, self.reverse_dtype, self.logit_soft_cap = tie_weights, reverse_dtype, logit_soft_cap

    def build(self, input_shape: Shape) -> None:
        self.embeddings = new_parameter(self.embeddings_initializer, (self.input_dim, self.output_dim))
        if not self.tie_weights:
            self.reverse_embeddings = new_parameter(self.embeddings_initializer, (self.output_dim, self.input_dim))

    def compute_output_shape(self, input_shape: Shape, reverse: bool = False) -> Shape:
        return (*input_shape[:-1], self.input_dim) if reverse else super().compute_output_shape(input_shape)

    def compute_mask(self, x: torch.Tensor, mask: torch.Tensor | None = None, reverse: bool = False):
        return None if reverse else super().compute_mask(x, mask)

    def forward(self, x: torch.Tensor, reverse: bool = False) -> torch.Tensor:
        if not reverse:
            return super().forward(x)
        if x.shape[-1] != self.output_dim:
            raise ValueError(self._shape_message(f"vectors of size {self.output_dim} to project back (reverse=True)",
                                                 tuple(x.shape)))
        kernel = self.embeddings.T if self.tie_weights else self.reverse_embeddings
        if self.reverse_dtype is not None:
            dtype = getattr(torch, str(self.reverse_dtype))
            x, kernel = x.to(dtype), kernel.to(dtype)
        logits = torch.matmul(x, kernel)
        if self.logit_soft_cap is not None:
            logits = torch.tanh(logits / self.logit_soft_cap) * self.logit_soft_cap
        return logits

    def weight_views(self) -> list[WeightView]:
        views = super().weight_views()
        if self.built and not self.tie_weights:
            views.append(WeightView("reverse_embeddings", self.reverse_embeddings))
        return views
