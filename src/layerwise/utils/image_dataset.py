"""Keras' ``image_dataset_from_directory``: a folder of class sub-folders of images -> batches.

The file list, the seeded shuffle and the validation split follow Keras 3
(``keras/src/utils/dataset_utils.py``) step for step, so the same ``seed`` and ``validation_split``
put the same files in the same subset. Unlike Keras (which streams files through ``tf.data``), the
images are decoded once, with Pillow, into one array: small data sets such as CIFAR-10 then cost no
decoding per epoch. The pixels are Keras' (TensorFlow's): 16-bit files keep their high byte as
``tf.image.decode_image`` does, and images are resized as ``tf.image.resize`` does (no antialiasing,
half-pixel centres), in float32 with torch. Files that Pillow cannot decode are skipped and reported in
one warning.
"""
from __future__ import annotations

import warnings
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from layerwise.backend import standardize_data_format
from layerwise.utils.dataset_files import (FolderDataset, check_label_arguments, check_split_arguments,
                                           encode_labels, indexed_subsets)
from layerwise.utils.dataset_methods import check_format

ALLOWLIST_FORMATS = (".bmp", ".gif", ".jpeg", ".jpg", ".png")
_CHANNELS = {"grayscale": 1, "rgb": 3, "rgba": 4}
_PIL_MODES = {1: "L", 3: "RGB", 4: "RGBA"}
_DECODE_ERRORS = (OSError, ValueError, SyntaxError, Image.DecompressionBombError)


def _keys_cubic(x: np.ndarray) -> np.ndarray:
    """Keys' cubic convolution kernel (a = -0.5), as TensorFlow's ``resize_bicubic``."""
    return np.where(x < 1, ((1.5 * x - 2.5) * x) * x + 1, np.where(x < 2, ((-0.5 * x + 2.5) * x - 4) * x + 2, 0.0))


def _mitchell_cubic(x: np.ndarray) -> np.ndarray:
    """Mitchell-Netravali's cubic (B = C = 1/3)."""
    return np.where(x < 1, ((7 / 6 * x - 2) * x) * x + 8 / 9,
                    np.where(x < 2, ((-7 / 18 * x + 2) * x - 10 / 3) * x + 16 / 9, 0.0))


def _lanczos(radius: float) -> Callable[[np.ndarray], np.ndarray]:
    def kernel(x: np.ndarray) -> np.ndarray:
        safe = np.where(x > 1e-3, x, 1.0)  # sin(x) / x -> 1 at 0, as TensorFlow special-cases it
        value = radius * np.sin(np.pi * safe) * np.sin(np.pi * safe / radius) / (np.pi ** 2 * safe ** 2)
        return np.where(x > radius, 0.0, np.where(x > 1e-3, value, 1.0))
    return kernel


# TensorFlow's sampling kernels (``core/kernels/image/sampling_kernels.h``): name -> (radius, kernel of |distance|).
# 'bilinear' and 'nearest' go through torch's ``interpolate``, which computes them as TensorFlow does; 'area'
# has its own weights (``_area_weights``).
_KERNELS: dict[str, tuple[float, Callable[[np.ndarray], np.ndarray]]] = {
    "bicubic": (2.0, _keys_cubic),
    "lanczos3": (3.0, _lanczos(3.0)),
    "lanczos5": (5.0, _lanczos(5.0)),
    "gaussian": (1.5, lambda x: np.where(x < 1.5, np.exp(-x * x / (2 * 0.5 ** 2)), 0.0)),  # sigma = radius / 3
    "mitchellcubic": (2.0, _mitchell_cubic),
}
INTERPOLATIONS = ("bilinear", "nearest", "area", *_KERNELS)
# TensorFlow's resize_bicubic reads its weights from a table of the fractional offset in 1/1024 steps
_BICUBIC_TABLE_SIZE = 1024


