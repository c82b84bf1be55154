"""Merge layers for functional models: Add, Subtract, Multiply, Average, Maximum, Minimum, Concatenate, Dot.

Each takes a list of tensors, ``[(batch, ...), (batch, ...)]``. The element-wise ones broadcast as
Keras does: a lower-rank input gains axes right after the batch axis, then sizes of 1 stretch.
The lower-case functions (``add([a, b])``) build the layer and call it, as in Keras.
"""
from __future__ import annotations

import functools
import math

import numpy as np
import torch
from torch.nn import functional as F

from layerwise.backend import float_dtype, get_device
from layerwise.dtype_policies.autocast import HALF, cast_floats, region
from layerwise.dtype_policies.dtype_policy import FLOAT_DTYPES
from layerwise.layers.base import Layer, Shape
from layerwise.layers.calling import attach_mask, mask_of
from layerwise.layers.symbolic import KerasTensor, is_symbolic, symbolic_call
from layerwise.ops.promotion import promote


_CAST = (*HALF, torch.float64)  # floating inputs a float32 merge casts to float32, as Keras' autocast


def _as_tensor(value) -> torch.Tensor:
    """An array given to a merge layer as a tensor, as Keras converts it: floating arrays in ``floatx``, integer and
    boolean ones keeping their dtype (int32 ids above 2**24 stay exact)."""
    array = np.asarray(value)
    return torch.as_tensor(array, dtype=float_dtype() if array.dtype.kind == "f" else None, device=get_device())


def _as_mask(mask, device: torch.device | None = None) -> torch.Tensor:
    """A mask (a tensor or an array) as a boolean tensor, on ``device`` when given (else a tensor's stays)."""
    return torch.as_tensor(mask, dtype=torch.bool, device=device)


class _Merge(Layer):
    """Base of the merge layers; subclasses define ``merge`` and may check the number of inputs."""

    n_inputs: int | None = None  # exact count when the operation needs one (Subtract: 2)

    def _check_list(self, shapes) -> list[Shape]:
        if not isinstance(shapes, (list, tuple)) or not all(isinstance(s, (list, tuple)) for s in shapes):
            raise ValueError(f"Layer '{self.name}' ({type(self).__name__}) merges a list of inputs, e.g. "
                             f"{type(self).__name__}()([a, b]); received one input of shape {tuple(shapes)}.")
        if self.n_inputs is not None and len(shapes) != self.n_inputs:
            raise ValueError(f"Layer '{self.name}' ({type(self).__name__}) takes exactly {self.n_inputs} inputs; "
                             f"received {len(shapes)} with shapes {[tuple(s) for s in shapes]}.")
        if not shapes:
            raise ValueError(f"Layer '{self.name}' ({type(self).__name__}) needs at least one input.")
        return [tuple(s) for s in shapes]

    def build_from(self, input_shape, device=None) -> Shape:
        shapes = self._check_list(input_shape)
        out = self.compute_output_shape(shapes)
        self.input_shape_built = [(None, *s[1:]) for s in shapes]  # Keras' build config: every input's shape
        self.built = True
        return out

    def compute_output_shape(self, input_shape: list[Shape]) -> Shape:
        """The broadcast shape, as Keras' merge layers find it: a known batch size wins over an unknown one, while
        on the other axes an unknown size makes the output's unknown (it may be 1 or the other size)."""
        rank = max(len(s) for s in input_shape)
        padded = [(s[0], *([1] * (rank - len(s))), *s[1:]) for s in input_shape]
        out = []
        for axis, sizes in enumerate(zip(*padded)):
            known = {d for d in sizes if d is not None and (d != 1 or axis == 0)}
            if len(known) > 1 and (axis == 0 or None not in sizes):
                raise ValueError(f"Layer '{self.name}' ({type(self).__name__}) cannot combine inputs of shapes "
                                 f"{list(input_shape)}: axis {axis} has sizes {sorted(known)}.")
            if axis > 0 and None in sizes:
                out.append(None)
            else:
                out.append(known.pop() if known else (None if None in sizes else 1))
        return tuple(out)

    def __call__(self, inputs, *args, **kwargs):
        if is_symbolic(inputs):
            return symbolic_call(self, inputs, kwargs)
        def shape(x):  # without copying a GPU tensor to the host
            return tuple(x.shape) if hasattr(x, "shape") else np.shape(x)

        self._check_list([shape(x) for x in inputs] if isinstance(inputs, (list, tuple)) else shape(inputs))
        tensors = [x if isinstance(x, torch.Tensor) else _as_tensor(x) for x in inputs]
        if not (self.built and (torch.compiler.is_compiling() or torch.compiler.is_exporting())):
            self.build_from([tuple(t.shape) for t in tensors])  # a trace's symbolic sizes are not compared
        kwargs.pop("training", None)  # accepted as Keras does; merging acts the same in both modes
        if self._plain_policy and region.dtype is None and not any(t.dtype in _CAST for t in tensors):
            out = torch.nn.Module.__call__(self, tensors, *args, **kwargs)
        else:  # as Keras: the inputs cast to the compute dtype (float32 + bfloat16 is bfloat16 when mixed)
            if self.compute_dtype in FLOAT_DTYPES:
                tensors = cast_floats(tensors, getattr(torch, self.compute_dtype))
            out = self._call_in_policy(functools.partial(torch.nn.Module.__call__, self), (tensors, *args), kwargs)
        self.record_activity(out)
        masks = mask_of(tensors)  # as Keras: masked inputs called on their own give a masked output
        if masks is not None:
            attach_mask(self, tensors, masks, out)
        return out

    def forward(self, inputs: list[torch.Tensor]) -> torch.Tensor:
        rank = max(x.ndim for x in inputs)
        expanded = []
        for x in inputs:
            while x.ndim < rank:
                x = x.unsqueeze(1)
            expanded.append(x)
        return self.merge(expanded)

    def merge(self, inputs: list[torch.Tensor]) -> torch.Tensor:
        raise NotImplementedError

    def compute_mask(self, inputs: list[torch.Tensor], masks: list | None) -> torch.Tensor | None:
        """Keras 3's rule: a step is real where it is real in any input; no mask unless every input has one. On
        symbolic masks it records Keras' ``LogicalOr`` operations."""
        from layerwise import ops

        if not masks or any(m is None for m in masks):
            return None
        symbolic = any(isinstance(m, KerasTensor) for m in masks)
        masks = [m if isinstance(m, KerasTensor) else _as_mask(m) for m in masks]
        return functools.reduce(ops.logical_or if symbolic else torch.logical_or, masks)


