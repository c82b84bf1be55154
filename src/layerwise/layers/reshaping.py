"""Layers that change shape only: Flatten, Reshape, Permute, UpSampling1D/2D/3D, RepeatVector,
ZeroPadding1D/2D/3D and Cropping1D/2D/3D; and Identity, which changes nothing."""
from __future__ import annotations

import math

import torch

from layerwise.layers.base import Layer, Shape
from layerwise.layers._padding import DataFormat, as_tuple, is_integer
from layerwise.ops import image as image_ops


class Identity(Layer):
    """Returns its input as it is (any shape): a placeholder where a model expects a layer."""

    supports_masking = True  # a mask passes through unchanged, as in Keras

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


class Flatten(DataFormat, Layer):
    """``(batch, d1, d2, ...) -> (batch, d1*d2*...)`` in Keras' channels-last order: a channels-first input
    ``(batch, channels, *spatial)`` is flattened as its channels-last view, as Keras does, so that the Dense
    after it sees the same order in either data format."""

    def __init__(self, data_format: str | None = None, **kwargs):
        super().__init__(**kwargs)
        self.set_data_format(data_format)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.data_format == "channels_first" and x.ndim > 2:
            x = x.movedim(1, -1)
        # the size, not -1: reshape cannot infer -1 in an empty batch
        return x.reshape(x.shape[0], math.prod(x.shape[1:]))

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        rest = input_shape[1:]
        return (input_shape[0], None if None in rest else math.prod(rest))


def _target_shape(target_shape) -> tuple[int, ...]:
    """Reshape's ``target_shape`` as Python ints (integral floats such as ``2.0`` too); a ValueError unless each
    size is >= 0, but for at most one -1 (the size inferred from the input's), as Keras checks."""
    try:
        sizes = tuple(target_shape)
    except TypeError:
        raise ValueError(f"Reshape target_shape must be a tuple of ints, got {target_shape!r}.") from None
    if not all(is_integer(d) or (isinstance(d, float) and d.is_integer()) for d in sizes):
        raise ValueError(f"Reshape target_shape must hold integers, got target_shape={target_shape!r}.")
    sizes = tuple(int(d) for d in sizes)
    if any(d < -1 for d in sizes):
        raise ValueError("Reshape: each dimension in `target_shape` must be a non-negative integer, or `-1` for a "
                         f"single unknown dimension. Received: target_shape={target_shape!r}.")
    if sizes.count(-1) > 1:
        raise ValueError("Reshape: there must be at most one unknown dimension (-1) in `target_shape`. Received: "
                         f"target_shape={target_shape!r}.")
    return sizes


