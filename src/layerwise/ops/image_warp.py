"""Keras' resampling image ops (exported by ``layerwise.ops.image``): ``affine_transform``,
``perspective_transform``, ``elastic_transform``, ``map_coordinates`` and ``scale_and_translate``; and the
image-argument helpers of ``ops/image.py``.

Positions follow Keras: pixel centres at integer coordinates, ``(x, y)`` = (column, row). Reads from outside
the image follow ``fill_mode``: 'constant' (``fill_value``), 'nearest' (the edge pixel), 'wrap' (periodic),
'mirror' (``c d c b | a b c d``) or 'reflect' (``d c b a | a b c d``). The 2-D warps sample with the
augmentation layers' kernels (``grid_sample``); ``map_coordinates`` gathers the taps itself, for any rank.
"""
from __future__ import annotations

import itertools
import math
from typing import Callable

import torch

from layerwise import random
from layerwise.backend import float_dtype, image_data_format
from layerwise.layers.augmentation import affine_transform as affine
from layerwise.layers.augmentation_base import FILL_MODES, INTERPOLATIONS
from layerwise.layers.augmentation_warps import elastic_warp, warp_perspective
from layerwise.layers.operations import operation
from layerwise.ops.core import to_tensor, to_tensors


def channels_first(data_format, op: str) -> bool:
    """Whether ``data_format`` (None: the global ``image_data_format()``) puts the channels before the image
    axes."""
    if data_format not in (None, "channels_last", "channels_first"):
        raise ValueError(f"ops.image.{op}: data_format must be 'channels_last' or 'channels_first'; received "
                         f"{data_format!r}.")
    return (data_format or image_data_format()) == "channels_first"


def image_tensor(images, op: str, name: str = "images", ranks: tuple[int, ...] = (3, 4)) -> torch.Tensor:
    """``images`` as a tensor of one of ``ranks`` (one image or a batch), or a ValueError naming ``op``."""
    x = to_tensor(images)
    if x.ndim not in ranks:
        kinds = " or ".join(str(r) for r in ranks)
        raise ValueError(f"ops.image.{op}: {name} must have rank {kinds} (one image or a batch of images); received "
                         f"{name}.shape={tuple(x.shape)}.")
    return x


def as_batch(x: torch.Tensor, first: bool) -> tuple[torch.Tensor, Callable[[torch.Tensor], torch.Tensor]]:
    """``x`` as a channels-last batch, and the function that puts a result back in ``x``'s layout."""
    single = x.ndim == 3
    batch = x.unsqueeze(0) if single else x
    batch = batch.movedim(1, -1) if first else batch

    def back(y: torch.Tensor) -> torch.Tensor:
        y = y.movedim(-1, 1) if first else y
        return y.squeeze(0) if single else y
    return batch, back


def in_float(x: torch.Tensor, fn: Callable[[torch.Tensor], torch.Tensor]) -> torch.Tensor:
    """``fn(x)`` computed in float32 at least; integer results are rounded back to ``x``'s dtype, as Keras."""
    if x.dtype in (torch.float32, torch.float64):
        return fn(x)
    out = fn(x.to(float_dtype()))
    return out.to(x.dtype) if x.is_floating_point() else out.round().to(x.dtype)


def _check_sampling(op: str, interpolation: str, fill_mode: str = "constant") -> None:
    if interpolation not in INTERPOLATIONS:
        raise ValueError(f"ops.image.{op}: interpolation must be one of {INTERPOLATIONS}; received "
                         f"interpolation={interpolation!r}.")
    if fill_mode not in FILL_MODES:
        raise ValueError(f"ops.image.{op}: fill_mode must be one of {FILL_MODES}; received fill_mode={fill_mode!r}.")


