"""Keras' image ops, ``layerwise.ops.image.*`` (``keras.ops.image``): colour conversions, ``resize``,
``crop_images`` / ``pad_images``, patches, the filters ``gaussian_blur`` and ``sobel_edges``, and ``ssim``;
the resampling ops (``affine_transform``, ``perspective_transform``, ``elastic_transform``,
``map_coordinates``, ``scale_and_translate``) live in ``ops/image_warp.py`` and are exported here.

Images are ``(batch, height, width, channels)`` or one image ``(height, width, channels)``, channels first
with ``data_format="channels_first"``. The kernels are those of the image layers (``layers/preprocessing.py``,
``layers/augmentation_*.py``), so an op and the layer built on it give the same numbers.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from layerwise.backend import float_dtype
from layerwise.layers import augmentation_color as color
from layerwise.layers import augmentation_hsv as hsv
from layerwise.layers._padding import as_tuple, check_padding, same_pads
from layerwise.layers.augmentation_base import gaussian_blur as blur
from layerwise.layers.augmentation_base import gaussian_kernel
from layerwise.layers.operations import keras_class_names, operation
from layerwise.layers.preprocessing import RESIZE_MODES, aspect_resize
from layerwise.ops.core import to_tensor, to_tensors
from layerwise.ops.image_warp import (affine_transform, as_batch, channels_first, elastic_transform, image_tensor,
                                      in_float, map_coordinates, perspective_transform, scale_and_translate)


def _channels(x: torch.Tensor, first: bool, allowed: tuple[int, ...], op: str) -> int:
    axis = -3 if first else -1
    if x.shape[axis] not in allowed:
        raise ValueError(f"ops.image.{op}: images need {' or '.join(map(str, allowed))} channels (axis {axis}); "
                         f"received images.shape={tuple(x.shape)}.")
    return axis


def _float_images(images, op: str) -> torch.Tensor:
    x = image_tensor(images, op)
    if not x.is_floating_point():
        raise ValueError(f"ops.image.{op}: images must be floating point; received dtype {x.dtype}.")
    return x


@operation()
def rgb_to_grayscale(images, data_format=None) -> torch.Tensor:
    """RGB images (or grey ones, copied) -> one grey channel, ``0.2989 R + 0.587 G + 0.114 B``, in their dtype."""
    first = channels_first(data_format, "rgb_to_grayscale")
    x = image_tensor(images, "rgb_to_grayscale")
    axis = _channels(x, first, (1, 3), "rgb_to_grayscale")
    return color.rgb_to_grayscale(x.movedim(axis, -1)).movedim(-1, axis)


@operation()
def rgb_to_hsv(images, data_format=None) -> torch.Tensor:
    """Float RGB images with values in [0, 1] -> hue, saturation, value, each in [0, 1]."""
    first = channels_first(data_format, "rgb_to_hsv")
    x = _float_images(images, "rgb_to_hsv")
    axis = _channels(x, first, (3,), "rgb_to_hsv")
    return hsv.rgb_to_hsv(x.movedim(axis, -1)).movedim(-1, axis)


@operation()
def hsv_to_rgb(images, data_format=None) -> torch.Tensor:
    """Float hue, saturation, value images (each in [0, 1]) -> RGB in [0, 1]."""
    first = channels_first(data_format, "hsv_to_rgb")
    x = _float_images(images, "hsv_to_rgb")
    axis = _channels(x, first, (3,), "hsv_to_rgb")
    return hsv.hsv_to_rgb(x.movedim(axis, -1)).movedim(-1, axis)


@operation()
def resize(images, size, interpolation: str = "bilinear", antialias: bool = False, crop_to_aspect_ratio: bool = False,
           pad_to_aspect_ratio: bool = False, fill_mode: str = "constant", fill_value: float = 0.0,
           data_format=None) -> torch.Tensor:
    """Images resized to ``size = (height, width)`` ('bilinear', 'nearest' or 'bicubic'); ``crop_to_aspect_ratio``
    first crops the largest centred window of that aspect ratio, ``pad_to_aspect_ratio`` pads to it with
    ``fill_value``. Integer images are rounded back to their dtype."""
    if len(size) != 2 or not all(int(s) > 0 for s in size):
        raise ValueError(f"ops.image.resize: size must be (height, width), two positive integers; received "
                         f"size={size!r}.")
    if interpolation not in RESIZE_MODES:
        reason = " (Lanczos is not supported on PyTorch, as in Keras' torch backend)" \
            if str(interpolation).startswith("lanczos") else ""
        raise ValueError(f"ops.image.resize: interpolation must be one of {sorted(RESIZE_MODES)}{reason}; received "
                         f"interpolation={interpolation!r}.")
    if fill_mode != "constant":
        raise ValueError(f"ops.image.resize: only fill_mode='constant' is supported; received {fill_mode!r}.")
    if crop_to_aspect_ratio and pad_to_aspect_ratio:
        raise ValueError("ops.image.resize: only one of crop_to_aspect_ratio and pad_to_aspect_ratio can be True.")
    first = channels_first(data_format, "resize")
    x, back = as_batch(image_tensor(images, "resize"), first)
    size = (int(size[0]), int(size[1]))
    half = x.dtype in (torch.float16, torch.bfloat16)  # Keras resizes these in float32
    out = aspect_resize(x.float() if half else x, size, interpolation, bool(antialias), bool(crop_to_aspect_ratio),
                        bool(pad_to_aspect_ratio), float(fill_value))
    return back(out.to(x.dtype) if half else out)


def _edges(given: tuple, size: int | None, names: tuple[str, str, str], op: str) -> tuple[int, int]:
    """Keras' (start, end, target) arguments along one axis -> ``(before, after)`` for an axis of ``size``;
    exactly two of the three are given, each >= 0. Padding has ``size`` added to the target, cropping removed."""
    if sum(v is None for v in given) != 1:
        raise ValueError(f"ops.image.{op}: give exactly two of {', '.join(names)}; received "
                         f"{', '.join(f'{n}={v}' for n, v in zip(names, given))}.")
    for name, value in zip(names, given):
        if value is not None and value < 0:
            raise ValueError(f"ops.image.{op}: {name} must be >= 0; received {name}={value}.")
    before, after, target = given
    grow = op == "pad_images"
    if before is None:
        before = (target - size - after) if grow else (size - target - after)
    if after is None:
        after = (target - size - before) if grow else (size - target - before)
    for name, value in zip(names, (before, after)):
        if value < 0:
            raise ValueError(f"ops.image.{op}: {name} would be {value} for images of size {size} along this axis "
                             f"and {names[2]}={target}.")
    return int(before), int(after)


@operation()
def pad_images(images, top_padding: int | None = None, left_padding: int | None = None,
               bottom_padding: int | None = None, right_padding: int | None = None, target_height: int | None = None,
               target_width: int | None = None, data_format=None) -> torch.Tensor:
    """Images padded with zeros: give two of ``top_padding``, ``bottom_padding``, ``target_height`` and two of
    ``left_padding``, ``right_padding``, ``target_width``."""
    first = channels_first(data_format, "pad_images")
    x = image_tensor(images, "pad_images")
    height_axis = x.ndim - (2 if first else 3)
    top, bottom = _edges((top_padding, bottom_padding, target_height), x.shape[height_axis],
                         ("top_padding", "bottom_padding", "target_height"), "pad_images")
    left, right = _edges((left_padding, right_padding, target_width), x.shape[height_axis + 1],
                         ("left_padding", "right_padding", "target_width"), "pad_images")
    return F.pad(x, (left, right, top, bottom) if first else (0, 0, left, right, top, bottom))


@operation()
def crop_images(images, top_cropping: int | None = None, left_cropping: int | None = None,
                bottom_cropping: int | None = None, right_cropping: int | None = None,
                target_height: int | None = None, target_width: int | None = None, data_format=None) -> torch.Tensor:
    """Images cropped: give two of ``top_cropping``, ``bottom_cropping``, ``target_height`` and two of
    ``left_cropping``, ``right_cropping``, ``target_width``."""
    first = channels_first(data_format, "crop_images")
    x = image_tensor(images, "crop_images")
    height_axis = x.ndim - (2 if first else 3)
    height, width = x.shape[height_axis], x.shape[height_axis + 1]
    top, bottom = _edges((top_cropping, bottom_cropping, target_height), height,
                         ("top_cropping", "bottom_cropping", "target_height"), "crop_images")
    left, right = _edges((left_cropping, right_cropping, target_width), width,
                         ("left_cropping", "right_cropping", "target_width"), "crop_images")
    return x.narrow(height_axis, top, height - top - bottom).narrow(height_axis + 1, left, width - left - right)


@operation()
def extract_patches(images, size, strides=None, dilation_rate=1, padding: str = "valid",
                    data_format=None) -> torch.Tensor:
    """Patches of ``size`` (an int or ``(height, width)`` for images; ``(depth, height, width)`` for volumes
    ``(batch, depth, height, width, channels)``) taken every ``strides`` (default: ``size``), each flattened
    (patch position first, then channel) into the channel axis: ``(batch, out_height, out_width,
    height * width * channels)``."""
    if not isinstance(size, int) and (not isinstance(size, (tuple, list)) or len(size) not in (2, 3)):
        raise ValueError(f"ops.image.extract_patches: size must be an int or a tuple of 2 (or 3, for volumes) ints; "
                         f"received size={size!r}.")
    rank = 2 if isinstance(size, int) else len(size)
    size = as_tuple(size, rank, "ops.image.extract_patches: size")
    strides = as_tuple(strides or size, rank, "ops.image.extract_patches: strides")
    dilation = as_tuple(dilation_rate, rank, "ops.image.extract_patches: dilation_rate")
    padding = check_padding(padding, what="ops.image.extract_patches: padding")
    first = channels_first(data_format, "extract_patches")
    x = image_tensor(images, "extract_patches", ranks=(rank + 1, rank + 2))
    single = x.ndim == rank + 1
    x = x.unsqueeze(0) if single else x
    x = x if first else x.movedim(-1, 1)  # (batch, channels, *spatial)
    if padding == "same":
        pads = [same_pads(n, k, s, d) for n, k, s, d in zip(x.shape[2:], size, strides, dilation)]
        x = F.pad(x, [p for pair in reversed(pads) for p in pair])
    for axis, (k, s, d) in enumerate(zip(size, strides, dilation)):
        x = x.unfold(2 + axis, (k - 1) * d + 1, s)[..., ::d]  # a new last axis: the (dilated) window
    # (batch, channels, *out, *window) -> (batch, *out, *window, channels) -> (batch, *out, patch)
    out = x.permute(0, *range(2, 2 + 2 * rank), 1).flatten(1 + rank)
    out = out.movedim(-1, 1) if first else out
    return out.squeeze(0) if single else out


def extract_patches_3d(volumes, size, strides=None, dilation_rate=1, padding: str = "valid",
                       data_format=None) -> torch.Tensor:
    """``extract_patches`` of volumes ``(batch, depth, height, width, channels)``; ``size`` an int or
    ``(depth, height, width)``."""
    if isinstance(size, int):
        size = (size, size, size)
    if len(size) != 3 or (strides is not None and not isinstance(strides, int) and len(strides) != 3):
        raise ValueError(f"ops.image.extract_patches_3d: size and strides must be ints or tuples of 3; received "
                         f"size={size!r}, strides={strides!r}.")
    return extract_patches(volumes, tuple(size), strides, dilation_rate, padding, data_format)


@operation()
def gaussian_blur(images, kernel_size=(3, 3), sigma=(1.0, 1.0), data_format=None) -> torch.Tensor:
    """Images blurred channel by channel with a Gaussian kernel, zeros beyond the edges. As Keras' torch backend
    computes it, the first of ``kernel_size`` and ``sigma`` is along the width, the second along the height;
    the image keeps its size (with an even kernel too, as JAX's and TensorFlow's; Keras' torch backend grows it)."""
    sizes = tuple(kernel_size) if isinstance(kernel_size, (tuple, list)) else ()
    if len(sizes) != 2 or not all(isinstance(k, int) and k > 0 for k in sizes):
        raise ValueError(f"ops.image.gaussian_blur: kernel_size must be two positive integers; received "
                         f"kernel_size={kernel_size!r}.")
    first = channels_first(data_format, "gaussian_blur")
    x, back = as_batch(image_tensor(images, "gaussian_blur"), first)
    sigma = to_tensor(sigma, device=x.device).reshape(-1).expand(2)
    return back(in_float(x, lambda v: blur(v, sizes, sigma)))


@operation()
def sobel_edges(images, data_format=None) -> torch.Tensor:
    """Sobel gradients of a batch of images, zeros beyond the edges: ``(batch, height, width, channels, 2)``
    holding ``[dy, dx]`` (``(batch, channels, height, width, 2)`` channels first). Integer images give floats."""
    first = channels_first(data_format, "sobel_edges")
    x = image_tensor(images, "sobel_edges", ranks=(4,))
    x = x if x.is_floating_point() else x.to(float_dtype())
    x = x if first else x.movedim(-1, 1)
    dx = torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]], dtype=x.dtype, device=x.device)
    channels = x.shape[1]
    kernels = torch.stack([dx.T, dx]).repeat(channels, 1, 1).unsqueeze(1)  # dy then dx for each channel
    edges = F.conv2d(x, kernels, padding=1, groups=channels).unflatten(1, (channels, 2)).movedim(2, -1)
    return edges if first else edges.movedim(1, 3)


