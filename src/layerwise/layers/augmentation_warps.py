"""Keras 3's blurring and warping augmentations: RandomGaussianBlur, RandomPerspective and
RandomElasticTransform. Each applies to a random subset of the batch: image ``i`` changes when a uniform draw
falls below a probability drawn for it from ``factor`` (a number ``f`` in [0, 1]: from ``[0, f]``; a pair:
between its numbers). Warps resample with ``grid_sample`` in Keras' pixel convention (pixel centres at
integers); segmentation masks follow the images' warp with nearest-pixel sampling. See
``augmentation_base.py`` for the calling conventions.
"""
from __future__ import annotations

from typing import Any

import torch

from layerwise.layers.augmentation_base import (FILL_MODES, INTERPOLATIONS, AugmentationLayer, is_number,
                                                check_choice, gaussian_blur, keras_range, sample_pixels,
                                                value_range_of)


def _applied(layer: AugmentationLayer, images: torch.Tensor) -> torch.Tensor:
    """Bool ``(batch,)``: which images change, each with a probability drawn from ``layer.factor``."""
    batch = images.shape[0]
    probability = layer.rand((batch,), images, *layer.factor)
    return layer.rand((batch,), images) < probability


def _select(applied: torch.Tensor, changed: torch.Tensor, images: torch.Tensor) -> torch.Tensor:
    return torch.where(torch.as_tensor(applied, device=images.device).view(-1, 1, 1, 1), changed, images)