class Reshape(Layer):
    """``(batch, ...) -> (batch, *target_shape)``; one entry of ``target_shape`` may be -1, the size that keeps
    the number of values."""

    resolved_config = ("target_shape",)

    def __init__(self, target_shape: Shape, **kwargs):
        super().__init__(**kwargs)
        self.target_shape = _target_shape(target_shape)
        self._unknown = self.target_shape.index(-1) if -1 in self.target_shape else None
        self._known = math.prod(d for d in self.target_shape if d != -1)  # values per sample the others hold

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        rest = input_shape[1:]
        if None in rest:
            return (input_shape[0], *(None if d == -1 else d for d in self.target_shape))
        size = math.prod(rest)
        if self._unknown is not None:
            if self._known == 0 or size % self._known:
                raise ValueError(self._shape_message(
                    f"a number of values per sample divisible by {self._known} to reshape to {self.target_shape}",
                    input_shape))
            return (input_shape[0], *(size // self._known if d == -1 else d for d in self.target_shape))
        if size != self._known:
            raise ValueError(self._shape_message(
                f"{self._known} values per sample to reshape to {self.target_shape}", input_shape))
        return (input_shape[0], *self.target_shape)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shape = self.target_shape
        if self._unknown is not None:  # resolved here: reshape cannot infer -1 in an empty batch
            shape = list(shape)
            shape[self._unknown] = math.prod(x.shape[1:]) // self._known
        return x.reshape(x.shape[0], *shape)


class Permute(Layer):
    """Reorders the non-batch axes: ``dims`` is a permutation of 1..rank-1, e.g. ``(2, 1)`` swaps
    ``(batch, steps, features)`` into ``(batch, features, steps)``."""

    resolved_config = ("dims",)

    def __init__(self, dims, **kwargs):
        super().__init__(**kwargs)
        self.dims = tuple(int(d) for d in dims)
        if sorted(self.dims) != list(range(1, len(self.dims) + 1)):
            raise ValueError(f"Permute dims must be a permutation of 1..{len(self.dims)}, got {dims!r}.")
        self.input_ndim = len(self.dims) + 1

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        return (input_shape[0], *(input_shape[d] for d in self.dims))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.permute(0, *self.dims)


class UpSampling1D(Layer):
    """Repeats each step ``size`` times: ``(batch, steps, features) -> (batch, steps * size, features)``."""

    input_ndim = 3

    def __init__(self, size: int = 2, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(size, int) or size <= 0:
            raise ValueError(f"UpSampling1D size must be a positive integer, got {size!r}.")
        self.size = size

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        n, steps, c = input_shape
        return (n, None if steps is None else steps * self.size, c)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.repeat_interleave(self.size, dim=1)


class UpSampling2D(DataFormat, Layer):
    """Enlarges images: ``(batch, h, w, c) -> (batch, h*sh, w*sw, c)`` (channels first alike). 'nearest' repeats
    rows and columns; 'bilinear' and 'bicubic' resize as ``layerwise.ops.image.resize`` (Keras' ops.image.resize),
    integer images keeping their dtype."""

    input_ndim = 4
    resolved_config = ("size", "interpolation")
    INTERPOLATIONS = ("nearest", "bilinear", "bicubic")  # those Keras' torch backend resizes with

    def __init__(self, size=(2, 2), data_format: str | None = None, interpolation: str = "nearest", **kwargs):
        super().__init__(**kwargs)
        self.set_data_format(data_format)
        mode = interpolation.lower() if isinstance(interpolation, str) else interpolation
        if mode not in self.INTERPOLATIONS:
            lanczos = " (Lanczos is not supported on PyTorch, as in Keras' torch backend)" \
                if str(mode).startswith("lanczos") else ""
            raise ValueError(f"UpSampling2D interpolation must be one of {', '.join(map(repr, self.INTERPOLATIONS))}"
                             f"{lanczos}, got {interpolation!r}.")
        self.size = as_tuple(size, 2, "UpSampling2D size")
        self.interpolation = mode

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        spatial = (None if d is None else d * s for d, s in zip(self.spatial_shape(input_shape), self.size))
        return self.shape_from(input_shape[0], spatial, input_shape[self.channel_axis])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.interpolation == "nearest":
            first = 2 if self.data_format == "channels_first" else 1
            return x.repeat_interleave(self.size[0], dim=first).repeat_interleave(self.size[1], dim=first + 1)
        height, width = self.spatial_shape(x.shape)
        return image_ops.resize(x, (height * self.size[0], width * self.size[1]), self.interpolation,
                                data_format=self.data_format)


class UpSampling3D(DataFormat, Layer):
    """Repeats each voxel along depth, height and width: ``(batch, d, h, w, c) -> (batch, d*sd, h*sh, w*sw, c)``
    (channels first alike)."""

    input_ndim = 5
    resolved_config = ("size",)

    def __init__(self, size=(2, 2, 2), data_format: str | None = None, **kwargs):
        super().__init__(**kwargs)
        self.set_data_format(data_format)
        self.size = as_tuple(size, 3, "UpSampling3D size")

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        spatial = (None if d is None else d * s for d, s in zip(self.spatial_shape(input_shape), self.size))
        return self.shape_from(input_shape[0], spatial, input_shape[self.channel_axis])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        first = 2 if self.data_format == "channels_first" else 1
        for axis, size in enumerate(self.size, start=first):
            if size > 1:
                x = x.repeat_interleave(size, dim=axis)
        return x


class RepeatVector(Layer):
    """Repeats each input vector ``n`` times: ``(batch, features) -> (batch, n, features)``, e.g. to feed
    an encoder's summary to every step of a decoder."""

    input_ndim = 2

    def __init__(self, n: int, **kwargs):
        super().__init__(**kwargs)
        # As Keras: a TypeError for anything but a Python int (a bool, a float, a numpy integer).
        if not isinstance(n, int) or isinstance(n, bool):
            raise TypeError(f"RepeatVector n must be a Python int, got {n!r} of type {type(n).__name__}; "
                            "pass int(n).")
        if n <= 0:
            raise ValueError(f"RepeatVector n must be a positive integer, got {n!r}.")
        self.n = n

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        return (input_shape[0], self.n, input_shape[1])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.unsqueeze(1).expand(-1, self.n, -1)  # a view: no copy until a layer needs one


def _edge_pairs(padding, rank: int, layer: str, name: str) -> tuple[tuple[int, int], ...]:
    """Keras' padding and cropping forms: ``p``, ``(p_axis1, ...)`` or ``((before, after), ...)`` -> one
    pair per spatial axis."""
    if isinstance(padding, int):
        pairs = ((padding, padding),) * rank
    elif rank == 1:
        pairs = (tuple(padding),)
    else:
        pairs = tuple((p, p) if isinstance(p, int) else tuple(p) for p in padding)
    if len(pairs) != rank or not all(len(p) == 2 and all(isinstance(v, int) and v >= 0 for v in p) for p in pairs):
        raise ValueError(f"{layer} {name} must be a non-negative int, a tuple of {rank} of them, or "
                         f"{rank} (before, after) pairs, got {padding!r}.")
    return pairs


class _ZeroPadding(DataFormat, Layer):
    rank: int  # spatial axes, set by each subclass

    def __init__(self, padding=1, data_format: str | None = None, **kwargs):
        super().__init__(**kwargs)
        self.set_data_format(data_format)
        self.padding = _edge_pairs(padding, self.rank, type(self).__name__, "padding")
        # F.pad lists pairs from the last axis backwards; channels last get none, channels first sit before them.
        spatial_pad = tuple(v for pair in reversed(self.padding) for v in pair)
        self._torch_pad = spatial_pad if self.data_format == "channels_first" else (0, 0) + spatial_pad

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        spatial = [None if d is None else d + a + b for d, (a, b) in zip(self.spatial_shape(input_shape),
                                                                         self.padding)]
        return self.shape_from(input_shape[0], spatial, input_shape[self.channel_axis])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.pad(x, self._torch_pad)

    def get_config(self) -> dict:
        return {**super().get_config(), "padding": self.padding[0] if self.rank == 1 else self.padding}


class ZeroPadding1D(_ZeroPadding):
    """Zeros before and after the steps: ``(batch, steps, channels) -> (batch, steps + a + b, channels)``;
    ``padding`` is ``p`` or ``(a, b)``."""

    input_ndim = 3
    rank = 1


class ZeroPadding2D(_ZeroPadding):
    """Zero rows and columns around images: ``(batch, h, w, c) -> (batch, h + top + bottom, w + left + right,
    c)``; ``padding`` is ``p``, ``(p_rows, p_cols)`` or ``((top, bottom), (left, right))``."""

    input_ndim = 4
    rank = 2


class ZeroPadding3D(_ZeroPadding):
    """Zeros around volumes: ``(batch, d, h, w, c) -> (batch, d + a + b, h + ..., w + ..., c)``; ``padding`` is
    ``p``, ``(p_d, p_h, p_w)`` or three (before, after) pairs."""

    input_ndim = 5
    rank = 3


class _Cropping(DataFormat, Layer):
    rank: int  # spatial axes, set by each subclass

    def __init__(self, cropping=1, data_format: str | None = None, **kwargs):
        super().__init__(**kwargs)
        self.set_data_format(data_format)
        self.cropping = _edge_pairs(cropping, self.rank, type(self).__name__, "cropping")

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        spatial = []
        for d, (a, b) in zip(self.spatial_shape(input_shape), self.cropping, strict=True):
            if d is not None and d - a - b <= 0:
                raise ValueError(self._shape_message(f"more than {a + b} positions to crop {self.cropping}",
                                                     input_shape))
            spatial.append(None if d is None else d - a - b)
        return self.shape_from(input_shape[0], spatial, input_shape[self.channel_axis])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        first = 2 if self.data_format == "channels_first" else 1
        index = tuple(slice(a, x.shape[axis] - b) for axis, (a, b) in enumerate(self.cropping, start=first))
        return x[(slice(None),) * first + index]

    def get_config(self) -> dict:
        return {**super().get_config(), "cropping": self.cropping[0] if self.rank == 1 else self.cropping}


class Cropping1D(_Cropping):
    """Drops steps at both ends: ``(batch, steps, channels) -> (batch, steps - a - b, channels)``;
    ``cropping`` is ``p`` or ``(a, b)``. Keras' Cropping1D has no ``data_format``: steps are always axis 1."""

    input_ndim = 3
    rank = 1

    def __init__(self, cropping=(1, 1), **kwargs):
        super().__init__(cropping, "channels_last", **kwargs)
        self._config.pop("data_format")


class Cropping2D(_Cropping):
    """Drops rows and columns at the edges: ``(batch, h, w, c) -> (batch, h - top - bottom, w - left - right,
    c)``; ``cropping`` is ``p``, ``(p_rows, p_cols)`` or ``((top, bottom), (left, right))``; none by default,
    as in Keras."""

    input_ndim = 4
    rank = 2

    def __init__(self, cropping=((0, 0), (0, 0)), data_format: str | None = None, **kwargs):
        super().__init__(cropping, data_format, **kwargs)


class Cropping3D(_Cropping):
    """Drops positions at the edges of volumes: ``(batch, d, h, w, c) -> (batch, d - a - b, h - ..., w - ..., c)``;
    ``cropping`` is ``p``, ``(p_d, p_h, p_w)`` or three (before, after) pairs."""

    input_ndim = 5
    rank = 3
