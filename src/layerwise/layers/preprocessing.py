"""Preprocessing that lives inside the model: Normalization (feature statistics learned by ``adapt``),
Resizing and CenterCrop, and the base of every image layer.

Image layers take channels-last batches ``(batch, height, width, channels)`` or one image
``(height, width, channels)``, which runs as a batch of one, as in Keras.
"""
from __future__ import annotations

import itertools
import math
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from layerwise.backend import float_dtype, get_device
from layerwise.dtype_policies.dtype_policy import FLOAT_DTYPES
from layerwise.layers._padding import DataFormat
from layerwise.layers.base import Layer, Shape
from layerwise.layers.weights import LayerState, WeightView

EPSILON = 1e-7  # Keras' backend.epsilon(): Normalization never divides by a smaller standard deviation
# Keras' torch backend resizes with these PyTorch modes; "nearest" is the exact (half-pixel) variant.
RESIZE_MODES = {"bilinear": "bilinear", "nearest": "nearest-exact", "bicubic": "bicubic"}


def check_size(layer: str, height, width) -> tuple[int, int]:
    """``(height, width)`` as positive ints, or a ValueError naming ``layer``."""
    if not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) and v > 0 for v in (height, width)):
        raise ValueError(f"{layer} height and width must be positive integers, got height={height!r}, "
                         f"width={width!r}.")
    return int(height), int(width)


def aspect_window(height: int, width: int, target_height: int, target_width: int) -> tuple[int, int, int, int]:
    """``(top, left, crop_height, crop_width)``: the largest centred window of the target aspect ratio,
    computed as Keras' ``smart_resize`` does."""
    crop_height = max(min(height, int(width * target_height / target_width)), 1)
    crop_width = max(min(width, int(height * target_width / target_height)), 1)
    return int((height - crop_height) / 2), int((width - crop_width) / 2), crop_height, crop_width


def resize(x: torch.Tensor, size: tuple[int, int], interpolation: str = "bilinear",
           antialias: bool = False) -> torch.Tensor:
    """``(batch, height, width, channels)`` resized to ``size`` with Keras' torch-backend kernels;
    integer images are rounded and saturated back to their dtype, as Keras does."""
    images = x if x.is_floating_point() else x.to(float_dtype())
    mode = RESIZE_MODES[interpolation]
    out = F.interpolate(images.movedim(-1, 1), size=size, mode=mode,
                        align_corners=False if mode in ("bilinear", "bicubic") else None,
                        antialias=antialias and mode in ("bilinear", "bicubic")).movedim(1, -1)
    if x.is_floating_point():
        return out
    info = torch.iinfo(x.dtype)
    return out.round().clamp(info.min, info.max).to(x.dtype)


def smart_resize(x: torch.Tensor, size: tuple[int, int], interpolation: str = "bilinear") -> torch.Tensor:
    """Keras' ``smart_resize``: crop the largest centred window of ``size``'s aspect ratio, then resize it."""
    top, left, crop_height, crop_width = aspect_window(x.shape[1], x.shape[2], *size)
    window = x[:, top:top + crop_height, left:left + crop_width]
    return window if tuple(window.shape[1:3]) == tuple(size) else resize(window, size, interpolation)


def aspect_resize(x: torch.Tensor, size: tuple[int, int], interpolation: str = "bilinear", antialias: bool = False,
                  crop_to_aspect_ratio: bool = False, pad_to_aspect_ratio: bool = False,
                  fill_value: float = 0.0) -> torch.Tensor:
    """Keras' resize of ``(batch, height, width, channels)``: first crops the largest centred window of
    ``size``'s aspect ratio, or pads to it with ``fill_value``, when asked."""
    if crop_to_aspect_ratio:
        top, left, crop_height, crop_width = aspect_window(x.shape[1], x.shape[2], *size)
        x = x[:, top:top + crop_height, left:left + crop_width]
    elif pad_to_aspect_ratio:
        height, width = x.shape[1], x.shape[2]
        # Keras pads the same amount on both sides, so an odd difference leaves the ratio one pixel short.
        top = int((max(height, int(width * size[0] / size[1])) - height) / 2)
        left = int((max(width, int(height * size[1] / size[0])) - width) / 2)
        x = F.pad(x, (0, 0, left, left, top, top), value=fill_value)
    return resize(x, size, interpolation, antialias)


