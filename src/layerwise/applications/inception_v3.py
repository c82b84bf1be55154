"""InceptionV3 (Szegedy et al., 2016), as Keras' ``keras.applications.inception_v3``.

Every convolution is followed by batch normalisation without a scale (a ReLU follows, which makes the scale
redundant) and a ReLU. A stem of five convolutions and two 3x3 stride-2 max poolings, then eleven "mixed" blocks
that run parallel branches and concatenate them: three 35x35 blocks (``mixed0``-``mixed2``: 5x5 and double 3x3
branches), a reduction to 17x17 (``mixed3``), four blocks of factorised 7x7 convolutions (``mixed4``-``mixed7``),
a reduction to 8x8 (``mixed8``) and two blocks whose 3x3 branches split into 1x3 and 3x1 convolutions
(``mixed9``, ``mixed10``): ``(299, 299, 3)`` -> ``(8, 8, 2048)``. The top is global average pooling and the
classifier. Inputs are preprocessed in "tf" mode (scaled to [-1, 1]).

All layers but the named concatenations, the pooling ``avg_pool`` and the classifier keep automatic names
(``conv2d_5``, ``batch_normalization_5``, ``activation_5``), as in Keras, so they are created in Keras' order.
"""
from __future__ import annotations

from layerwise import layers
from layerwise.applications import imagenet_utils, imagenet_weights
from layerwise.applications.imagenet_utils import decode_predictions as decode_predictions  # Keras' name
from layerwise.models import Model

BLOCK_35_POOL_FILTERS = (32, 64, 64)  # the pooling branch's width in mixed0-mixed2
BLOCK_17_WIDTHS = (128, 160, 160, 192)  # the 7x7 branches' inner width in mixed4-mixed7


def InceptionV3(include_top: bool = True, weights="imagenet", input_tensor=None, input_shape=None, pooling=None,
                classes: int = 1000, classifier_activation="softmax", name: str = "inception_v3") -> Model:
    """InceptionV3 (23,851,784 parameters with the top): images ``(n, h, w, 3)``, h and w at least 75
    (``(299, 299, 3)`` by default with the top) -> ``(n, classes)`` scores; without the top the features,
    ``(n, 8, 8, 2048)`` at 299x299 and ``(n, 1, 1, 2048)`` at 75x75, or ``(n, 2048)`` with ``pooling``.

    ``weights``: "imagenet" (Keras' published ImageNet weights, fetched into Keras' cache unless already there;
    see ``imagenet_weights``), None (random initialization) or the path to a weights file.
    """
    img_input = imagenet_utils.prepare_input("InceptionV3", include_top, weights, input_tensor, input_shape, pooling,
                                             classes, classifier_activation, default_size=299, min_size=75)
    x = conv_bn(img_input, 32, (3, 3), strides=2, padding="valid")
    x = conv_bn(x, 32, (3, 3), padding="valid")
    x = conv_bn(x, 64, (3, 3))
    x = layers.MaxPooling2D((3, 3), strides=(2, 2))(x)
    x = conv_bn(x, 80, (1, 1), padding="valid")
    x = conv_bn(x, 192, (3, 3), padding="valid")
    x = layers.MaxPooling2D((3, 3), strides=(2, 2))(x)

    for i, pool_filters in enumerate(BLOCK_35_POOL_FILTERS):
        x = _block_35(x, pool_filters, name=f"mixed{i}")
    x = _reduction_35(x)
    for i, width in enumerate(BLOCK_17_WIDTHS, start=4):
        x = _block_17(x, width, name=f"mixed{i}")
    x = _reduction_17(x)
    for i in range(2):
        x = _block_8(x, i)

    x = imagenet_utils.classifier_top(x, include_top, pooling, classes, classifier_activation)
    return imagenet_utils.finish_model(img_input, input_tensor, x, name, weights,
                                       imagenet_weights.published("InceptionV3", include_top))


def conv_bn(x, filters: int, kernel_size, strides: int = 1, padding: str = "same", activation="relu",
            use_bias: bool = False, name: str | None = None):
    """Convolution, then batch norm without scale when it has no bias, then ``activation`` unless None:
    ``(n, h, w, c)`` -> ``(n, h', w', filters)``. Named ``name``, ``{name}_bn`` and ``{name}_ac`` (Keras'
    Inception-ResNet names), or automatically without ``name`` (all of InceptionV3)."""
    x = layers.Conv2D(filters, kernel_size, strides=strides, padding=padding, use_bias=use_bias, name=name)(x)
    if not use_bias:
        x = layers.BatchNormalization(axis=imagenet_utils.channel_axis(), scale=False,
                                      name=None if name is None else f"{name}_bn")(x)
    if activation is not None:
        x = layers.Activation(activation, name=None if name is None else f"{name}_ac")(x)
    return x


def _concatenate(branches: list, name: str | None = None):
    """The branches joined along the channel axis (1 when channels-first, else 3)."""
    return layers.concatenate(branches, axis=imagenet_utils.channel_axis(), name=name)


