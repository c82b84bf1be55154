"""The base of the augmentation layers (``RandomImageLayer``; ``AugmentationLayer`` adds Keras' config keys of
the newer ones: MixUp, CutMix, RandomErasing, RandomGaussianBlur, RandomPerspective, RandomElasticTransform,
RandAugment, AugMix), and the sampling and blurring kernels they share.

As in Keras, each layer splits its work in two: ``get_random_transformation(images)`` draws everything random
into a dict (the same keys as Keras'), and ``transform_images(images, transformation)`` (also
``transform_labels``, ``transform_segmentation_masks``) applies it without drawing anything, so a given
transformation gives the same result as Keras'. Called on a tensor the layer transforms the images; called on
a dict ``{"images": ..., "labels": ..., "segmentation_masks": ...}`` it draws once and transforms each entry
with that draw, returning a new dict (other keys pass through). Images are channels-last batches
``(batch, height, width, channels)`` or one image ``(height, width, channels)``; they change only in training
mode (the default of a layer called on its own, as Keras' ``training=True``).
"""
from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from layerwise.layers.preprocessing import ImageLayer

INTERPOLATIONS = ("nearest", "bilinear")
# Keras' torch map_coordinates fill rules as grid_sample padding: 'reflect' (d c b a | a b c d) is reflection
# about the pixel edges (align_corners=False), 'mirror' (c d c b | a b c d) reflection about the edge pixels'
# centres (align_corners=True), 'nearest' repeats the edge pixel.
_SAMPLING = {"reflect": ("reflection", False), "mirror": ("reflection", True), "nearest": ("border", False),
             "constant": ("zeros", False)}
FILL_MODES = ("constant", "nearest", "wrap", "mirror", "reflect")


def keras_range(layer: str, value, name: str, low: float = 0, high: float = 1) -> tuple[float, float]:
    """Keras' ``_set_factor``: a number ``v`` in [low, high] is ``(max(-|v|, low), |v|)``; a pair is sorted and
    must reach into [low, high] (its first number at most ``high``, its second at least ``low``). The numbers
    keep Keras' types (``0.3`` is ``(0, 0.3)``, the bound an int), as its config writes them."""
    message = f"{layer} {name} must be a number or a pair of numbers in [{low:g}, {high:g}], got {name}={value!r}."
    if isinstance(value, (tuple, list)):
        if len(value) != 2 or not all(is_number(v) for v in value) or value[0] > high or value[1] < low:
            raise ValueError(message)
        return tuple(sorted(value))
    if not is_number(value) or not low <= value <= high:
        raise ValueError(message)
    return max(-abs(value), low), abs(value)


def is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def check_choice(layer: str, name: str, value, choices) -> None:
    if value not in choices:
        raise ValueError(f"{layer} {name} must be one of {tuple(choices)}, got {name}={value!r}.")


def sample_pixels(images: torch.Tensor, pixels: torch.Tensor, interpolation: str = "bilinear",
                  fill_mode: str = "constant", fill_value: float = 0.0) -> torch.Tensor:
    """``images`` ``(batch, height, width, channels)`` read at ``pixels`` ``(batch, height, width, 2)``, the
    ``(x, y)`` input position (pixel centres at integers) of each output pixel, as Keras' map_coordinates:
    each of the interpolation's taps outside the image follows ``fill_mode``."""
    height, width = images.shape[1:3]
    if interpolation == "nearest":
        pixels = pixels.round()  # half to even, as Keras; exact integers then, so grid_sample picks that pixel
    size = pixels.new_tensor([width, height])
    x = images.movedim(-1, 1)
    if fill_mode == "wrap":
        # Periodic coordinates, read from the image with its first row and column repeated after its last,
        # so that interpolation between the last and the first pixel sees both.
        grid = torch.remainder(pixels, size) * 2 / size - 1
        x = F.pad(x, (0, 1, 0, 1), mode="circular")
        return F.grid_sample(x, grid, mode=interpolation, padding_mode="border", align_corners=True).movedim(1, -1)
    padding, align_corners = _SAMPLING[fill_mode]
    grid = pixels * 2 / (size - 1).clamp_min(1) - 1 if align_corners else (pixels * 2 + 1) / size - 1
    if fill_mode == "constant" and fill_value:
        # Outside taps read fill_value: sampling x - fill_value with zeros outside, plus fill_value.
        out = F.grid_sample(x - fill_value, grid, mode=interpolation, padding_mode="zeros", align_corners=False)
        return (out + fill_value).movedim(1, -1)
    return F.grid_sample(x, grid, mode=interpolation, padding_mode=padding, align_corners=align_corners).movedim(1, -1)


