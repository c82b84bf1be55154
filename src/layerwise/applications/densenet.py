"""DenseNet121, DenseNet169 and DenseNet201 (Huang et al., 2017), as Keras' ``keras.applications.densenet``.

A 7x7 stride-2 stem with 3x3 max pooling, then four dense blocks whose conv blocks (batch norm, ReLU, 1x1 to
128 channels, batch norm, ReLU, 3x3 to 32) each concatenate 32 new channels onto their input, with transition
blocks (1x1 convolution halving the channels, 2x2 average pooling) between them; ``(224, 224, 3)`` ->
``(7, 7, 1024)`` for DenseNet121. The top is global average pooling and the classifier. Inputs are
preprocessed in "torch" mode. Channels-last only: with ``image_data_format()`` "channels_first" the constructors
raise, as Keras' do.
"""
from __future__ import annotations

from layerwise import layers
from layerwise.applications import imagenet_utils, imagenet_weights
from layerwise.applications.imagenet_utils import decode_predictions as decode_predictions  # Keras' name
from layerwise.models import Model

BN_EPSILON = 1.001e-5
GROWTH_RATE = 32
DENSE_BLOCKS = {"DenseNet121": (6, 12, 24, 16), "DenseNet169": (6, 12, 32, 32), "DenseNet201": (6, 12, 48, 32)}


def DenseNet121(include_top: bool = True, weights="imagenet", input_tensor=None, input_shape=None, pooling=None,
                classes: int = 1000, classifier_activation="softmax", name: str = "densenet121") -> Model:
    """DenseNet121 (8,062,504 parameters with the top): images ``(n, h, w, 3)``, h and w at least 32
    (``(224, 224, 3)`` by default with the top) -> ``(n, classes)`` scores; without the top
    ``(n, h/32, w/32, 1024)`` features, or ``(n, 1024)`` with ``pooling="avg"`` (layer ``avg_pool``) or
    ``"max"`` (``max_pool``).

    ``weights``: "imagenet" (Keras' published ImageNet weights, fetched into Keras' cache unless already there;
    see ``imagenet_weights``), None (random initialization) or the path to a weights file.
    """
    return _densenet("DenseNet121", include_top, weights, input_tensor, input_shape, pooling, classes,
                     classifier_activation, name)


def DenseNet169(include_top: bool = True, weights="imagenet", input_tensor=None, input_shape=None, pooling=None,
                classes: int = 1000, classifier_activation="softmax", name: str = "densenet169") -> Model:
    """DenseNet169 (14,307,880 parameters with the top; 1664 feature channels); otherwise as ``DenseNet121``."""
    return _densenet("DenseNet169", include_top, weights, input_tensor, input_shape, pooling, classes,
                     classifier_activation, name)


def DenseNet201(include_top: bool = True, weights="imagenet", input_tensor=None, input_shape=None, pooling=None,
                classes: int = 1000, classifier_activation="softmax", name: str = "densenet201") -> Model:
    """DenseNet201 (20,242,984 parameters with the top; 1920 feature channels); otherwise as ``DenseNet121``."""
    return _densenet("DenseNet201", include_top, weights, input_tensor, input_shape, pooling, classes,
                     classifier_activation, name)


def _densenet(app: str, include_top: bool, weights, input_tensor, input_shape, pooling, classes: int,
              classifier_activation, name: str) -> Model:
    if imagenet_utils.channels_first():  # Keras refuses it first of all, so the layers below assume channels last
        raise ValueError(f"{app}: DenseNet does not support the 'channels_first' image data format, as in Keras; "
                         "call layerwise.config.set_image_data_format('channels_last') before building it.")
    img_input = imagenet_utils.prepare_input(app, include_top, weights, input_tensor, input_shape, pooling, classes,
                                             classifier_activation)
    x = layers.ZeroPadding2D(padding=((3, 3), (3, 3)))(img_input)
    x = layers.Conv2D(64, 7, strides=2, use_bias=False, name="conv1_conv")(x)
    x = layers.BatchNormalization(axis=3, epsilon=BN_EPSILON, name="conv1_bn")(x)
    x = layers.Activation("relu", name="conv1_relu")(x)
    x = layers.ZeroPadding2D(padding=((1, 1), (1, 1)))(x)
    x = layers.MaxPooling2D(3, strides=2, name="pool1")(x)
    for stage, count in enumerate(DENSE_BLOCKS[app], start=2):
        if stage > 2:  # a transition block between consecutive dense blocks
            x = _transition_block(x, 0.5, name=f"pool{stage - 1}")
        for i in range(1, count + 1):
            x = _conv_block(x, name=f"conv{stage}_block{i}")
    x = layers.BatchNormalization(axis=3, epsilon=BN_EPSILON, name="bn")(x)
    x = layers.Activation("relu", name="relu")(x)

    x = imagenet_utils.classifier_top(x, include_top, pooling, classes, classifier_activation, named_pooling=True)
    return imagenet_utils.finish_model(img_input, input_tensor, x, name, weights,
                                       imagenet_weights.published(app, include_top))


def _conv_block(x, name: str):
    """``(n, h, w, c)`` -> ``(n, h, w, c + 32)``: the input with 32 new feature maps concatenated."""
    y = layers.BatchNormalization(axis=3, epsilon=BN_EPSILON, name=f"{name}_0_bn")(x)
    y = layers.Activation("relu", name=f"{name}_0_relu")(y)
    y = layers.Conv2D(4 * GROWTH_RATE, 1, use_bias=False, name=f"{name}_1_conv")(y)
    y = layers.BatchNormalization(axis=3, epsilon=BN_EPSILON, name=f"{name}_1_bn")(y)
    y = layers.Activation("relu", name=f"{name}_1_relu")(y)
    y = layers.Conv2D(GROWTH_RATE, 3, padding="same", use_bias=False, name=f"{name}_2_conv")(y)
    return layers.Concatenate(axis=3, name=f"{name}_concat")([x, y])


def _transition_block(x, reduction: float, name: str):
    """``(n, h, w, c)`` -> ``(n, h/2, w/2, int(c * reduction))``."""
    x = layers.BatchNormalization(axis=3, epsilon=BN_EPSILON, name=f"{name}_bn")(x)
    x = layers.Activation("relu", name=f"{name}_relu")(x)
    x = layers.Conv2D(int(x.shape[3] * reduction), 1, use_bias=False, name=f"{name}_conv")(x)
    return layers.AveragePooling2D(2, strides=2, name=f"{name}_pool")(x)


def preprocess_input(x, data_format: str | None = None):
    """Images in [0, 255] -> [0, 1], normalised by ImageNet's mean and standard deviation ("torch" mode); see
    ``imagenet_utils.preprocess_input``."""
    return imagenet_utils.preprocess_input(x, data_format=data_format, mode="torch")
