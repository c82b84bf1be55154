"""MobileNetV2 (Sandler et al., 2018), as Keras' ``keras.applications.mobilenet_v2``.

A stride-2 3x3 convolution, then 17 inverted residual blocks (1x1 expansion, 3x3 depthwise convolution,
linear 1x1 projection; a residual Add where shapes allow), then a 1x1 convolution to 1280 channels:
``(224, 224, 3)`` -> ``(7, 7, 1280)``. The top is global average pooling and the classifier. Inputs are
preprocessed in "tf" mode (scaled to [-1, 1]).
"""
from __future__ import annotations

from layerwise import layers
from layerwise.applications import imagenet_utils, imagenet_weights
from layerwise.applications.imagenet_utils import decode_predictions as decode_predictions  # Keras' name
from layerwise.layers.symbolic import KerasTensor
from layerwise.models import Model

# (filters, stride, expansion) of the inverted residual blocks 0..16, before alpha scales the filters.
BLOCKS = ((16, 1, 1), (24, 2, 6), (24, 1, 6), (32, 2, 6), (32, 1, 6), (32, 1, 6), (64, 2, 6), (64, 1, 6),
          (64, 1, 6), (64, 1, 6), (96, 1, 6), (96, 1, 6), (96, 1, 6), (160, 2, 6), (160, 1, 6), (160, 1, 6),
          (320, 1, 6))
PRETRAINED_SIZES = (96, 128, 160, 192, 224)
PRETRAINED_ALPHAS = (0.35, 0.50, 0.75, 1.0, 1.3, 1.4)
BN = {"epsilon": 1e-3, "momentum": 0.999}


def MobileNetV2(input_shape=None, alpha: float = 1.0, include_top: bool = True, weights="imagenet",
                input_tensor=None, pooling=None, classes: int = 1000, classifier_activation="softmax",
                name: str | None = None) -> Model:
    """MobileNetV2 (3,538,984 parameters with the top at alpha=1): images ``(n, h, w, 3)``, h and w at least 32
    (``(224, 224, 3)`` by default with the top) -> ``(n, classes)`` scores; without the top
    ``(n, h/32, w/32, 1280)`` features (more channels when alpha > 1), or ``(n, 1280)`` with ``pooling``.

    ``alpha`` scales the filters of every block. The default ``name`` is ``mobilenetv2_{alpha:.2f}_{rows}``.
    ``weights``: "imagenet" (Keras' published ImageNet weights, fetched into Keras' cache unless already there;
    see ``imagenet_weights``), None (random initialization) or the path to a weights file. The ImageNet weights
    exist for ``alpha`` in 0.35, 0.5, 0.75, 1, 1.3, 1.4 and square inputs of 96, 128, 160, 192 or 224 pixels;
    other input sizes warn and load the 224 ones (which fit any size without the top), as in Keras.
    """
    app = "MobileNetV2"
    imagenet_utils.check_arguments(app, weights, include_top, classes, pooling)
    default_size = _default_size(app, input_shape, input_tensor)
    input_shape = imagenet_utils.obtain_input_shape(app, input_shape, default_size, 32, include_top, weights)
    rows, cols = imagenet_utils.image_sides(input_shape)
    imagenet_file = None
    if imagenet_utils.is_imagenet(weights):
        if alpha not in PRETRAINED_ALPHAS:
            raise ValueError(f"{app}: the ImageNet weights exist for alpha in {PRETRAINED_ALPHAS}; received "
                             f"alpha={alpha}.")
        rows = imagenet_utils.pretrained_rows(app, rows, cols, PRETRAINED_SIZES)
        imagenet_file = imagenet_weights.mobilenet_v2(alpha, rows, include_top)
    if include_top:
        imagenet_utils.validate_activation(app, classifier_activation, weights)
    img_input = imagenet_utils.image_input(app, input_tensor, input_shape)

    x = layers.Conv2D(imagenet_utils.make_divisible(32 * alpha, 8), kernel_size=3, strides=(2, 2), padding="same",
                      use_bias=False, name="Conv1")(img_input)
    x = layers.BatchNormalization(axis=imagenet_utils.channel_axis(-1), **BN, name="bn_Conv1")(x)
    x = layers.ReLU(6.0, name="Conv1_relu")(x)
    for block_id, (filters, stride, expansion) in enumerate(BLOCKS):
        x = _inverted_res_block(x, expansion, stride, alpha, filters, block_id)
    # The last convolution is widened for alpha > 1 but never narrowed.
    last_filters = imagenet_utils.make_divisible(1280 * alpha, 8) if alpha > 1.0 else 1280
    x = layers.Conv2D(last_filters, kernel_size=1, use_bias=False, name="Conv_1")(x)
    x = layers.BatchNormalization(axis=imagenet_utils.channel_axis(-1), **BN, name="Conv_1_bn")(x)
    x = layers.ReLU(6.0, name="out_relu")(x)

    x = imagenet_utils.classifier_top(x, include_top, pooling, classes, classifier_activation, top_pool=None)
    return imagenet_utils.finish_model(img_input, input_tensor, x, name or f"mobilenetv2_{alpha:0.2f}_{rows}",
                                       weights, imagenet_file)