def gaussian_kernel(size: int, sigma: torch.Tensor) -> torch.Tensor:
    """A normalised 1-D Gaussian of ``size`` taps and standard deviation ``sigma`` (a 0-d tensor)."""
    x = torch.arange(size, dtype=sigma.dtype, device=sigma.device) - (size - 1) / 2
    kernel = torch.exp(-0.5 * (x / sigma) ** 2)
    return kernel / kernel.sum()


def gaussian_blur(images: torch.Tensor, kernel_size: tuple[int, int], sigma: torch.Tensor) -> torch.Tensor:
    """``images`` ``(batch, height, width, channels)`` blurred channel by channel with zero padding (Keras'
    ``ops.image.gaussian_blur``): ``kernel_size`` and ``sigma`` ``(2,)`` are (along the width, along the
    height), as in Keras. The image keeps its size: an even kernel pads one more after than before, as JAX's and
    TensorFlow's "SAME" padding (Keras' torch backend grows the image by one instead)."""
    sigma = sigma.to(images.dtype)
    kernel = torch.outer(gaussian_kernel(int(kernel_size[1]), sigma[1]), gaussian_kernel(int(kernel_size[0]), sigma[0]))
    channels = images.shape[-1]
    weight = kernel.expand(channels, 1, *kernel.shape)
    height, width = kernel.shape
    padded = F.pad(images.movedim(-1, 1), ((width - 1) // 2, width // 2, (height - 1) // 2, height // 2))
    return F.conv2d(padded, weight, groups=channels).movedim(1, -1)


def check_value_range(layer: str, value_range) -> tuple[float, float]:
    """Keras' ``value_range``: a pair of numbers, as floats in the given order."""
    if not isinstance(value_range, (tuple, list)) or len(value_range) != 2 or \
            not all(isinstance(v, (int, float)) for v in value_range):
        raise ValueError(f"{layer} value_range must be a pair of numbers (low, high), got {value_range!r}.")
    return float(value_range[0]), float(value_range[1])


class RandomImageLayer(ImageLayer):
    """Base of every augmentation layer: random draws from the layer's generator (``seed``) or PyTorch's global
    one (``set_random_seed``), Keras' split into ``get_random_transformation`` and ``transform_*``, and dict
    inputs. A subclass defines ``draw`` and ``apply`` (or overrides the two-step methods themselves)."""

    def __init__(self, seed: int | None = None, data_format: str | None = None, **kwargs):
        super().__init__(data_format=data_format, **kwargs)
        self.training = True  # Keras' augmentation layers augment when called on their own; a model sets the mode
        self.seed = seed
        self._generator: torch.Generator | None = None

    # ---- random draws ----------------------------------------------------------------------------------
    def generator(self, like: torch.Tensor) -> torch.Generator | None:
        """The layer's generator on ``like``'s device, None without a seed (PyTorch's global one then)."""
        if self.seed is None:
            return None
        if self._generator is None or self._generator.device != like.device:
            self._generator = torch.Generator(like.device).manual_seed(int(self.seed))
        return self._generator

    def uniform(self, n: int, low: float, high: float, like: torch.Tensor) -> torch.Tensor:
        """``n`` draws from ``U[low, high)`` on ``like``'s device, in its dtype."""
        return self.rand((n,), like, low, high)

    def rand(self, shape: tuple, like: torch.Tensor, low: float = 0.0, high: float = 1.0) -> torch.Tensor:
        """Uniform draws from ``[low, high)`` of ``shape`` on ``like``'s device, in its dtype."""
        draws = torch.rand(shape, generator=self.generator(like), device=like.device, dtype=like.dtype)
        return draws * (high - low) + low

    def randn(self, shape: tuple, like: torch.Tensor) -> torch.Tensor:
        return torch.randn(shape, generator=self.generator(like), device=like.device, dtype=like.dtype)

    def randint(self, high: int, shape: tuple, like: torch.Tensor) -> torch.Tensor:
        """Integers drawn uniformly from ``[0, high)``, of ``shape``, on ``like``'s device."""
        return torch.randint(high, shape, generator=self.generator(like), device=like.device)

    def permutation(self, n: int, like: torch.Tensor) -> torch.Tensor:
        return torch.randperm(n, generator=self.generator(like), device=like.device)

    def beta(self, n: int, alpha, like: torch.Tensor) -> torch.Tensor:
        """``n`` draws from Beta(alpha, alpha), through the Dirichlet sampler as torch's (and Keras') Beta."""
        return self.dirichlet((n, 2), alpha, like)[:, 0]

    def dirichlet(self, shape: tuple, alpha, like: torch.Tensor) -> torch.Tensor:
        """Draws from the symmetric Dirichlet(alpha) over ``shape[-1]`` categories, ``shape`` in all, in ``like``'s
        dtype (drawn in float32 for half-precision images: PyTorch's sampler has no half kernels)."""
        dtype = torch.promote_types(like.dtype, torch.float32)
        concentration = torch.as_tensor(alpha, dtype=dtype, device=like.device).expand(shape).contiguous()
        return torch._sample_dirichlet(concentration, generator=self.generator(like)).to(like.dtype)

    # ---- Keras' transformation API -------------------------------------------------------------------
    def images_of(self, data) -> torch.Tensor:
        """The image batch of ``data`` (a tensor or a dict with "images"), integers as the layer's float dtype."""
        images = data["images"] if isinstance(data, dict) else data
        images = torch.as_tensor(images)
        if not images.is_floating_point():
            images = images.to(self.image_dtype())
        return images.unsqueeze(0) if images.ndim == 3 else images

    def get_random_transformation(self, data, training: bool = True) -> Any:
        """Everything random for one call on ``data`` (images or a dict of them), or None (no change)."""
        return self.draw(self.images_of(data)) if training else None

    def draw(self, images: torch.Tensor) -> Any:
        """The random transformation of the batch ``images`` ``(batch, height, width, channels)``."""
        raise NotImplementedError

    def transform_images(self, images: torch.Tensor, transformation, training: bool = True) -> torch.Tensor:
        """``images`` (a batch, or one image) with ``transformation`` applied when training; same rank out."""
        batch = self.images_of(images)
        if training and transformation is not None:
            batch = self.apply(batch, transformation)
        return batch.squeeze(0) if torch.as_tensor(images).ndim == 3 else batch

    def apply(self, images: torch.Tensor, transformation) -> torch.Tensor:
        """The batch ``images`` changed by ``transformation`` (never None here)."""
        raise NotImplementedError

    def transform_labels(self, labels: torch.Tensor, transformation, training: bool = True):
        return labels

    def transform_segmentation_masks(self, masks: torch.Tensor, transformation, training: bool = True):
        return masks

    # ---- calls -----------------------------------------------------------------------------------------
    def transform(self, x: torch.Tensor) -> torch.Tensor:
        return self.augment(x) if self.training else x

    def augment(self, x: torch.Tensor) -> torch.Tensor:
        """The batch ``x`` augmented (training mode)."""
        transformation = self.draw(x) if x.shape[0] else None
        return x if transformation is None else self.apply(x, transformation)

    def forward(self, x):
        if not isinstance(x, dict):
            return super().forward(x)
        self.check_image_dict(x)
        images = torch.as_tensor(x["images"])
        if images.ndim not in (3, 4):
            raise ValueError(self._shape_message("'images' of shape (height, width, channels) or (batch, height, "
                                                 "width, channels)", tuple(images.shape)))
        single, first = images.ndim == 3, self.data_format == "channels_first"
        if first:  # transformations work on channels-last views
            images = images.movedim(-3, -1)
        batch = self.as_image_dtype(self.images_of(images))
        transformation = self.get_random_transformation(batch, training=self.training)
        out = dict(x)

        def batched(value) -> torch.Tensor:
            value = torch.as_tensor(value, device=batch.device)
            return value.unsqueeze(0) if single else value

        def unbatched(value: torch.Tensor) -> torch.Tensor:
            return value.squeeze(0) if single else value

        def as_given(value: torch.Tensor) -> torch.Tensor:
            return value.movedim(-1, -3) if first else value

        out["images"] = as_given(unbatched(self.transform_images(batch, transformation, self.training)))
        if "labels" in x:
            out["labels"] = unbatched(self.transform_labels(batched(x["labels"]), transformation, self.training))
        if "segmentation_masks" in x:
            masks = batched(x["segmentation_masks"])
            masks = self.transform_segmentation_masks(masks.movedim(-3, -1) if first else masks, transformation,
                                                      self.training)
            out["segmentation_masks"] = as_given(unbatched(masks))
        return out

    def compute_output_shape(self, input_shape):
        return input_shape if isinstance(input_shape, dict) else tuple(input_shape)


class AugmentationLayer(RandomImageLayer):
    """Base of Keras 3's newer augmentation layers. Their configs hold the factors as Keras resolved them (each
    subclass names them in ``resolved_config``: ``factor=0.3`` as ``(0, 0.3)``), written as lists, the JSON form
    of the other recorded pairs (``value_range``)."""

    def get_config(self) -> dict:
        config = super().get_config()
        for key in self.resolved_config:
            if isinstance(config.get(key), tuple):
                config[key] = list(config[key])
        return config


def value_range_of(layer: str, value_range) -> tuple[float, float]:
    """Keras' ``value_range`` as a ``(low, high)`` pair (kept as given in the config)."""
    low, high = check_value_range(layer, value_range)
    if low > high:
        raise ValueError(f"{layer} value_range must be (low, high) with low <= high, got value_range={value_range!r}.")
    return low, high

