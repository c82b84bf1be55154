"""``keras.preprocessing.image``: Keras' older home of the image file functions (they live in ``utils``),
and ``smart_resize``, which resizes without distorting the aspect ratio."""
from __future__ import annotations

import numpy as np

from layerwise import ops
from layerwise.utils.image import array_to_img, img_to_array, load_img, save_img

__all__ = ["array_to_img", "img_to_array", "load_img", "save_img", "smart_resize"]


def smart_resize(x, size, interpolation: str = "bilinear", data_format: str = "channels_last",
                 backend_module=None):
    """An image ``(height, width, channels)`` or a batch ``(n, height, width, channels)`` (channels before
    height with ``data_format="channels_first"``) resized to ``size = (height, width)`` without distortion:
    the largest centred crop of that aspect ratio is resized. A numpy input gives a numpy array, anything
    else a tensor. ``backend_module`` (``layerwise.ops`` by default) supplies ``convert_to_tensor`` and
    ``image.resize``."""
    backend_module = backend_module or ops
    if len(size) != 2:
        raise ValueError(f"smart_resize: size must be (height, width), two integers; received size={size!r}.")
    if data_format not in ("channels_last", "channels_first"):
        raise ValueError(f"smart_resize: data_format must be 'channels_last' or 'channels_first'; received "
                         f"data_format={data_format!r}.")
    images = backend_module.convert_to_tensor(x)
    if len(images.shape) not in (3, 4):
        raise ValueError(f"smart_resize: x must be one image (height, width, channels) or a batch (batch_size, "
                         f"height, width, channels); received x of shape {tuple(images.shape)}.")
    rows = -3 if data_format == "channels_last" else -2  # the height axis; width follows it
    height, width = int(images.shape[rows]), int(images.shape[rows + 1])
    target_height, target_width = int(size[0]), int(size[1])
    # Keras' crop: truncated to whole pixels, at least one, at most the image; its start truncated too.
    crop_height = max(min(height, int(width * target_height / target_width)), 1)
    crop_width = max(min(width, int(height * target_width / target_height)), 1)
    top, left = int((height - crop_height) / 2), int((width - crop_width) / 2)
    window = (slice(top, top + crop_height), slice(left, left + crop_width))
    crop = images[(Ellipsis, *window, slice(None))] if rows == -3 else images[(Ellipsis, *window)]
    resized = backend_module.image.resize(crop, size=(target_height, target_width), interpolation=interpolation,
                                          data_format=data_format)
    return np.asarray(ops.convert_to_numpy(resized)) if isinstance(x, np.ndarray) else resized