def _default_size(app: str, input_shape, input_tensor) -> int:
    """A square pretrained size, read from ``input_shape`` or else ``input_tensor``, else 224; ``input_shape``
    and ``input_tensor`` must agree on the width, as Keras checks channels-last (channels-first Keras compares
    the tensor's channels with the shape's height instead, which is not copied)."""
    if input_tensor is not None and not isinstance(input_tensor, KerasTensor):
        raise ValueError(f"{app}: input_tensor must be a symbolic tensor (from layerwise.Input or a layer called on "
                         f"one); received {type(input_tensor).__name__}.")
    tensor_sides = None if input_tensor is None else imagenet_utils.image_sides(input_tensor.shape[1:])
    # A malformed input_shape is left to obtain_input_shape, which says what it must be.
    shape_sides = imagenet_utils.image_sides(input_shape) if input_shape and len(input_shape) == 3 else None
    if shape_sides and tensor_sides and shape_sides[1] != tensor_sides[1]:
        raise ValueError(f"{app}: input_tensor and input_shape disagree on the width: input_tensor.shape="
                         f"{input_tensor.shape}, input_shape={input_shape}.")
    rows, cols = shape_sides or tensor_sides or (None, None)
    return rows if rows == cols and rows in PRETRAINED_SIZES else 224


def _inverted_res_block(inputs, expansion: int, stride: int, alpha: float, filters: int, block_id: int):
    """``(n, h, w, c)`` -> ``(n, h/stride, w/stride, filters * alpha rounded to a multiple of 8)``; block 0 has no
    expansion and is named ``expanded_conv_*``, the others ``block_{id}_*``."""
    channel_axis = imagenet_utils.channel_axis(-1)
    in_channels = inputs.shape[channel_axis]
    pointwise_filters = imagenet_utils.make_divisible(int(filters * alpha), 8)
    x = inputs
    prefix = f"block_{block_id}_"
    if block_id:
        x = layers.Conv2D(expansion * in_channels, kernel_size=1, padding="same", use_bias=False, activation=None,
                          name=f"{prefix}expand")(x)
        x = layers.BatchNormalization(axis=channel_axis, **BN, name=f"{prefix}expand_BN")(x)
        x = layers.ReLU(6.0, name=f"{prefix}expand_relu")(x)
    else:
        prefix = "expanded_conv_"
    if stride == 2:
        x = layers.ZeroPadding2D(padding=imagenet_utils.correct_pad(x, 3), name=f"{prefix}pad")(x)
    x = layers.DepthwiseConv2D(kernel_size=3, strides=stride, activation=None, use_bias=False,
                               padding="same" if stride == 1 else "valid", name=f"{prefix}depthwise")(x)
    x = layers.BatchNormalization(axis=channel_axis, **BN, name=f"{prefix}depthwise_BN")(x)
    x = layers.ReLU(6.0, name=f"{prefix}depthwise_relu")(x)
    x = layers.Conv2D(pointwise_filters, kernel_size=1, padding="same", use_bias=False, activation=None,
                      name=f"{prefix}project")(x)
    x = layers.BatchNormalization(axis=channel_axis, **BN, name=f"{prefix}project_BN")(x)
    if in_channels == pointwise_filters and stride == 1:
        return layers.Add(name=f"{prefix}add")([inputs, x])
    return x


def preprocess_input(x, data_format: str | None = None):
    """Images in [0, 255] -> [-1, 1] ("tf" mode); see ``imagenet_utils.preprocess_input``."""
    return imagenet_utils.preprocess_input(x, data_format=data_format, mode="tf")
