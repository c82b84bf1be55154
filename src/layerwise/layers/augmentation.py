"""Random image augmentation: RandomFlip, RandomRotation, RandomZoom, RandomTranslation, RandomContrast,
RandomBrightness, RandomCrop.

They change images only while training (``fit``, or ``layer(x, training=True)``) and pass them through
unchanged at inference (``predict``, ``evaluate``, a model in eval mode), except RandomCrop, which then
resizes the largest centred window of its aspect ratio. Inputs are channels-last batches
``(batch, height, width, channels)`` or one image ``(height, width, channels)``. Each image gets its own
random draw, all drawn in one call; ``seed`` fixes the sequence of draws of one layer.

Rotation, zoom and translation follow Keras' affine convention (output pixel ``(x, y)`` reads the input at
``A @ (x, y, 1)`` in pixel units) and run as one sampling grid + ``grid_sample`` over the batch.

As Keras' layers, each has the two-step API of ``augmentation_base.py``: ``get_random_transformation`` returns
Keras' dict (``flips``; ``angle`` and ``rotation_matrix``; ``height_zoom`` and ``width_zoom``;
``translations``; ``contrast_factor``; ``rgb_delta``) or, for RandomCrop, the window's ``(top, left)``, and
``transform_images`` / ``transform_segmentation_masks`` apply one (Keras' own included). They also take dicts
``{"images", "labels", "segmentation_masks", ...}``: masks are flipped, cropped and resampled (at the nearest
pixel) with the images; labels pass through.
"""
from __future__ import annotations

import math

import torch

from layerwise.layers.augmentation_base import RandomImageLayer, check_value_range, sample_pixels
from layerwise.layers.base import Shape
from layerwise.layers.preprocessing import check_size, resize, smart_resize

FILL_MODES = ("reflect", "wrap", "constant", "nearest")
INTERPOLATIONS = ("bilinear", "nearest")


def factor_range(layer: str, factor, name: str, low_inclusive: bool = True) -> tuple[float, float]:
    """Keras' zoom and translation factors: a number ``f`` is ``(-|f|, |f|)``, a pair is sorted; each given
    number must lie in [-1, 1] (``(-1, 1]`` when ``low_inclusive`` is False)."""
    def fits(v) -> bool:
        return isinstance(v, (int, float)) and not isinstance(v, bool) and (-1 <= v if low_inclusive else -1 < v) \
            and v <= 1

    if isinstance(factor, (tuple, list)) and len(factor) == 2 and all(fits(v) for v in factor):
        return tuple(sorted(float(v) for v in factor))
    if fits(factor):
        return -abs(float(factor)), abs(float(factor))
    interval = "[-1, 1]" if low_inclusive else "(-1, 1]"
    raise ValueError(f"{layer} {name} must be a number or a pair of numbers in {interval}, got {name}={factor!r}.")


def base_factor(layer: str, factor, low: int, high: int) -> tuple[float, float]:
    """Keras' factor of the other image layers: a number ``f`` in [low, high] is ``(max(-|f|, low), |f|)``; a
    pair is sorted and must reach into [low, high]. The numbers keep Keras' types (``RandomContrast(0.1)``:
    ``(0, 0.1)``, its bound ``low`` an int), as its config writes them."""
    message = f"{layer} factor must be a number or a pair of numbers in [{low:g}, {high:g}], got factor={factor!r}."
    if isinstance(factor, (tuple, list)):
        if len(factor) != 2 or not all(isinstance(v, (int, float)) for v in factor) or \
                factor[0] > high or factor[1] < low:
            raise ValueError(message)
        return tuple(sorted(factor))
    if not isinstance(factor, (int, float)) or isinstance(factor, bool) or not low <= factor <= high:
        raise ValueError(message)
    return max(-abs(factor), low), abs(factor)


def base_layer_factor(factor):
    """What Keras' base image layer passes on as the factor of RandomBrightness and RandomRotation: ``factor or
    0.0`` (so ``0`` and None are ``0.0``, and ``RandomBrightness(0)`` is ``(-0.0, 0.0)``)."""
    return 0.0 if factor is None or (isinstance(factor, (int, float)) and not factor) else factor