def _area_weights(in_size: int, out_size: int) -> np.ndarray:
    """``(out_size, in_size)`` weights of TensorFlow's ``resize_area`` along one axis: output pixel ``o``
    averages the input over ``[o, o + 1) * in_size / out_size``, a partly covered pixel by the part covered."""
    scale = in_size / out_size
    edges = np.arange(out_size + 1) * scale
    pixels = np.arange(in_size)
    overlap = np.minimum(edges[1:, None], pixels + 1) - np.maximum(edges[:-1, None], pixels)
    return np.clip(overlap, 0, None) / scale


def _kernel_weights(in_size: int, out_size: int, interpolation: str) -> np.ndarray:
    """``(out_size, in_size)`` weights of TensorFlow's ``scale_and_translate`` (``antialias=False``) along one
    axis: the kernel at the distance from each output pixel's centre, mapped into the input (half-pixel
    centres), to each input pixel's; taps beyond the border are dropped and the rest renormalised."""
    radius, kernel = _KERNELS[interpolation]
    centre = (np.arange(out_size) + 0.5) * (in_size / out_size) - 0.5
    if interpolation == "bicubic":
        whole = np.floor(centre)
        centre = whole + np.rint((centre - whole) * _BICUBIC_TABLE_SIZE) / _BICUBIC_TABLE_SIZE
    weights = kernel(np.abs(centre[:, None] - np.arange(in_size)))
    return weights / weights.sum(axis=1, keepdims=True)


def _resize(image: np.ndarray, height: int, width: int, interpolation: str) -> np.ndarray:
    """``tf.image.resize(image, (height, width), method=interpolation)`` of uint8 ``(h, w, channels)``.

    Returns float32 ``(height, width, channels)``, or uint8 when no pixel is interpolated: the image
    itself when its size is already the target (except 'gaussian' and 'mitchellcubic', which TensorFlow
    applies, and which blur, even then) and 'nearest', which only copies pixels.
    """
    if image.shape[:2] == (height, width) and interpolation not in ("gaussian", "mitchellcubic"):
        return image
    if interpolation == "nearest":
        channels_first = torch.from_numpy(image).permute(2, 0, 1)[None]
        resized = F.interpolate(channels_first, size=(height, width), mode="nearest-exact")[0]
        return np.ascontiguousarray(resized.permute(1, 2, 0).numpy())
    pixels = torch.from_numpy(image).float()
    if interpolation == "bilinear":
        resized = F.interpolate(pixels.permute(2, 0, 1)[None], size=(height, width), mode="bilinear",
                                align_corners=False, antialias=False)[0].permute(1, 2, 0)
    else:
        weights = _area_weights if interpolation == "area" else (
            lambda n_in, n_out: _kernel_weights(n_in, n_out, interpolation))
        rows = torch.from_numpy(weights(image.shape[0], height)).float()
        cols = torch.from_numpy(weights(image.shape[1], width)).float()
        resized = torch.einsum("oh,hwc,pw->opc", rows, pixels, cols)
    return np.ascontiguousarray(resized.numpy())


