"""Keras 3's mixing and erasing augmentations: MixUp, CutMix (images and labels) and RandomErasing.

MixUp and CutMix pair each image of a batch with another one of the same batch (a random permutation) and
mix them, and mix the labels in the same proportions when called on ``{"images": ..., "labels": ...}``
(labels one-hot or soft, ``(batch, classes)``). See ``augmentation_base.py`` for the calling conventions.
"""
from __future__ import annotations

from typing import Any

import torch

from layerwise.layers.augmentation_base import AugmentationLayer, is_number, keras_range, value_range_of


def _per_image(weights: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """``weights`` (one per image) shaped to broadcast over ``like``'s axes after the batch axis."""
    return weights.reshape(-1, *[1] * (like.ndim - 1)).to(like.dtype)


def _mix(x: torch.Tensor, weights: torch.Tensor, order: torch.Tensor) -> torch.Tensor:
    """``w * x + (1 - w) * x[order]`` per image (``x`` a tensor or, as Keras takes labels, an array)."""
    weights = torch.as_tensor(weights)
    x = torch.as_tensor(x, device=weights.device)
    x = x if x.is_floating_point() else x.to(weights.dtype)
    w = _per_image(weights, x)
    return w * x + (1.0 - w) * x.index_select(0, order.to(x.device).long())


def _box_masks(images: torch.Tensor, x0: torch.Tensor, x1: torch.Tensor, y0: torch.Tensor,
               y1: torch.Tensor) -> torch.Tensor:
    """Bool ``(batch, height, width, 1)``: the pixels whose indices lie in ``[x0, x1) x [y0, y1)`` (float
    bounds ``(batch,)``), as Keras' CutMix and RandomErasing."""
    height, width = images.shape[1:3]
    ys = torch.arange(height, dtype=images.dtype, device=images.device).view(1, height, 1, 1)
    xs = torch.arange(width, dtype=images.dtype, device=images.device).view(1, 1, width, 1)
    x0, x1, y0, y1 = (v.view(-1, 1, 1, 1) for v in (x0, x1, y0, y1))
    return (xs >= x0) & (xs < x1) & (ys >= y0) & (ys < y1)


def _box(layer: AugmentationLayer, images: torch.Tensor, ratio_x: torch.Tensor, ratio_y: torch.Tensor):
    """Keras' random box: ``ratio * size`` long on each side (floats), at a uniform random offset."""
    batch, height, width = images.shape[:3]
    length_x, length_y = ratio_x * width, ratio_y * height
    x0 = layer.rand((batch,), images) * (width - length_x)
    y0 = layer.rand((batch,), images) * (height - length_y)
    return x0, x0 + length_x, y0, y0 + length_y


class MixUp(AugmentationLayer):
    """MixUp: each image becomes ``w * image + (1 - w) * other``, ``other`` another image of the batch and
    ``w ~ Beta(alpha, alpha)`` drawn per image; labels are mixed with the same weights. Smaller ``alpha``
    mixes less (0.2, the default, is Keras' recommendation for ImageNet)."""

    def __init__(self, alpha: float = 0.2, data_format: str | None = None, seed: int | None = None, **kwargs):
        super().__init__(seed=seed, data_format=data_format, **kwargs)
        if not is_number(alpha) or alpha <= 0:
            raise ValueError(f"MixUp alpha must be a positive number, got alpha={alpha!r}.")
        self.alpha = alpha

    def draw(self, images: torch.Tensor) -> dict[str, Any]:
        batch = images.shape[0]
        return {"mix_weight": self.beta(batch, self.alpha, images),
                "permutation_order": self.permutation(batch, images)}

    def apply(self, images: torch.Tensor, transformation: dict) -> torch.Tensor:
        return _mix(images, transformation["mix_weight"], transformation["permutation_order"])

    def transform_labels(self, labels: torch.Tensor, transformation: dict | None, training: bool = True):
        """``labels`` ``(batch, ...)`` mixed as the images were."""
        if not training or transformation is None:
            return labels
        return _mix(labels, transformation["mix_weight"], transformation["permutation_order"])

    def transform_segmentation_masks(self, masks: torch.Tensor, transformation: dict | None, training: bool = True):
        return self.transform_labels(masks, transformation, training)


class CutMix(AugmentationLayer):
    """CutMix: pastes into each image a random box of another image of the batch, the box covering a
    fraction ``1 - w`` of the image with ``w ~ Beta(a, a)`` per image and ``a`` drawn once per batch from
    ``factor`` (a number ``f`` in [0, 1]: from ``[0, f]``; a pair: between its numbers). Labels are mixed in
    proportion to the pasted area."""

    resolved_config = ("factor",)

    def __init__(self, factor=1.0, seed: int | None = None, data_format: str | None = None, **kwargs):
        super().__init__(seed=seed, data_format=data_format, **kwargs)
        self.factor = keras_range("CutMix", factor, "factor")

    def draw(self, images: torch.Tensor) -> dict[str, Any]:
        batch, height, width = images.shape[:3]
        alpha = self.rand((), images, *self.factor) + 1e-6
        ratio = torch.sqrt(1.0 - self.beta(batch, alpha, images))
        x0, x1, y0, y1 = _box(self, images, ratio, ratio)
        return {"permutation_order": self.permutation(batch, images),
                "batch_masks": _box_masks(images, x0, x1, y0, y1),
                "mix_weight": 1.0 - (x1 - x0) * (y1 - y0) / (width * height)}

    def apply(self, images: torch.Tensor, transformation: dict) -> torch.Tensor:
        order = transformation["permutation_order"].to(images.device).long()
        return torch.where(torch.as_tensor(transformation["batch_masks"], device=images.device),
                           images.index_select(0, order), images)

    def transform_labels(self, labels: torch.Tensor, transformation: dict | None, training: bool = True):
        """``labels`` ``(batch, ...)`` mixed in proportion to the pasted area."""
        if not training or transformation is None:
            return labels
        return _mix(labels, transformation["mix_weight"].reshape(-1), transformation["permutation_order"])

    def transform_segmentation_masks(self, masks: torch.Tensor, transformation: dict | None, training: bool = True):
        return self.transform_images(masks, transformation, training)


class RandomErasing(AugmentationLayer):
    """Random Erasing: with a probability drawn per image from ``factor`` (a number ``f`` in [0, 1]: from
    ``[0, f]``; a pair: between its numbers), fills a random box of the image with ``fill_value`` (a number,
    three numbers for RGB, or None: Gaussian noise of standard deviation ``value_range[1]``), clipped to
    ``value_range``. Each side of the box is ``sqrt(s)`` of the image's, ``s`` drawn from ``scale`` per side.
    Labels and segmentation masks are left as they are."""

    resolved_config = ("factor", "scale")

    def __init__(self, factor=1.0, scale=(0.02, 0.33), fill_value=None, value_range=(0, 255),
                 seed: int | None = None, data_format: str | None = None, **kwargs):
        super().__init__(seed=seed, data_format=data_format, **kwargs)
        self.factor = keras_range("RandomErasing", factor, "factor")
        self.scale = keras_range("RandomErasing", scale, "scale")
        if not (fill_value is None or is_number(fill_value) or isinstance(fill_value, (tuple, list)) and
                len(fill_value) == 3 and all(is_number(v) for v in fill_value)):
            raise ValueError(f"RandomErasing fill_value must be None, a number or a list of three numbers, got "
                             f"fill_value={fill_value!r}.")
        self.fill_value = fill_value
        self.value_range = value_range_of("RandomErasing", value_range)

    def fill(self, images: torch.Tensor) -> torch.Tensor:
        """What erased pixels take: noise of ``images``' shape, or the constant, clipped to the value range."""
        low, high = self.value_range
        if self.fill_value is None:
            return (self.randn(images.shape, images) * high).clamp(low, high)
        if isinstance(self.fill_value, (tuple, list)) and images.shape[-1] != 3:
            raise ValueError(f"RandomErasing fill_value={self.fill_value!r} gives three channels, but the images "
                             f"have {images.shape[-1]} (shape {tuple(images.shape)}).")
        return torch.tensor(self.fill_value, dtype=images.dtype, device=images.device).clamp(low, high)

    def draw(self, images: torch.Tensor) -> dict[str, Any]:
        batch = images.shape[0]
        sides = torch.sqrt(self.rand((batch, 2), images, *self.scale))
        x0, x1, y0, y1 = _box(self, images, sides[:, 0], sides[:, 1])
        probability = self.rand((batch,), images, *self.factor)
        return {"apply_erasing": self.rand((batch,), images) < probability,
                "batch_masks": _box_masks(images, x0, x1, y0, y1), "fill_value": self.fill(images)}

    def apply(self, images: torch.Tensor, transformation: dict) -> torch.Tensor:
        masks = torch.as_tensor(transformation["batch_masks"], device=images.device)
        erase = transformation["apply_erasing"].to(images.device).view(-1, 1, 1, 1) & masks
        return torch.where(erase, torch.as_tensor(transformation["fill_value"], device=images.device,
                                                  dtype=images.dtype), images)
