"""ResNet50V2, ResNet101V2 and ResNet152V2 (He et al., 2016, pre-activation), as Keras'
``keras.applications.resnet_v2``.

ResNet's stem without its batch norm, then four stages of pre-activation bottleneck blocks (batch norm and ReLU
first, then 1x1 -> 3x3 -> 1x1 convolutions added to a shortcut) with 256, 512, 1024 and 2048 output channels;
the last block of each of the first three stages halves the resolution (``(224, 224, 3)`` -> ``(7, 7, 2048)``).
A final batch norm and ReLU, then the top: global average pooling and the classifier. Inputs are preprocessed in
"tf" mode (scaled to [-1, 1]).
"""
from __future__ import annotations

from layerwise import layers
from layerwise.applications import imagenet_utils, imagenet_weights, resnet
from layerwise.applications.imagenet_utils import decode_predictions as decode_predictions  # Keras' name
from layerwise.models import Model

BN_EPSILON = resnet.BN_EPSILON
STAGE_BLOCKS = {"ResNet50V2": (3, 4, 6, 3), "ResNet101V2": (3, 4, 23, 3), "ResNet152V2": (3, 8, 36, 3)}


def ResNet50V2(include_top: bool = True, weights="imagenet", input_tensor=None, input_shape=None, pooling=None,
               classes: int = 1000, classifier_activation="softmax", name: str = "resnet50v2") -> Model:
    """ResNet50V2 (25,613,800 parameters with the top): images ``(n, h, w, 3)``, h and w at least 32
    (``(224, 224, 3)`` by default with the top) -> ``(n, classes)`` scores; without the top
    ``(n, h/32, w/32, 2048)`` features, or ``(n, 2048)`` with ``pooling="avg"`` (layer ``avg_pool``) or
    ``"max"`` (``max_pool``).

    ``weights``: "imagenet" (Keras' published ImageNet weights, fetched into Keras' cache unless already there;
    see ``imagenet_weights``), None (random initialization) or the path to a weights file.
    """
    return _resnet_v2("ResNet50V2", include_top, weights, input_tensor, input_shape, pooling, classes,
                      classifier_activation, name)


def ResNet101V2(include_top: bool = True, weights="imagenet", input_tensor=None, input_shape=None, pooling=None,
                classes: int = 1000, classifier_activation="softmax", name: str = "resnet101v2") -> Model:
    """ResNet101V2 (44,675,560 parameters with the top): 23 blocks in the third stage; otherwise as
    ``ResNet50V2``."""
    return _resnet_v2("ResNet101V2", include_top, weights, input_tensor, input_shape, pooling, classes,
                      classifier_activation, name)


def ResNet152V2(include_top: bool = True, weights="imagenet", input_tensor=None, input_shape=None, pooling=None,
                classes: int = 1000, classifier_activation="softmax", name: str = "resnet152v2") -> Model:
    """ResNet152V2 (60,380,648 parameters with the top): 8 and 36 blocks in the second and third stages;
    otherwise as ``ResNet50V2``."""
    return _resnet_v2("ResNet152V2", include_top, weights, input_tensor, input_shape, pooling, classes,
                      classifier_activation, name)


def _resnet_v2(app: str, include_top: bool, weights, input_tensor, input_shape, pooling, classes: int,
               classifier_activation, name: str) -> Model:
    img_input = imagenet_utils.prepare_input(app, include_top, weights, input_tensor, input_shape, pooling, classes,
                                             classifier_activation)
    x = resnet.stem(img_input, normalize=False)
    for stage, (filters, blocks) in enumerate(zip(resnet.STAGE_FILTERS, STAGE_BLOCKS[app]), start=2):
        x = _stack(x, filters, blocks, stride=1 if stage == 5 else 2, name=f"conv{stage}")  # conv5 keeps the size
    x = layers.BatchNormalization(axis=imagenet_utils.channel_axis(), epsilon=BN_EPSILON, name="post_bn")(x)
    x = layers.Activation("relu", name="post_relu")(x)
    x = imagenet_utils.classifier_top(x, include_top, pooling, classes, classifier_activation, named_pooling=True)
    return imagenet_utils.finish_model(img_input, input_tensor, x, name, weights,
                                       imagenet_weights.published(app, include_top))


def _stack(x, filters: int, blocks: int, stride: int, name: str):
    """``blocks`` pre-activation blocks: the first projects the shortcut, the last strides by ``stride``."""
    x = _block(x, filters, stride=1, conv_shortcut=True, name=f"{name}_block1")
    for i in range(2, blocks):
        x = _block(x, filters, stride=1, conv_shortcut=False, name=f"{name}_block{i}")
    return _block(x, filters, stride=stride, conv_shortcut=False, name=f"{name}_block{blocks}")


def _block(x, filters: int, stride: int, conv_shortcut: bool, name: str):
    """One pre-activation bottleneck block: ``(n, h, w, c)`` -> ``(n, ceil(h/stride), ceil(w/stride), 4 * filters)``.
    The shortcut is a 1x1 convolution of the normalised input, or the input itself (subsampled by a 1x1 max
    pooling when the block strides)."""
    bn_axis = imagenet_utils.channel_axis()
    preact = layers.BatchNormalization(axis=bn_axis, epsilon=BN_EPSILON, name=f"{name}_preact_bn")(x)
    preact = layers.Activation("relu", name=f"{name}_preact_relu")(preact)
    if conv_shortcut:
        shortcut = layers.Conv2D(4 * filters, 1, strides=stride, name=f"{name}_0_conv")(preact)
    else:
        shortcut = layers.MaxPooling2D(1, strides=stride)(x) if stride > 1 else x
    x = layers.Conv2D(filters, 1, use_bias=False, name=f"{name}_1_conv")(preact)
    x = layers.BatchNormalization(axis=bn_axis, epsilon=BN_EPSILON, name=f"{name}_1_bn")(x)
    x = layers.Activation("relu", name=f"{name}_1_relu")(x)
    x = layers.ZeroPadding2D(padding=((1, 1), (1, 1)), name=f"{name}_2_pad")(x)
    x = layers.Conv2D(filters, 3, strides=stride, use_bias=False, name=f"{name}_2_conv")(x)
    x = layers.BatchNormalization(axis=bn_axis, epsilon=BN_EPSILON, name=f"{name}_2_bn")(x)
    x = layers.Activation("relu", name=f"{name}_2_relu")(x)
    x = layers.Conv2D(4 * filters, 1, name=f"{name}_3_conv")(x)
    return layers.Add(name=f"{name}_out")([shortcut, x])


def preprocess_input(x, data_format: str | None = None):
    """Images in [0, 255] -> [-1, 1] ("tf" mode); see ``imagenet_utils.preprocess_input``."""
    return imagenet_utils.preprocess_input(x, data_format=data_format, mode="tf")