class ImageDataset(FolderDataset):
    """Decoded images and encoded labels, served as shuffled ``(x, y)`` batches.

    ``images``: ``(n, height, width, channels)``, uint8 while no image was interpolated, float32 (Keras'
    resized values, unrounded) otherwise: see :func:`image_dataset_from_directory`. ``labels``: int32 ``(n,)`` ('int'),
    float32 ``(n, num_classes)`` ('categorical'), float32 ``(n, 1)`` ('binary'), or None.
    Iterating yields float32 tensors ``x`` of shape ``(batch, height, width, channels)`` (``(batch,
    channels, height, width)`` when ``data_format`` is 'channels_first') with values in [0, 255] and the
    matching rows of ``labels`` as tensors (``x`` alone when there are no labels), in a new order each pass
    when ``shuffle`` is set; ``map`` scales or augments the batches, e.g. ``ds.map(lambda x, y: (x / 255.0, y))``,
    and tf.data's other common methods (``take``, ``prefetch``...) are those of ``DatasetMethods``.
    """

    data_format = "channels_last"

    @property
    def images(self) -> np.ndarray:
        return self.samples

    def _rows(self, values: np.ndarray, pick) -> torch.Tensor:
        rows = torch.from_numpy(values)[torch.as_tensor(pick) if isinstance(pick, np.ndarray) else pick]
        if values is not self.samples:
            return rows
        # channels first is a view of the channels-last rows: PyTorch's channels_last memory format
        return rows.float().movedim(-1, -3) if self.data_format == "channels_first" else rows.float()

    def __repr__(self) -> str:
        return (f"ImageDataset({self.num_samples} images of shape {self.images.shape[1:]}, "
                f"{len(self)} batches, class_names={self.class_names})")


