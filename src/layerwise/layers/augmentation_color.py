"""Colour augmentation, as Keras 3: RandomGrayscale, RandomInvert, Solarization, AutoContrast,
RandomPosterization, Equalization, RandomColorDegeneration, RandomSharpness (and the base of the HSV layers).

Inputs are channels-last batches ``(batch, height, width, channels)`` or one image ``(height, width,
channels)``, with pixel values in ``value_range``. Each layer changes images only while training, except
AutoContrast, which Keras applies at inference too. As Keras' layers, each splits its work in two:
``get_random_transformation(images)`` draws one transformation per image (a dict or tensor of Keras'
keys and shapes) and ``transform_images(images, transformation)`` applies it to a batch.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from layerwise.layers.augmentation import RandomImageLayer, base_factor, check_value_range
from layerwise.layers.base import Shape

# ITU-R 601 luma weights, as Keras' (and torchvision's) rgb_to_grayscale
GRAY_WEIGHTS = (0.2989, 0.587, 0.114)


def rgb_to_grayscale(images: torch.Tensor) -> torch.Tensor:
    """``(..., 3)`` RGB (or ``(..., 1)`` already grey) -> ``(..., 1)`` luma."""
    if images.shape[-1] == 1:
        return images.clone()
    r, g, b = images.unbind(-1)
    return (GRAY_WEIGHTS[0] * r + GRAY_WEIGHTS[1] * g + GRAY_WEIGHTS[2] * b).unsqueeze(-1).to(images.dtype)


def rescale(images: torch.Tensor, source, target) -> torch.Tensor:
    """Pixel values mapped linearly from the range ``source`` to ``target`` (Keras' _transform_value_range,
    with its bounds in the images' dtype so that the rounding is the same)."""
    if source[0] == target[0] and source[1] == target[1]:
        return images
    s0, s1, t0, t1 = (torch.tensor(float(v), dtype=images.dtype, device=images.device) for v in (*source, *target))
    return (images - s0) / (s1 - s0) * (t1 - t0) + t0


def sorted_range(layer: str, value_range) -> tuple[float, float]:
    """``value_range`` sorted, its numbers as given: what Keras keeps (and writes in the config)."""
    check_value_range(layer, value_range)
    return tuple(sorted(value_range))


def unit_factor(layer: str, factor, name: str, symmetric: bool) -> tuple[float, float]:
    """Solarization's and RandomShear's factors: each number in [0, 1]; a pair is sorted, a number ``f`` is
    ``(-f, f)`` when ``symmetric`` (RandomShear) and ``(0, f)`` otherwise (Solarization). The numbers keep their
    types, as in Keras' config (``0.2``: ``(0, 0.2)``)."""
    def fits(v) -> bool:
        return isinstance(v, (int, float)) and not isinstance(v, bool) and 0 <= v <= 1

    if isinstance(factor, (tuple, list)) and len(factor) == 2 and all(fits(v) for v in factor):
        return tuple(sorted(factor))
    if fits(factor):
        return (-abs(factor), abs(factor)) if symmetric else (0, factor)
    raise ValueError(f"{layer} {name} must be a number or a pair of numbers in [0, 1], got {name}={factor!r}.")


class ColorLayer(RandomImageLayer):
    """Base of the colour layers: ``augment`` is ``transform_images(x, get_random_transformation(x))``.

    ``channels`` names the channel counts a layer takes (None: any)."""

    channels: tuple[int, ...] | None = None

    def check_input_shape(self, input_shape: Shape) -> None:
        super().check_input_shape(input_shape)
        channels = input_shape[-3 if self.data_format == "channels_first" else -1]
        if self.channels is not None and channels not in self.channels:
            wanted = " or ".join(str(c) for c in self.channels)
            raise ValueError(self._shape_message(f"images with {wanted} channels (RGB)", input_shape))

    def get_random_transformation(self, images: torch.Tensor, training: bool = True):
        """One random draw per image of the batch ``images``; None for a deterministic layer."""
        return None

    def transform_images(self, images: torch.Tensor, transformation, training: bool = True) -> torch.Tensor:
        """The batch ``images`` changed by ``transformation``; unchanged when not ``training``."""
        raise NotImplementedError

    def augment(self, x: torch.Tensor) -> torch.Tensor:
        return self.transform_images(x, self.get_random_transformation(x))


class RandomGrayscale(ColorLayer):
    """Turns each image grey (the luma in every channel, keeping the channel count) with probability
    ``factor``. Images have 1 or 3 channels."""

    channels = (1, 3)
    config_omitted = ("seed",)  # as Keras 3.15, whose RandomGrayscale config has no seed

    def __init__(self, factor: float = 0.5, data_format: str | None = None, seed: int | None = None, **kwargs):
        super().__init__(seed=seed, data_format=data_format, **kwargs)
        if not isinstance(factor, (int, float)) or isinstance(factor, bool) or not 0 <= factor <= 1:
            raise ValueError(f"RandomGrayscale factor must be a number in [0, 1], got factor={factor!r}.")
        self.factor = float(factor)

    def get_random_transformation(self, images: torch.Tensor, training: bool = True) -> torch.Tensor:
        """Which images turn grey: bool ``(batch, 1, 1, 1)``."""
        return (self.uniform(images.shape[0], 0.0, 1.0, images) < self.factor).view(-1, 1, 1, 1)

    def transform_images(self, images, transformation, training=True):
        if not training:
            return images
        return torch.where(transformation, rgb_to_grayscale(images), images)


class RandomInvert(ColorLayer):
    """Replaces each pixel ``v`` by ``value_range[1] - v`` (Keras' rule) in a random share of the images:
    each image draws a probability from ``factor`` (a number ``f`` in [0, 1]: ``[0, f]``) and is
    inverted with it."""

    resolved_config = ("factor",)

    def __init__(self, factor=1.0, value_range=(0, 255), seed: int | None = None, data_format: str | None = None,
                 **kwargs):
        super().__init__(seed=seed, data_format=data_format, **kwargs)
        self.factor = base_factor("RandomInvert", factor, 0, 1)
        self.value_range = check_value_range("RandomInvert", value_range)  # not sorted, as Keras

    def get_random_transformation(self, images, training=True):
        """``{"apply_inversion": bool (batch,)}``."""
        if not training:
            return None
        probability = self.uniform(images.shape[0], *self.factor, images)
        return {"apply_inversion": self.uniform(images.shape[0], 0.0, 1.0, images) < probability}

    def transform_images(self, images, transformation, training=True):
        if not training:
            return images
        return torch.where(transformation["apply_inversion"].view(-1, 1, 1, 1), self.value_range[1] - images,
                           images)


class Solarization(ColorLayer):
    """Solarizes each image: on the 0-255 scale, adds a random ``addition`` (drawn, as Keras, from
    ``[addition_factor[0], addition_factor[1] * 255]``), clips, and replaces every pixel ``v`` at or above a
    random ``threshold`` (drawn likewise from ``threshold_factor``) by ``255 - v``. Factors lie in [0, 1]; a
    number ``f`` means ``(0, f)``. With the defaults every pixel is inverted."""

    resolved_config = ("addition_factor", "threshold_factor", "value_range")

    def __init__(self, addition_factor=0.0, threshold_factor=0.0, value_range=(0, 255), seed: int | None = None,
                 data_format: str | None = None, **kwargs):
        super().__init__(seed=seed, data_format=data_format, **kwargs)
        self.addition_factor = unit_factor("Solarization", addition_factor, "addition_factor", False)
        self.threshold_factor = unit_factor("Solarization", threshold_factor, "threshold_factor", False)
        self.value_range = sorted_range("Solarization", value_range)

    def get_random_transformation(self, images, training=True):
        """``{"additions": (batch, 1, 1, 1), "thresholds": (batch, 1, 1, 1)}`` on the 0-255 scale."""
        if not training:
            return None
        batch = images.shape[0]
        additions = self.uniform(batch, self.addition_factor[0], self.addition_factor[1] * 255, images)
        thresholds = self.uniform(batch, self.threshold_factor[0], self.threshold_factor[1] * 255, images)
        return {"additions": additions.view(-1, 1, 1, 1), "thresholds": thresholds.view(-1, 1, 1, 1)}

    def transform_images(self, images, transformation, training=True):
        if not training or transformation is None:
            return images
        out = (rescale(images, self.value_range, (0, 255)) + transformation["additions"]).clamp(0, 255)
        out = torch.where(out < transformation["thresholds"], out, 255 - out)
        return rescale(out, (0, 255), self.value_range)


class AutoContrast(ColorLayer):
    """Stretches each channel of each image linearly so that its lowest value becomes ``value_range[0]``
    and its highest ``value_range[1]``; a constant channel is left as it is. Applied at inference too,
    as in Keras."""

    resolved_config = ("value_range",)

    def __init__(self, value_range=(0, 255), data_format: str | None = None, **kwargs):
        super().__init__(data_format=data_format, **kwargs)
        self.value_range = sorted_range("AutoContrast", value_range)

    def transform(self, x: torch.Tensor) -> torch.Tensor:
        return self.transform_images(x, None)

    def transform_images(self, images, transformation=None, training=True):
        scaled = rescale(images, self.value_range, (0, 255))
        low = scaled.amin(dim=(1, 2), keepdim=True)
        high = scaled.amax(dim=(1, 2), keepdim=True)
        scale = 255.0 / (high - low)
        out = rescale((scaled * scale + -low * scale).clamp(0.0, 255.0), (0, 255), self.value_range)
        # a constant channel divides by zero: NaN, where Keras keeps the input
        return torch.where(torch.isnan(out), images, out)


class RandomPosterization(ColorLayer):
    """Keeps the ``bits`` highest bits of each 0-255 pixel value, ``bits`` drawn per image as Keras does:
    an integer in ``[factor[0], factor[1])`` (``factor[1]`` itself only when both are equal). ``factor``
    is an integer in [1, 8] (``f``: ``(1, f)``) or a pair of them."""

    resolved_config = ("factor", "value_range")

    def __init__(self, factor, value_range=(0, 255), data_format: str | None = None, seed: int | None = None,
                 **kwargs):
        super().__init__(seed=seed, data_format=data_format, **kwargs)
        self.factor = base_factor("RandomPosterization", factor, 1, 8)  # as Keras keeps it: (1, 4) for 4
        if any(b != int(b) for b in self.factor):
            raise ValueError(f"RandomPosterization factor must be whole numbers of bits, got factor={factor!r}.")
        self.value_range = sorted_range("RandomPosterization", value_range)

    def get_random_transformation(self, images, training=True):
        """``{"shift_factor": uint8 (batch,)}``: how many low bits each image drops."""
        batch, (low, high) = images.shape[0], (int(b) for b in self.factor)
        if low != high:
            bits = torch.randint(low, high, (batch,), generator=self.generator(images), device=images.device,
                                 dtype=torch.uint8)
        else:
            bits = torch.full((batch,), low, dtype=torch.uint8, device=images.device)
        return {"shift_factor": 8 - bits}

    def transform_images(self, images, transformation, training=True):
        if not training:
            return images
        shift = transformation["shift_factor"].to(torch.uint8).view(-1, 1, 1, 1)
        pixels = rescale(images, self.value_range, (0, 255)).to(torch.uint8)
        kept = torch.bitwise_left_shift(torch.bitwise_right_shift(pixels, shift), shift)
        return rescale(kept.to(images.dtype), (0, 255), self.value_range)


class Equalization(ColorLayer):
    """Histogram equalization of each channel on the 0-255 scale with ``bins`` bins. As in Keras, one
    histogram per channel is taken over the whole batch (an unbatched image is its own batch), and a
    channel with a single occupied bin is left as it is."""

    resolved_config = ("value_range",)

    def __init__(self, value_range=(0, 255), bins: int = 256, data_format: str | None = None, **kwargs):
        super().__init__(data_format=data_format, **kwargs)
        if not isinstance(bins, int) or isinstance(bins, bool) or bins < 2:
            raise ValueError(f"Equalization bins must be an integer of at least 2, got bins={bins!r}.")
        self.bins = bins
        self.value_range = sorted_range("Equalization", value_range)

    def transform_images(self, images, transformation=None, training=True):
        if not training:
            return images
        low, high = self.value_range
        bins, channels = self.bins, images.shape[-1]
        scale = 255.0 / (high - low)
        x = images * scale + (0.0 - low * scale)
        # All channels' histograms at once: channel c counts in bins [c * bins, (c + 1) * bins).
        offsets = torch.arange(channels, device=images.device) * bins
        bin_of = (x * (bins - 1) / 255.0).to(torch.int32).clamp(0, bins - 1)
        hist = torch.bincount((bin_of + offsets).reshape(-1), minlength=channels * bins).view(channels, bins)
        cdf = hist.cumsum(1)
        cdf_min = cdf.gather(1, (cdf > 0).int().argmax(1, keepdim=True))
        denominator = cdf[:, -1:] - cdf_min
        denominator = torch.where(denominator == 0, torch.ones_like(denominator), denominator)
        table = (((cdf - cdf_min) * 255).to(images.dtype) / denominator.to(images.dtype)).round().clamp(0, 255)
        # Keras looks pixels up with a differently rounded index than it bins them: kept for parity.
        index = (x / 255.0 * (bins - 1)).clamp(0, bins - 1).to(torch.int32)
        looked_up = table.reshape(-1)[index + offsets]
        out = torch.where((hist > 0).sum(1) <= 1, x, looked_up)
        back = (high - low) / 255.0
        return (out * back + (low - 0.0 * back)).to(images.dtype)


class RandomColorDegeneration(ColorLayer):
    """Blends each image with its greyscale version: ``image + f * (grey - image)`` with ``f`` drawn per image
    from ``factor`` (a number ``f`` in [0, 1] means ``(-f, f)``; negative ``f`` saturates), then clips to
    ``value_range``. Images have 3 channels (1: unchanged)."""

    channels = (1, 3)
    resolved_config = ("factor", "value_range")

    def __init__(self, factor, value_range=(0, 255), data_format: str | None = None, seed: int | None = None,
                 **kwargs):
        super().__init__(seed=seed, data_format=data_format, **kwargs)
        self.factor = base_factor("RandomColorDegeneration", factor, -1, 1)
        self.value_range = sorted_range("RandomColorDegeneration", value_range)

    def get_random_transformation(self, images, training=True):
        """``{"factor": (batch, 1, 1, 1)}``."""
        return {"factor": self.uniform(images.shape[0], *self.factor, images).view(-1, 1, 1, 1)}

    def transform_images(self, images, transformation, training=True):
        if not training:
            return images
        factor = transformation["factor"].to(images.dtype)
        return (images + factor * (rgb_to_grayscale(images) - images)).clamp(*self.value_range)


class RandomSharpness(ColorLayer):
    """Sharpens or blurs each image: with ``f`` drawn per image from ``factor`` (in [0, 1]; a number ``f``
    means ``(0, f)``), ``image + (1 - 2 f) * (smooth - image)``, ``smooth`` being Keras' 3x3 smoothing of
    each channel (centre weight 5/13, zero padding); ``f = 0.5`` leaves images as they are. Clipped to
    ``value_range``."""

    resolved_config = ("factor", "value_range")

    def __init__(self, factor, value_range=(0, 255), data_format: str | None = None, seed: int | None = None,
                 **kwargs):
        super().__init__(seed=seed, data_format=data_format, **kwargs)
        self.factor = base_factor("RandomSharpness", factor, 0, 1)
        self.value_range = sorted_range("RandomSharpness", value_range)

    def get_random_transformation(self, images, training=True):
        """``{"factor": (batch,)}``."""
        return {"factor": self.uniform(images.shape[0], *self.factor, images)}

    def transform_images(self, images, transformation, training=True):
        if not training:
            return images
        strength = (transformation["factor"] * 2).to(images.dtype).view(-1, 1, 1, 1)
        channels = images.shape[-1]
        side, centre = 1.0 / 13.0, 5.0 / 13.0
        kernel = torch.tensor([[side, side, side], [side, centre, side], [side, side, side]], dtype=images.dtype,
                              device=images.device)
        smooth = F.conv2d(images.movedim(-1, 1), kernel.expand(channels, 1, 3, 3), padding=1, groups=channels)
        return (images + (1.0 - strength) * (smooth.movedim(1, -1) - images)).clamp(*self.value_range)
