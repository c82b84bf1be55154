"""ResNet50, ResNet101 and ResNet152 (He et al., 2015, v1), as Keras' ``keras.applications.resnet``.

A 7x7 stride-2 stem with 3x3 max pooling, then four stages of bottleneck blocks (1x1 -> 3x3 -> 1x1
convolutions, each followed by batch normalisation, added to a shortcut) with 256, 512, 1024 and 2048
output channels; the stages after the first halve the resolution (``(224, 224, 3)`` -> ``(7, 7, 2048)``).
The top is global average pooling and the classifier. Inputs are preprocessed in "caffe" mode.
"""
from __future__ import annotations

from layerwise import layers
from layerwise.applications import imagenet_utils, imagenet_weights
from layerwise.applications.imagenet_utils import decode_predictions as decode_predictions  # Keras' name
from layerwise.models import Model

BN_EPSILON = 1.001e-5
STAGE_FILTERS = (64, 128, 256, 512)  # bottleneck widths; the blocks output 4 times as many channels
STAGE_BLOCKS = {"ResNet50": (3, 4, 6, 3), "ResNet101": (3, 4, 23, 3), "ResNet152": (3, 8, 36, 3)}


def ResNet50(include_top: bool = True, weights="imagenet", input_tensor=None, input_shape=None, pooling=None,
             classes: int = 1000, classifier_activation="softmax", name: str = "resnet50") -> Model:
    """ResNet50 (25,636,712 parameters with the top): images ``(n, h, w, 3)``, h and w at least 32 (``(224, 224, 3)``
    by default with the top) -> ``(n, classes)`` scores; without the top ``(n, h/32, w/32, 2048)`` features, or
    ``(n, 2048)`` with ``pooling="avg"`` (layer ``avg_pool``) or ``"max"`` (``max_pool``).

    ``weights``: "imagenet" (Keras' published ImageNet weights, fetched into Keras' cache unless already there;
    see ``imagenet_weights``), None (random initialization) or the path to a weights file.
    """
    return _resnet("ResNet50", include_top, weights, input_tensor, input_shape, pooling, classes,
                   classifier_activation, name)


def ResNet101(include_top: bool = True, weights="imagenet", input_tensor=None, input_shape=None, pooling=None,
              classes: int = 1000, classifier_activation="softmax", name: str = "resnet101") -> Model:
    """ResNet101 (44,707,176 parameters with the top): 23 blocks in the third stage; otherwise as ``ResNet50``."""
    return _resnet("ResNet101", include_top, weights, input_tensor, input_shape, pooling, classes,
                   classifier_activation, name)


def ResNet152(include_top: bool = True, weights="imagenet", input_tensor=None, input_shape=None, pooling=None,
              classes: int = 1000, classifier_activation="softmax", name: str = "resnet152") -> Model:
    """ResNet152 (60,419,944 parameters with the top): 8 and 36 blocks in the second and third stages;
    otherwise as ``ResNet50``."""
    return _resnet("ResNet152", include_top, weights, input_tensor, input_shape, pooling, classes,
                   classifier_activation, name)


def _resnet(app: str, include_top: bool, weights, input_tensor, input_shape, pooling, classes: int,
            classifier_activation, name: str) -> Model:
    img_input = imagenet_utils.prepare_input(app, include_top, weights, input_tensor, input_shape, pooling, classes,
                                             classifier_activation)
    x = stem(img_input, normalize=True)
    for stage, (filters, blocks) in enumerate(zip(STAGE_FILTERS, STAGE_BLOCKS[app]), start=2):
        x = _stack(x, filters, blocks, stride=1 if stage == 2 else 2, name=f"conv{stage}")
    x = imagenet_utils.classifier_top(x, include_top, pooling, classes, classifier_activation, named_pooling=True)
    return imagenet_utils.finish_model(img_input, input_tensor, x, name, weights,
                                       imagenet_weights.published(app, include_top))


def stem(img_input, normalize: bool):
    """The 7x7 stride-2 convolution ``conv1`` and 3x3 stride-2 max pooling ``pool1``: ``(n, h, w, 3)`` ->
    ``(n, h/4, w/4, 64)``. ``normalize`` puts batch norm and ReLU after the convolution (v1; v2 normalises at
    the start of each block instead)."""
    x = layers.ZeroPadding2D(padding=((3, 3), (3, 3)), name="conv1_pad")(img_input)
    x = layers.Conv2D(64, 7, strides=2, name="conv1_conv")(x)
    if normalize:
        x = layers.BatchNormalization(axis=imagenet_utils.channel_axis(), epsilon=BN_EPSILON, name="conv1_bn")(x)
        x = layers.Activation("relu", name="conv1_relu")(x)
    x = layers.ZeroPadding2D(padding=((1, 1), (1, 1)), name="pool1_pad")(x)
    return layers.MaxPooling2D(3, strides=2, name="pool1_pool")(x)


def _stack(x, filters: int, blocks: int, stride: int, name: str):
    """``blocks`` bottleneck blocks; the first projects the shortcut (and strides by ``stride``)."""
    x = _block(x, filters, stride=stride, conv_shortcut=True, name=f"{name}_block1")
    for i in range(2, blocks + 1):
        x = _block(x, filters, stride=1, conv_shortcut=False, name=f"{name}_block{i}")
    return x


def _block(x, filters: int, stride: int, conv_shortcut: bool, name: str):
    """One bottleneck block: ``(n, h, w, c)`` -> ``(n, h/stride, w/stride, 4 * filters)``."""
    bn_axis = imagenet_utils.channel_axis()
    if conv_shortcut:
        shortcut = layers.Conv2D(4 * filters, 1, strides=stride, name=f"{name}_0_conv")(x)
        shortcut = layers.BatchNormalization(axis=bn_axis, epsilon=BN_EPSILON, name=f"{name}_0_bn")(shortcut)
    else:
        shortcut = x
    x = layers.Conv2D(filters, 1, strides=stride, name=f"{name}_1_conv")(x)
    x = layers.BatchNormalization(axis=bn_axis, epsilon=BN_EPSILON, name=f"{name}_1_bn")(x)
    x = layers.Activation("relu", name=f"{name}_1_relu")(x)
    x = layers.Conv2D(filters, 3, padding="same", name=f"{name}_2_conv")(x)
    x = layers.BatchNormalization(axis=bn_axis, epsilon=BN_EPSILON, name=f"{name}_2_bn")(x)
    x = layers.Activation("relu", name=f"{name}_2_relu")(x)
    x = layers.Conv2D(4 * filters, 1, name=f"{name}_3_conv")(x)
    x = layers.BatchNormalization(axis=bn_axis, epsilon=BN_EPSILON, name=f"{name}_3_bn")(x)
    x = layers.Add(name=f"{name}_add")([shortcut, x])
    return layers.Activation("relu", name=f"{name}_out")(x)


def preprocess_input(x, data_format: str | None = None):
    """Images in [0, 255] -> BGR with the ImageNet mean pixel subtracted ("caffe" mode); see
    ``imagenet_utils.preprocess_input``."""
    return imagenet_utils.preprocess_input(x, data_format=data_format, mode="caffe")
