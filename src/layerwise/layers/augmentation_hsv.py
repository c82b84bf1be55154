"""Colour augmentation in HSV space, as Keras 3: RandomHue, RandomSaturation, and RandomColorJitter (random
brightness, contrast, saturation and hue, in that order).

Images are RGB, channels-last ``(batch, height, width, 3)`` or ``(height, width, 3)``, with values in
``value_range``; they change only while training. ``rgb_to_hsv`` / ``hsv_to_rgb`` follow Keras' (dm_pix's)
formulas, hue, saturation and value each in [0, 1] for RGB in [0, 1].
"""
from __future__ import annotations

import torch

from layerwise.layers.augmentation import (RandomBrightness, RandomContrast, RandomImageLayer, base_factor,
                                           check_value_range)
from layerwise.layers.augmentation_color import ColorLayer, rescale, sorted_range

EPSILON = 1e-7  # Keras' backend.epsilon()


def rgb_to_hsv(images: torch.Tensor) -> torch.Tensor:
    """``(..., 3)`` RGB -> ``(..., 3)`` hue, saturation, value."""
    images = torch.where(images.abs() < torch.finfo(images.dtype).eps, 0.0, images)
    r, g, b = images.unbind(-1)
    value = torch.maximum(torch.maximum(r, g), b)
    spread = value - torch.minimum(torch.minimum(r, g), b)
    saturation = torch.where(value > 0, spread / torch.where(value > 0, value, 1.0), 0.0)
    norm = 1.0 / (6.0 * torch.where(spread > 0, spread, 1.0))
    hue = torch.where(value == g, norm * (b - r) + 2.0 / 6.0, norm * (r - g) + 4.0 / 6.0)
    hue = torch.where(value == r, norm * (g - b), hue)
    hue = torch.where(spread > 0, hue, 0.0) + (hue < 0.0).to(hue.dtype)  # hue in [0, 1)
    return torch.stack([hue, saturation, value], dim=-1)


def hsv_to_rgb(images: torch.Tensor) -> torch.Tensor:
    """``(..., 3)`` hue, saturation, value -> ``(..., 3)`` RGB."""
    hue, saturation, value = images.unbind(-1)
    sector = torch.remainder(hue, 1.0) * 6.0
    red = torch.clip((sector - 3.0).abs() - 1.0, 0.0, 1.0)
    green = torch.clip(2.0 - (sector - 2.0).abs(), 0.0, 1.0)
    blue = torch.clip(2.0 - (sector - 4.0).abs(), 0.0, 1.0)
    grey = 1.0 - saturation
    return torch.stack([value * (grey + saturation * c) for c in (red, green, blue)], dim=-1)


class RandomHue(ColorLayer):
    """Rotates the hue of each image by a random ``±f / 2`` of a turn, ``f`` drawn from ``factor`` (in [0, 1];
    a number ``f`` means ``(0, f)``) and the sign by a fair coin, then clips to ``value_range``."""

    channels = (3,)
    resolved_config = ("factor",)

    def __init__(self, factor, value_range=(0, 255), data_format: str | None = None, seed: int | None = None,
                 **kwargs):
        super().__init__(seed=seed, data_format=data_format, **kwargs)
        self.factor = base_factor("RandomHue", factor, 0, 1)
        self.value_range = check_value_range("RandomHue", value_range)  # not sorted, as Keras

    def get_random_transformation(self, images, training=True, source: RandomImageLayer | None = None):
        """``{"factor": (batch,)}``: each image's hue shift in turns. ``source`` is the layer whose generator
        draws (this one by default; RandomColorJitter's for its hue part)."""
        source = self if source is None else source
        batch = images.shape[0]
        sign = torch.where(source.uniform(batch, 0.0, 1.0, images) > 0.5, -1.0, 1.0)
        return {"factor": sign * source.uniform(batch, *self.factor, images) * 0.5}

    def transform_images(self, images, transformation, training=True):
        if not training:
            return images
        hsv = rgb_to_hsv(rescale(images, self.value_range, (0, 1)))
        hue = hsv[..., 0] + transformation["factor"].to(images.dtype).view(-1, 1, 1)
        hue = torch.where(hue > 1.0, hue - 1.0, hue)
        hue = torch.where(hue < 0.0, hue + 1.0, hue)
        rgb = hsv_to_rgb(torch.stack([hue, hsv[..., 1], hsv[..., 2]], dim=-1)).clamp(0, 1)
        return rescale(rgb, (0, 1), self.value_range)


