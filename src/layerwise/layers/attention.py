"""Attention layers as in Keras: Attention (Luong), AdditiveAttention (Bahdanau), MultiHeadAttention.

Inputs are ``query (batch, Tq, dim)``, ``value (batch, Tv, dim_v)`` and an optional ``key (batch, Tv,
dim)`` (the value when absent). Masks are ``(batch, T)`` booleans, True where a step is real: a value mask
keeps attention off padded steps; a query mask zeroes padded queries' outputs (Attention) or takes part
in the attention mask (MultiHeadAttention), and is the output's mask downstream.
``scaled_dot_product_attention`` runs wherever it computes what Keras computes (no scores asked for);
the explicit softmax gives the scores and Keras' other score functions.

In a functional model a call is recorded with the query as the layer's input and the value and key as
keyword tensors, so the query's mask (from ``Embedding(mask_zero=True)``) reaches the layer, and a value
(or key) that is the query itself, as in self-attention, shares it.
"""
from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from layerwise import initializers, regularizers
from layerwise.backend import unique_name
from layerwise.layers.base import Layer, Shape
from layerwise.layers.calling import takes_argument
from layerwise.layers.weights import new_parameter, WeightView
from layerwise.layers.symbolic import Node, is_symbolic

# What Keras adds to masked scores: its softmax path, and its fused path (0.7 x float32's largest value).
_MASKED_SCORE = -1e9
_MASKED_FUSED = -0.7 * 3.38953e38


def _as_tensor(value) -> torch.Tensor:
    return value if isinstance(value, torch.Tensor) else torch.as_tensor(value, dtype=torch.get_default_dtype())


class _AttentionCall(Layer):
    """How the attention layers are called: validation, building from all inputs' shapes, and the record
    of a symbolic call (an extra scores output when ``return_attention_scores=True``)."""

    takes_input_list = True

    def _invoke(self, query, value, key, kwargs: dict):
        shapes = [tuple(t.shape) for t in (query, value, key) if t is not None]
        symbolic = is_symbolic([query, value, key]) or is_symbolic(kwargs)
        if not symbolic:
            query, value, key = (None if t is None else _as_tensor(t) for t in (query, value, key))
        tensors = {"value": value, **({} if key is None else {"key": key})}
        if symbolic:
            out = self.build_from(shapes)
            outputs = [out, self.scores_shape(*shapes)] if kwargs.get("return_attention_scores") else [out]
            return Node(self, query, {**tensors, **kwargs}, outputs, len(outputs) > 1).returned()
        kwargs = {k: torch.as_tensor(v, device=query.device) if isinstance(v, np.ndarray) else v
                  for k, v in kwargs.items()}  # masks given as arrays
        for name, tensor in (("query", query), *tensors.items()):
            mask = getattr(tensor, "_keras_mask", None)  # as Keras: each tensor's own mask, unless one is given
            if mask is not None and takes_argument(type(self).forward, f"{name}_mask"):
                kwargs.setdefault(f"{name}_mask", mask)
        if shapes != getattr(self, "_checked_shapes", None):
            self.build_from(shapes, query.device)  # checks every input, builds from all of them once
            self._checked_shapes = shapes
        return super().__call__(query, **tensors, **kwargs)

    def _check_ranks(self, shapes: list[Shape]) -> None:
        names = ("query", "value", "key")
        if any(len(s) != len(shapes[0]) or len(s) < 3 for s in shapes):
            raise ValueError(f"Layer '{self.name}' ({type(self).__name__}) expected query, value and key of one rank, "
                             "at least 3 (batch, steps, features), but received shapes "
                             f"{dict(zip(names, shapes))}.")
        value, key = shapes[min(1, len(shapes) - 1)], shapes[-1]
        if any(a is not None and b is not None and a != b for a, b in zip(value[1:-1], key[1:-1])):
            raise ValueError(f"Layer '{self.name}' ({type(self).__name__}) expected a value and key with the same "
                             f"steps (all axes but the last), but received value {value} and key {key}.")

    def compute_mask(self, x: torch.Tensor, mask: torch.Tensor | None = None):
        """The query's mask is the output's."""
        if isinstance(mask, (list, tuple)):
            return mask[0]
        return mask


class Attention(_AttentionCall):
    """Dot-product (Luong) attention: ``softmax(scores) @ value`` with scores ``query @ key^T`` (times a
    learned scalar ``scale`` when ``use_scale``), or with ``score_mode="concat"``
    ``concat_score_weight * sum(tanh(scale * (query + key)))``. Called on ``[query, value]`` or ``[query,
    value, key]``; ``(batch, Tq, dim_v)`` out, and the scores ``(batch, Tq, Tv)`` when asked for."""

    input_ndim = 3
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

    def __call__(self, inputs, mask=None, value=None, key=None, **kwargs):
        if value is None:
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
            output = F.scaled_dot_product_attention(query, key, value, attn_mask=bias, dropout_p=dropout, scale=1.0)
            weights = None
        else:
            scores = self.scores(query, key)
            if score_mask is not None:
                scores = torch.where(score_mask, scores, scores + _MASKED_SCORE)
            weights = scores.softmax(-1)
            output = F.dropout(weights, dropout) @ value if dropout else weights @ value
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


