"""ImageNet helpers shared by the applications (Keras' ``keras.applications.imagenet_utils``).

``preprocess_input`` turns images with values in [0, 255] into what a family's ImageNet weights were
trained on, in one of three modes:

- ``"caffe"`` (VGG, ResNet): RGB -> BGR, then the ImageNet mean pixel is subtracted; no scaling.
- ``"tf"`` (MobileNet, MobileNetV2): scaled to [-1, 1].
- ``"torch"`` (DenseNet): scaled to [0, 1], then normalised by the ImageNet mean and standard deviation.

The rest are the steps every architecture shares: checking its ``weights``/``classes`` arguments and
input shape, the input tensor, and the final ``Model`` with its weights loaded.
"""
from __future__ import annotations

import json
import os
import warnings

import numpy as np
import torch

from layerwise import activations, layers
from layerwise.applications import imagenet_weights
from layerwise.backend import image_data_format
from layerwise.layers import Input
from layerwise.layers.core import InputLayer
from layerwise.layers.symbolic import KerasTensor
from layerwise.models import Model

MODES = ("caffe", "tf", "torch")
CAFFE_MEAN = (103.939, 116.779, 123.68)  # per channel, in BGR order
TORCH_MEAN = (0.485, 0.456, 0.406)
TORCH_STD = (0.229, 0.224, 0.225)
CLASS_INDEX_URL = "https://storage.googleapis.com/download.tensorflow.org/data/imagenet_class_index.json"

_class_indexes: dict[str, dict[str, list[str]]] = {}


def preprocess_input(x, data_format: str | None = None, mode: str = "caffe"):
    """A batch of images ``(n, h, w, 3)`` or one image ``(h, w, 3)`` (channels first with
    ``data_format="channels_first"``; None takes ``layerwise.config.image_data_format()``), values in [0, 255],
    preprocessed as ``mode`` says (module docstring).

    The caller's array or tensor is never overwritten (Keras writes into a float numpy array): a new one comes
    back, float32 unless the input is floating.
    """
    if mode not in MODES:
        raise ValueError(f"preprocess_input: mode must be one of {', '.join(map(repr, MODES))}; received "
                         f"mode={mode!r}.")
    if data_format is None:
        data_format = image_data_format()
    if data_format not in ("channels_last", "channels_first"):
        raise ValueError("preprocess_input: data_format must be 'channels_last' or 'channels_first'; received "
                         f"data_format={data_format!r}.")
    if isinstance(x, np.ndarray):
        return _preprocess_array(x, data_format, mode)
    if isinstance(x, torch.Tensor):
        return _preprocess_tensor(x, data_format, mode)
    raise TypeError(f"preprocess_input expects a numpy array or a torch tensor of images; received "
                    f"{type(x).__name__}.")


def _preprocess_array(x: np.ndarray, data_format: str, mode: str) -> np.ndarray:
    x = x.astype(x.dtype if np.issubdtype(x.dtype, np.floating) else np.float32)  # a copy: the caller's stays
    if mode == "tf":  # no channel is singled out, so any shape goes
        x /= 127.5
        x -= 1.0
        return x
    axis = _channel_axis(x.shape, data_format, mode)
    if mode == "caffe":
        x = np.flip(x, axis)
    else:
        x /= 255.0
    mean, std = _statistics(mode, x.ndim, axis)
    x -= mean.astype(x.dtype)
    if std is not None:
        x /= std.astype(x.dtype)
    return x


def _preprocess_tensor(x: torch.Tensor, data_format: str, mode: str) -> torch.Tensor:
    if not x.is_floating_point():
        x = x.to(torch.float32)
    if mode == "tf":
        return x / 127.5 - 1.0
    axis = _channel_axis(x.shape, data_format, mode)
    x = x.flip(axis) if mode == "caffe" else x / 255.0
    mean, std = _statistics(mode, x.ndim, axis)
    x = x - torch.as_tensor(mean, dtype=x.dtype, device=x.device)
    if std is not None:
        x = x / torch.as_tensor(std, dtype=x.dtype, device=x.device)
    return x


