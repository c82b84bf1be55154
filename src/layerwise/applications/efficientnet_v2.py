"""EfficientNetV2 B0-B3, S, M and L (Tan & Le, 2021), as Keras' ``keras.applications.efficientnet_v2``.

The model preprocesses its own inputs (pixels in [0, 255]) unless ``include_preprocessing=False``: B0-B3 with
3-channel inputs rescale them to [0, 1] and normalise them by ImageNet's mean and standard deviation
(``Rescaling``, then a ``Normalization`` with fixed statistics); S, M, L and other channel counts rescale them to
[-1, 1) (``Rescaling(1/128, offset=-1)``). So ``preprocess_input`` returns its input.

A stride-2 3x3 stem convolution, then six stages (seven for M and L) of blocks ``block{stage}{a, b, ...}_``: the
first stages fused inverted residual blocks (a 3x3 convolution that expands, then a linear 1x1 projection; without
expansion a single 3x3 convolution), the last ones inverted residual blocks (1x1 expansion, depthwise convolution,
squeeze-and-excitation, linear 1x1 projection). Where shapes allow, a block ends with drop-connect and a residual
Add. A 1x1 convolution ``top_conv`` ends the features: ``(224, 224, 3)`` -> ``(7, 7, 1280)`` for B0. B1-B3 widen
the convolutions and repeat blocks more by their width and depth coefficients; S, M and L have their own stages.
The top is global average pooling, dropout and the classifier. Every activation is swish, every batch norm has
momentum 0.9, every convolution "same" padding.
"""
from __future__ import annotations

import math
from typing import NamedTuple

from layerwise import initializers, layers
from layerwise.applications import imagenet_utils, imagenet_weights
from layerwise.applications.efficientnet import (CONV_INITIALIZER, DENSE_INITIALIZER, DEPTH_DIVISOR, SE_RATIO,
                                                residual, squeeze_excite)
from layerwise.applications.efficientnet import preprocess_input as preprocess_input  # the same no-op in Keras
from layerwise.applications.imagenet_utils import decode_predictions as decode_predictions  # Keras' name
from layerwise.models import Model


class Stage(NamedTuple):
    """Blocks repeated ``repeats`` times (before depth scaling); the first changes the width and strides."""
    repeats: int
    filters_in: int
    filters_out: int
    expansion: int
    stride: int
    fused: bool  # a full 3x3 convolution expands, and no squeeze-and-excitation (Keras' se_ratio 0; else 0.25)


# Keras' stage tables (every kernel is 3x3). B0-B3 share theirs and scale it.
B_STAGES = (Stage(1, 32, 16, 1, 1, True), Stage(2, 16, 32, 4, 2, True), Stage(2, 32, 48, 4, 2, True),
            Stage(3, 48, 96, 4, 2, False), Stage(5, 96, 112, 6, 1, False), Stage(8, 112, 192, 6, 2, False))
S_STAGES = (Stage(2, 24, 24, 1, 1, True), Stage(4, 24, 48, 4, 2, True), Stage(4, 48, 64, 4, 2, True),
            Stage(6, 64, 128, 4, 2, False), Stage(9, 128, 160, 6, 1, False), Stage(15, 160, 256, 6, 2, False))
M_STAGES = (Stage(3, 24, 24, 1, 1, True), Stage(5, 24, 48, 4, 2, True), Stage(5, 48, 80, 4, 2, True),
            Stage(7, 80, 160, 4, 2, False), Stage(14, 160, 176, 6, 1, False), Stage(18, 176, 304, 6, 2, False),
            Stage(5, 304, 512, 6, 1, False))
L_STAGES = (Stage(4, 32, 32, 1, 1, True), Stage(7, 32, 64, 4, 2, True), Stage(7, 64, 96, 4, 2, True),
            Stage(10, 96, 192, 4, 2, False), Stage(19, 192, 224, 6, 1, False), Stage(25, 224, 384, 6, 2, False),
            Stage(7, 384, 640, 6, 1, False))
# variant -> (width coefficient, depth coefficient, default input side, stages).
VARIANTS = {"b0": (1.0, 1.0, 224, B_STAGES), "b1": (1.0, 1.1, 240, B_STAGES), "b2": (1.1, 1.2, 260, B_STAGES),
            "b3": (1.2, 1.4, 300, B_STAGES), "s": (1.0, 1.0, 384, S_STAGES), "m": (1.0, 1.0, 480, M_STAGES),
            "l": (1.0, 1.0, 480, L_STAGES)}
DROPOUT_RATE = 0.2  # before the classifier
DROP_CONNECT_RATE = 0.2  # block b (from 0) drops its residual branch at 0.2 * b / (the stages' unscaled repeats)
BN_MOMENTUM = 0.9
KERNEL_SIZE = 3
# Keras' parameter counts with the 1000-class top, for the docstrings.
PARAMETERS = {"b0": "7,200,312", "b1": "8,212,124", "b2": "10,178,374", "b3": "14,467,622", "s": "21,612,360",
              "m": "54,431,388", "l": "119,027,848"}

