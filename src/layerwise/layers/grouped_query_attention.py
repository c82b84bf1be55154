"""Keras' GroupedQueryAttention (``GroupQueryAttention``; Ainslie et al., 2023): multi-head attention whose
``num_query_heads`` query heads share ``num_key_value_heads`` key and value heads, each key/value head serving
``num_query_heads // num_key_value_heads`` consecutive query heads (1 head: multi-query attention).

Inputs are ``query (batch, Tq, dim)``, ``value (batch, Tv, dim_v)`` and an optional ``key (batch, Tv, dim_k)``.
The projections are EinsumDense layers named as Keras names them (``query``, ``key``, ``gate``, ``value``,
``attention_output``), so weights come in Keras' order and shapes. Masks combine as in MultiHeadAttention.
``scaled_dot_product_attention`` (sharing the key/value heads with ``enable_gqa``) runs where Keras runs its
fused path (no dropout, no scores asked for), under ``flash_attention`` (when falsy, the global
``keras.config.disable_flash_attention()`` setting at construction) as in MultiHeadAttention; otherwise an
explicit softmax gives the scores, with Keras' zeros for a query that can attend to nothing.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from layerwise.backend import unique_name
from layerwise.config import is_flash_attention_enabled
from layerwise.layers.attention_base import _MASKED_FUSED, _MASKED_SCORE, _HeadsCall
from layerwise.layers.multi_head_attention import MultiHeadAttention
from layerwise.layers.base import LAYER_CLASSES, Shape
from layerwise.layers.einsum_dense import EinsumDense
from layerwise.ops.nn_extra import fused_attention


class GroupedQueryAttention(_HeadsCall):
    """``layer(query, value[, key])`` -> ``(batch, Tq, dim)``, and the scores ``(batch, num_query_heads, Tq,
    Tv)`` with ``return_attention_scores=True``. Weights: query kernel ``(dim, num_query_heads, head_dim)``,
    key and value kernels ``(dim, num_key_value_heads, head_dim)``, output kernel ``(num_query_heads, head_dim,
    dim)``, each followed by its bias when ``use_bias``; ``use_gate`` adds a sigmoid gate on the query."""

    supports_masking = True
    config_omitted = ("flash_attention",)  # a run-time choice, not part of Keras' config

    def __init__(self, head_dim: int, num_query_heads: int, num_key_value_heads: int, dropout: float = 0.0,
                 use_bias: bool = True, sliding_window: int | None = None, flash_attention: bool | None = None,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros", kernel_regularizer=None,
                 bias_regularizer=None, activity_regularizer=None, kernel_constraint=None, bias_constraint=None,
                 use_gate: bool = False, seed: int | None = None, **kwargs):
        super().__init__(activity_regularizer=activity_regularizer, **kwargs)
        for what, value in (("head_dim", head_dim), ("num_query_heads", num_query_heads),
                            ("num_key_value_heads", num_key_value_heads)):
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise ValueError(f"GroupedQueryAttention {what} must be a positive integer, got {value!r}.")
        if num_query_heads % num_key_value_heads != 0:
            raise ValueError(f"GroupedQueryAttention: num_query_heads ({num_query_heads}) must be divisible by "
                             f"num_key_value_heads ({num_key_value_heads}).")
        if sliding_window is not None and (not isinstance(sliding_window, int) or sliding_window <= 0):
            raise ValueError(f"GroupedQueryAttention sliding_window must be None or a positive integer, got "
                             f"{sliding_window!r}.")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"GroupedQueryAttention dropout must be in [0, 1), got {dropout!r}.")
        # Resolved once, as Keras does: the global setting (None or False) stands in for a falsy argument.
        flash_attention = flash_attention or is_flash_attention_enabled()
        if flash_attention and dropout > 0:
            raise ValueError("GroupedQueryAttention: dropout is not supported with flash_attention=True; set "
                             "dropout=0.")
        self.head_dim, self.num_query_heads, self.num_key_value_heads = head_dim, num_query_heads, num_key_value_heads
        self.num_repeats = num_query_heads // num_key_value_heads
        self.dropout, self.use_bias, self.use_gate = float(dropout), use_bias, use_gate
        self.sliding_window, self.flash_attention, self.seed = sliding_window, flash_attention, seed
        # What every projection takes; each gets its own initializer objects, as Keras clones them.
        self._projection_kwargs = dict(kernel_initializer=kernel_initializer, bias_initializer=bias_initializer,
                                       kernel_regularizer=kernel_regularizer, bias_regularizer=bias_regularizer,
                                       activity_regularizer=activity_regularizer,
                                       kernel_constraint=kernel_constraint, bias_constraint=bias_constraint)

    # ---- shapes and weights --------------------------------------------------------------------
    def _shapes(self, query_shape, value_shape=None, key_shape=None) -> list[Shape]:
        shapes = super()._shapes(query_shape, value_shape, key_shape)
        if len(shapes[0]) != 3:
            raise ValueError(f"Layer '{self.name}' (GroupedQueryAttention) expected query, value and key of rank 3 "
                             f"(batch, steps, features), but received shapes {shapes}.")
        return shapes

    def _projection(self, name: str, equation: str, output_shape: tuple, bias_axes: str,
                    activation=None) -> EinsumDense:
        return EinsumDense(equation, output_shape=output_shape, bias_axes=bias_axes if self.use_bias else None,
                           activation=activation, name=name, dtype=self.dtype_policy, **self._projection_kwargs)

    def build(self, query_shape, value_shape=None, key_shape=None) -> None:
        query, value, key = self._shapes(query_shape, value_shape, key_shape)
        self.built_dims = (query[-1], value[-1], key[-1])
        heads = (None, self.num_query_heads, self.head_dim)
        groups = (None, self.num_key_value_heads, self.head_dim)
        # Made in Keras' order, which is the order of the weights.
        self._query_dense = self._projection("query", "bqm,muh->bquh", heads, "uh")
        self._query_dense.build(query)
        self._key_dense = self._projection("key", "bkm,mvh->bkvh", groups, "vh")
        self._key_dense.build(key)
        if self.use_gate:
            self._gate_dense = self._projection("gate", "bqm,muh->bquh", heads, "uh", "sigmoid")
            self._gate_dense.build(query)
        self._value_dense = self._projection("value", "bkm,mvh->bkvh", groups, "vh")
        self._value_dense.build(value)
        self._output_dense = self._projection("attention_output", "bquh,uhm->bqm", (None, query[-1]), "m")
        self._output_dense.build((None, None, self.num_query_heads, self.head_dim))
        # Keras builds a Softmax and a Dropout layer here, which take the next automatic names: the layers
        # made after this one are then named as in Keras.
        unique_name("softmax"), unique_name("dropout")

    def compute_output_shape(self, query_shape, value_shape=None, key_shape=None) -> Shape:
        """The query's shape."""
        return self._query_shape(query_shape, value_shape, key_shape)

    def scores_shape(self, query: Shape, value: Shape, key: Shape | None = None) -> Shape:
        return (query[0], self.num_query_heads, query[1], (value if key is None else key)[1])

    # ---- running ------------------------------------------------------------------------------
    def _grouped(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """``a @ b`` for ``a`` over the query heads ``(batch, Hq, ...)`` and ``b`` over the key/value heads
        ``(batch, Hkv, ...)``: each key/value head serves its consecutive query heads, without copies."""
        out = a.unflatten(1, (self.num_key_value_heads, self.num_repeats)) @ b.unsqueeze(2)
        return out.flatten(1, 2)

    def forward(self, query: torch.Tensor, value: torch.Tensor, key: torch.Tensor | None = None,
                query_mask=None, value_mask=None, key_mask=None, attention_mask=None,
                return_attention_scores: bool = False, use_causal_mask: bool = False):
        if self.flash_attention and return_attention_scores:
            raise ValueError(f"Layer '{self.name}' (GroupedQueryAttention) cannot return attention scores with "
                             "flash_attention=True.")
        key = value if key is None else key
        fused = self.dropout == 0 and not return_attention_scores  # where Keras calls dot_product_attention
        causal_only = fused and use_causal_mask and self.sliding_window is None and all(
            m is None for m in (query_mask, value_mask, key_mask, attention_mask))
        # The same combined (batch, Tq, Tv) boolean mask as MultiHeadAttention's, then one head axis.
        mask = None if causal_only else MultiHeadAttention._attention_mask(
            self, query, value, query_mask, value_mask, key_mask, attention_mask, use_causal_mask)
        while mask is not None and mask.dim() < 4:  # Keras' broadcasting over the heads (and the batch)
            mask = mask.unsqueeze(-3)
        gate = self._gate_dense(query) if self.use_gate else None
        # (batch, steps, heads, head_dim) -> (batch, heads, steps, head_dim)
        q, k, v = (dense(t).transpose(1, 2) for dense, t in ((self._query_dense, query), (self._key_dense, key),
                                                             (self._value_dense, value)))
        scale = 1.0 / math.sqrt(float(self.head_dim))
        weights = None
        if fused:
            bias = None if mask is None else torch.where(mask, 0.0, _MASKED_FUSED).to(q.dtype)
            out = fused_attention(q, k, v, bias, causal_only, scale, self.flash_attention,
                                  f"Layer '{self.name}' (GroupedQueryAttention)", enable_gqa=self.num_repeats > 1)
        else:
            scores = self._grouped(q * scale, k.transpose(-1, -2))
            if mask is not None:
                scores = torch.where(mask, scores, _MASKED_SCORE)
            weights = scores.softmax(-1)
            if mask is not None:
                weights = torch.where(mask, weights, 0.0)  # a query with nothing to attend to gets zeros
            dropped = F.dropout(weights, self.dropout) if self.dropout and self.training else weights
            out = self._grouped(dropped, v)
        out = out.transpose(1, 2)
        output = self._output_dense(out * gate if gate is not None else out)
        return (output, weights) if return_attention_scores else output


GroupQueryAttention = GroupedQueryAttention  # the name Keras exports
LAYER_CLASSES["GroupQueryAttention"] = GroupedQueryAttention