@operation()
def ssim(image1, image2, max_val: float = 1.0, filter_size: int = 11, filter_sigma: float = 1.5, k1: float = 0.01,
         k2: float = 0.03, data_format=None) -> torch.Tensor:
    """Structural similarity of two images (or batches): local means, variances and covariance under a
    ``filter_size`` Gaussian window (valid positions only), averaged over the image and its channels. Returns
    one value per image pair, in ``image1``'s dtype."""
    first = channels_first(data_format, "ssim")
    a, b = to_tensors(image1, image2)
    image_tensor(a, "ssim", "image1")
    image_tensor(b, "ssim", "image2")
    if a.shape != b.shape:
        raise ValueError(f"ops.image.ssim: image1 and image2 must have the same shape; received "
                         f"{tuple(a.shape)} and {tuple(b.shape)}.")
    dtype, single = a.dtype, a.ndim == 3
    work = dtype if dtype.is_floating_point else float_dtype()
    a, b = as_batch(a.to(work), first)[0], as_batch(b.to(work), first)[0]
    batch, height, width, channels = a.shape
    # Each channel as its own single-channel image: (batch * channels, 1, height, width).
    a, b = (t.movedim(-1, 1).reshape(-1, 1, height, width) for t in (a, b))
    g = gaussian_kernel(int(filter_size), torch.tensor(float(filter_sigma), dtype=work, device=a.device))
    kernel = torch.outer(g, g)[None, None]

    def local_mean(t: torch.Tensor) -> torch.Tensor:
        return F.conv2d(t, kernel)
    mu1, mu2 = local_mean(a), local_mean(b)
    c1, c2 = (k1 * max_val) ** 2, (k2 * max_val) ** 2
    var1, var2, cov = local_mean(a * a) - mu1 * mu1, local_mean(b * b) - mu2 * mu2, local_mean(a * b) - mu1 * mu2
    ssim_map = (2 * mu1 * mu2 + c1) * (2 * cov + c2) / ((mu1 * mu1 + mu2 * mu2 + c1) * (var1 + var2 + c2))
    out = ssim_map.mean(dim=(1, 2, 3)).reshape(batch, channels).mean(-1)
    return (out.squeeze(0) if single else out).to(dtype)


keras_class_names(rgb_to_grayscale="RGBToGrayscale", rgb_to_hsv="RGBToHSV", hsv_to_rgb="HSVToRGB", ssim="SSIM")

__all__ = ["affine_transform", "crop_images", "elastic_transform", "extract_patches", "extract_patches_3d",
           "gaussian_blur", "hsv_to_rgb", "map_coordinates", "pad_images", "perspective_transform", "resize",
           "rgb_to_grayscale", "rgb_to_hsv", "scale_and_translate", "sobel_edges", "ssim"]