def _pool_branch(x, filters: int):
    """3x3 stride-1 average pooling ("same", padding left out of the mean), then a 1x1 convolution."""
    x = layers.AveragePooling2D((3, 3), strides=(1, 1), padding="same")(x)
    return conv_bn(x, filters, (1, 1))


def _block_35(x, pool_filters: int, name: str):
    """1x1, 5x5 and double 3x3 branches and the pooling branch: ``(n, h, w, c)`` -> ``(n, h, w, 224 +
    pool_filters)``."""
    branch1x1 = conv_bn(x, 64, (1, 1))
    branch5x5 = conv_bn(conv_bn(x, 48, (1, 1)), 64, (5, 5))
    branch3x3dbl = conv_bn(conv_bn(conv_bn(x, 64, (1, 1)), 96, (3, 3)), 96, (3, 3))
    branch_pool = _pool_branch(x, pool_filters)
    return _concatenate([branch1x1, branch5x5, branch3x3dbl, branch_pool], name=name)


def _reduction_35(x):
    """``mixed3``: a strided 3x3 branch, a double 3x3 one (the second strided) and 3x3 stride-2 max pooling,
    all "valid": ``(n, h, w, 288)`` -> ``(n, (h-1)//2, (w-1)//2, 768)``."""
    branch3x3 = conv_bn(x, 384, (3, 3), strides=2, padding="valid")
    branch3x3dbl = conv_bn(conv_bn(x, 64, (1, 1)), 96, (3, 3))
    branch3x3dbl = conv_bn(branch3x3dbl, 96, (3, 3), strides=2, padding="valid")
    branch_pool = layers.MaxPooling2D((3, 3), strides=(2, 2))(x)
    return _concatenate([branch3x3, branch3x3dbl, branch_pool], name="mixed3")


def _block_17(x, width: int, name: str):
    """1x1, a 7x7 factorised as 1x7 then 7x1, a double one (7x1, 1x7, 7x1, 1x7) with ``width`` inner channels,
    and the pooling branch, each ending at 192 channels: ``(n, h, w, 768)`` -> the same."""
    branch1x1 = conv_bn(x, 192, (1, 1))
    branch7x7 = conv_bn(x, width, (1, 1))
    branch7x7 = conv_bn(branch7x7, width, (1, 7))
    branch7x7 = conv_bn(branch7x7, 192, (7, 1))
    branch7x7dbl = conv_bn(x, width, (1, 1))
    for filters, kernel in ((width, (7, 1)), (width, (1, 7)), (width, (7, 1)), (192, (1, 7))):
        branch7x7dbl = conv_bn(branch7x7dbl, filters, kernel)
    branch_pool = _pool_branch(x, 192)
    return _concatenate([branch1x1, branch7x7, branch7x7dbl, branch_pool], name=name)


def _reduction_17(x):
    """``mixed8``: 1x1 then strided 3x3 (320), 1x1, 1x7, 7x1 then strided 3x3 (192), and 3x3 stride-2 max
    pooling: ``(n, h, w, 768)`` -> ``(n, (h-1)//2, (w-1)//2, 1280)``."""
    branch3x3 = conv_bn(conv_bn(x, 192, (1, 1)), 320, (3, 3), strides=2, padding="valid")
    branch7x7x3 = conv_bn(x, 192, (1, 1))
    branch7x7x3 = conv_bn(branch7x7x3, 192, (1, 7))
    branch7x7x3 = conv_bn(branch7x7x3, 192, (7, 1))
    branch7x7x3 = conv_bn(branch7x7x3, 192, (3, 3), strides=2, padding="valid")
    branch_pool = layers.MaxPooling2D((3, 3), strides=(2, 2))(x)
    return _concatenate([branch3x3, branch7x7x3, branch_pool], name="mixed8")


def _block_8(x, i: int):
    """``mixed{9 + i}``: 1x1 (320), a 1x1 (384) and a 1x1 + 3x3 (448 -> 384) branch that each end split into
    parallel 1x3 and 3x1 convolutions (384 each), and the pooling branch (192):
    ``(n, h, w, c)`` -> ``(n, h, w, 2048)``. The first split's concatenation is named ``mixed9_{i}``, the
    second's automatically."""
    branch1x1 = conv_bn(x, 320, (1, 1))
    branch3x3 = conv_bn(x, 384, (1, 1))
    branch3x3 = _concatenate([conv_bn(branch3x3, 384, (1, 3)), conv_bn(branch3x3, 384, (3, 1))], name=f"mixed9_{i}")
    branch3x3dbl = conv_bn(conv_bn(x, 448, (1, 1)), 384, (3, 3))
    branch3x3dbl = _concatenate([conv_bn(branch3x3dbl, 384, (1, 3)), conv_bn(branch3x3dbl, 384, (3, 1))])
    branch_pool = _pool_branch(x, 192)
    return _concatenate([branch1x1, branch3x3, branch3x3dbl, branch_pool], name=f"mixed{9 + i}")


def preprocess_input(x, data_format: str | None = None):
    """Images in [0, 255] -> [-1, 1] ("tf" mode); see ``imagenet_utils.preprocess_input``."""
    return imagenet_utils.preprocess_input(x, data_format=data_format, mode="tf")
