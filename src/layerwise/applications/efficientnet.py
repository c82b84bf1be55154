"""EfficientNet B0-B7 (Tan & Le, 2019), as Keras' ``keras.applications.efficientnet``.

The model preprocesses its own inputs (pixels in [0, 255]): ``Rescaling(1/255)``, then a ``Normalization`` whose
statistics come with the weights, then with ImageNet weights a second ``Rescaling`` by ``1/sqrt(std)`` per
channel (the original networks divide by the variance, Normalization by the standard deviation), so
``preprocess_input`` returns its input. A stride-2 3x3 stem convolution, then seven stages of inverted residual
blocks ``block{stage}{a, b, ...}_`` (1x1 expansion, depthwise convolution, squeeze-and-excitation, linear 1x1
projection; where shapes allow, drop-connect and a residual Add), then a 1x1 convolution ``top_conv``:
``(224, 224, 3)`` -> ``(7, 7, 1280)`` for B0. B1-B7 widen every convolution and repeat blocks more by their
width and depth coefficients, and take larger default inputs. The top is global average pooling, dropout and
the classifier. Every activation is swish.
"""
from __future__ import annotations

import math

from layerwise import layers
from layerwise.applications import imagenet_utils, imagenet_weights
from layerwise.applications.imagenet_utils import decode_predictions as decode_predictions  # Keras' name
from layerwise.models import Model

# The stages of B0: (kernel size, repeats, filters in, filters out, expansion, stride of the first block).
STAGES = ((3, 1, 32, 16, 1, 1), (3, 2, 16, 24, 6, 2), (5, 2, 24, 40, 6, 2), (3, 3, 40, 80, 6, 2),
          (5, 3, 80, 112, 6, 1), (5, 4, 112, 192, 6, 2), (3, 1, 192, 320, 6, 1))
SE_RATIO = 0.25  # squeeze-and-excitation width, as a fraction of the block's input filters
DROP_CONNECT_RATE = 0.2  # the last block's; block b of n drops its residual branch at rate 0.2 * b / n
DEPTH_DIVISOR = 8  # widened filter counts are rounded to multiples of it
# variant -> (width coefficient, depth coefficient, default input side, dropout rate before the classifier).
VARIANTS = {"b0": (1.0, 1.0, 224, 0.2), "b1": (1.0, 1.1, 240, 0.2), "b2": (1.1, 1.2, 260, 0.3),
            "b3": (1.2, 1.4, 300, 0.3), "b4": (1.4, 1.8, 380, 0.4), "b5": (1.6, 2.2, 456, 0.4),
            "b6": (1.8, 2.6, 528, 0.5), "b7": (2.0, 3.1, 600, 0.5)}
# Keras' parameter counts with the 1000-class top, for the docstrings.
PARAMETERS = {"b0": "5,330,571", "b1": "7,856,239", "b2": "9,177,569", "b3": "12,320,535", "b4": "19,466,823",
              "b5": "30,562,527", "b6": "43,265,143", "b7": "66,658,687"}
CONV_INITIALIZER = {"class_name": "VarianceScaling",
                    "config": {"scale": 2.0, "mode": "fan_out", "distribution": "truncated_normal"}}
DENSE_INITIALIZER = {"class_name": "VarianceScaling",
                     "config": {"scale": 1.0 / 3.0, "mode": "fan_out", "distribution": "uniform"}}


DOCSTRING = """EfficientNet{B} ({parameters} parameters with the top): images ``(n, h, w, 3)`` with values in
    [0, 255] (the model rescales them itself), h and w at least 32 (``({side}, {side}, 3)`` by default with the top)
    -> ``(n, classes)`` scores; without the top ``(n, ceil(h/32), ceil(w/32), {features})`` features, or
    ``(n, {features})`` with ``pooling``.

    ``weights``: "imagenet" (Keras' published ImageNet weights, fetched into Keras' cache unless already there;
    see ``imagenet_weights``), None (random initialization) or the path to a weights file.
    """