class RandomSaturation(ColorLayer):
    """Scales the saturation of each image by ``f / (1 - f)``, ``f`` drawn from ``factor`` (a number ``f`` in
    [0, 1] means ``(-f, f)``, as Keras' code reads it): ``0.5`` keeps images, ``0`` or less makes them grey,
    ``1`` saturates fully. As Keras, the scaled saturation is clipped to ``value_range`` (so above 1 for
    0-255 images, which can push colours out of the range; the RGB result is not clipped)."""

    channels = (3,)
    resolved_config = ("factor", "value_range")

    def __init__(self, factor, value_range=(0, 255), data_format: str | None = None, seed: int | None = None,
                 **kwargs):
        super().__init__(seed=seed, data_format=data_format, **kwargs)
        self.factor = base_factor("RandomSaturation", factor, -1, 1)
        self.value_range = sorted_range("RandomSaturation", value_range)

    def get_random_transformation(self, images, training=True, source: RandomImageLayer | None = None):
        """``{"factor": (batch,)}``: each image's saturation scale. ``source`` as RandomHue's."""
        source = self if source is None else source
        factor = source.uniform(images.shape[0], *self.factor, images)
        return {"factor": factor / (1 - factor + EPSILON)}

    def transform_images(self, images, transformation, training=True):
        if not training:
            return images
        hsv = rgb_to_hsv(images)
        saturation = (hsv[..., 1] * transformation["factor"].to(images.dtype).view(-1, 1, 1)).clamp(
            *self.value_range)
        return hsv_to_rgb(torch.stack([hsv[..., 0], saturation, hsv[..., 2]], dim=-1))


class RandomColorJitter(ColorLayer):
    """Random brightness, contrast, saturation and hue changes, in that order, each as its own layer does
    (RandomBrightness, RandomContrast, RandomSaturation, RandomHue) with ``brightness_factor``,
    ``contrast_factor``, ``saturation_factor`` and ``hue_factor``; a factor left None skips that step.
    All draws come from this layer's generator."""

    def __init__(self, value_range=(0, 255), brightness_factor=None, contrast_factor=None, saturation_factor=None,
                 hue_factor=None, seed: int | None = None, data_format: str | None = None, **kwargs):
        super().__init__(seed=seed, data_format=data_format, **kwargs)
        self.value_range = check_value_range("RandomColorJitter", value_range)
        # The steps' layers check the factors and transform; kept in a tuple, out of the module tree (they
        # hold no weights and follow this layer's training mode).
        steps = (("brightness", RandomBrightness, brightness_factor), ("contrast", RandomContrast, contrast_factor),
                 ("saturation", RandomSaturation, saturation_factor), ("hue", RandomHue, hue_factor))
        self._steps = tuple((key, cls(factor, value_range=value_range, seed=seed))
                            for key, cls, factor in steps if factor is not None)
        self.channels = (3,) if any(key in ("saturation", "hue") for key, _ in self._steps) else None

    def get_random_transformation(self, images, training=True):
        """``{"brightness": (batch,), "contrast": (batch,), "saturation": (batch,), "hue": (batch,)}`` for the
        steps in use: brightness shifts as fractions of the value range, contrast factors, saturation
        scales and hue shifts in turns (RandomSaturation's and RandomHue's ``factor``)."""
        if not training:
            return None
        batch, draws = images.shape[0], {}
        for key, step in self._steps:
            if key == "brightness":
                draws[key] = self.uniform(batch, *step.factor, images)
            elif key == "contrast":
                draws[key] = self.uniform(batch, 1.0 - step.factor[0], 1.0 + step.factor[1], images)
            else:
                draws[key] = step.get_random_transformation(images, source=self)["factor"]
        return draws

    def transform_images(self, images, transformation, training=True):
        if not training:
            return images
        for key, step in self._steps:
            factors = transformation[key]
            if key == "brightness":
                images = step.shift(images, factors)
            elif key == "contrast":
                images = step.adjust(images, factors)
            else:
                images = step.transform_images(images, {"factor": factors})
        return images
