"""Attention layers as in Keras: Attention (Luong), AdditiveAttention (Bahdanau), and MultiHeadAttention
(``multi_head_attention.py``, exported here too).

Inputs are ``query (batch, ..., Tq, dim)``, ``value (batch, ..., Tv, dim_v)`` and an optional ``key (batch, ...,
Tv, dim)`` (the value when absent), of one rank, at least 3. Masks are booleans, True where a step is real: a
value mask ``(batch, ..., Tv)`` keeps attention off padded steps, a query mask ``(batch, ..., Tq)`` zeroes padded
queries' outputs and is the output's mask downstream (see ``attention_base.py`` for how calls are recorded).
``scaled_dot_product_attention`` runs wherever it computes what Keras computes (no scores asked for), off the
flash kernel after ``keras.config.disable_flash_attention()`` (read when the layer is made); the explicit
softmax gives the scores and Keras' other score functions.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from layerwise.config import is_flash_attention_enabled
from layerwise.layers.base import Shape
from layerwise.layers.attention_base import _MASKED_FUSED, _MASKED_SCORE, _AttentionCall, _HeadsCall  # noqa: F401
from layerwise.layers.multi_head_attention import MultiHeadAttention  # noqa: F401  (its home before the split)
from layerwise.ops.nn_extra import fused_attention


class Attention(_AttentionCall):
    """Dot-product (Luong) attention: ``softmax(scores) @ value`` with scores ``query @ key^T`` (times a
    learned scalar ``scale`` when ``use_scale``), or with ``score_mode="concat"``
    ``concat_score_weight * sum(tanh(scale * (query + key)))``. Called on ``[query, value]`` or ``[query,
    value, key]``; ``(batch, Tq, dim_v)`` out, and the scores ``(batch, Tq, Tv)`` when asked for (after dropout,
    as Keras returns them). Inputs of higher rank keep their extra axes, ``(batch, ..., Tq, dim_v)``."""

    min_ndim = 3
    supports_masking = True
    SCORE_MODES = ("dot", "concat")

    def __init__(self, use_scale: bool = False, score_mode: str = "dot", dropout: float = 0.0,
                 seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        if score_mode not in self.SCORE_MODES:
            raise ValueError(f"{type(self).__name__} score_mode must be one of {self.SCORE_MODES}, "
                             f"got {score_mode!r}.")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"{type(self).__name__} dropout must be in [0, 1), got {dropout!r}.")
        self.use_scale, self.score_mode, self.dropout, self.seed = use_scale, score_mode, float(dropout), seed
        self.scale = self.concat_score_weight = None
        # Keras computes these scores explicitly, never with the flash kernel: keep it off once disabled (None
        # lets PyTorch choose, False excludes it).
        self._flash_attention = is_flash_attention_enabled()

    def __call__(self, inputs, mask=None, value=None, key=None, **kwargs):
        listed = value is None  # called as Keras calls it, on [query, value(, key)]; else a model's replay
        if listed:
            if not isinstance(inputs, (list, tuple)) or len(inputs) not in (2, 3):
                raise ValueError(f"Layer '{self.name}' ({type(self).__name__}) must be called on a list [query, "
                                 f"value] or [query, value, key], got {type(inputs).__name__} {inputs!r:.80}.")
            query, value, key = (*inputs, None)[:3]
        else:
            query = inputs  # the form a functional model replays
        if isinstance(mask, (list, tuple)):
            if len(mask) not in (2, 3):
                raise ValueError(f"Layer '{self.name}' ({type(self).__name__}) takes mask=[query_mask, "
                                 f"value_mask], got a list of {len(mask)}.")
            kwargs.update(query_mask=mask[0], value_mask=mask[1])
        elif mask is not None and listed:  # Keras takes a list of masks only
            raise ValueError(f"Layer '{self.name}' ({type(self).__name__}) mask must be a list, namely "
                             f"[query_mask, value_mask]; received one {type(mask).__name__} of shape "
                             f"{tuple(getattr(mask, 'shape', ()))}.")
        elif mask is not None:  # a functional model's mask of the query (the value's comes as value_mask)
            kwargs.setdefault("query_mask", mask)
            if value is query:
                kwargs.setdefault("value_mask", mask)
        return self._invoke(query, value, key, kwargs)

    def build(self, input_shape) -> None:
        if self.use_scale:
            self.scale = self.add_weight(shape=(), initializer="ones", name="scale")
        if self.score_mode == "concat":
            self.concat_score_weight = self.add_weight(shape=(), initializer="ones", name="concat_score_weight")

    def compute_output_shape(self, input_shape):
        """``[query, value(, key)]`` shapes -> ``(batch, Tq, dim_v)``; one shape is the query's, with the
        value taken to be the query (self-attention)."""
        shapes = [tuple(s) for s in input_shape] if isinstance(input_shape[0], (list, tuple)) else [input_shape]
        self._check_ranks(shapes)
        query, value, key = shapes[0], shapes[min(1, len(shapes) - 1)], shapes[-1]
        if query[-1] is not None and key[-1] is not None and query[-1] != key[-1]:
            raise ValueError(f"Layer '{self.name}' ({type(self).__name__}) expected query and key with the same "
                             f"number of features (the key is the value when not given), but received query "
                             f"{query} and key {key}.")
        return (*query[:-1], value[-1])

    def scores_shape(self, query: Shape, value: Shape, key: Shape | None = None) -> Shape:
        return (*query[:-1], value[-2])

    def scores(self, query: torch.Tensor, key: torch.Tensor) -> torch.Tensor:
        """``(batch, Tq, Tv)`` scores before masking and softmax."""
        if self.score_mode == "dot":
            scores = query @ key.transpose(-1, -2)
            return scores * self.scale if self.scale is not None else scores
        summed = query.unsqueeze(-2) + key.unsqueeze(-3)
        if self.scale is not None:
            summed = self.scale * summed
        return self.concat_score_weight * torch.tanh(summed).sum(-1)

    def fused(self) -> bool:
        """Whether scaled_dot_product_attention computes this layer's scores exactly: a plain dot product."""
        return self.score_mode == "dot" and self.scale is None

    def forward(self, query: torch.Tensor, value: torch.Tensor, key: torch.Tensor | None = None,
                query_mask: torch.Tensor | None = None, value_mask: torch.Tensor | None = None,
                return_attention_scores: bool = False, use_causal_mask: bool = False):
        key = value if key is None else key
        score_mask = None if value_mask is None else value_mask.to(torch.bool).unsqueeze(-2)  # (batch, 1, Tv)
        if use_causal_mask:
            causal = torch.ones(query.shape[-2], key.shape[-2], dtype=torch.bool, device=query.device).tril()
            score_mask = causal if score_mask is None else score_mask & causal
        dropout = self.dropout if self.training else 0.0
        if self.fused() and not return_attention_scores:
            bias = None if score_mask is None else torch.where(score_mask, 0.0, _MASKED_SCORE).to(query.dtype)
            output = fused_attention(query, key, value, bias, False, 1.0, self._flash_attention,
                                     f"Layer '{self.name}' ({type(self).__name__})", dropout_p=dropout)
            weights = None
        else:
            scores = self.scores(query, key)
            if score_mask is not None:
                scores = torch.where(score_mask, scores, scores + _MASKED_SCORE)
            weights = scores.softmax(-1)
            if dropout:  # the scores returned are the weights after dropout, as Keras returns them
                weights = F.dropout(weights, dropout)
            output = weights @ value
        if query_mask is not None:
            output = torch.where(query_mask.to(torch.bool).unsqueeze(-1), output, 0.0)
        return (output, weights) if return_attention_scores else output