class _HeadsCall(_AttentionCall):
    """How the multi-head layers (MultiHeadAttention, GroupedQueryAttention) take ``(query, value, key)``."""

    def __call__(self, query, value=None, key=None, mask=None, **kwargs):
        if value is None:
            raise ValueError(f"Layer '{self.name}' ({type(self).__name__}) needs a value: call it as "
                             "layer(query, value) or layer(query, value, key).")
        if mask is not None:  # a functional model's mask of the query, shared by a value or key that is the query
            kwargs.setdefault("query_mask", mask)
            for name, tensor in (("value_mask", value), ("key_mask", key)):
                if tensor is query:
                    kwargs.setdefault(name, mask)
        return self._invoke(query, value, key, kwargs)

    def _shapes(self, query_shape, value_shape=None, key_shape=None) -> list[Shape]:
        """The shapes of query, value and key (value's for a missing key, query's for a missing value)."""
        if isinstance(query_shape[0], (list, tuple)):
            query_shape, value_shape, key_shape = (*query_shape, None, None)[:3]
        value_shape = query_shape if value_shape is None else value_shape
        shapes = [tuple(query_shape), tuple(value_shape), tuple(value_shape if key_shape is None else key_shape)]
        self._check_ranks(shapes)
        return shapes

    def _query_shape(self, query_shape, value_shape=None, key_shape=None) -> Shape:
        """The query's shape, once each shape's features match what the layer was built for. Given the query's
        shape alone (as a functional model's call record has it), value and key are not checked."""
        only_query = value_shape is None and not isinstance(query_shape[0], (list, tuple))
        query, value, key = self._shapes(query_shape, value_shape, key_shape)
        if self.built:
            given = (query,) if only_query else (query, value, key)
            for what, built, shape in zip(("query", "value", "key"), self.built_dims, given):
                if shape[-1] != built:
                    raise ValueError(f"Layer '{self.name}' ({type(self).__name__}) was built for a {what} of "
                                     f"{built} features, but received {what} shape {shape}.")
        return query