def _reduce_real_entries(op, inputs: list[torch.Tensor]) -> torch.Tensor:
    """``op`` folded over ``inputs``, where a masked entry (``_keras_mask``) takes the other operand's value, so
    padding never wins a maximum or minimum (Keras 3's Maximum and Minimum)."""
    output, output_mask = None, None
    for x in inputs:
        mask = getattr(x, "_keras_mask", None)
        if mask is not None:
            mask = mask[..., None].expand(x.shape)
        if output is None:
            output, output_mask = x, mask
            continue
        if mask is not None:
            x = torch.where(mask, x, output)
        if output_mask is not None:
            output = torch.where(output_mask, output, x)
        output_mask = output_mask | mask if mask is not None and output_mask is not None else None
        output = op(output, x)
    return output


class Add(_Merge):
    """Element-wise sum of the inputs."""

    def merge(self, inputs):
        return functools.reduce(torch.add, inputs)


class Subtract(_Merge):
    """``inputs[0] - inputs[1]``."""

    n_inputs = 2

    def merge(self, inputs):
        return inputs[0] - inputs[1]


class Multiply(_Merge):
    """Element-wise product of the inputs. As in Keras 3, a masked entry (``_keras_mask``) counts as 1, and when
    every input is masked, the steps no input keeps are 0."""

    def merge(self, inputs):
        masks = [getattr(x, "_keras_mask", None) for x in inputs]
        if all(m is None for m in masks):
            return functools.reduce(torch.mul, inputs)
        masks = [None if m is None else m[..., None].expand(x.shape) for x, m in zip(inputs, masks)]
        output = functools.reduce(torch.mul, [x if m is None else torch.where(m, x, torch.ones_like(x))
                                              for x, m in zip(inputs, masks)])
        if any(m is None for m in masks):
            return output
        return torch.where(functools.reduce(torch.logical_or, masks), output, torch.zeros_like(output))


class Average(_Merge):
    """Element-wise mean of the inputs."""

    def merge(self, inputs):
        return functools.reduce(torch.add, inputs) / len(inputs)


class Maximum(_Merge):
    """Element-wise maximum of the inputs."""

    def merge(self, inputs):
        return _reduce_real_entries(torch.maximum, inputs)


class Minimum(_Merge):
    """Element-wise minimum of the inputs."""

    def merge(self, inputs):
        return _reduce_real_entries(torch.minimum, inputs)


