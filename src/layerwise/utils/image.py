"""Keras' image utilities on Pillow: ``load_img``, ``img_to_array``, ``array_to_img``, ``save_img``.

Arrays are channels-last ``(height, width, channels)`` unless ``data_format="channels_first"`` (None: the global
``config.image_data_format()``, as in Keras). The colour modes and the errors Pillow raises for undecodable
files are those ``image_dataset_from_directory`` uses (``utils/image_dataset.py``).
"""
from __future__ import annotations

import io
import os
import pathlib
import warnings

import numpy as np
import torch
from PIL import Image

from layerwise.backend import floatx, standardize_data_format
from layerwise.utils.image_dataset import _CHANNELS, _DECODE_ERRORS, centred_crop_box

# Keras' names for Pillow's resampling filters in load_img
PIL_INTERPOLATION_METHODS = {"nearest": Image.Resampling.NEAREST, "bilinear": Image.Resampling.BILINEAR,
                             "bicubic": Image.Resampling.BICUBIC, "hamming": Image.Resampling.HAMMING,
                             "box": Image.Resampling.BOX, "lanczos": Image.Resampling.LANCZOS}
# The Pillow mode each colour mode converts to, and the modes it keeps as they are
_COLOR_MODES = {"grayscale": ("L", ("L", "I;16", "I")), "rgb": ("RGB", ("RGB",)), "rgba": ("RGBA", ("RGBA",))}


def _open(path) -> Image.Image:
    """The decoded image at ``path`` (a path or an ``io.BytesIO``), or an error that names the file."""
    if isinstance(path, io.BytesIO):
        source, name = path, "the given bytes"
    elif isinstance(path, (str, bytes, os.PathLike)):
        name = os.fsdecode(path)
        try:
            with open(name, "rb") as f:
                source = io.BytesIO(f.read())
        except FileNotFoundError:
            raise FileNotFoundError(f"load_img: no such file: {name!r}.") from None
        except IsADirectoryError:
            raise IsADirectoryError(f"load_img: {name!r} is a directory, not an image file.") from None
    else:
        raise TypeError(f"load_img: path should be a path or an io.BytesIO, got {type(path).__name__}.")
    try:
        img = Image.open(source)
        img.load()  # decode now, so that a truncated file fails here and not later
    except _DECODE_ERRORS as err:
        raise ValueError(f"load_img: {name!r} is not an image Pillow can decode ({err}).") from None
    return img


def load_img(path, color_mode: str = "rgb", target_size: tuple[int, int] | None = None,
             interpolation: str = "nearest", keep_aspect_ratio: bool = False) -> Image.Image:
    """A PIL image from a file, converted to ``color_mode`` ('grayscale', 'rgb' or 'rgba') and, with
    ``target_size=(height, width)``, resized with ``interpolation`` (one of ``PIL_INTERPOLATION_METHODS``);
    ``keep_aspect_ratio`` first crops the largest centred window of the target aspect ratio."""
    if color_mode not in _CHANNELS:
        raise ValueError(f"load_img: color_mode must be one of {sorted(_CHANNELS)}, got {color_mode!r}.")
    if target_size is not None and interpolation not in PIL_INTERPOLATION_METHODS:
        raise ValueError(f"load_img: interpolation must be one of {sorted(PIL_INTERPOLATION_METHODS)}, got "
                         f"{interpolation!r}.")
    img = _open(path)
    mode, kept = _COLOR_MODES[color_mode]
    if img.mode not in kept:
        img = img.convert(mode)
    if target_size is None:
        return img
    target_height, target_width = (int(v) for v in target_size)
    if img.size == (target_width, target_height):
        return img
    box = centred_crop_box(*img.size, target_height, target_width) if keep_aspect_ratio else None
    return img.resize((target_width, target_height), PIL_INTERPOLATION_METHODS[interpolation], box=box)


def img_to_array(img, data_format: str | None = None, dtype=None) -> np.ndarray:
    """A PIL image (or anything numpy can read) as an array ``(height, width, channels)`` of ``dtype`` (None:
    ``config.floatx()``, float32 by default, as in Keras); a single-channel image gets a channels axis of 1."""
    data_format = standardize_data_format(data_format)
    x = np.asarray(img, dtype=dtype or floatx())
    if x.ndim == 2:
        x = x[:, :, None]
    elif x.ndim != 3:
        raise ValueError(f"img_to_array expects an image of rank 2 or 3, got shape {x.shape}.")
    return x.transpose(2, 0, 1) if data_format == "channels_first" else x


def array_to_img(x, data_format: str | None = None, scale: bool = True, dtype=None) -> Image.Image:
    """A PIL image from an array ``(height, width, channels)`` of 1, 3 or 4 channels. ``scale`` maps the
    array's minimum to 0 and maximum to 255 first; without it values are taken as pixel values."""
    data_format = standardize_data_format(data_format)
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().numpy()
    x = np.array(x, dtype=dtype or floatx())
    if x.ndim != 3:
        raise ValueError(f"array_to_img expects one image of rank 3 (height, width, channels), got shape "
                         f"{x.shape}.")
    if data_format == "channels_first":
        x = x.transpose(1, 2, 0)
    if scale:
        x = x - np.min(x)
        if np.max(x) != 0:
            x /= np.max(x)
        x *= 255
    channels = x.shape[2]
    if channels in (3, 4):
        return Image.fromarray(x.astype("uint8"), "RGBA" if channels == 4 else "RGB")
    if channels == 1:
        # 16-bit and larger grey values keep their range in Pillow's 32-bit integer mode
        return Image.fromarray(x[:, :, 0].astype("int32"), "I") if np.max(x) > 255 else \
            Image.fromarray(x[:, :, 0].astype("uint8"), "L")
    raise ValueError(f"array_to_img supports 1, 3 or 4 channels, got an array of shape {x.shape}.")


def save_img(path, x, data_format: str | None = None, file_format: str | None = None, scale: bool = True,
             **kwargs) -> None:
    """Save an array ``(height, width, channels)`` as an image file; the format comes from ``file_format``
    or the file's extension, and ``kwargs`` go to Pillow's ``Image.save`` (e.g. ``quality=95``)."""
    if file_format is None and isinstance(path, (str, pathlib.Path)):
        file_format = pathlib.Path(path).suffix[1:].lower() or None
    if file_format and file_format.lower() == "jpg":
        file_format = "jpeg"
    img = array_to_img(x, data_format=data_format, scale=scale)
    if img.mode == "RGBA" and file_format == "jpeg":
        warnings.warn("The JPEG format does not support RGBA images, converting to RGB.", stacklevel=2)
        img = img.convert("RGB")
    target = repr(os.fspath(path)) if isinstance(path, (str, os.PathLike)) else "to the given file object"
    try:
        img.save(path, format=file_format, **kwargs)
    except (KeyError, ValueError) as err:  # Pillow's errors for an unknown format or extension
        raise ValueError(f"save_img: cannot save {target} in format {file_format!r} ({err}).") from None