class MultiHeadAttention(_HeadsCall):
    """Multi-head attention (Vaswani et al.): ``num_heads`` dot-product attentions over projections of the
    query, key (``key_dim`` each) and value (``value_dim``), joined by an output projection back to the
    query's features (or ``output_shape``). ``layer(query, value[, key])``; ``(batch, Tq, ...)`` out, and
    the scores ``(batch, num_heads, Tq, Tv)`` with ``return_attention_scores``. Inputs of higher rank
    attend over ``attention_axes`` (default: every axis but batch and features).
    Keras' weights: ``query/key/value`` kernels ``(dim, num_heads, key_dim)`` and biases ``(num_heads,
    key_dim)``, output kernel ``(num_heads, value_dim, *output_shape)`` and bias ``output_shape``."""

    config_omitted = ("flash_attention",)  # a run-time choice, not part of Keras' config
    resolved_config = ("value_dim",)

    supports_masking = True
    min_ndim = 3

    def __init__(self, num_heads: int, key_dim: int, value_dim: int | None = None, dropout: float = 0.0,
                 use_bias: bool = True, output_shape=None, attention_axes=None, sliding_window: int | None = None,
                 flash_attention: bool | None = None, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", kernel_regularizer=None, bias_regularizer=None,
                 activity_regularizer=None, kernel_constraint=None, bias_constraint=None, use_gate: bool = False,
                 seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        for what, value in (("num_heads", num_heads), ("key_dim", key_dim), ("value_dim", value_dim or key_dim),
                            ("sliding_window", sliding_window or 1)):
            if not isinstance(value, int) or value <= 0:
                raise ValueError(f"MultiHeadAttention {what} must be a positive integer, got {value!r}.")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"MultiHeadAttention dropout must be in [0, 1), got {dropout!r}.")
        if flash_attention and dropout > 0:
            raise ValueError("MultiHeadAttention: dropout is not supported with flash_attention=True; set dropout=0.")
        if use_gate:
            raise ValueError("MultiHeadAttention: use_gate=True is not supported by layerwise.")
        if isinstance(attention_axes, int):
            attention_axes = (attention_axes,)
        elif attention_axes is not None and not isinstance(attention_axes, (list, tuple)):
            raise ValueError(f"MultiHeadAttention attention_axes must be an int, list or tuple, "
                             f"got {attention_axes!r}.")
        self.num_heads, self.key_dim, self.value_dim = num_heads, key_dim, value_dim or key_dim
        self.dropout, self.use_bias, self.sliding_window = float(dropout), use_bias, sliding_window
        self.output_dims = (output_shape,) if isinstance(output_shape, int) else \
            (tuple(output_shape) if output_shape else None)
        self.attention_axes, self.flash_attention, self.seed = attention_axes, flash_attention, seed
        self.kernel_initializer, self.bias_initializer = kernel_initializer, bias_initializer
        # Keras gives the activity regularizer to the four projections, not to the layer's output.
        self.projection_regularizer = regularizers.get(activity_regularizer)
        names = ("query", "key", "value", "output")
        self.regularize_weights(**{f"{n}_kernel": kernel_regularizer for n in names},
                                **{f"{n}_bias": bias_regularizer for n in names})
        self.constrain_weights(**{f"{n}_kernel": kernel_constraint for n in names},
                               **{f"{n}_bias": bias_constraint for n in names})

    # ---- shapes and weights --------------------------------------------------------------------
    def _axes(self, rank: int) -> tuple[int, ...]:
        """The attention axes of inputs of ``rank``, counted from the batch axis (0)."""
        if self.attention_axes is None:
            return tuple(range(1, rank - 1))
        axes = tuple(a if a >= 0 else rank + a for a in self.attention_axes)
        if any(not 1 <= a <= rank - 2 for a in axes) or len(set(axes)) != len(axes):
            raise ValueError(f"Layer '{self.name}' (MultiHeadAttention) attention_axes {self.attention_axes} must "
                             f"name distinct axes of the inputs (rank {rank}) other than batch (0) and features "
                             f"(-1).")
        return tuple(sorted(axes))

    def build(self, query_shape, value_shape=None, key_shape=None) -> None:
        query, value, key = self._shapes(query_shape, value_shape, key_shape)
        self._axes(len(query))
        heads, out = self.num_heads, self.output_dims or (query[-1],)
        self.built_dims = (query[-1], value[-1], key[-1])
        specs = {"query": (query[-1], self.key_dim), "key": (key[-1], self.key_dim),
                 "value": (value[-1], self.value_dim)}
        self._views = []
        for name, (features, size) in specs.items():
            self._add_projection(name, (features, heads, size), (heads, size), 1)
        self._add_projection("output", (heads, self.value_dim, *out), tuple(out), 2)
        # Keras builds a Softmax and a Dropout layer inside, which take the next automatic names: the layers
        # made after this one are then named as in Keras (dropout_1...).
        unique_name("softmax"), unique_name("dropout")

    def _add_projection(self, name: str, kernel_shape: tuple, bias_shape: tuple, in_axes: int) -> None:
        """A kernel stored as F.linear takes it, ``(out, in)`` flattened, and its Keras view."""
        fan_in = math.prod(kernel_shape[:in_axes])

        def to_keras(t, shape=kernel_shape):
            return t.T.reshape(shape)

        def from_keras(t, fan_in=fan_in):
            return t.reshape(fan_in, -1).T

        # As Keras' EinsumDense: the fans count the input axes and the output axes of the kernel.
        initializer = initializers.for_einsum_kernel(self.kernel_initializer, range(in_axes),
                                                     range(in_axes, len(kernel_shape)))
        kernel = new_parameter(initializer, kernel_shape, from_keras)
        self.register_parameter(f"{name}_kernel", kernel)
        self._views.append(WeightView(f"{name}_kernel", kernel, to_keras=to_keras, from_keras=from_keras))
        bias = None
        if self.use_bias:
            bias = new_parameter(self.bias_initializer, bias_shape, lambda t: t.reshape(-1))
            self._views.append(WeightView(f"{name}_bias", bias, to_keras=lambda t, s=bias_shape: t.reshape(s),
                                          from_keras=lambda t: t.reshape(-1)))
        self.register_parameter(f"{name}_bias", bias)

    def weight_views(self) -> list[WeightView]:
        return list(self._views) if self.built else []

    def compute_output_shape(self, query_shape, value_shape=None, key_shape=None) -> Shape:
        """The query's shape with ``output_shape`` (or the query's features) last."""
        query = self._query_shape(query_shape, value_shape, key_shape)
        return (*query[:-1], *self.output_dims) if self.output_dims else query

    def scores_shape(self, query: Shape, value: Shape, key: Shape | None = None) -> Shape:
        axes = self._axes(len(query))
        other = [query[i] for i in range(1, len(query) - 1) if i not in axes]
        return (query[0], *other, self.num_heads, *(query[i] for i in axes), *(value[i] for i in axes))

    # ---- running ------------------------------------------------------------------------------
    def _heads(self, t: torch.Tensor, size: int, axes: tuple[int, ...]) -> torch.Tensor:
        """``(batch, *steps, heads * size)`` -> ``(batch, *other steps, heads, attended steps, size)``."""
        rank = t.dim()
        t = t.unflatten(-1, (self.num_heads, size))
        other = [i for i in range(1, rank - 1) if i not in axes]
        t = t.permute(0, *other, rank - 1, *axes, rank)
        return t.flatten(len(other) + 2, -2)

    def _attention_mask(self, query, value, query_mask, value_mask, key_mask, attention_mask, use_causal_mask):
        """Keras' combined boolean mask: ``(batch, Tq, Tv)`` for sequences (broadcastable), or None."""
        masks = [None if attention_mask is None else attention_mask.to(torch.bool)]
        masks += [None if query_mask is None else query_mask.to(torch.bool).unsqueeze(-1)]
        masks += [None if m is None else m.to(torch.bool).unsqueeze(-2) for m in (value_mask, key_mask)]
        if use_causal_mask or self.sliding_window is not None:
            # Over the first steps axis, as Keras: (1, Tq, Tv).
            rows = torch.arange(query.shape[1], device=query.device)[:, None]
            cols = torch.arange(value.shape[1], device=query.device)[None, :]
            if use_causal_mask:
                masks.append((rows >= cols)[None])
            if self.sliding_window is not None:
                masks.append(((rows - cols).abs() < self.sliding_window)[None])
        combined = None
        for mask in masks:
            if mask is not None:
                combined = mask if combined is None else combined & mask
        return combined

    def forward(self, query: torch.Tensor, value: torch.Tensor, key: torch.Tensor | None = None,
                query_mask=None, value_mask=None, key_mask=None, attention_mask=None,
                return_attention_scores: bool = False, use_causal_mask: bool = False):
        if self.flash_attention and return_attention_scores:
            raise ValueError(f"Layer '{self.name}' (MultiHeadAttention) cannot return attention scores with "
                             "flash_attention=True.")
        key = value if key is None else key
        axes = self._axes(query.dim())
        projected = [F.linear(t, getattr(self, f"{n}_kernel"), getattr(self, f"{n}_bias"))
                     for n, t in (("query", query), ("key", key), ("value", value))]
        q, k, v = (self._heads(t, size, axes) for t, size in zip(projected, (self.key_dim, self.key_dim,
                                                                            self.value_dim)))
        fused = self.dropout == 0 and not return_attention_scores and query.dim() == 3  # where Keras fuses
        causal_only = fused and use_causal_mask and self.sliding_window is None and all(
            m is None for m in (query_mask, value_mask, key_mask, attention_mask))
        mask = None if causal_only else self._attention_mask(query, value, query_mask, value_mask, key_mask,
                                                              attention_mask, use_causal_mask)
        scores_shape = self.scores_shape(tuple(query.shape), tuple(value.shape))
        if mask is not None:
            while mask.dim() < len(scores_shape):  # Keras' broadcasting over heads and other steps
                mask = mask.unsqueeze(-2 * len(axes) - 1)
            mask = mask.expand(scores_shape).reshape(q.shape[:-1] + k.shape[-2:-1])
        scale = 1.0 / math.sqrt(self.key_dim)
        weights = None
        if fused:
            bias = None if mask is None else torch.where(mask, 0.0, _MASKED_FUSED).to(q.dtype)
            out = F.scaled_dot_product_attention(q, k, v, attn_mask=bias, is_causal=causal_only, scale=scale)
        else:
            scores = (q * scale) @ k.transpose(-1, -2)
            if mask is not None:
                scores = torch.where(mask, scores, _MASKED_SCORE)
            weights = scores.softmax(-1)
            if mask is not None:
                weights = torch.where(mask, weights, 0.0)  # a query with nothing to attend to gets zeros
            dropped = F.dropout(weights, self.dropout) if self.dropout and self.training else weights
            out = dropped @ v
        out = self._merge_heads(out, query.shape, axes)
        output = F.linear(out, self.output_kernel, self.output_bias)
        if self.output_dims:
            output = output.unflatten(-1, self.output_dims)
        if self.projection_regularizer is not None:
            self.add_loss(sum(self.projection_regularizer(t) / t.shape[0] for t in (*projected, output)))
        if return_attention_scores:
            return output, weights.reshape(scores_shape)
        return output

    def _merge_heads(self, out: torch.Tensor, query_shape, axes: tuple[int, ...]) -> torch.Tensor:
        """``(batch, *other steps, heads, attended steps, value_dim)`` -> ``(batch, *steps, heads * value_dim)``."""
        rank = len(query_shape)
        other = [i for i in range(1, rank - 1) if i not in axes]
        out = out.unflatten(-2, tuple(query_shape[i] for i in axes))
        order = [0, *other, rank - 1, *axes, rank]  # the axes _heads moved, in the order it put them
        return out.permute(*(order.index(i) for i in range(rank + 1))).flatten(-2)