class AdditiveAttention(Attention):
    """Additive (Bahdanau) attention: scores ``sum(scale * tanh(query + key))`` with a learned ``scale``
    ``(dim,)`` when ``use_scale`` (the default). Called and masked as Attention."""

    def __init__(self, use_scale: bool = True, dropout: float = 0.0, seed: int | None = None, **kwargs):
        super().__init__(use_scale=use_scale, dropout=dropout, seed=seed, **kwargs)

    def build(self, input_shape) -> None:
        query = input_shape[0] if isinstance(input_shape[0], (list, tuple)) else input_shape
        if self.use_scale:
            self.scale = self.add_weight(shape=(query[-1],), initializer="glorot_uniform", name="scale")

    def compute_output_shape(self, input_shape):
        out = super().compute_output_shape(input_shape)
        query = input_shape[0] if isinstance(input_shape[0], (list, tuple)) else input_shape
        if self.scale is not None and query[-1] != self.scale.shape[0]:
            raise ValueError(f"Layer '{self.name}' (AdditiveAttention) was built for queries of "
                             f"{self.scale.shape[0]} features, but received query shape {tuple(query)}.")
        return out

    def scores(self, query: torch.Tensor, key: torch.Tensor) -> torch.Tensor:
        summed = torch.tanh(query.unsqueeze(-2) + key.unsqueeze(-3))
        return (summed * self.scale).sum(-1) if self.scale is not None else summed.sum(-1)

    def fused(self) -> bool:
        return False