def check_fill(layer: str, fill_mode: str, interpolation: str) -> None:
    if fill_mode not in FILL_MODES:
        raise ValueError(f"{layer} fill_mode must be one of {FILL_MODES}, got {fill_mode!r}.")
    if interpolation not in INTERPOLATIONS:
        raise ValueError(f"{layer} interpolation must be one of {INTERPOLATIONS}, got {interpolation!r}.")


def affine_transform(images: torch.Tensor, matrices: torch.Tensor, interpolation: str = "bilinear",
                     fill_mode: str = "reflect", fill_value: float = 0.0) -> torch.Tensor:
    """``images`` ``(batch, height, width, channels)`` resampled through ``matrices`` ``(batch, 2, 3)``, which
    map each output pixel ``(x, y, 1)`` to the input pixel it reads (pixel centres at integers, as Keras)."""
    batch, height, width, channels = images.shape
    # The sampling grid in pixel units, one matmul for the batch (what affine_grid does in normalised units):
    # exact integer arithmetic where Keras' is, so 'nearest' rounds the same half-way points as Keras.
    ys, xs = torch.meshgrid(torch.arange(height, dtype=images.dtype, device=images.device),
                            torch.arange(width, dtype=images.dtype, device=images.device), indexing="ij")
    base = torch.stack([xs, ys, torch.ones_like(xs)], dim=-1).view(1, height * width, 3)
    pixels = (base @ matrices.to(images.dtype).transpose(1, 2)).view(batch, height, width, 2)
    return sample_pixels(images, pixels, interpolation, fill_mode, fill_value)


def _column(values, like: torch.Tensor) -> torch.Tensor:
    """A transformation's per-image numbers as a ``(batch,)`` tensor in ``like``'s dtype and device."""
    return torch.as_tensor(values, device=like.device).to(like.dtype).reshape(-1)


class RandomFlip(RandomImageLayer):
    """Flips each image with probability 1/2: ``mode`` 'horizontal' (left-right), 'vertical' (up-down), or
    'horizontal_and_vertical' (both at once, one draw, as Keras)."""

    MODES = ("horizontal", "vertical", "horizontal_and_vertical")

    def __init__(self, mode: str = "horizontal_and_vertical", seed: int | None = None, data_format: str | None = None,
                 **kwargs):
        super().__init__(seed=seed, data_format=data_format, **kwargs)
        if mode not in self.MODES:
            raise ValueError(f"RandomFlip mode must be one of {self.MODES}, got {mode!r}.")
        self.mode = mode

    def draw(self, images: torch.Tensor) -> dict:
        """``{"flips": bool (batch, 1, 1, 1), "input_shape"}``."""
        flips = self.uniform(images.shape[0], 0.0, 1.0, images) <= 0.5
        return {"flips": flips.view(-1, 1, 1, 1), "input_shape": tuple(images.shape)}

    def apply(self, images: torch.Tensor, transformation: dict) -> torch.Tensor:
        return self.flip(images, torch.as_tensor(transformation["flips"], device=images.device))

    def transform_segmentation_masks(self, masks, transformation, training: bool = True):
        return self.transform_images(masks, transformation, training)

    def flip(self, x: torch.Tensor, flips: torch.Tensor) -> torch.Tensor:
        """``x`` with the images where ``flips`` (bool, one per image) is True flipped."""
        axes = {"horizontal": (2,), "vertical": (1,), "horizontal_and_vertical": (1, 2)}[self.mode]
        return torch.where(flips.view(-1, 1, 1, 1), x.flip(axes), x)


class _AffineLayer(RandomImageLayer):
    """A random affine resampling with Keras' fill modes and interpolations. A subclass draws a transformation
    (``draw``) and turns one into pixel-space matrices (``matrices``)."""

    def __init__(self, fill_mode: str = "reflect", interpolation: str = "bilinear", seed: int | None = None,
                 fill_value: float = 0.0, data_format: str | None = None, **kwargs):
        super().__init__(seed=seed, data_format=data_format, **kwargs)
        check_fill(type(self).__name__, fill_mode, interpolation)
        self.fill_mode, self.interpolation, self.fill_value = fill_mode, interpolation, float(fill_value)

    def matrices(self, transformation: dict, images: torch.Tensor) -> torch.Tensor:
        """One ``(2, 3)`` pixel-space matrix per image of ``images``, ``(batch, 2, 3)``."""
        raise NotImplementedError

    def apply(self, images: torch.Tensor, transformation: dict) -> torch.Tensor:
        return affine_transform(images, self.matrices(transformation, images), self.interpolation, self.fill_mode,
                                self.fill_value)

    def transform_segmentation_masks(self, masks, transformation, training: bool = True):
        """The masks resampled as the images, at the nearest pixel (as Keras: class ids are never blended)."""
        interpolation, self.interpolation = self.interpolation, "nearest"
        try:  # through transform_images, so that a subclass that overrides it (RandomShear) is followed too
            return self.transform_images(masks, transformation, training)
        finally:
            self.interpolation = interpolation