def _constructor(variant: str):
    """Keras' ``EfficientNet<variant>`` function, with its own name, default model name and docstring."""
    def constructor(include_top: bool = True, weights="imagenet", input_tensor=None, input_shape=None, pooling=None,
                    classes: int = 1000, classifier_activation="softmax",
                    name: str = f"efficientnet{variant}") -> Model:
        return _efficientnet(variant, include_top, weights, input_tensor, input_shape, pooling, classes,
                             classifier_activation, name)

    width, _, side, _ = VARIANTS[variant]
    constructor.__name__ = constructor.__qualname__ = f"EfficientNet{variant.upper()}"
    constructor.__doc__ = DOCSTRING.format(B=variant.upper(), parameters=PARAMETERS[variant], side=side,
                                           features=imagenet_utils.make_divisible(1280 * width, DEPTH_DIVISOR))
    return constructor


EfficientNetB0, EfficientNetB1, EfficientNetB2, EfficientNetB3 = (_constructor(f"b{i}") for i in range(4))
EfficientNetB4, EfficientNetB5, EfficientNetB6, EfficientNetB7 = (_constructor(f"b{i}") for i in range(4, 8))


def _efficientnet(variant: str, include_top: bool, weights, input_tensor, input_shape, pooling, classes: int,
                  classifier_activation, name: str) -> Model:
    width, depth, default_size, dropout_rate = VARIANTS[variant]
    img_input = imagenet_utils.prepare_input(f"EfficientNet{variant.upper()}", include_top, weights, input_tensor,
                                             input_shape, pooling, classes, classifier_activation,
                                             default_size=default_size, min_size=32)
    channel_axis = imagenet_utils.channel_axis()

    def filters(count: int) -> int:
        return imagenet_utils.make_divisible(count * width, DEPTH_DIVISOR)

    def repeats(count: int) -> int:
        return math.ceil(depth * count)

    x = layers.Rescaling(1.0 / 255.0)(img_input)
    normalization = layers.Normalization(axis=channel_axis)
    x = normalization(x)
    # Until weights set them, Keras' statistics (mean 0, variance 1) leave the input as it is; layerwise refuses
    # to normalise with statistics nobody set, so they are set to those.
    normalization.set_weights(normalization.get_weights())
    if imagenet_utils.is_imagenet(weights):
        x = layers.Rescaling([1.0 / math.sqrt(std) for std in imagenet_utils.TORCH_STD])(x)

    x = layers.ZeroPadding2D(padding=imagenet_utils.correct_pad(x, 3), name="stem_conv_pad")(x)
    x = layers.Conv2D(filters(32), 3, strides=2, padding="valid", use_bias=False,
                      kernel_initializer=CONV_INITIALIZER, name="stem_conv")(x)
    x = layers.BatchNormalization(axis=channel_axis, name="stem_bn")(x)
    x = layers.Activation("swish", name="stem_activation")(x)

    total = sum(repeats(stage[1]) for stage in STAGES)
    b = 0
    for stage, (kernel_size, count, filters_in, filters_out, expansion, stride) in enumerate(STAGES, start=1):
        filters_in, filters_out = filters(filters_in), filters(filters_out)
        for j in range(repeats(count)):
            first = j == 0  # only the stage's first block changes the width and strides
            x = _block(x, DROP_CONNECT_RATE * b / total, f"block{stage}{chr(ord('a') + j)}_",
                       filters_in if first else filters_out, filters_out, kernel_size, stride if first else 1,
                       expansion)
            b += 1

    x = layers.Conv2D(filters(1280), 1, padding="same", use_bias=False, kernel_initializer=CONV_INITIALIZER,
                      name="top_conv")(x)
    x = layers.BatchNormalization(axis=channel_axis, name="top_bn")(x)
    x = layers.Activation("swish", name="top_activation")(x)
    if include_top:
        x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
        x = layers.Dropout(dropout_rate, name="top_dropout")(x)
        x = layers.Dense(classes, activation=classifier_activation, kernel_initializer=DENSE_INITIALIZER,
                         name="predictions")(x)
    else:
        x = imagenet_utils.classifier_top(x, False, pooling, classes, classifier_activation, named_pooling=True)
    return imagenet_utils.finish_model(img_input, input_tensor, x, name, weights,
                                       imagenet_weights.efficientnet(variant, include_top))


