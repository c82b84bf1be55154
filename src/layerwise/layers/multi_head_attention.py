"""Keras' MultiHeadAttention (Vaswani et al., 2017), called as ``layer(query, value[, key])`` (see
``attention_base.py`` for masks and how calls are recorded).

The four projections' weights are kept in the layout ``F.linear`` takes (one matrix product each on the hot
path); ``query_dense``, ``key_dense``, ``value_dense`` and ``output_dense`` show them as Keras' EinsumDense
layers, with Keras' equations and weight shapes, viewing the same storage.
"""
from __future__ import annotations

import math
import string

import torch
import torch.nn.functional as F

from layerwise import initializers, regularizers
from layerwise.backend import unique_name
from layerwise.config import is_flash_attention_enabled
from layerwise.layers.attention_base import _MASKED_FUSED, _MASKED_SCORE, _HeadsCall
from layerwise.layers.base import Shape
from layerwise.layers.einsum_dense import EinsumDense
from layerwise.layers.weights import WeightView, new_parameter
from layerwise.ops.nn_extra import fused_attention


def _projection_equation(free_dims: int, bound_dims: int, output_dims: int) -> tuple[str, str]:
    """Keras' ``_build_proj_equation``: the einsum equation of a projection that keeps ``free_dims`` leading axes
    (batch first), contracts the next ``bound_dims`` with the kernel and makes ``output_dims`` new ones; and its
    bias axes (the new ones)."""
    letters = string.ascii_lowercase
    free, bound = letters[:free_dims], letters[free_dims:free_dims + bound_dims]
    made = letters[free_dims + bound_dims:free_dims + bound_dims + output_dims]
    return f"{free}{bound},{bound}{made}->{free}{made}", made


def _check_size(what: str, value, optional: bool) -> None:
    """Keras' check of a size argument: a positive integer, or None where ``optional``."""
    if value is None and optional:
        return
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        expected = "None or a positive integer" if optional else "a positive integer"
        raise ValueError(f"MultiHeadAttention {what} must be {expected}, got {value!r}.")


class _ProjectionView(EinsumDense):
    """One of MultiHeadAttention's projections as Keras exposes it (``mha.query_dense``): an EinsumDense whose
    ``kernel`` and ``bias`` are views, in Keras' layout, of the attention layer's own weights. Calling it, reading
    its weights or ``set_weights`` reach those weights; it holds none of its own."""

    def __init__(self, owner: "MultiHeadAttention", prefix: str, name: str, input_shape: Shape, bound_dims: int,
                 made: tuple):
        free = len(input_shape) - bound_dims
        equation, bias_axes = _projection_equation(free, bound_dims, len(made))
        super().__init__(equation, output_shape=(*[None] * (free - 1), *made),
                         bias_axes=bias_axes if owner.use_bias else None, name=name, dtype=owner.dtype_policy)
        object.__setattr__(self, "_owner", owner)  # not a sublayer of its own: the weights are the owner's
        self._prefix = prefix
        self.built, self.input_shape_built = True, (None, *input_shape[1:])

    def _keras_view(self, weight: str) -> torch.Tensor | None:
        view = next((v for v in self._owner.weight_views() if v.name == f"{self._prefix}_{weight}"), None)
        return None if view is None else view.to_keras(view.tensor)

    @property
    def kernel(self) -> torch.Tensor:
        return self._keras_view("kernel")

    @kernel.setter
    def kernel(self, value) -> None:
        if value is not None:  # EinsumDense's constructor clears it; anything else would detach the view
            raise AttributeError(f"Layer '{self.name}' views MultiHeadAttention '{self._owner.name}''s kernel: "
                                 "assign its values with set_weights.")

    @property
    def bias(self) -> torch.Tensor | None:
        return self._keras_view("bias")

    @bias.setter
    def bias(self, value) -> None:
        if value is not None:
            raise AttributeError(f"Layer '{self.name}' views MultiHeadAttention '{self._owner.name}''s bias: "
                                 "assign its values with set_weights.")