def _channel_axis(shape: tuple, data_format: str, mode: str) -> int:
    """The colour axis of an image or a batch of images; it must hold 3 channels (RGB)."""
    if data_format == "channels_first" and len(shape) not in (3, 4):
        raise ValueError("preprocess_input(data_format='channels_first') expects an image (3, h, w) or a batch "
                         f"(n, 3, h, w); received shape {tuple(shape)}.")
    axis = len(shape) - 1 if data_format == "channels_last" else len(shape) - 3
    if axis < 0 or shape[axis] != 3:
        raise ValueError(f"preprocess_input(mode={mode!r}) expects 3 colour channels (RGB) on axis {axis} "
                         f"({data_format}); received shape {tuple(shape)}.")
    return axis


def _statistics(mode: str, ndim: int, axis: int) -> tuple[np.ndarray, np.ndarray | None]:
    """The mode's per-channel mean and standard deviation (None for caffe), shaped to broadcast on ``axis``."""
    shape = [1] * ndim
    shape[axis] = 3
    if mode == "caffe":
        return np.reshape(CAFFE_MEAN, shape), None
    return np.reshape(TORCH_MEAN, shape), np.reshape(TORCH_STD, shape)


def decode_predictions(preds, top: int = 5) -> list[list[tuple[str, str, float]]]:
    """``preds`` ``(n, 1000)`` (ImageNet scores, numpy or torch) -> for each sample its ``top`` classes as
    ``(class_id, class_name, score)``, best first.

    The names come from Keras' ``imagenet_class_index.json``, in Keras' cache ``$KERAS_HOME/models`` (default
    ``~/.keras/models``): downloaded there with its md5 checked when missing, as Keras does.
    """
    scores = preds.detach().cpu().numpy() if isinstance(preds, torch.Tensor) else np.asarray(preds)
    if scores.ndim != 2 or scores.shape[1] != 1000:
        raise ValueError("decode_predictions expects a batch of ImageNet predictions, shape (samples, 1000); "
                         f"received shape {scores.shape}.")
    index = _class_index()
    decoded = []
    for row in scores:
        best = row.argsort()[-top:][::-1]
        decoded.append(sorted((tuple(index[str(i)]) + (row[i],) for i in best), key=lambda t: t[2], reverse=True))
    return decoded


CLASS_INDEX_FILE = imagenet_weights.WeightsFile("decode_predictions", "imagenet_class_index.json", CLASS_INDEX_URL,
                                                "c2c37ea517e94d9795004a39431a14cb")


def _class_index() -> dict[str, list[str]]:
    path = imagenet_weights.cache_path(CLASS_INDEX_FILE)
    if path in _class_indexes:
        return _class_indexes[path]
    if not os.path.isfile(path):  # a cached copy is checked by its content below, so any valid one serves
        path = imagenet_weights.fetch(CLASS_INDEX_FILE)
    try:
        with open(path, encoding="utf-8") as file:
            index = json.load(file)
        valid = all(len(index[str(i)]) == 2 for i in range(1000))
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise ValueError(f"{path!r} is not ImageNet's class index ({type(err).__name__}: {err}).") from err
    if not valid:
        raise ValueError(f"{path!r} is not ImageNet's class index: each of the keys '0'..'999' must map to "
                         "[class_id, class_name].")
    _class_indexes[path] = index
    return index


def prepare_input(app: str, include_top: bool, weights, input_tensor, input_shape, pooling, classes: int,
                  classifier_activation, default_size: int = 224, min_size: int = 32) -> KerasTensor:
    """Every check Keras runs before building (in its order), then the image input to build on."""
    check_arguments(app, weights, include_top, classes, pooling)
    input_shape = obtain_input_shape(app, input_shape, default_size, min_size, include_top, weights)
    if include_top:
        validate_activation(app, classifier_activation, weights)
    return image_input(app, input_tensor, input_shape)


def check_arguments(app: str, weights, include_top: bool, classes: int, pooling) -> None:
    """Keras' first checks: ``weights`` is None, "imagenet" or an existing file; ImageNet's top has 1000 classes.
    Also ``pooling`` is None, "avg" or "max" (Keras ignores any other value)."""
    if not (weights is None or is_imagenet(weights) or os.path.exists(weights)):
        raise ValueError(f"{app}: weights must be None (random initialization), 'imagenet' or the path to a "
                         f"weights file; received weights={weights!r}, but no such file exists.")
    if is_imagenet(weights) and include_top and classes != 1000:
        raise ValueError(f"{app}: with weights='imagenet' and include_top=True, classes must be 1000 (ImageNet's); "
                         f"received classes={classes}.")
    if pooling not in (None, "avg", "max"):
        raise ValueError(f"{app}: pooling must be None, 'avg' or 'max'; received pooling={pooling!r}.")