WEIGHTS_URL = f"{imagenet_weights.BASE_URL}efficientnet_v2/"
# variant -> (md5 of efficientnetv2-{variant}.h5, md5 of efficientnetv2-{variant}_notop.h5).
WEIGHTS_MD5 = {
    "b0": ("21ecbf6da12460d5c40bb2f29ceb2188", "893217f2bb855e2983157299931e43ff"),
    "b1": ("069f0534ff22adf035c89e2d9547a9dc", "0e80663031ca32d657f9caa404b6ec37"),
    "b2": ("424e49f28180edbde1e94797771950a7", "1dfe2e7a5d45b6632553a8961ea609eb"),
    "b3": ("1f1fc43bd98a6e4fd8fdfd551e02c7a0", "f6abf7b5849ac99a89b50dd3fd532856"),
    "s": ("e1d88a8495beba45748fedd0cecbe016", "af0682fb74e8c54910f2d4393339c070"),
    "m": ("a3bf6aa3276309f4fc6a34aa114c95cd", "1b8dc055df72dde80d614482840fe342"),
    "l": ("27e6d408b53c7ebc868fefa357689935", "b0b66b5c863aef5b46e8608fe1711615"),
}


def weights_file(variant: str, include_top: bool) -> imagenet_weights.WeightsFile:
    """Keras' ImageNet file for ``variant`` ("b0" ... "b3", "s", "m", "l"): ``efficientnetv2-{variant}.h5``, or
    ``_notop.h5`` without the top."""
    name = f"efficientnetv2-{variant}{'' if include_top else '_notop'}.h5"
    return imagenet_weights.WeightsFile(f"EfficientNetV2{variant.upper()}", name, f"{WEIGHTS_URL}{name}",
                                        WEIGHTS_MD5[variant][0 if include_top else 1])