class RandomRotation(_AffineLayer):
    """Rotates each image about its centre by a random fraction of a full turn drawn from ``factor``
    (``0.1``: up to 36 degrees either way; ``(0.25, 0.25)``: exactly 90 degrees)."""

    resolved_config = ("factor",)

    def __init__(self, factor, fill_mode: str = "reflect", interpolation: str = "bilinear", seed: int | None = None,
                 fill_value: float = 0.0, data_format: str | None = None, **kwargs):
        super().__init__(fill_mode, interpolation, seed, fill_value, data_format, **kwargs)
        self.factor = base_factor("RandomRotation", base_layer_factor(factor), -1, 1)

    def draw(self, images: torch.Tensor) -> dict:
        """Keras' ``{"angle": degrees (batch,), "rotation_matrix": (batch, 8), "image_height", "image_width",
        "batch_size"}``."""
        batch, height, width = images.shape[:3]
        angles = self.uniform(batch, self.factor[0] * 360.0, self.factor[1] * 360.0, images)
        matrices = rotation_matrices(angles * (math.pi / 180.0), height, width).view(batch, 6)
        return {"angle": angles, "rotation_matrix": torch.cat([matrices, matrices.new_zeros(batch, 2)], dim=1),
                "image_height": height, "image_width": width, "batch_size": batch}

    def matrices(self, transformation: dict, images: torch.Tensor) -> torch.Tensor:
        matrix = torch.as_tensor(transformation["rotation_matrix"], device=images.device).to(images.dtype)
        return matrix.reshape(-1, 8)[:, :6].reshape(-1, 2, 3)