class Concatenate(_Merge):
    """Join the inputs along ``axis`` (default the last); every other axis must match."""

    def __init__(self, axis: int = -1, **kwargs):
        super().__init__(**kwargs)
        self.axis = axis

    def compute_output_shape(self, input_shape: list[Shape]) -> Shape:
        """The inputs' shape with the sizes along ``axis`` summed (the batch axis too, as in Keras)."""
        rank = len(input_shape[0])
        axis = self.axis % rank if -rank <= self.axis < rank else None
        if axis is None or any(len(s) != rank for s in input_shape):
            raise ValueError(f"Layer '{self.name}' (Concatenate) needs inputs of one rank and an axis among theirs; "
                             f"received axis={self.axis} and shapes {list(input_shape)}.")
        for i in range(rank):
            sizes = {s[i] for s in input_shape if s[i] is not None}
            if i != axis and len(sizes) > 1:
                raise ValueError(f"Layer '{self.name}' (Concatenate) requires inputs with matching shapes except "
                                 f"on the concatenation axis {self.axis}; received {list(input_shape)}.")
        sizes = [s[axis] for s in input_shape]
        joined = None if None in sizes else sum(sizes)
        return tuple(joined if i == axis else next((s[i] for s in input_shape if s[i] is not None), None)
                     for i in range(rank))

    def forward(self, inputs: list[torch.Tensor]) -> torch.Tensor:
        return torch.cat(inputs, dim=self.axis)

    def compute_mask(self, inputs: list[torch.Tensor], masks: list) -> torch.Tensor | None:
        """Keras' rule: masks (all-true where missing, a step's mask spread over its features) joined along
        ``axis``, then any over the last axis; on symbolic masks it records Keras' operations (``OnesLike``,
        ``ExpandDims``, ``ZerosLike``, ``LogicalOr``, ``Concatenate``, ``Any``)."""
        from layerwise import ops

        if not masks or all(m is None for m in masks):
            return None
        if not any(isinstance(t, KerasTensor) for t in (*inputs, *masks)):
            steps = _steps_mask(inputs, masks, self.axis)
            if steps is not None:
                return steps
        full = []
        for x, m in zip(inputs, masks):
            symbolic = isinstance(x, KerasTensor)
            x = x if symbolic or isinstance(x, torch.Tensor) else _as_tensor(x)  # arrays, as Keras takes them
            if m is None:
                full.append(ops.ones_like(x, dtype="bool"))
                continue
            m = m if isinstance(m, KerasTensor) else _as_mask(m, None if symbolic else x.device)
            if len(m.shape) < len(x.shape):  # Keras broadcasts the mask against zeros shaped as the input
                for _ in range(len(x.shape) - len(m.shape)):  # once in Keras, which cannot merge (b, t, h, w)
                    m = ops.expand_dims(m, -1)
                m = ops.logical_or(m, ops.zeros_like(x, dtype="bool"))
            full.append(m)
        return ops.any(ops.concatenate(full, axis=self.axis), axis=-1)


def _steps_mask(inputs: list, masks: list, axis: int) -> torch.Tensor | None:
    """Concatenate's mask at run time without spreading each mask over its input's features: where every mask
    covers all axes but the last (``(batch, steps)`` for ``(batch, steps, features)``), the any over the last axis
    gives each mask back, so joining along another axis joins the masks, and along the last one ORs them (a
    missing mask is all true). None for masks of other ranks, which take Keras' literal rule."""
    tensors = [x if isinstance(x, torch.Tensor) else _as_tensor(x) for x in inputs]
    rank = tensors[0].ndim
    if any(m is not None and len(m.shape) != rank - 1 for m in masks) or any(x.shape[-1] == 0 for x in tensors):
        return None
    steps = [torch.ones(x.shape[:-1], dtype=torch.bool, device=x.device) if m is None else _as_mask(m, x.device)
             for x, m in zip(tensors, masks)]
    if axis % rank == rank - 1:
        return functools.reduce(torch.logical_or, steps)
    return torch.cat(steps, dim=axis % rank)


