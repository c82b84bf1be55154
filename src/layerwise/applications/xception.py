"""Xception (Chollet, 2017), as Keras' ``keras.applications.xception``.

Two 3x3 convolutions (the first with stride 2, both "valid"), then depthwise-separable convolutions, each
followed by batch normalisation, in residual blocks: three entry blocks (128, 256, 728 channels) and an exit block
(728 -> 1024) that each halve the resolution with 3x3 max pooling, their shortcut a strided 1x1 convolution;
between them eight middle blocks of three 728-channel separable convolutions around an identity shortcut. Two
more separable convolutions (1536, 2048) end the features: ``(299, 299, 3)`` -> ``(10, 10, 2048)``. The top is
global average pooling and the classifier. Inputs are preprocessed in "tf" mode (scaled to [-1, 1]).
"""
from __future__ import annotations

from layerwise import layers
from layerwise.applications import imagenet_utils, imagenet_weights
from layerwise.applications.imagenet_utils import decode_predictions as decode_predictions  # Keras' name
from layerwise.models import Model

ENTRY_FILTERS = (128, 256, 728)  # blocks 2-4
MIDDLE_BLOCKS = range(5, 13)  # 728 channels throughout
EXIT_FILTERS = (728, 1024)  # block 13


def Xception(include_top: bool = True, weights="imagenet", input_tensor=None, input_shape=None, pooling=None,
             classes: int = 1000, classifier_activation="softmax", name: str = "xception") -> Model:
    """Xception (22,910,480 parameters with the top): images ``(n, h, w, 3)``, h and w at least 71
    (``(299, 299, 3)`` by default with the top) -> ``(n, classes)`` scores; without the top the features,
    ``(n, 10, 10, 2048)`` at 299x299 and ``(n, 3, 3, 2048)`` at 71x71, or ``(n, 2048)`` with ``pooling``.

    ``weights``: "imagenet" (Keras' published ImageNet weights, fetched into Keras' cache unless already there;
    see ``imagenet_weights``), None (random initialization) or the path to a weights file.
    """
    img_input = imagenet_utils.prepare_input("Xception", include_top, weights, input_tensor, input_shape, pooling,
                                             classes, classifier_activation, default_size=299, min_size=71)
    x = img_input
    for filters, strides, conv in ((32, 2, "block1_conv1"), (64, 1, "block1_conv2")):
        x = layers.Conv2D(filters, (3, 3), strides=(strides, strides), use_bias=False, name=conv)(x)
        x = layers.BatchNormalization(axis=imagenet_utils.channel_axis(-1), name=f"{conv}_bn")(x)
        x = layers.Activation("relu", name=f"{conv}_act")(x)
    for block, filters in enumerate(ENTRY_FILTERS, start=2):
        x = _downsampling_block(x, (filters, filters), block)
    for block in MIDDLE_BLOCKS:
        x = _middle_block(x, block)
    x = _downsampling_block(x, EXIT_FILTERS, 13)
    for i, filters in enumerate((1536, 2048), start=1):
        x = _separable_conv(x, filters, f"block14_sepconv{i}")
        x = layers.Activation("relu", name=f"block14_sepconv{i}_act")(x)

    x = imagenet_utils.classifier_top(x, include_top, pooling, classes, classifier_activation)
    return imagenet_utils.finish_model(img_input, input_tensor, x, name, weights,
                                       imagenet_weights.published("Xception", include_top))


def _separable_conv(x, filters: int, name: str):
    """3x3 depthwise-separable convolution ("same", no bias) and batch norm: ``(n, h, w, c)`` -> ``(n, h, w,
    filters)``."""
    x = layers.SeparableConv2D(filters, (3, 3), padding="same", use_bias=False, name=name)(x)
    return layers.BatchNormalization(axis=imagenet_utils.channel_axis(-1), name=f"{name}_bn")(x)


def _downsampling_block(x, filters: tuple[int, int], block: int):
    """Two separable convolutions (ReLU before each, but before the first in block 2, which follows one) and
    3x3 stride-2 max pooling, added to a strided 1x1 convolution of the input:
    ``(n, h, w, c)`` -> ``(n, ceil(h/2), ceil(w/2), filters[1])``."""
    residual = layers.Conv2D(filters[1], (1, 1), strides=(2, 2), padding="same", use_bias=False)(x)
    residual = layers.BatchNormalization(axis=imagenet_utils.channel_axis(-1))(residual)
    for i, width in enumerate(filters, start=1):
        if i > 1 or block > 2:
            x = layers.Activation("relu", name=f"block{block}_sepconv{i}_act")(x)
        x = _separable_conv(x, width, f"block{block}_sepconv{i}")
    x = layers.MaxPooling2D((3, 3), strides=(2, 2), padding="same", name=f"block{block}_pool")(x)
    return layers.add([x, residual])


def _middle_block(x, block: int):
    """Three ReLU + 728-channel separable convolutions added to the input: ``(n, h, w, 728)`` -> the same."""
    residual = x
    for i in range(1, 4):
        x = layers.Activation("relu", name=f"block{block}_sepconv{i}_act")(x)
        x = _separable_conv(x, 728, f"block{block}_sepconv{i}")
    return layers.add([x, residual])


def preprocess_input(x, data_format: str | None = None):
    """Images in [0, 255] -> [-1, 1] ("tf" mode); see ``imagenet_utils.preprocess_input``."""
    return imagenet_utils.preprocess_input(x, data_format=data_format, mode="tf")