@operation()
def affine_transform(images, transform, interpolation: str = "bilinear", fill_mode: str = "constant",
                     fill_value: float = 0, data_format=None) -> torch.Tensor:
    """Images resampled through ``transform`` ``[a0, a1, a2, b0, b1, b2, c0, c1]`` (one, or one per image):
    output pixel ``(x, y)`` reads the input at ``(a0 x + a1 y + a2, b0 x + b1 y + b2)``. ``c0``, ``c1`` are
    not used, as in Keras' torch and JAX backends."""
    _check_sampling("affine_transform", interpolation, fill_mode)
    first = channels_first(data_format, "affine_transform")
    x, back = as_batch(image_tensor(images, "affine_transform"), first)
    t = to_tensor(transform, device=x.device)
    if t.ndim not in (1, 2) or t.shape[-1] != 8 or t.reshape(-1, 8).shape[0] not in (1, x.shape[0]):
        raise ValueError(f"ops.image.affine_transform: transform must be (8,) or (batch, 8) for {x.shape[0]} "
                         f"images; received transform.shape={tuple(t.shape)}.")
    matrices = t.reshape(-1, 8)[:, :6].reshape(-1, 2, 3).expand(x.shape[0], 2, 3)
    return back(in_float(x, lambda v: affine(v, matrices, interpolation, fill_mode, float(fill_value))))


@operation()
def perspective_transform(images, start_points, end_points, interpolation: str = "bilinear", fill_value: float = 0,
                          data_format=None) -> torch.Tensor:
    """Images warped by the perspective that moves the 4 ``start_points`` ``(4, 2)`` or ``(batch, 4, 2)``
    (``(x, y)`` each) to ``end_points``; pixels from outside the image read ``fill_value``."""
    _check_sampling("perspective_transform", interpolation)
    first = channels_first(data_format, "perspective_transform")
    x, back = as_batch(image_tensor(images, "perspective_transform"), first)
    dtype = x.dtype if x.is_floating_point() else float_dtype()
    start, end = (to_tensor(p, dtype=dtype, device=x.device) for p in (start_points, end_points))
    for name, points in (("start_points", start), ("end_points", end)):
        if points.ndim not in (2, 3) or points.shape[-2:] != (4, 2) or points.reshape(-1, 8).shape[0] not in (
                1, x.shape[0]):
            raise ValueError(f"ops.image.perspective_transform: {name} must be (4, 2) or (batch, 4, 2) for "
                             f"{x.shape[0]} images; received {name}.shape={tuple(points.shape)}.")
    if start.shape != end.shape:
        raise ValueError(f"ops.image.perspective_transform: start_points and end_points must have the same shape; "
                         f"received {tuple(start.shape)} and {tuple(end.shape)}.")
    start, end = start.reshape(-1, 4, 2), end.reshape(-1, 4, 2)
    return back(in_float(x, lambda v: warp_perspective(v, start.to(v.dtype), end.to(v.dtype), interpolation,
                                                       float(fill_value))))


@operation()
def elastic_transform(images, alpha: float = 20.0, sigma: float = 5.0, interpolation: str = "bilinear",
                      fill_mode: str = "reflect", fill_value: float = 0.0, seed=None, data_format=None) -> torch.Tensor:
    """Images with each pixel read from its place moved by ``alpha`` times random normal noise (one draw per
    pixel and axis, ``seed`` as in ``layerwise.random``) smoothed by a Gaussian of ``sigma``. With ``seed=None``
    it draws from PyTorch's global generator as Keras' torch backend does, so the same global seed gives
    Keras' result."""
    _check_sampling("elastic_transform", interpolation, fill_mode)
    first = channels_first(data_format, "elastic_transform")
    x, back = as_batch(image_tensor(images, "elastic_transform"), first)
    dtype = x.dtype if x.is_floating_point() else float_dtype()
    if isinstance(seed, int) and not isinstance(seed, bool):
        seed = random.SeedGenerator(seed)  # two different draws (dx, dy) from the one seed
    noise = torch.stack([random.normal(x.shape[:3], dtype=dtype, seed=seed) for _ in range(2)], dim=-1)
    alpha, sigma = (torch.tensor(float(v), device=x.device) for v in (alpha, sigma))
    return back(in_float(x, lambda v: elastic_warp(v, noise.to(v.device, v.dtype), alpha.to(v.dtype),
                                                   sigma.to(v.dtype), interpolation, fill_mode, float(fill_value))))