def rotation_matrices(angles: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Keras' rotation about the image centre by ``angles`` (radians, ``(batch,)``): ``(batch, 2, 3)``."""
    cos, sin = torch.cos(angles), torch.sin(angles)
    cx, cy = (width - 1) / 2, (height - 1) / 2
    rows = [cos, -sin, cx - cx * cos + cy * sin, sin, cos, cy - cx * sin - cy * cos]
    return torch.stack(rows, dim=1).view(-1, 2, 3)


class RandomZoom(_AffineLayer):
    """Zooms each image about its centre: the visible height is scaled by ``1 + h`` with ``h`` drawn from
    ``height_factor`` (negative: zoom in, positive: zoom out), the width by ``1 + w`` from ``width_factor``
    (None: the same draw as the height, keeping the aspect ratio). Factors lie in (-1, 1]."""

    def __init__(self, height_factor, width_factor=None, fill_mode: str = "reflect", interpolation: str = "bilinear",
                 seed: int | None = None, fill_value: float = 0.0, data_format: str | None = None, **kwargs):
        super().__init__(fill_mode, interpolation, seed, fill_value, data_format, **kwargs)
        self.height_factor = factor_range("RandomZoom", height_factor, "height_factor", False)
        self.width_factor = None if width_factor is None else \
            factor_range("RandomZoom", width_factor, "width_factor", False)

    def draw(self, images: torch.Tensor) -> dict:
        """``{"height_zoom": (batch, 1), "width_zoom": (batch, 1), "input_shape"}``: the scales ``1 + h``."""
        batch = images.shape[0]
        zoom_y = 1.0 + self.uniform(batch, *self.height_factor, images)
        zoom_x = zoom_y if self.width_factor is None else 1.0 + self.uniform(batch, *self.width_factor, images)
        return {"height_zoom": zoom_y.view(-1, 1), "width_zoom": zoom_x.view(-1, 1),
                "input_shape": tuple(images.shape)}

    def matrices(self, transformation: dict, images: torch.Tensor) -> torch.Tensor:
        height, width = images.shape[1:3]
        zoom_y, zoom_x = (_column(transformation[key], images) for key in ("height_zoom", "width_zoom"))
        zeros = torch.zeros_like(zoom_x)
        rows = [zoom_x, zeros, (width - 1) / 2 * (1 - zoom_x), zeros, zoom_y, (height - 1) / 2 * (1 - zoom_y)]
        return torch.stack(rows, dim=1).view(-1, 2, 3)


class RandomTranslation(_AffineLayer):
    """Shifts each image by a random fraction of its height (from ``height_factor``) and width (from
    ``width_factor``); ``0.2`` shifts by up to 20% either way. Factors lie in [-1, 1]."""

    def __init__(self, height_factor, width_factor, fill_mode: str = "reflect", interpolation: str = "bilinear",
                 seed: int | None = None, fill_value: float = 0.0, data_format: str | None = None, **kwargs):
        super().__init__(fill_mode, interpolation, seed, fill_value, data_format, **kwargs)
        self.height_factor = factor_range("RandomTranslation", height_factor, "height_factor")
        self.width_factor = factor_range("RandomTranslation", width_factor, "width_factor")

    def draw(self, images: torch.Tensor) -> dict:
        """``{"translations": (batch, 2), "input_shape"}``: each image's shift ``(x, y)`` in pixels."""
        batch, height, width = images.shape[:3]
        shift_y = self.uniform(batch, *self.height_factor, images) * height
        shift_x = self.uniform(batch, *self.width_factor, images) * width
        return {"translations": torch.stack([shift_x, shift_y], dim=1), "input_shape": tuple(images.shape)}

    def matrices(self, transformation: dict, images: torch.Tensor) -> torch.Tensor:
        shifts = torch.as_tensor(transformation["translations"], device=images.device).to(images.dtype)
        shift_x, shift_y = shifts.reshape(-1, 2).unbind(1)
        ones, zeros = torch.ones_like(shift_x), torch.zeros_like(shift_x)
        return torch.stack([ones, zeros, -shift_x, zeros, ones, -shift_y], dim=1).view(-1, 2, 3)


class RandomContrast(RandomImageLayer):
    """Scales each channel's deviation from its mean over the image by a random factor, then clips to
    ``value_range``. As in Keras, ``factor=f`` (in [0, 1]) draws the scale from ``[1, 1 + f]``, and a pair
    ``(a, b)``, once sorted, from ``[1 - a, 1 + b]``."""

    resolved_config = ("factor",)

    def __init__(self, factor, value_range=(0, 255), seed: int | None = None, **kwargs):
        super().__init__(seed=seed, **kwargs)
        self.factor = base_factor("RandomContrast", factor, 0, 1)
        self.value_range = check_value_range("RandomContrast", value_range)
        if self.value_range[0] > self.value_range[1]:
            raise ValueError(f"RandomContrast value_range must be (low, high), got {value_range!r}.")

    def draw(self, images: torch.Tensor) -> dict:
        """``{"contrast_factor": (batch, 1, 1, 1)}``."""
        factors = self.uniform(images.shape[0], 1.0 - self.factor[0], 1.0 + self.factor[1], images)
        return {"contrast_factor": factors.view(-1, 1, 1, 1)}

    def apply(self, images: torch.Tensor, transformation: dict) -> torch.Tensor:
        return self.adjust(images, _column(transformation["contrast_factor"], images))

    def adjust(self, x: torch.Tensor, factors: torch.Tensor) -> torch.Tensor:
        """``x`` with contrast ``factors`` ``(batch,)`` applied, clipped to the value range."""
        mean = x.mean(dim=(1, 2), keepdim=True)
        return torch.lerp(mean, x, factors.view(-1, 1, 1, 1)).clamp(*self.value_range)


class RandomBrightness(RandomImageLayer):
    """Adds to each image a random shift drawn from ``factor`` times the width of ``value_range``
    (``0.2``: up to 20% brighter or darker), then clips to ``value_range``. Factors lie in [-1, 1]."""

    resolved_config = ("factor", "value_range")

    def __init__(self, factor, value_range=(0, 255), seed: int | None = None, **kwargs):
        super().__init__(seed=seed, **kwargs)
        self.factor = base_factor("RandomBrightness", base_layer_factor(factor), -1, 1)
        check_value_range("RandomBrightness", value_range)
        self.value_range = tuple(sorted(value_range))  # as Keras keeps it (and writes it in the config)

    def draw(self, images: torch.Tensor) -> dict:
        """``{"rgb_delta": (batch, 1, 1, 1)}``: each image's shift in pixel units."""
        low, high = self.value_range
        return {"rgb_delta": (self.uniform(images.shape[0], *self.factor, images) * (high - low)).view(-1, 1, 1, 1)}

    def apply(self, images: torch.Tensor, transformation: dict) -> torch.Tensor:
        return (images + _column(transformation["rgb_delta"], images).view(-1, 1, 1, 1)).clamp(*self.value_range)

    def shift(self, x: torch.Tensor, factors: torch.Tensor) -> torch.Tensor:
        """``x`` brightened by ``factors`` ``(batch,)`` of the value range, clipped to it."""
        low, high = self.value_range
        return self.apply(x, {"rgb_delta": factors * (high - low)})


class RandomCrop(RandomImageLayer):
    """Crops a random ``(height, width)`` window of each image while training: ``(..., h, w, c) ->
    (..., height, width, c)``. At inference, and in training for an image not larger than the window on
    both sides, it crops the largest centred window of the target aspect ratio and resizes it (Keras'
    documented behaviour), so the output shape is always ``(height, width)``."""

    def __init__(self, height: int, width: int, seed: int | None = None, data_format: str | None = None, **kwargs):
        super().__init__(seed=seed, data_format=data_format, **kwargs)
        self.height, self.width = check_size("RandomCrop", height, width)

    def compute_output_shape(self, input_shape: Shape | dict) -> Shape | dict:
        if isinstance(input_shape, dict):  # the images and masks are cropped, the rest passes through
            return {k: self.compute_output_shape(v) if k in ("images", "segmentation_masks") and v else v
                    for k, v in input_shape.items()}
        return self.image_shape(input_shape, self.height, self.width)

    def transform(self, x: torch.Tensor) -> torch.Tensor:
        return self.transform_images(x, self.get_random_transformation(x, self.training), self.training)

    def draw(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor] | None:
        """``(tops, lefts)``, ``(batch,)`` each: the window of each image; None (a centred window, resized)
        for images not larger than the window on both sides."""
        batch, height, width = images.shape[:3]
        if height <= self.height or width <= self.width:
            return None
        tops = self.uniform(batch, 0.0, height - self.height + 1.0, images).long().clamp_max(height - self.height)
        lefts = self.uniform(batch, 0.0, width - self.width + 1.0, images).long().clamp_max(width - self.width)
        return tops, lefts

    def transform_images(self, images, transformation, training: bool = True) -> torch.Tensor:
        """``images`` cropped to the window ``transformation`` gives (Keras' ``(top, left)`` of the batch or ours,
        one per image), or, without one or at inference, to the centred window of the target aspect ratio,
        resized. A window that runs past the image (Keras' for small images) is resized to the target, as
        Keras does."""
        return self._crop(images, transformation, training, "bilinear")

    def transform_segmentation_masks(self, masks, transformation, training: bool = True):
        """The masks cropped as the images, resized (where needed) at the nearest pixel."""
        return self._crop(masks, transformation, training, "nearest")

    def _crop(self, images, transformation, training: bool, interpolation: str) -> torch.Tensor:
        single = torch.as_tensor(images).ndim == 3
        x = self.images_of(images)
        size = (self.height, self.width)
        if not training or transformation is None:
            x = smart_resize(x, size, interpolation)
        else:
            tops, lefts = (torch.as_tensor(v, device=x.device).long().reshape(-1) for v in transformation)
            if tops.numel() == 1 and lefts.numel() == 1:
                top, left = int(tops), int(lefts)
                x = x[:, top:top + self.height, left:left + self.width]
                x = x if tuple(x.shape[1:3]) == size else resize(x, size, interpolation)
            else:
                x = self.crop(x, tops, lefts)
        return x.squeeze(0) if single else x

    def crop(self, x: torch.Tensor, tops: torch.Tensor, lefts: torch.Tensor) -> torch.Tensor:
        """The window of each image whose top-left pixel is ``(tops[i], lefts[i])``, in one gather."""
        rows = (tops[:, None] + torch.arange(self.height, device=x.device))[:, :, None]
        cols = (lefts[:, None] + torch.arange(self.width, device=x.device))[:, None, :]
        return x[torch.arange(x.shape[0], device=x.device)[:, None, None], rows, cols]
