"""Keras' ``image_dataset_from_directory``: a folder of class sub-folders of images -> batches.

The file list, the seeded shuffle and the validation split follow Keras 3
(``keras/src/utils/dataset_utils.py``) step for step, so the same ``seed`` and ``validation_split``
put the same files in the same subset. Unlike Keras (which streams files through ``tf.data``), the
images are decoded once, with Pillow, into one uint8 array: small data sets such as CIFAR-10 then
cost no decoding per epoch. Files that Pillow cannot decode are skipped and reported in one warning.
"""
from __future__ import annotations

import warnings

import numpy as np
import torch
from PIL import Image

from layerwise.backend import standardize_data_format
from layerwise.utils.dataset_files import (FolderDataset, check_label_arguments, check_split_arguments,
                                           encode_labels, indexed_subsets)
from layerwise.utils.dataset_methods import check_format

ALLOWLIST_FORMATS = (".bmp", ".gif", ".jpeg", ".jpg", ".png")
_CHANNELS = {"grayscale": 1, "rgb": 3, "rgba": 4}
_PIL_MODES = {1: "L", 3: "RGB", 4: "RGBA"}
# Keras' other methods (lanczos5, gaussian, mitchellcubic) are TensorFlow kernels with no Pillow twin.
_RESAMPLE = {"bilinear": Image.Resampling.BILINEAR, "nearest": Image.Resampling.NEAREST,
             "bicubic": Image.Resampling.BICUBIC, "area": Image.Resampling.BOX,
             "lanczos3": Image.Resampling.LANCZOS}
_DECODE_ERRORS = (OSError, ValueError, SyntaxError, Image.DecompressionBombError)


class ImageDataset(FolderDataset):
    """Decoded images and encoded labels, served as shuffled ``(x, y)`` batches.

    ``images``: uint8 ``(n, height, width, channels)``. ``labels``: int32 ``(n,)`` ('int'),
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


def _pad_to_aspect_ratio(img: Image.Image, height: int, width: int) -> Image.Image:
    """``img`` centred on black borders to the target's aspect ratio, as Keras pads: the same amount on both
    sides, so an odd difference leaves the ratio a pixel short."""
    top = int((max(img.height, int(img.width * height / width)) - img.height) / 2)
    left = int((max(img.width, int(img.height * width / height)) - img.width) / 2)
    if not top and not left:
        return img
    canvas = Image.new(img.mode, (img.width + 2 * left, img.height + 2 * top))
    canvas.paste(img, (left, top))
    return canvas


def _load_image(path: str, size: tuple[int, int], channels: int, resample: Image.Resampling,
                crop_to_aspect_ratio: bool, pad_to_aspect_ratio: bool = False) -> np.ndarray:
    """One file as uint8 ``(height, width, channels)``; animated GIFs give their first frame."""
    height, width = size
    with Image.open(path) as img:
        img = img.convert(_PIL_MODES[channels])
        box = None
        if crop_to_aspect_ratio:
            box = centred_crop_box(img.width, img.height, height, width)
        elif pad_to_aspect_ratio:
            img = _pad_to_aspect_ratio(img, height, width)
        if img.size != (width, height) or box is not None:
            img = img.resize((width, height), resample, box=box)
        return np.asarray(img, dtype=np.uint8).reshape(height, width, channels)


def _decode_all(paths: list[str], size: tuple[int, int], channels: int, resample: Image.Resampling,
                crop_to_aspect_ratio: bool, pad_to_aspect_ratio: bool) -> tuple[np.ndarray, np.ndarray]:
    """All ``paths`` into one uint8 array ``(n_ok, h, w, c)``, and a bool mask of the files that decoded."""
    images = np.empty((len(paths), *size, channels), dtype=np.uint8)
    ok = np.zeros(len(paths), dtype=bool)
    count = 0
    for i, path in enumerate(paths):
        try:
            images[count] = _load_image(path, size, channels, resample, crop_to_aspect_ratio, pad_to_aspect_ratio)
        except _DECODE_ERRORS:
            continue
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
    if interpolation.lower() not in _RESAMPLE:
        raise ValueError(f"interpolation must be one of {sorted(_RESAMPLE)}, got {interpolation!r}.")
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
                             _RESAMPLE[interpolation.lower()], crop_to_aspect_ratio, pad_to_aspect_ratio)
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