def is_imagenet(weights) -> bool:
    return isinstance(weights, str) and weights == "imagenet"


def channels_first() -> bool:
    """Whether the applications build channels-first: they read the global ``image_data_format()`` when they
    build, as Keras' do, and their layers (built with ``data_format=None``) take it too."""
    return image_data_format() == "channels_first"


def channel_axis(channels_last_axis: int = 3) -> int:
    """The axis of the channels in the feature maps for batch norm and concatenation: 1 when channels-first,
    else ``channels_last_axis`` (Keras writes 3 in some families and -1 in others, and the configs keep it)."""
    return 1 if channels_first() else channels_last_axis


def image_sides(shape: tuple) -> tuple:
    """``(height, width)`` of an image shape without the batch axis, in the global data format."""
    return tuple(shape[1:3]) if channels_first() else tuple(shape[0:2])


def image_shape(rows: int | None, cols: int | None, channels: int) -> tuple:
    """The image shape without the batch axis in the global data format: ``(rows, cols, channels)`` or
    ``(channels, rows, cols)``."""
    return (channels, rows, cols) if channels_first() else (rows, cols, channels)


def _layout() -> str:
    """How ``input_shape`` is read, for error messages."""
    if channels_first():
        return "(channels, height, width), as image_data_format() is 'channels_first'"
    return "(height, width, channels)"


def obtain_input_shape(app: str, input_shape, default_size: int, min_size: int, require_flatten: bool,
                       weights=None) -> tuple:
    """The model's input shape ``(h, w, channels)``, or ``(channels, h, w)`` when the global image data format is
    channels-first, from the user's ``input_shape`` (None: the default), by Keras' rules: at least ``min_size``
    pixels a side, 3 channels for ImageNet weights, and a static shape (``default_size`` square with ImageNet
    weights) when the top's Flatten/Dense needs one."""
    imagenet = is_imagenet(weights)
    channels = 3
    if not imagenet and input_shape and len(input_shape) == 3:
        channels = input_shape[0] if channels_first() else input_shape[-1]
        if channels not in (1, 3):
            warnings.warn(f"{app} usually expects 1 or 3 input channels; received input_shape={input_shape} "
                          f"with {channels}, read as {_layout()}.", stacklevel=3)
    default_shape = image_shape(default_size, default_size, channels)
    if imagenet and require_flatten:
        if input_shape is not None and tuple(input_shape) != default_shape:
            raise ValueError(f"{app}: with include_top=True and weights='imagenet', input_shape must be "
                             f"{default_shape}; received input_shape={input_shape}.")
        return default_shape
    if input_shape:
        if len(input_shape) != 3:
            raise ValueError(f"{app}: input_shape must be three integers {_layout()}; received "
                             f"input_shape={input_shape}.")
        if imagenet and (input_shape[0] if channels_first() else input_shape[-1]) != 3:
            raise ValueError(f"{app}: the ImageNet weights need 3 input channels; received input_shape={input_shape}, "
                             f"read as {_layout()}.")
        if any(side is not None and side < min_size for side in image_sides(input_shape)):
            raise ValueError(f"{app}: input height and width must be at least {min_size}; received "
                             f"input_shape={input_shape}, read as {_layout()}.")
        input_shape = tuple(input_shape)
    else:
        input_shape = default_shape if require_flatten else image_shape(None, None, 3)
    if require_flatten and None in input_shape:
        raise ValueError(f"{app}: with include_top=True the input shape must be static (no None); received "
                         f"input_shape={input_shape}.")
    return input_shape


def validate_activation(app: str, classifier_activation, weights) -> None:
    """Pretrained tops end in softmax: only None (logits) or "softmax" go with weights."""
    if weights is None:
        return
    if activations.get(classifier_activation) not in (activations.get("softmax"), activations.get(None)):
        raise ValueError(f"{app}: with pretrained weights, classifier_activation must be None or 'softmax'; "
                         f"received classifier_activation={classifier_activation!r}.")