class Dot(_Merge):
    """Dot product of two inputs along ``axes`` for each sample (Keras' ``batch_dot``).

    ``(batch, n) . (batch, n)`` with ``axes=1`` gives ``(batch, 1)``; ``(batch, t1, d) . (batch, t2, d)``
    with ``axes=2`` gives attention scores ``(batch, t1, t2)``. ``axes`` is one axis for both inputs or a
    pair; ``normalize=True`` first scales both to unit L2 norm along those axes (cosine similarity).
    """

    n_inputs = 2

    def __init__(self, axes, normalize: bool = False, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(axes, int) and not (isinstance(axes, (list, tuple)) and len(axes) == 2
                                              and all(isinstance(a, int) for a in axes)):
            raise ValueError(f"Dot(axes=...) takes an integer or a pair of integers; received axes={axes!r}.")
        self.axes = axes if isinstance(axes, int) else list(axes)
        self.normalize = normalize

    def _axes(self, ranks: list[int]) -> list[int]:
        axes = [self.axes] * 2 if isinstance(self.axes, int) else self.axes
        return [a % rank if a < 0 else a for a, rank in zip(axes, ranks)]

    def compute_output_shape(self, input_shape: list[Shape]) -> Shape:
        first, second = input_shape
        a0, a1 = self._axes([len(first), len(second)])
        if min(len(first), len(second)) < 2 or 0 in (a0, a1) or a0 >= len(first) or a1 >= len(second):
            raise ValueError(f"Layer '{self.name}' (Dot) needs two inputs of rank at least 2 and axes other than "
                             f"the batch axis; received axes={self.axes} and shapes {first}, {second}.")
        if first[a0] is not None and second[a1] is not None and first[a0] != second[a1]:
            raise ValueError(f"Layer '{self.name}' (Dot): incompatible input shapes: axis values {first[a0]} (at "
                             f"axis {a0}) != {second[a1]} (at axis {a1}). Full input shapes: {first}, {second}.")
        out = [*first[:a0], *first[a0 + 1:], *(d for i, d in enumerate(second) if i not in (0, a1))]
        return tuple(out) if len(out) > 1 else (out[0], 1)

    def forward(self, inputs: list[torch.Tensor]) -> torch.Tensor:
        x, y = inputs
        a0, a1 = self._axes([x.ndim, y.ndim])
        if self.normalize:
            x, y = F.normalize(x, dim=a0), F.normalize(y, dim=a1)
        x, y = torch.movedim(x, a0, -1), torch.movedim(y, a1, 1)  # (b, X..., d) and (b, d, Y...)
        batch, depth = x.shape[0], x.shape[-1]
        # As Keras' matmul: the result in Keras' promoted dtype (two int64 give int32, two int8 int32), integers
        # multiplied exactly on the CPU; booleans, and integers elsewhere, through floatx (torch has no such kernel)
        dtype = torch.int32 if x.dtype == y.dtype == torch.int8 else promote(x.dtype, y.dtype)
        exact = dtype.is_floating_point or (dtype != torch.bool and x.device.type == "cpu")
        compute = dtype if exact else float_dtype()
        # Sizes spelt out: -1 cannot be inferred for an empty batch
        out = torch.bmm(x.reshape(batch, math.prod(x.shape[1:-1]), depth).to(compute),
                        y.reshape(batch, depth, math.prod(y.shape[2:])).to(compute))
        out = out.reshape(batch, *x.shape[1:-1], *y.shape[2:]).to(dtype)
        return out if out.ndim > 1 else out.unsqueeze(1)

    def compute_mask(self, inputs: list[torch.Tensor], masks: list | None) -> None:
        return None  # Keras' Dot drops masks


def add(inputs, **kwargs):
    """``Add(**kwargs)(inputs)``."""
    return Add(**kwargs)(inputs)


def subtract(inputs, **kwargs):
    """``Subtract(**kwargs)(inputs)``."""
    return Subtract(**kwargs)(inputs)


def multiply(inputs, **kwargs):
    """``Multiply(**kwargs)(inputs)``."""
    return Multiply(**kwargs)(inputs)


def average(inputs, **kwargs):
    """``Average(**kwargs)(inputs)``."""
    return Average(**kwargs)(inputs)


def maximum(inputs, **kwargs):
    """``Maximum(**kwargs)(inputs)``."""
    return Maximum(**kwargs)(inputs)


def minimum(inputs, **kwargs):
    """``Minimum(**kwargs)(inputs)``."""
    return Minimum(**kwargs)(inputs)


def concatenate(inputs, axis: int = -1, **kwargs):
    """``Concatenate(axis=axis, **kwargs)(inputs)``."""
    return Concatenate(axis=axis, **kwargs)(inputs)


def dot(inputs, axes=-1, **kwargs):
    """``Dot(axes, **kwargs)(inputs)``."""
    return Dot(axes=axes, **kwargs)(inputs)