def _mirror(index: torch.Tensor, size: int) -> torch.Tensor:
    """Indices folded into ``[0, size)`` by reflection about the first and last elements (``c d c b | a b c d``)."""
    if size == 1:
        return torch.zeros_like(index)
    period = size - 1
    return (torch.remainder(index + period, 2 * period) - period).abs()


_FOLDS = {
    "constant": lambda index, size: index.clamp(0, size - 1),  # the taps outside read fill_value instead
    "nearest": lambda index, size: index.clamp(0, size - 1),
    "wrap": lambda index, size: torch.remainder(index, size),
    "mirror": _mirror,
    "reflect": lambda index, size: torch.div(_mirror(2 * index + 1, 2 * size + 1) - 1, 2, rounding_mode="floor"),
}


@operation()
def map_coordinates(inputs, coordinates, order: int, fill_mode: str = "constant",
                    fill_value: float = 0) -> torch.Tensor:
    """``inputs`` (any rank ``n``) read at ``coordinates`` ``(n, ...)`` (one coordinate array per axis): the
    nearest element (``order=0``, halves to even) or the linear interpolation of the ``2 ** n`` neighbours
    (``order=1``); result shaped ``coordinates.shape[1:]``. Integer inputs are rounded back to their dtype."""
    if order not in (0, 1):
        raise ValueError(f"ops.image.map_coordinates: order must be 0 (nearest) or 1 (linear); received "
                         f"order={order!r}.")
    if fill_mode not in _FOLDS:
        raise ValueError(f"ops.image.map_coordinates: fill_mode must be one of {tuple(_FOLDS)}; received "
                         f"fill_mode={fill_mode!r}.")
    x, coords = to_tensors(inputs, coordinates)
    if coords.ndim < 2 or coords.shape[0] != x.ndim:
        raise ValueError(f"ops.image.map_coordinates: coordinates must be (inputs.ndim, ...) = ({x.ndim}, ...); "
                         f"received coordinates.shape={tuple(coords.shape)} for inputs.shape={tuple(x.shape)}.")
    if not coords.is_floating_point():
        coords = coords.to(float_dtype())
    axes = []  # per axis: (index, weight, inside) of each tap
    for coordinate, size in zip(coords, x.shape):
        if order == 0:
            taps = [(coordinate.round().long(), None)]
        else:
            lower = coordinate.floor()
            upper_weight = coordinate - lower
            taps = [(lower.long(), 1 - upper_weight), (lower.long() + 1, upper_weight)]
        axes.append([(_FOLDS[fill_mode](i, size), w, (i >= 0) & (i < size)) for i, w in taps])
    out = None
    for corner in itertools.product(*axes):
        value = x[tuple(index for index, _, _ in corner)]
        if fill_mode == "constant":
            inside = math.prod((flag for _, _, flag in corner[1:]), start=corner[0][2])
            value = torch.where(inside, value, torch.as_tensor(fill_value, dtype=x.dtype, device=x.device))
        weights = [w for _, w, _ in corner if w is not None]
        term = value * math.prod(weights[1:], start=weights[0]) if weights else value
        out = term if out is None else out + term
    if not x.is_floating_point() and out.is_floating_point():
        out = out.round()
    return out.to(x.dtype)


def _triangle(x: torch.Tensor) -> torch.Tensor:
    return (1 - x).clamp_min(0)


def _keys_cubic(x: torch.Tensor) -> torch.Tensor:
    inner = ((1.5 * x - 2.5) * x) * x + 1.0
    outer = ((-0.5 * x + 2.5) * x - 4.0) * x + 2.0
    return torch.where(x >= 2.0, 0.0, torch.where(x >= 1.0, outer, inner))