def pretrained_rows(app: str, rows: int | None, cols: int | None, sizes: tuple[int, ...]) -> int:
    """The input side whose ImageNet weights MobileNet and MobileNetV2 load: ``rows`` when the input is square and
    one of the published ``sizes``, else 224 with a warning, as Keras falls back."""
    if rows == cols and rows in sizes:
        return rows
    warnings.warn(f"{app}: the ImageNet weights exist for square inputs of {', '.join(map(str, sizes))} pixels; "
                  f"received {rows}x{cols} (None: undefined), so the weights for 224x224 inputs are loaded.",
                  stacklevel=3)
    return 224


def image_input(app: str, input_tensor, input_shape: tuple) -> KerasTensor:
    """The model's image input: ``Input(input_shape)``, or ``input_tensor`` when given."""
    if input_tensor is None:
        return Input(shape=input_shape)
    if not isinstance(input_tensor, KerasTensor):
        raise ValueError(f"{app}: input_tensor must be a symbolic tensor (from layerwise.Input or a layer called on "
                         f"one); received {type(input_tensor).__name__}.")
    return input_tensor


def source_inputs(tensor: KerasTensor) -> list[KerasTensor]:
    """The Inputs that ``tensor`` is computed from, in order of first use."""
    found: list[KerasTensor] = []
    seen: set[int] = set()
    pending = [tensor]
    while pending:
        current = pending.pop()
        if id(current.node) in seen:
            continue
        seen.add(id(current.node))
        if isinstance(current.node.layer, InputLayer):
            found.append(current)
        else:
            pending.extend(reversed(current.node.inputs))
    return found


def correct_pad(x, kernel_size: int) -> tuple[tuple[int, int], tuple[int, int]]:
    """Zero padding ``((top, bottom), (left, right))`` before a stride-2 "valid" convolution: one row/column less
    on top/left when the side is even (or unknown), as TensorFlow's "same" padding would place it."""
    adjust = [1 if side is None else 1 - side % 2 for side in image_sides(x.shape[1:])]
    half = kernel_size // 2
    return (half - adjust[0], half), (half - adjust[1], half)


def make_divisible(value: float, divisor: int, min_value: int | None = None) -> int:
    """``value`` rounded to the nearest multiple of ``divisor`` (at least ``min_value``), never below 90% of it."""
    min_value = min_value or divisor
    rounded = max(min_value, int(value + divisor / 2) // divisor * divisor)
    return rounded + divisor if rounded < 0.9 * value else rounded


def classifier_top(x, include_top: bool, pooling, classes: int, classifier_activation,
                   top_pool: str | None = "avg_pool", named_pooling: bool = False):
    """The classifier (global average pooling named ``top_pool``, then Dense ``predictions``) on the feature maps,
    or without the top the ``pooling`` asked for (None keeps the maps); ``named_pooling`` names those ``avg_pool``
    and ``max_pool`` as some families do in Keras, the others leave them automatically named."""
    if include_top:
        x = layers.GlobalAveragePooling2D(name=top_pool)(x)
        return layers.Dense(classes, activation=classifier_activation, name="predictions")(x)
    if pooling == "avg":
        return layers.GlobalAveragePooling2D(name="avg_pool" if named_pooling else None)(x)
    if pooling == "max":
        return layers.GlobalMaxPooling2D(name="max_pool" if named_pooling else None)(x)
    return x


def finish_model(img_input: KerasTensor, input_tensor, outputs: KerasTensor, name: str, weights,
                 imagenet_file: imagenet_weights.WeightsFile | None) -> Model:
    """The functional model from the Inputs behind the image input to ``outputs``, with its weights loaded: the
    file ``weights`` names, or with ``weights="imagenet"`` Keras' published ``imagenet_file`` (fetched when
    missing from the cache, as ``keras.applications`` does after building the model)."""
    inputs = source_inputs(input_tensor) if input_tensor is not None else [img_input]
    model = Model(inputs[0] if len(inputs) == 1 else inputs, outputs, name=name)
    if is_imagenet(weights):
        imagenet_weights.load(model, imagenet_file)
    elif weights is not None:
        model.load_weights(weights)
    return model
