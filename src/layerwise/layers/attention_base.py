"""How the attention layers are called (``attention.py``: Attention, AdditiveAttention; ``multi_head_attention.py``;
``grouped_query_attention.py``).

Inputs are ``query (batch, Tq, dim)``, ``value (batch, Tv, dim_v)`` and an optional ``key (batch, Tv,
dim)`` (the value when absent). Masks are ``(batch, T)`` booleans, True where a step is real: a value mask
keeps attention off padded steps; a query mask zeroes padded queries' outputs (Attention) or takes part
in the attention mask (MultiHeadAttention), and is the output's mask downstream.

In a functional model a call is recorded with the query as the layer's input and the value and key as
keyword tensors, so the query's mask (from ``Embedding(mask_zero=True)``) reaches the layer, and a value
(or key) that is the query itself, as in self-attention, shares it. With ``return_attention_scores=True`` the
call returns the tuple ``(output, scores)``, symbolic or not, as Keras does.
"""
from __future__ import annotations

import numpy as np
import torch

from layerwise.layers.base import Layer, Shape
from layerwise.layers.calling import takes_argument
from layerwise.layers.symbolic import Node, attach_symbolic_masks, is_symbolic

# What Keras adds to masked scores: its softmax path, and its fused path (0.7 x float32's largest value).
_MASKED_SCORE = -1e9
_MASKED_FUSED = -0.7 * 3.38953e38


def _as_tensor(value) -> torch.Tensor:
    return value if isinstance(value, torch.Tensor) else torch.as_tensor(value, dtype=torch.get_default_dtype())


class _AttentionCall(Layer):
    """How the attention layers are called: validation, building from all inputs' shapes, and the record
    of a symbolic call (an extra scores output when ``return_attention_scores=True``)."""

    takes_input_list = True

    def _invoke(self, query, value, key, kwargs: dict, positional: int = 1):
        """Check, build and call on (query, value, key); ``positional``: how many of them the call gave by
        position, which a symbolic call records (``mha(x, y)``: value among its positional arguments, as Keras)."""
        shapes = [tuple(t.shape) for t in (query, value, key) if t is not None]
        symbolic = is_symbolic([query, value, key]) or is_symbolic(kwargs)
        if not symbolic:
            query, value, key = (None if t is None else _as_tensor(t) for t in (query, value, key))
        tensors = {"value": value, **({} if key is None else {"key": key})}
        if symbolic:
            out = self.build_from(shapes)
            outputs = [out, self.scores_shape(*shapes)] if kwargs.get("return_attention_scores") else [out]
            by_position = [name for name in ("value", "key")[:max(positional - 1, 0)] if name in tensors]
            node = Node(self, query, {**{k: t for k, t in tensors.items() if k not in by_position}, **kwargs},
                        outputs, len(outputs) > 1, more_args=tuple(tensors[k] for k in by_position),
                        container=tuple, first_keyword="query" if positional == 0 else None)
            attach_symbolic_masks(node)
            return node.returned()  # (output, scores), as Keras returns them
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
        """The query's mask is the output's (converted to a tensor, an operation in a functional graph, as Keras'
        Attention and AdditiveAttention do)."""
        from layerwise import ops

        query_mask = mask[0] if isinstance(mask, (list, tuple)) else mask
        return None if query_mask is None else ops.convert_to_tensor(query_mask)


class _HeadsCall(_AttentionCall):
    """How the multi-head layers (MultiHeadAttention, GroupedQueryAttention) take ``(query, value, key)``."""

    def __call__(self, *args, mask=None, **kwargs):
        names = ("query", "value", "key")  # by position or by name, as Keras takes them
        if len(args) > 3 or any(name in kwargs for name in names[:len(args)]):
            raise TypeError(f"Layer '{self.name}' ({type(self).__name__}) takes query, value and key once each, by "
                            f"position or by name; received {len(args)} positional arguments and "
                            f"{sorted(set(kwargs) & set(names))} by name.")
        query, value, key = (*args, *(kwargs.pop(name, None) for name in names[len(args):]))
        if query is None or value is None:
            raise ValueError(f"Layer '{self.name}' ({type(self).__name__}) needs a value: call it as "
                             "layer(query, value) or layer(query, value, key).")
        if mask is not None:  # a functional model's mask of the query, shared by a value or key that is the query
            kwargs.setdefault("query_mask", mask)
            for name, tensor in (("value_mask", value), ("key_mask", key)):
                if tensor is query:
                    kwargs.setdefault(name, mask)
        return self._invoke(query, value, key, kwargs, positional=len(args))

    def compute_mask(self, x: torch.Tensor, mask: torch.Tensor | None = None):
        """The query's mask, as it is (Keras' MultiHeadAttention passes it on without an operation)."""
        return mask[0] if isinstance(mask, (list, tuple)) else mask

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