class ImageLayer(DataFormat, Layer):
    """Base of the image layers: checks the input rank and runs ``transform`` on a float batch
    ``(batch, height, width, channels)``; a single image ``(height, width, channels)`` runs as a batch of one.
    Inputs are cast to the layer's compute dtype first (``dtype="float64"``: float64 images), as Keras casts
    them. With ``data_format='channels_first'`` images are ``(..., channels, height, width)``: ``transform``
    still sees the channels-last view of them (a free view, no copy)."""

    # Resizing returns integer images as integers, as in Keras: such a layer takes integer arrays as they are.
    keeps_dtype = False

    def __init__(self, data_format: str | None = None, **kwargs):
        super().__init__(**kwargs)
        self.set_data_format(data_format)

    def __call__(self, x, *args, **kwargs):
        if self.keeps_dtype and isinstance(x, np.ndarray) and x.dtype.kind in "iu":
            # the base layer would make integer pixels float32 before the layer sees them
            x = torch.tensor(x, device=get_device())
        return super().__call__(x, *args, **kwargs)

    def image_dtype(self) -> torch.dtype:
        """The dtype images are computed in: the layer's float compute dtype (float32 for a non-float policy)."""
        name = self.compute_dtype
        return getattr(torch, name) if name in FLOAT_DTYPES else float_dtype()

    def as_image_dtype(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` in ``image_dtype()``; integer images stay integers in a ``keeps_dtype`` layer."""
        if self.keeps_dtype and not x.is_floating_point():
            return x
        return x if x.dtype == self.image_dtype() else x.to(self.image_dtype())

    def image_shape(self, input_shape: Shape, height, width) -> Shape:
        """``input_shape`` with its images resized to ``height`` x ``width``, in this layer's data format."""
        if self.data_format == "channels_first":
            return (*input_shape[:-2], height, width)
        return (*input_shape[:-3], height, width, input_shape[-1])

    def check_input_shape(self, input_shape: Shape) -> None:
        # No weights, so any image size or channel count may follow the first call: only the rank matters.
        if len(input_shape) not in (3, 4):
            raise ValueError(self._shape_message("an image (height, width, channels) or a batch of images "
                                                 "(batch, height, width, channels)", input_shape))

    def transform(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.on_images(x, self.transform)

    def check_image_dict(self, x: dict) -> None:
        """Keras' dict inputs: 'images' required; bounding boxes are not supported here."""
        if "images" not in x:
            raise ValueError(f"{type(self).__name__} called on a dict expects an 'images' entry, got keys "
                             f"{sorted(x)}.")
        if "bounding_boxes" in x:
            raise ValueError(f"{type(self).__name__}: 'bounding_boxes' inputs are not supported.")

    def on_images(self, x: torch.Tensor, transform) -> torch.Tensor:
        """``transform`` of the channels-last batch view of ``x`` (one image or a batch, in the layer's format)."""
        x = self.as_image_dtype(x)
        first = self.data_format == "channels_first"
        if first:
            x = x.movedim(-3, -1)
        y = transform(x.unsqueeze(0)).squeeze(0) if x.ndim == 3 else transform(x)
        return y.movedim(-1, -3) if first else y


class _SizedImageLayer(ImageLayer):
    """An image layer whose output is ``height`` x ``width``; as in Keras, it also takes a dict of
    ``images`` and ``segmentation_masks`` (changed alike) and other entries (passed through)."""

    def __init__(self, height: int, width: int, data_format: str | None = None, **kwargs):
        super().__init__(data_format=data_format, **kwargs)
        self.height, self.width = check_size(type(self).__name__, height, width)

    def compute_output_shape(self, input_shape: Shape | dict) -> Shape | dict:
        if isinstance(input_shape, dict):
            return {k: self.compute_output_shape(v) if k in ("images", "segmentation_masks") else v
                    for k, v in input_shape.items()}
        return self.image_shape(input_shape, self.height, self.width)

    def forward(self, x):
        if not isinstance(x, dict):
            return super().forward(x)
        self.check_image_dict(x)
        out = dict(x, images=super().forward(torch.as_tensor(x["images"])))
        if "segmentation_masks" in x:
            out["segmentation_masks"] = self.on_images(torch.as_tensor(x["segmentation_masks"]), self.transform_masks)
        return out

    def transform_masks(self, masks: torch.Tensor) -> torch.Tensor:
        """Segmentation masks ``(batch, height, width, 1)`` changed as the images are."""
        return self.transform(masks)


class Resizing(_SizedImageLayer):
    """Resizes images to ``(height, width)``, in training and inference alike: ``(..., h, w, c) ->
    (..., height, width, c)``. ``crop_to_aspect_ratio`` first crops the largest centred window of the
    target aspect ratio; ``pad_to_aspect_ratio`` first pads with ``fill_value`` to it instead."""

    keeps_dtype = True

    def __init__(self, height: int, width: int, interpolation: str = "bilinear", crop_to_aspect_ratio: bool = False,
                 pad_to_aspect_ratio: bool = False, fill_mode: str = "constant", fill_value: float = 0.0,
                 antialias: bool = False, data_format: str | None = None, **kwargs):
        super().__init__(height, width, data_format=data_format, **kwargs)
        if interpolation not in RESIZE_MODES:
            raise ValueError(f"Resizing interpolation must be one of {sorted(RESIZE_MODES)}, got {interpolation!r}.")
        if crop_to_aspect_ratio and pad_to_aspect_ratio:
            raise ValueError("Resizing: only one of crop_to_aspect_ratio and pad_to_aspect_ratio can be True.")
        if fill_mode != "constant":
            raise ValueError(f"Resizing supports fill_mode='constant' only (as Keras' torch backend), got "
                             f"{fill_mode!r}.")
        self.interpolation, self.antialias = interpolation, bool(antialias)
        self.crop_to_aspect_ratio, self.pad_to_aspect_ratio = bool(crop_to_aspect_ratio), bool(pad_to_aspect_ratio)
        self.fill_mode, self.fill_value = fill_mode, float(fill_value)

    def transform(self, x: torch.Tensor, interpolation: str | None = None) -> torch.Tensor:
        return aspect_resize(x, (self.height, self.width), interpolation or self.interpolation, self.antialias,
                             self.crop_to_aspect_ratio, self.pad_to_aspect_ratio, self.fill_value)

    def transform_masks(self, masks: torch.Tensor) -> torch.Tensor:
        return self.transform(masks, "nearest")  # class ids must not blend, as in Keras


class CenterCrop(_SizedImageLayer):
    """Crops the centred ``(height, width)`` window of each image; an image smaller than that along
    either side is cropped to the target aspect ratio and resized instead (Keras' ``smart_resize``)."""

    def transform(self, x: torch.Tensor) -> torch.Tensor:
        height, width = x.shape[1], x.shape[2]
        if height < self.height or width < self.width:
            return smart_resize(x, (self.height, self.width))
        top, left = (height - self.height) // 2, (width - self.width) // 2
        return x[:, top:top + self.height, left:left + self.width]


def _first_of(batch):
    """The inputs of a batch that may be ``(x, y)`` or ``(x, y, sample_weight)``."""
    return batch[0] if isinstance(batch, tuple) else batch


class Normalization(Layer):
    """``(x - mean) / sqrt(variance)`` with one mean and variance per index of ``axis`` (default the last;
    None: one for everything), learned by ``adapt(data)`` or given as ``mean`` and ``variance``. The output
    shape is the input's. ``invert=True`` maps normalised values back. Adapted statistics are
    non-trainable weights (``mean``, ``variance``, ``count``), so they are saved with the model."""

    supports_masking = True  # a mask passes through unchanged, as in Keras
    resolved_config = ("axis",)

    def __init__(self, axis=-1, mean=None, variance=None, invert: bool = False, **kwargs):
        super().__init__(**kwargs)
        axes = () if axis is None else (axis,) if isinstance(axis, (int, np.integer)) else tuple(axis)
        if not all(isinstance(a, (int, np.integer)) for a in axes):
            raise ValueError(f"Normalization axis must be an int, a tuple of ints or None, got {axis!r}.")
        self.axis, self.invert = tuple(int(a) for a in axes), bool(invert)
        if (mean is None) != (variance is None):
            raise ValueError(f"Normalization: give both mean and variance, or neither (then call adapt); got "
                             f"mean={mean!r}, variance={variance!r}.")
        if mean is not None:
            if np.shape(mean) != np.shape(variance):
                raise ValueError(f"Normalization: mean and variance must have the same shape, got "
                                 f"{np.shape(mean)} and {np.shape(variance)}.")
            if np.ndim(mean) > len(self.axis):
                raise ValueError(f"Normalization: mean of shape {np.shape(mean)} has more axes than axis="
                                 f"{axis!r} keeps ({len(self.axis)}).")
        self.input_mean = None if mean is None else np.asarray(mean, dtype=np.float64)
        self.input_variance = None if variance is None else np.asarray(variance, dtype=np.float64)
        self._adapted = False

    def get_config(self) -> dict:
        config = super().get_config()
        for key, value in (("mean", self.input_mean), ("variance", self.input_variance)):
            config[key] = None if value is None else value.tolist()
        return config

    # ---- shapes ---------------------------------------------------------------------------------
    def _kept_axes(self, ndim: int, shape: Shape) -> tuple[int, ...]:
        if any(not -ndim <= a < ndim for a in self.axis):
            raise ValueError(self._shape_message(f"an input with the axes {self.axis}", shape))
        return tuple(sorted(a % ndim for a in self.axis))

    def check_input_shape(self, input_shape: Shape) -> None:
        if self.built:
            if self._output_shape(input_shape) is None:
                raise ValueError(self._shape_message(
                    f"inputs of rank {len(self._broadcast)} with sizes {[self._broadcast[d] for d in self._keep]} "
                    f"along axis {self.axis}, as it was built for (or of any shape that its statistics of shape "
                    f"{tuple(self._broadcast)} broadcast against, aligned from the right)", input_shape))
            return
        keep = self._kept_axes(len(input_shape), input_shape)
        if any(input_shape[d] is None for d in keep):
            raise ValueError(self._shape_message(f"known sizes along axis {self.axis}", input_shape))

    def _output_shape(self, input_shape: Shape) -> Shape | None:
        """The shape of ``x - mean`` for ``x`` of ``input_shape``: the statistics (shape ``self._broadcast``)
        broadcast against it as numpy aligns shapes, from the right, which is how Keras applies them (so a layer
        adapted on ``(n, features)`` takes ``(batch, steps, features)``, and one with ``axis=None`` any shape).
        None where a known input size differs from a statistics size other than 1."""
        rank = max(len(input_shape), len(self._broadcast))
        sizes = (1,) * (rank - len(input_shape)) + tuple(input_shape)
        stats = (1,) * (rank - len(self._broadcast)) + tuple(self._broadcast)
        if any(s != 1 and n not in (None, 1, s) for n, s in zip(sizes, stats)):
            return None
        return tuple(s if n == 1 else n for n, s in zip(sizes, stats))

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        if not self.built:
            return tuple(input_shape)
        self.check_input_shape(input_shape)
        return self._output_shape(input_shape)

    def build(self, input_shape: Shape) -> None:
        ndim = len(input_shape)
        keep = self._kept_axes(ndim, input_shape)
        self._keep, self._broadcast = keep, [input_shape[d] if d in keep else 1 for d in range(ndim)]
        self._reduce = tuple(d for d in range(ndim) if d not in keep)
        shape = tuple(input_shape[d] for d in keep)
        if self.input_mean is None:
            self.register_buffer("adapt_mean", LayerState(torch.zeros(shape, dtype=float_dtype())))
            self.register_buffer("adapt_variance", LayerState(torch.ones(shape, dtype=float_dtype())))
            self.register_buffer("count", LayerState(torch.zeros((), dtype=torch.int32)))
            return
        # Given statistics line up with the kept axes from the right, then broadcast over them (as Keras).
        fixed = []
        for value in (self.input_mean, self.input_variance):
            expanded = [1] * ndim
            for i in range(1, value.ndim + 1):
                expanded[keep[-i]] = value.shape[-i]
            try:
                fixed.append(torch.as_tensor(value, dtype=float_dtype()).reshape(expanded).expand(self._broadcast))
            except RuntimeError as err:
                raise ValueError(f"Layer '{self.name}' (Normalization): mean and variance of shape {value.shape} "
                                 f"do not broadcast to the sizes {shape} of axis {self.axis} of input shape "
                                 f"{tuple(input_shape)}.") from err
        self.register_buffer("fixed_mean", fixed[0].contiguous(), persistent=False)
        self.register_buffer("fixed_variance", fixed[1].contiguous(), persistent=False)

    # ---- statistics -----------------------------------------------------------------------------
    def adapt(self, data) -> None:
        """Learn the mean and (population) variance of ``data``: a numpy array, a tensor, or an iterable of
        batches (arrays or tensors, or ``(x, y)`` tuples, e.g. a dataset); statistics of batches are merged
        exactly, as Keras merges them."""
        if self.input_mean is not None:
            raise ValueError(f"Layer '{self.name}' (Normalization) was given mean and variance; adapt() would "
                             "replace them. Create the layer without mean and variance to adapt it.")
        batches = None
        if hasattr(data, "__array__") and hasattr(data, "shape") and not isinstance(data, torch.Tensor):
            data = np.asarray(data)  # numpy arrays and array-likes such as pandas frames
        elif not isinstance(data, torch.Tensor):
            if not hasattr(data, "__iter__"):
                raise TypeError(f"Normalization.adapt expects a numpy array, a tensor or an iterable of batches, "
                                f"got {type(data).__name__}.")
            iterator = iter(data)
            first = next(iterator, None)
            if first is None:
                raise ValueError("Normalization.adapt received an empty iterable; pass at least one batch.")
            if not hasattr(_first_of(first), "shape"):
                raise TypeError(f"Normalization.adapt expects batches with a shape (arrays or tensors), got "
                                f"{type(_first_of(first)).__name__}.")
            data, batches = _first_of(first), itertools.chain([first], iterator)
        shape = tuple(data.shape)
        keep = self._kept_axes(len(shape), shape)
        if not self.built:
            self.build_from(tuple(n if d in keep else None for d, n in enumerate(shape)))
        else:
            self._check_adapt_shape(shape)
        if batches is not None:
            mean, variance, count = self._merged_statistics(batches)
        elif isinstance(data, np.ndarray):
            mean, variance = np.mean(data, axis=self._reduce), np.var(data, axis=self._reduce)
            count = math.prod(shape[d] for d in self._reduce)
        else:
            mean, variance = self._tensor_statistics(data)
            count = math.prod(shape[d] for d in self._reduce)
        with torch.no_grad():
            self.adapt_mean.copy_(torch.as_tensor(mean).reshape(self.adapt_mean.shape))
            self.adapt_variance.copy_(torch.as_tensor(variance).reshape(self.adapt_variance.shape))
            self.count.fill_(min(count, torch.iinfo(torch.int32).max))
        self._adapted = True

    def _check_adapt_shape(self, shape: Shape) -> None:
        if len(shape) != len(self._broadcast) or any(shape[d] != self._broadcast[d] for d in self._keep):
            expected = tuple(self._broadcast[d] if d in self._keep else None for d in range(len(self._broadcast)))
            raise ValueError(f"Layer '{self.name}' (Normalization) was built for inputs of shape {expected} "
                             f"(sizes along axis {self.axis} fixed), but adapt() received data of shape {shape}.")

    def _tensor_statistics(self, batch: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        batch = batch if batch.is_floating_point() else batch.to(float_dtype())
        if not self._reduce:  # torch reduces every axis when given none
            return batch, torch.zeros_like(batch)
        variance, mean = torch.var_mean(batch, dim=self._reduce, correction=0)
        return mean, variance

    def _merged_statistics(self, batches) -> tuple[torch.Tensor, torch.Tensor, int]:
        """Keras' running merge of batch means and variances (the lack-of-fit sum of squares), in float64."""
        total_mean = total_variance = None
        total = 0
        for batch in batches:
            batch = _first_of(batch)
            batch = batch.detach().cpu() if isinstance(batch, torch.Tensor) else torch.as_tensor(np.asarray(batch))
            self._check_adapt_shape(tuple(batch.shape))
            mean, variance = self._tensor_statistics(batch.to(torch.float64))
            count = math.prod(batch.shape[d] for d in self._reduce)
            total += count
            if total_mean is None:
                total_mean, total_variance = mean, variance
                continue
            weight = count / total
            new_mean = total_mean * (1 - weight) + mean * weight
            total_variance = ((total_variance + (total_mean - new_mean) ** 2) * (1 - weight)
                              + (variance + (mean - new_mean) ** 2) * weight)
            total_mean = new_mean
        return total_mean, total_variance, total

    def _statistics(self) -> tuple[torch.Tensor, torch.Tensor]:
        if self.input_mean is not None:
            return self.fixed_mean, self.fixed_variance
        if not self._adapted:
            # Statistics loaded from a file (or set as tensors) count as adapted: checked once, on first use.
            untouched = int(self.count) == 0 and bool((self.adapt_mean == 0).all()) and \
                bool((self.adapt_variance == 1).all())
            if untouched:
                raise ValueError(f"Layer '{self.name}' (Normalization) has no statistics yet: call "
                                 "layer.adapt(data) before using it, or pass mean= and variance=.")
            self._adapted = True
        return self.adapt_mean.reshape(self._broadcast), self.adapt_variance.reshape(self._broadcast)

    @property
    def mean(self) -> torch.Tensor | None:
        """The mean in the inputs' broadcast shape, e.g. ``(1, features)``, as Keras' ``layer.mean`` (None
        before the layer is built)."""
        if not self.built:
            return None
        return self.fixed_mean if self.input_mean is not None else self.adapt_mean.reshape(self._broadcast)

    @property
    def variance(self) -> torch.Tensor | None:
        """The variance in the inputs' broadcast shape, as Keras' ``layer.variance``."""
        if not self.built:
            return None
        return self.fixed_variance if self.input_mean is not None else self.adapt_variance.reshape(self._broadcast)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mean, variance = self._statistics()
        x = x if x.dtype == mean.dtype else x.to(mean.dtype)
        std = variance.sqrt().clamp_min(EPSILON)
        return mean + x * std if self.invert else (x - mean) / std

    # ---- weights --------------------------------------------------------------------------------
    def weight_views(self) -> list[WeightView]:
        if not self.built or self.input_mean is not None:
            return []
        return [WeightView("mean", self.adapt_mean, trainable=False),
                WeightView("variance", self.adapt_variance, trainable=False),
                WeightView("count", self.count, trainable=False)]

    def set_weights(self, weights: list[Any]) -> None:
        super().set_weights(weights)
        self._adapted = True