def centred_crop_box(width: int, height: int, target_height: int, target_width: int) -> tuple[int, int, int, int]:
    """Keras' crop before a resize that keeps the aspect ratio: the largest centred window of an image
    ``width`` x ``height`` with the target's ratio, as Pillow's ``(left, top, right, bottom)``."""
    crop_height = min(height, width * target_height // target_width)
    crop_width = min(width, height * target_width // target_height)
    top, left = (height - crop_height) // 2, (width - crop_width) // 2
    return left, top, left + crop_width, top + crop_height


def _to_8_bits(img: Image.Image) -> Image.Image:
    """16-bit greyscale (Pillow's 'I;16*' and 'I' modes) as 8-bit 'L', its high byte kept, as
    ``tf.image.decode_image`` (uint8) strips the low byte; Pillow's own ``convert`` would clip it to 255."""
    if not (img.mode.startswith("I;16") or img.mode == "I"):
        return img
    return Image.fromarray((np.asarray(img).astype(np.int64).clip(0, 65535) >> 8).astype(np.uint8), "L")


def _resize_with_pad(image: np.ndarray, height: int, width: int, interpolation: str) -> np.ndarray:
    """``tf.image.resize_with_pad``, what Keras' ``pad_to_aspect_ratio`` does: ``image`` ``(h, w, channels)``
    resized to fit in ``(height, width)`` with its aspect ratio, then centred on black (zero) borders, the
    odd row or column at the bottom or right. TensorFlow's float32 arithmetic is kept: it decides the sizes."""
    image_height, image_width = np.float32(image.shape[0]), np.float32(image.shape[1])
    ratio = max(image_width / np.float32(width), image_height / np.float32(height))
    fit_height, fit_width = image_height / ratio, image_width / ratio
    top = max(0, int(np.floor((np.float32(height) - fit_height) / 2)))
    left = max(0, int(np.floor((np.float32(width) - fit_width) / 2)))
    resized = _resize(image, int(np.floor(fit_height)), int(np.floor(fit_width)), interpolation)
    canvas = np.zeros((height, width, image.shape[2]), dtype=resized.dtype)
    canvas[top:top + resized.shape[0], left:left + resized.shape[1]] = resized
    return canvas


def _load_image(path: str, size: tuple[int, int], channels: int, interpolation: str,
                crop_to_aspect_ratio: bool, pad_to_aspect_ratio: bool = False) -> np.ndarray:
    """One file as Keras decodes and resizes it: ``(height, width, channels)``, uint8 or float32 as
    :func:`_resize` returns it; animated GIFs give their first frame."""
    height, width = size
    with Image.open(path) as img:
        pixels = np.array(_to_8_bits(img).convert(_PIL_MODES[channels]), dtype=np.uint8)  # writable, for torch
    pixels = pixels.reshape(*pixels.shape[:2], channels)
    if crop_to_aspect_ratio:  # Keras' smart_resize: the largest centred window with the target's ratio
        left, top, right, bottom = centred_crop_box(pixels.shape[1], pixels.shape[0], height, width)
        return _resize(pixels[top:bottom, left:right], height, width, interpolation)
    if pad_to_aspect_ratio:
        return _resize_with_pad(pixels, height, width, interpolation)
    return _resize(pixels, height, width, interpolation)


def _decode_all(paths: list[str], size: tuple[int, int], channels: int, interpolation: str,
                crop_to_aspect_ratio: bool, pad_to_aspect_ratio: bool) -> tuple[np.ndarray, np.ndarray]:
    """All ``paths`` into one array ``(n_ok, h, w, c)``, and a bool mask of the files that decoded. The array
    is uint8 until an image comes back interpolated (float32), then float32: Keras' values unrounded, at
    4 bytes a value; images stored at their size or resized with 'nearest' stay 1 byte a value."""
    images = np.empty((len(paths), *size, channels), dtype=np.uint8)
    ok = np.zeros(len(paths), dtype=bool)
    count = 0
    for i, path in enumerate(paths):
        try:
            image = _load_image(path, size, channels, interpolation, crop_to_aspect_ratio, pad_to_aspect_ratio)
        except _DECODE_ERRORS:
            continue
        if image.dtype == np.float32 and images.dtype == np.uint8:
            images = images.astype(np.float32)
        images[count] = image
        ok[i] = True
        count += 1
    return images[:count], ok


def _check_arguments(labels, label_mode, class_names, color_mode: str, image_size, interpolation: str,
                     validation_split, subset, shuffle: bool, seed) -> tuple:
    """Keras' argument checks; returns ``(labels, label_mode, image_size)`` normalised (no labels -> both None)."""
    labels, label_mode = check_label_arguments(labels, label_mode, class_names)
    if color_mode not in _CHANNELS:
        raise ValueError(f"color_mode must be one of {sorted(_CHANNELS)}, got {color_mode!r}.")
    if isinstance(image_size, int):
        image_size = (image_size, image_size)
    if not isinstance(image_size, (list, tuple)) or len(image_size) != 2:
        raise ValueError(f"image_size must be (height, width), got {image_size!r}.")
    image_size = (int(image_size[0]), int(image_size[1]))
    if interpolation.lower() not in INTERPOLATIONS:
        raise ValueError(f"interpolation must be one of {sorted(INTERPOLATIONS)}, got {interpolation!r}.")
    check_split_arguments(validation_split, subset, shuffle, seed)
    return labels, label_mode, image_size


def image_dataset_from_directory(directory, labels="inferred", label_mode="int", class_names=None,
                                 color_mode: str = "rgb", batch_size: int | None = 32,
                                 image_size: tuple[int, int] | int = (256, 256), shuffle: bool = True,
                                 seed: int | None = None, validation_split: float | None = None,
                                 subset: str | None = None, interpolation: str = "bilinear",
                                 follow_links: bool = False, crop_to_aspect_ratio: bool = False,
                                 pad_to_aspect_ratio: bool = False, data_format: str | None = None,
                                 format: str = "tf", verbose: bool = True
                                 ) -> ImageDataset | tuple[ImageDataset, ImageDataset]:
    """Images in ``directory/<class>/...`` as an :class:`ImageDataset` of ``(x, y)`` batches.

    ``x``: float32 ``(batch, image_size[0], image_size[1], channels)`` in [0, 255], with 1, 3 or 4
    channels for ``color_mode`` 'grayscale', 'rgb' or 'rgba'. ``y`` per ``label_mode``: 'int'
    (int32 ``(batch,)``), 'categorical' (float32 one-hot ``(batch, classes)``), 'binary' (float32
    ``(batch, 1)``) or None (``x`` alone). ``labels`` may also be a list of integer labels, one per
    image file in ``os.walk`` order, or None. Files with other extensions than .bmp, .gif, .jpeg,
    .jpg, .png are ignored, as in Keras. ``subset='both'`` returns ``(training, validation)``, the
    latter unshuffled, as Keras. ``crop_to_aspect_ratio`` or ``pad_to_aspect_ratio`` (black borders) keep
    the images' aspect ratio when resizing; ``data_format`` (None: ``config.image_data_format()``) orders
    the axes of ``x``. ``format``: Keras' 'tf' (the default) is the one accepted; the result is then layerwise's
    own :class:`ImageDataset`, not a ``tf.data.Dataset``, with tf.data's common methods (``map``, ``take``,
    ``prefetch``, ``batch``, ``unbatch``, ``shuffle``, ``cache``...). 'grain' raises a ValueError.

    The pixels are Keras' (``tf.image.resize``: no antialiasing, half-pixel centres, float32 values that may
    overshoot [0, 255] for the cubic and Lanczos kernels). All eight of Keras' ``interpolation`` names are
    accepted, none resized with Pillow: 'bilinear' and 'nearest' with ``torch.nn.functional.interpolate``,
    identical to ``keras.ops.image.resize``; 'bicubic' (Keys' cubic, a = -0.5, not torch's -0.75), 'area',
    'lanczos3', 'lanczos5', 'gaussian' and 'mitchellcubic' with TensorFlow's kernels, equal to its values but
    for float32 rounding. 16-bit files keep their high byte, as ``tf.image.decode_image``. Memory: the
    decoded images are held as uint8 while none is interpolated (each already of ``image_size``, or
    'nearest'), else as float32 (4x: Keras' values, unrounded).
    """
    check_format(format)
    if crop_to_aspect_ratio and pad_to_aspect_ratio:
        raise ValueError("Only one of crop_to_aspect_ratio and pad_to_aspect_ratio can be True.")
    data_format = standardize_data_format(data_format)
    labels, label_mode, image_size = _check_arguments(labels, label_mode, class_names, color_mode, image_size,
                                                      interpolation, validation_split, subset, shuffle, seed)
    file_paths, label_array, names, parts, seed = indexed_subsets(
        directory, labels, label_mode, class_names, ALLOWLIST_FORMATS, follow_links, shuffle, seed,
        validation_split, subset, verbose, "image", "images")

    # ---- decode only the files that a returned subset needs ----
    start, stop = min(p.start for p in parts.values()), max(p.stop for p in parts.values())
    images, ok = _decode_all(file_paths[start:stop], image_size, _CHANNELS[color_mode],
                             interpolation.lower(), crop_to_aspect_ratio, pad_to_aspect_ratio)
    bad = [file_paths[start + i] for i in np.flatnonzero(~ok)]
    if bad:
        shown = ", ".join(bad[:5]) + (f" and {len(bad) - 5} more" if len(bad) > 5 else "")
        warnings.warn(f"Skipped {len(bad)} of {stop - start} image files that could not be decoded: {shown}.",
                      stacklevel=2)
    if not ok.any():
        raise ValueError(f"None of the {stop - start} image files in {directory} could be decoded.")

    datasets = []
    row = np.cumsum(ok) - 1  # row of each decoded file in ``images``
    for name, part in parts.items():
        keep = np.flatnonzero(ok[part.start - start:part.stop - start]) + part.start - start
        if len(keep) == 0:
            raise ValueError(f"No decodable images left for the {name} subset of {directory}.")
        y = None if label_array is None else encode_labels(label_array[keep + start], label_mode, len(names))
        # a subset's files are contiguous in the list, so its rows are a slice (a view, not a copy)
        x = images[row[keep[0]]:row[keep[-1]] + 1]
        dataset = ImageDataset(x, y, names, [file_paths[start + i] for i in keep], batch_size,
                               shuffle and not (subset == "both" and name == "validation"), seed)
        dataset.data_format = data_format
        datasets.append(dataset)
    return tuple(datasets) if subset == "both" else datasets[0]