class MultiHeadAttention(_HeadsCall):
    """Multi-head attention (Vaswani et al.): ``num_heads`` dot-product attentions over projections of the
    query, key (``key_dim`` each) and value (``value_dim``), joined by an output projection back to the
    query's features (or ``output_shape``). ``layer(query, value[, key])``; ``(batch, Tq, ...)`` out, and
    the scores ``(batch, num_heads, Tq, Tv)`` with ``return_attention_scores``. Inputs of higher rank
    attend over ``attention_axes`` (default: every axis but batch and features; resolved to a tuple of
    non-negative axes when built, as Keras resolves it).
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
        for what, value in (("num_heads", num_heads), ("key_dim", key_dim)):
            _check_size(what, value, optional=False)
        for what, value in (("value_dim", value_dim), ("sliding_window", sliding_window)):
            _check_size(what, value, optional=True)  # None: key_dim's size, no window
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"MultiHeadAttention dropout must be in [0, 1), got {dropout!r}.")
        if flash_attention and dropout > 0:
            raise ValueError("MultiHeadAttention: dropout is not supported with flash_attention=True; set dropout=0.")
        if isinstance(attention_axes, int):
            attention_axes = (attention_axes,)
        elif attention_axes is not None and not isinstance(attention_axes, (list, tuple)):
            raise ValueError(f"MultiHeadAttention attention_axes must be an int, list or tuple, "
                             f"got {attention_axes!r}.")
        self.num_heads, self.key_dim, self.value_dim = num_heads, key_dim, value_dim or key_dim
        self.dropout, self.use_bias, self.sliding_window = float(dropout), use_bias, sliding_window
        self.use_gate = bool(use_gate)  # a sigmoid gate from the query scales the attended values, as Keras
        self.output_dims = (output_shape,) if isinstance(output_shape, int) else \
            (tuple(output_shape) if output_shape else None)
        # Resolved once, as Keras does: the global setting (None or False) stands in for a falsy argument.
        self.attention_axes, self.seed = attention_axes, seed
        self.flash_attention = flash_attention or is_flash_attention_enabled()
        self.kernel_initializer, self.bias_initializer = kernel_initializer, bias_initializer
        # Keras gives the activity regularizer to the four projections, not to the layer's output.
        self.projection_regularizer = regularizers.get(activity_regularizer)
        names = ("query", "key", *(("gate",) if use_gate else ()), "value", "output")
        self.regularize_weights(**{f"{n}_kernel": kernel_regularizer for n in names},
                                **{f"{n}_bias": bias_regularizer for n in names})
        self.constrain_weights(**{f"{n}_kernel": kernel_constraint for n in names},
                               **{f"{n}_bias": bias_constraint for n in names})

    def get_config(self) -> dict:
        """Keras' forms: ``output_shape`` and ``attention_axes`` as tuples (``7`` as ``(7,)``), the axes resolved
        once built."""
        config = super().get_config()
        if self.output_dims:
            config["output_shape"] = self.output_dims
        if self.attention_axes is not None:
            config["attention_axes"] = tuple(self.attention_axes)
        return config

    # ---- Keras' sublayers ---------------------------------------------------------------------
    def _projection_view(self, prefix: str, name: str) -> _ProjectionView:
        """The ``prefix`` projection as an EinsumDense; an AttributeError before the layer is built, as in Keras."""
        query, value, key = self._built_shapes
        heads, out = self.num_heads, self.output_dims or (query[-1],)
        if prefix == "output":
            return _ProjectionView(self, prefix, name, (*query[:-1], heads, self.value_dim), 2, tuple(out))
        shape, size = {"query": (query, self.key_dim), "key": (key, self.key_dim),
                       "gate": (query, self.value_dim), "value": (value, self.value_dim)}[prefix]
        return _ProjectionView(self, prefix, name, shape, 1, (heads, size))

    @property
    def query_dense(self) -> EinsumDense:
        """Keras' query projection, an EinsumDense viewing this layer's query weights (a new view each time)."""
        return self._projection_view("query", "query")

    @property
    def key_dense(self) -> EinsumDense:
        """Keras' key projection (see ``query_dense``)."""
        return self._projection_view("key", "key")

    @property
    def value_dense(self) -> EinsumDense:
        """Keras' value projection (see ``query_dense``)."""
        return self._projection_view("value", "value")

    @property
    def output_dense(self) -> EinsumDense:
        """Keras' output projection, named ``attention_output`` (see ``query_dense``)."""
        return self._projection_view("output", "attention_output")

    # Keras' own code reaches them by these names too.
    _query_dense, _key_dense, _value_dense, _output_dense = query_dense, key_dense, value_dense, output_dense

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
        if self.attention_axes is None:  # Keras resolves them when it builds: (1,) for sequences
            self.attention_axes = tuple(range(1, len(query) - 1))
        else:
            self.attention_axes = tuple(a if a >= 0 else len(query) + a for a in self.attention_axes)
        heads, out = self.num_heads, self.output_dims or (query[-1],)
        self.built_dims = (query[-1], value[-1], key[-1])
        self._built_shapes = (query, value, key)
        specs = {"query": (query[-1], self.key_dim), "key": (key[-1], self.key_dim),  # Keras' order of weights
                 **({"gate": (query[-1], self.value_dim)} if self.use_gate else {}),
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
            out = fused_attention(q, k, v, bias, causal_only, scale, self.flash_attention,
                                  f"Layer '{self.name}' (MultiHeadAttention)")
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
        if self.use_gate:
            gate = torch.sigmoid(F.linear(query, self.gate_kernel, self.gate_bias))
            projected.append(gate)
            out = out * gate
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