def _lanczos(radius: float) -> Callable[[torch.Tensor], torch.Tensor]:
    def kernel(x: torch.Tensor) -> torch.Tensor:
        y = radius * torch.sin(math.pi * x) * torch.sin(math.pi * x / radius)
        out = torch.where(x > 1e-3, y / torch.where(x != 0, math.pi ** 2 * x ** 2, 1.0), 1.0)
        return torch.where(x > radius, 0.0, out)
    return kernel


_KERNELS = {"linear": _triangle, "bilinear": _triangle, "trilinear": _triangle, "triangle": _triangle,
            "cubic": _keys_cubic, "bicubic": _keys_cubic, "tricubic": _keys_cubic,
            "lanczos3": _lanczos(3.0), "lanczos5": _lanczos(5.0)}


def _resampling_weights(size: int, out_size: int, scale: torch.Tensor, translation: torch.Tensor, kernel: Callable,
                        antialias: bool) -> torch.Tensor:
    """``(size, out_size)``: how much input ``i`` weighs in output ``j`` (half-pixel centres; output ``j`` samples
    the input at ``(j + 0.5 - translation) / scale - 0.5``); outputs sampling outside the input get 0."""
    inverse = 1.0 / scale
    widen = inverse.clamp_min(1.0) if antialias else 1.0  # the kernel stretches when downsampling
    sample = (torch.arange(out_size, dtype=scale.dtype, device=scale.device) + 0.5) * inverse \
        - translation * inverse - 0.5
    weights = kernel((sample[None, :] - torch.arange(size, dtype=scale.dtype, device=scale.device)[:, None]).abs()
                     / widen)
    total = weights.sum(0, keepdim=True)
    weights = torch.where(total.abs() > 1000.0 * torch.finfo(torch.float32).eps,
                          weights / torch.where(total != 0, total, 1.0), 0.0)
    return torch.where(((sample >= -0.5) & (sample <= size - 0.5))[None, :], weights, 0.0)


@operation()
def scale_and_translate(images, output_shape, scale, translation, spatial_dims, method: str,
                        antialias: bool = True) -> torch.Tensor:
    """``images`` resampled to ``output_shape`` along ``spatial_dims``: input position ``p`` (half-pixel centres)
    goes to ``p * scale + translation`` (``scale`` and ``translation`` one per spatial dim). ``method``:
    'linear' (also 'bilinear', 'trilinear', 'triangle'), 'cubic' (Keys' kernel; also 'bicubic', 'tricubic'),
    'lanczos3' or 'lanczos5'; ``antialias`` widens the kernel when downsampling. Integer images are rounded
    and clipped to their range."""
    if method not in _KERNELS:
        raise ValueError(f"ops.image.scale_and_translate: method must be one of {sorted(_KERNELS)}; received "
                         f"method={method!r}.")
    x, scale, translation = to_tensors(images, scale, translation)
    dims = [int(d) % x.ndim for d in spatial_dims]
    if len(output_shape) != x.ndim or scale.shape != (len(dims),) or translation.shape != (len(dims),):
        raise ValueError(f"ops.image.scale_and_translate: output_shape needs one size per axis of images "
                         f"{tuple(x.shape)} and scale, translation one value per spatial dim {tuple(dims)}; received "
                         f"output_shape={tuple(output_shape)}, scale.shape={tuple(scale.shape)}, "
                         f"translation.shape={tuple(translation.shape)}.")
    dtype = torch.promote_types(torch.promote_types(scale.dtype, translation.dtype), torch.float32)
    scale, translation = scale.to(dtype), translation.to(dtype)
    out = x if x.is_floating_point() else x.to(torch.float32)
    for i, d in enumerate(dims):
        weights = _resampling_weights(x.shape[d], int(output_shape[d]), scale[i], translation[i], _KERNELS[method],
                                      bool(antialias)).to(out.dtype)
        out = torch.tensordot(out, weights, dims=([d], [0])).movedim(-1, d)
    if x.is_floating_point():
        return out
    return out.round().clamp(x.min(), x.max()).to(x.dtype)