def _block(inputs, drop_rate: float, prefix: str, filters_in: int, filters_out: int, kernel_size: int, stride: int,
           expansion: int):
    """``(n, h, w, filters_in)`` -> ``(n, h/stride, w/stride, filters_out)``: the inverted residual block, its
    layers named ``{prefix}expand_conv`` ... ``{prefix}add``."""
    channel_axis = imagenet_utils.channel_axis()
    filters = filters_in * expansion
    x = inputs
    if expansion != 1:
        x = layers.Conv2D(filters, 1, padding="same", use_bias=False, kernel_initializer=CONV_INITIALIZER,
                          name=f"{prefix}expand_conv")(x)
        x = layers.BatchNormalization(axis=channel_axis, name=f"{prefix}expand_bn")(x)
        x = layers.Activation("swish", name=f"{prefix}expand_activation")(x)
    if stride == 2:
        x = layers.ZeroPadding2D(padding=imagenet_utils.correct_pad(x, kernel_size), name=f"{prefix}dwconv_pad")(x)
    x = layers.DepthwiseConv2D(kernel_size, strides=stride, padding="same" if stride == 1 else "valid",
                               use_bias=False, depthwise_initializer=CONV_INITIALIZER, name=f"{prefix}dwconv")(x)
    x = layers.BatchNormalization(axis=channel_axis, name=f"{prefix}bn")(x)
    x = layers.Activation("swish", name=f"{prefix}activation")(x)

    x = squeeze_excite(x, prefix, filters, max(1, int(filters_in * SE_RATIO)))

    x = layers.Conv2D(filters_out, 1, padding="same", use_bias=False, kernel_initializer=CONV_INITIALIZER,
                      name=f"{prefix}project_conv")(x)
    x = layers.BatchNormalization(axis=channel_axis, name=f"{prefix}project_bn")(x)
    return residual(x, inputs, drop_rate, prefix, stride == 1 and filters_in == filters_out)


def squeeze_excite(x, prefix: str, filters: int, reduced: int):
    """Per-channel gates in (0, 1) from the pooled maps ``(n, h, w, filters)``, through ``reduced`` channels,
    multiply the maps: ``{prefix}se_squeeze`` ... ``{prefix}se_excite``."""
    se = layers.GlobalAveragePooling2D(name=f"{prefix}se_squeeze")(x)
    se = layers.Reshape(imagenet_utils.image_shape(1, 1, filters), name=f"{prefix}se_reshape")(se)
    se = layers.Conv2D(reduced, 1, padding="same", activation="swish", kernel_initializer=CONV_INITIALIZER,
                       name=f"{prefix}se_reduce")(se)
    se = layers.Conv2D(filters, 1, padding="same", activation="sigmoid", kernel_initializer=CONV_INITIALIZER,
                       name=f"{prefix}se_expand")(se)
    return layers.multiply([x, se], name=f"{prefix}se_excite")


def residual(x, inputs, drop_rate: float, prefix: str, shapes_match: bool):
    """``x + inputs`` (``{prefix}add``) where the shapes match, after drop-connect (``{prefix}drop``: whole samples
    of the branch, one draw per sample) when ``drop_rate`` > 0; else ``x``."""
    if not shapes_match:
        return x
    if drop_rate > 0:
        x = layers.Dropout(drop_rate, noise_shape=(None, 1, 1, 1), name=f"{prefix}drop")(x)
    return layers.add([x, inputs], name=f"{prefix}add")


def preprocess_input(x, data_format: str | None = None):
    """``x`` unchanged: EfficientNet rescales and normalises its inputs itself (Keras keeps this for its API)."""
    return x