def round_filters(count: int, width: float) -> int:
    """``count * width`` rounded to the nearest multiple of 8 (at least 8). Unlike ``make_divisible`` (V1's rule),
    it may round down by more than 10%: B3's first stage has 16 filters where V1's rule gives 24."""
    return max(DEPTH_DIVISOR, int(count * width + DEPTH_DIVISOR / 2) // DEPTH_DIVISOR * DEPTH_DIVISOR)


DOCSTRING = """EfficientNetV2{V} ({parameters} parameters with the top): images ``(n, h, w, c)`` with values in
    [0, 255] (the model rescales them itself), h and w at least 32 (``({side}, {side}, 3)`` by default with the top)
    -> ``(n, classes)`` scores; without the top ``(n, ceil(h/32), ceil(w/32), {features})`` features, or
    ``(n, {features})`` with ``pooling``.

    ``include_preprocessing=False`` leaves out the rescaling: the model then takes the images as it would have
    rescaled them ({preprocessed}).
    ``weights``: "imagenet" (Keras' published ImageNet weights, fetched into Keras' cache unless already there;
    see ``imagenet_weights``), None (random initialization) or the path to a weights file.
    """
B_PREPROCESSED = "with 3 channels, scaled to [0, 1] then normalised by ImageNet's mean and standard deviation"


def _constructor(variant: str):
    """Keras' ``EfficientNetV2<variant>`` function, with its own name, default model name and docstring."""
    def constructor(include_top: bool = True, weights="imagenet", input_tensor=None, input_shape=None, pooling=None,
                    classes: int = 1000, classifier_activation="softmax", include_preprocessing: bool = True,
                    name: str = f"efficientnetv2-{variant}") -> Model:
        return _efficientnet_v2(variant, include_top, weights, input_tensor, input_shape, pooling, classes,
                                classifier_activation, include_preprocessing, name)

    width, _, side, _ = VARIANTS[variant]
    preprocessed = B_PREPROCESSED + "; else in [-1, 1)" if variant.startswith("b") else "in [-1, 1)"
    constructor.__name__ = constructor.__qualname__ = f"EfficientNetV2{variant.upper()}"
    constructor.__doc__ = DOCSTRING.format(V=variant.upper(), parameters=PARAMETERS[variant], side=side,
                                           features=round_filters(1280, width), preprocessed=preprocessed)
    return constructor


EfficientNetV2B0, EfficientNetV2B1, EfficientNetV2B2, EfficientNetV2B3 = (_constructor(f"b{i}") for i in range(4))
EfficientNetV2S, EfficientNetV2M, EfficientNetV2L = (_constructor(size) for size in "sml")


def _efficientnet_v2(variant: str, include_top: bool, weights, input_tensor, input_shape, pooling, classes: int,
                     classifier_activation, include_preprocessing: bool, name: str) -> Model:
    width, depth, default_size, stages = VARIANTS[variant]
    img_input = imagenet_utils.prepare_input(f"EfficientNetV2{variant.upper()}", include_top, weights,
                                             input_tensor, input_shape, pooling, classes, classifier_activation,
                                             default_size=default_size, min_size=32)
    x = _preprocessing(img_input, variant) if include_preprocessing else img_input
    x = _conv_bn(x, round_filters(stages[0].filters_in, width), KERNEL_SIZE, 2, "stem_")

    # Keras divides by the unscaled count of blocks, so the last blocks of B1-B3 drop at more than 0.2.
    total = sum(stage.repeats for stage in stages)
    b = 0
    for i, stage in enumerate(stages, start=1):
        filters_in, filters_out = round_filters(stage.filters_in, width), round_filters(stage.filters_out, width)
        block = _fused_block if stage.fused else _block
        for j in range(math.ceil(depth * stage.repeats)):
            first = j == 0  # only the stage's first block changes the width and strides
            x = block(x, DROP_CONNECT_RATE * b / total, f"block{i}{chr(ord('a') + j)}_",
                      filters_in if first else filters_out, filters_out, stage.expansion, stage.stride if first else 1)
            b += 1

    x = _conv_bn(x, round_filters(1280, width), 1, 1, "top_")
    if include_top:
        x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
        x = layers.Dropout(DROPOUT_RATE, name="top_dropout")(x)
        x = layers.Dense(classes, activation=classifier_activation, kernel_initializer=DENSE_INITIALIZER,
                         bias_initializer=initializers.Constant(0.0), name="predictions")(x)
    else:
        x = imagenet_utils.classifier_top(x, False, pooling, classes, classifier_activation, named_pooling=True)
    return imagenet_utils.finish_model(img_input, input_tensor, x, name, weights, weights_file(variant, include_top))


def _preprocessing(x, variant: str):
    """Pixels in [0, 255] -> what the weights were trained on: ImageNet-normalised for B0-B3 with 3 channels,
    else [-1, 1)."""
    channel_axis = imagenet_utils.channel_axis()
    if variant.startswith("b") and x.shape[channel_axis] == 3:
        x = layers.Rescaling(1.0 / 255.0)(x)
        return layers.Normalization(axis=channel_axis, mean=list(imagenet_utils.TORCH_MEAN),
                                    variance=[std ** 2 for std in imagenet_utils.TORCH_STD])(x)
    return layers.Rescaling(1.0 / 128.0, offset=-1)(x)


def _conv_bn(x, filters: int, kernel_size: int, strides: int, prefix: str, activation: bool = True):
    """``{prefix}conv`` (no bias, "same" padding), ``{prefix}bn`` and, with ``activation``, swish
    ``{prefix}activation``: ``(n, h, w, c)`` -> ``(n, ceil(h/strides), ceil(w/strides), filters)``."""
    x = layers.Conv2D(filters, kernel_size, strides=strides, padding="same", use_bias=False,
                      kernel_initializer=CONV_INITIALIZER, name=f"{prefix}conv")(x)
    x = layers.BatchNormalization(axis=imagenet_utils.channel_axis(), momentum=BN_MOMENTUM, name=f"{prefix}bn")(x)
    return layers.Activation("swish", name=f"{prefix}activation")(x) if activation else x


def _block(inputs, drop_rate: float, prefix: str, filters_in: int, filters_out: int, expansion: int, stride: int):
    """``(n, h, w, filters_in)`` -> ``(n, h/stride, w/stride, filters_out)``: the inverted residual block (MBConv),
    its layers named ``{prefix}expand_conv`` ... ``{prefix}add``."""
    filters = filters_in * expansion
    x = inputs
    if expansion != 1:
        x = _conv_bn(x, filters, 1, 1, f"{prefix}expand_")
    x = layers.DepthwiseConv2D(KERNEL_SIZE, strides=stride, padding="same", use_bias=False,
                               depthwise_initializer=CONV_INITIALIZER, name=f"{prefix}dwconv2")(x)
    x = layers.BatchNormalization(axis=imagenet_utils.channel_axis(), momentum=BN_MOMENTUM, name=f"{prefix}bn")(x)
    x = layers.Activation("swish", name=f"{prefix}activation")(x)
    x = squeeze_excite(x, prefix, filters, max(1, int(filters_in * SE_RATIO)))
    x = _conv_bn(x, filters_out, 1, 1, f"{prefix}project_", activation=False)
    return residual(x, inputs, drop_rate, prefix, stride == 1 and filters_in == filters_out)


def _fused_block(inputs, drop_rate: float, prefix: str, filters_in: int, filters_out: int, expansion: int,
                 stride: int):
    """``(n, h, w, filters_in)`` -> ``(n, h/stride, w/stride, filters_out)``: the fused block (Fused-MBConv). With
    expansion a 3x3 ``{prefix}expand_conv`` then a linear 1x1 ``{prefix}project_conv``; without, one 3x3
    ``{prefix}project_conv`` with its activation."""
    if expansion == 1:
        x = _conv_bn(inputs, filters_out, KERNEL_SIZE, stride, f"{prefix}project_")
    else:
        x = _conv_bn(inputs, filters_in * expansion, KERNEL_SIZE, stride, f"{prefix}expand_")
        x = _conv_bn(x, filters_out, 1, 1, f"{prefix}project_", activation=False)
    return residual(x, inputs, drop_rate, prefix, stride == 1 and filters_in == filters_out)