def _pixel_grid(images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The output pixels' ``x`` and ``y`` indices, ``(1, height, width)`` each, in ``images``' dtype."""
    height, width = images.shape[1:3]
    ys, xs = torch.meshgrid(torch.arange(height, dtype=images.dtype, device=images.device),
                            torch.arange(width, dtype=images.dtype, device=images.device), indexing="ij")
    return xs[None], ys[None]


def _as_float(x: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    return torch.as_tensor(x, device=like.device).to(like.dtype)


class RandomGaussianBlur(AugmentationLayer):
    """Blurs the chosen images with a Gaussian kernel of ``kernel_size`` (odd; an int, or a pair along the
    width and the height) and standard deviations drawn once per batch from ``sigma`` (one along each axis;
    a number ``s`` in [0, 1]: from ``[0, s]``, a pair: between its numbers), with zeros beyond the image
    edges, as Keras. The whole batch is then clipped to ``value_range``."""

    resolved_config = ("factor", "kernel_size", "sigma")

    def __init__(self, factor=1.0, kernel_size=3, sigma=1.0, value_range=(0, 255), data_format: str | None = None,
                 seed: int | None = None, **kwargs):
        super().__init__(seed=seed, data_format=data_format, **kwargs)
        self.factor = keras_range("RandomGaussianBlur", factor, "factor")
        sizes = tuple(kernel_size) if isinstance(kernel_size, (tuple, list)) else (kernel_size, kernel_size)
        if len(sizes) != 2 or not all(is_number(k) and k == int(k) and k > 0 and k % 2 == 1 for k in sizes):
            raise ValueError(f"RandomGaussianBlur kernel_size must be a positive odd integer or a pair of them, got "
                             f"kernel_size={kernel_size!r}.")
        self.kernel_size = sizes
        self.sigma = keras_range("RandomGaussianBlur", sigma, "sigma")
        self.value_range = value_range_of("RandomGaussianBlur", value_range)

    def draw(self, images: torch.Tensor) -> dict[str, Any]:
        return {"should_apply_blur": _applied(self, images),
                "blur_factor": self.rand((2,), images, *self.sigma) + 1e-6}

    def apply(self, images: torch.Tensor, transformation: dict) -> torch.Tensor:
        sigma = _as_float(transformation["blur_factor"], images)
        blurred = gaussian_blur(images, self.kernel_size, sigma)
        return _select(transformation["should_apply_blur"], blurred, images).clamp(*self.value_range)


class RandomPerspective(AugmentationLayer):
    """Warps the chosen images by the perspective that moves each corner ``(x, y)`` to
    ``(x, y) * (1 + d)``, ``d`` drawn per corner and axis from ``[-scale / 2, scale / 2)`` (``scale`` in [0, 1]),
    as Keras (the top-left corner stays). Pixels from outside the image read ``fill_value``."""

    resolved_config = ("factor",)

    def __init__(self, factor=1.0, scale: float = 1.0, interpolation: str = "bilinear", fill_value: float = 0.0,
                 seed: int | None = None, data_format: str | None = None, **kwargs):
        super().__init__(seed=seed, data_format=data_format, **kwargs)
        self.factor = keras_range("RandomPerspective", factor, "factor")
        if not is_number(scale) or not 0 <= scale <= 1:
            raise ValueError(f"RandomPerspective scale must be a number in [0, 1], got scale={scale!r}.")
        check_choice("RandomPerspective", "interpolation", interpolation, INTERPOLATIONS)
        if not is_number(fill_value):
            raise ValueError(f"RandomPerspective fill_value must be a number, got fill_value={fill_value!r}.")
        self.scale, self.interpolation, self.fill_value = scale, interpolation, float(fill_value)

    def draw(self, images: torch.Tensor) -> dict[str, Any]:
        batch, height, width = images.shape[:3]
        shifts = self.rand((batch, 4, 2), images, -0.5 * self.scale, 0.5 * self.scale)
        corners = images.new_tensor([[0.0, 0.0], [width - 1, 0.0], [0.0, height - 1], [width - 1, height - 1]])
        start = corners.expand(batch, 4, 2)
        return {"apply_perspective": _applied(self, images), "start_points": start,
                "end_points": start + start * shifts, "input_shape": tuple(images.shape)}

    def apply(self, images: torch.Tensor, transformation: dict, interpolation: str | None = None) -> torch.Tensor:
        start = _as_float(transformation["start_points"], images)
        end = _as_float(transformation["end_points"], images)
        warped = warp_perspective(images, start, end, interpolation or self.interpolation, self.fill_value)
        return _select(transformation["apply_perspective"], warped, images)

    def transform_segmentation_masks(self, masks: torch.Tensor, transformation: dict | None, training: bool = True):
        if not training or transformation is None:
            return masks
        return self.apply(self.images_of(masks), transformation, "nearest")


def warp_perspective(images: torch.Tensor, start: torch.Tensor, end: torch.Tensor, interpolation: str = "bilinear",
                     fill_value: float = 0.0) -> torch.Tensor:
    """``images`` ``(batch, height, width, channels)`` warped by the perspective that moves the 4 ``start`` points
    ``(batch or 1, 4, 2)`` to the ``end`` points (Keras' ``perspective_transform``); pixels from outside the
    image read ``fill_value``."""
    h = homography(start.expand_as(end), end).to(images.dtype).view(-1, 8, 1, 1)
    xs, ys = _pixel_grid(images)
    denominator = h[:, 6] * xs + h[:, 7] * ys + 1.0
    pixels = torch.stack([(h[:, 0] * xs + h[:, 1] * ys + h[:, 2]) / denominator,
                          (h[:, 3] * xs + h[:, 4] * ys + h[:, 5]) / denominator], dim=-1)
    pixels = pixels.expand(images.shape[0], *pixels.shape[1:])  # one perspective for the whole batch
    return sample_pixels(images, pixels, interpolation, "constant", fill_value)


def elastic_warp(images: torch.Tensor, noise: torch.Tensor, alpha: torch.Tensor, sigma: torch.Tensor,
                 interpolation: str = "bilinear", fill_mode: str = "reflect", fill_value: float = 0.0) -> torch.Tensor:
    """``images`` ``(batch, height, width, channels)`` with each pixel read from its place displaced by ``alpha``
    times ``noise`` ``(batch, height, width, 2)`` (the x and y draws, standard normal) scaled by ``sigma`` and
    blurred with a Gaussian of ``sigma`` (kernel ``int(6 sigma) | 1``, zeros beyond the edges), as Keras'
    ``elastic_transform``; ``alpha`` and ``sigma`` are 0-d tensors."""
    size = int(6 * sigma) | 1
    displacement = gaussian_blur(noise * sigma, (size, size), sigma.expand(2))  # dx and dy as two channels
    xs, ys = _pixel_grid(images)
    pixels = torch.stack([xs, ys], dim=-1) + alpha * displacement
    return sample_pixels(images, pixels, interpolation, fill_mode, fill_value)


def homography(start: torch.Tensor, end: torch.Tensor) -> torch.Tensor:
    """The 8 coefficients ``(batch, 8)`` of the perspective mapping each of the 4 ``end`` points ``(batch, 4,
    2)`` (output pixels) to its ``start`` point (input pixels): ``x_in = (a0 x + a1 y + a2) / (a6 x + a7 y + 1)``,
    ``y_in = (a3 x + a4 y + a5) / (a6 x + a7 y + 1)``. Solved in at least float32, as Keras."""
    dtype = torch.promote_types(end.dtype, torch.float32)
    start, end = start.to(dtype), end.to(dtype)
    ex, ey, sx, sy = end[..., 0], end[..., 1], start[..., 0], start[..., 1]
    one, zero = torch.ones_like(ex), torch.zeros_like(ex)
    rows_x = torch.stack([ex, ey, one, zero, zero, zero, -sx * ex, -sx * ey], dim=-1)
    rows_y = torch.stack([zero, zero, zero, ex, ey, one, -sy * ex, -sy * ey], dim=-1)
    system = torch.stack([rows_x, rows_y], dim=2).reshape(-1, 8, 8)  # two equations per point
    targets = torch.stack([sx, sy], dim=-1).reshape(-1, 8, 1)
    return torch.linalg.solve(system, targets).reshape(-1, 8)


class RandomElasticTransform(AugmentationLayer):
    """Displaces each pixel of the chosen images by smooth random noise: Gaussian noise blurred with
    ``sigma = 0.05 * s * min(height, width)`` (kernel ``int(6 sigma) | 1``, zeros beyond the edges) and
    scaled by ``alpha = 0.1 * s * max(height, width)``, ``s`` drawn once per batch from ``scale`` (a number in
    [0, 1]: from ``[0, scale]``; a pair: between its numbers). Pixels from outside follow ``fill_mode``
    ('constant' with ``fill_value``, 'nearest', 'wrap', 'mirror', 'reflect'); the batch is then clipped to
    ``value_range``. Nothing changes when ``scale`` or ``factor`` tops out at 0."""

    resolved_config = ("factor", "scale")

    def __init__(self, factor=1.0, scale=1.0, interpolation: str = "bilinear", fill_mode: str = "reflect",
                 fill_value: float = 0.0, value_range=(0, 255), seed: int | None = None,
                 data_format: str | None = None, **kwargs):
        super().__init__(seed=seed, data_format=data_format, **kwargs)
        self.factor = keras_range("RandomElasticTransform", factor, "factor")
        self.scale = keras_range("RandomElasticTransform", scale, "scale")
        check_choice("RandomElasticTransform", "interpolation", interpolation, INTERPOLATIONS)
        check_choice("RandomElasticTransform", "fill_mode", fill_mode, FILL_MODES)
        if not is_number(fill_value):
            raise ValueError(f"RandomElasticTransform fill_value must be a number, got fill_value={fill_value!r}.")
        self.interpolation, self.fill_mode, self.fill_value = interpolation, fill_mode, float(fill_value)
        self.value_range = value_range_of("RandomElasticTransform", value_range)

    def draw(self, images: torch.Tensor) -> dict[str, Any] | None:
        if self.scale[1] == 0 or self.factor[1] == 0:
            return None
        noise_shape = images.shape[:3]
        # Keras draws the displacement noise while transforming; drawn here, masks get the images' warp.
        return {"apply_transform": _applied(self, images),
                "distortion_factor": self.rand((), images, *self.scale),
                "dx": self.randn(noise_shape, images), "dy": self.randn(noise_shape, images)}

    def apply(self, images: torch.Tensor, transformation: dict, interpolation: str | None = None) -> torch.Tensor:
        height, width = images.shape[1:3]
        factor = _as_float(transformation["distortion_factor"], images)
        alpha = max(height, width) * (0.1 * factor)
        sigma = min(height, width) * (0.05 * factor)
        noise = torch.stack([_as_float(transformation["dx"], images), _as_float(transformation["dy"], images)], -1)
        warped = elastic_warp(images, noise, alpha, sigma, interpolation or self.interpolation, self.fill_mode,
                              self.fill_value)
        return _select(transformation["apply_transform"], warped, images).clamp(*self.value_range)

    def transform_segmentation_masks(self, masks: torch.Tensor, transformation: dict | None, training: bool = True):
        if not training or transformation is None:
            return masks
        return self.apply(self.images_of(masks), transformation, "nearest")
