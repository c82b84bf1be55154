"""InceptionResNetV2 (Szegedy et al., 2017), as Keras' ``keras.applications.inception_resnet_v2``.

InceptionV3's stem, then an Inception block (``mixed_5b``, 320 channels) and three groups of residual
Inception blocks, each adding ``scale`` times its branches' concatenation (brought back to the input's width by
a biased 1x1 convolution) to its input: ten ``block35`` (35x35, scale 0.17), a reduction (``mixed_6a``, 1088
channels), twenty ``block17`` (17x17, scale 0.1), a reduction (``mixed_7a``, 2080 channels) and ten ``block8``
(8x8, scale 0.2; the last with scale 1 and no ReLU). A 1x1 convolution ``conv_7b`` ends the features:
``(299, 299, 3)`` -> ``(8, 8, 1536)``. The top is global average pooling and the classifier. Inputs are
preprocessed in "tf" mode (scaled to [-1, 1]).
"""
from __future__ import annotations

import torch

from layerwise import layers
from layerwise.applications import imagenet_utils, imagenet_weights
from layerwise.applications.imagenet_utils import decode_predictions as decode_predictions  # Keras' name
from layerwise.applications.inception_v3 import conv_bn
from layerwise.models import Model

# Per residual block type: how many blocks, the residual's scale, its branches as (filters, kernel) chains.
RESIDUAL_BLOCKS = {
    "block35": (10, 0.17, (((32, 1),), ((32, 1), (32, 3)), ((32, 1), (48, 3), (64, 3)))),
    "block17": (20, 0.1, (((192, 1),), ((128, 1), (160, (1, 7)), (192, (7, 1))))),
    "block8": (10, 0.2, (((192, 1),), ((192, 1), (224, (1, 3)), (256, (3, 1))))),
}


class CustomScaleLayer(layers.Layer):
    """``[x, residual]`` -> ``x + scale * residual`` (Keras' layer of this name): two inputs of one shape."""

    def __init__(self, scale: float, **kwargs):
        super().__init__(**kwargs)
        self.scale = scale

    def compute_output_shape(self, input_shape: list[tuple]) -> tuple:
        return tuple(input_shape[0])

    def call(self, inputs: list[torch.Tensor]) -> torch.Tensor:
        return inputs[0] + inputs[1] * self.scale


def InceptionResNetV2(include_top: bool = True, weights="imagenet", input_tensor=None, input_shape=None,
                      pooling=None, classes: int = 1000, classifier_activation="softmax",
                      name: str = "inception_resnet_v2") -> Model:
    """InceptionResNetV2 (55,873,736 parameters with the top): images ``(n, h, w, 3)``, h and w at least 75
    (``(299, 299, 3)`` by default with the top) -> ``(n, classes)`` scores; without the top the features,
    ``(n, 8, 8, 1536)`` at 299x299 and ``(n, 1, 1, 1536)`` at 75x75, or ``(n, 1536)`` with ``pooling``.

    ``weights``: "imagenet" (Keras' published ImageNet weights, fetched into Keras' cache unless already there;
    see ``imagenet_weights``), None (random initialization) or the path to a weights file.
    """
    img_input = imagenet_utils.prepare_input("InceptionResNetV2", include_top, weights, input_tensor, input_shape,
                                             pooling, classes, classifier_activation, default_size=299, min_size=75)
    x = conv_bn(img_input, 32, 3, strides=2, padding="valid")
    x = conv_bn(x, 32, 3, padding="valid")
    x = conv_bn(x, 64, 3)
    x = layers.MaxPooling2D(3, strides=2)(x)
    x = conv_bn(x, 80, 1, padding="valid")
    x = conv_bn(x, 192, 3, padding="valid")
    x = layers.MaxPooling2D(3, strides=2)(x)

    x = _mixed(x, (((96, 1),), ((48, 1), (64, 5)), ((64, 1), (96, 3), (96, 3))), "avg", "mixed_5b")
    x = _residual_blocks(x, "block35")
    x = _mixed(x, (((384, 3, 2),), ((256, 1), (256, 3), (384, 3, 2))), "max", "mixed_6a")
    x = _residual_blocks(x, "block17")
    x = _mixed(x, (((256, 1), (384, 3, 2)), ((256, 1), (288, 3, 2)), ((256, 1), (288, 3), (320, 3, 2))), "max",
               "mixed_7a")
    x = _residual_blocks(x, "block8")
    x = conv_bn(x, 1536, 1, name="conv_7b")

    x = imagenet_utils.classifier_top(x, include_top, pooling, classes, classifier_activation)
    return imagenet_utils.finish_model(img_input, input_tensor, x, name, weights,
                                       imagenet_weights.published("InceptionResNetV2", include_top))


def _branch(x, chain):
    """``conv_bn`` in turn for each ``(filters, kernel)`` or ``(filters, kernel, 2)`` of ``chain``: the
    strided ones are "valid" (they halve the size), the others "same"."""
    for filters, kernel, *stride in chain:
        x = conv_bn(x, filters, kernel, strides=stride[0], padding="valid") if stride else conv_bn(x, filters, kernel)
    return x


def _mixed(x, chains, pool: str, name: str):
    """An Inception block: the branches of ``chains`` and a 3x3 pooling branch (``"avg"``: stride 1, "same",
    then a 64-channel 1x1 convolution; ``"max"``: stride 2, "valid", the reductions), concatenated."""
    branches = [_branch(x, chain) for chain in chains]
    if pool == "avg":
        branches.append(conv_bn(layers.AveragePooling2D(3, strides=1, padding="same")(x), 64, 1))
    else:
        branches.append(layers.MaxPooling2D(3, strides=2, padding="valid")(x))
    return layers.Concatenate(axis=imagenet_utils.channel_axis(), name=name)(branches)


def _residual_blocks(x, block_type: str):
    """The ``block_type`` blocks in turn; the very last ``block8`` adds its residual unscaled and has no ReLU."""
    count, scale, chains = RESIDUAL_BLOCKS[block_type]
    for idx in range(1, count + 1):
        last = block_type == "block8" and idx == count
        x = _residual_block(x, 1.0 if last else scale, chains, f"{block_type}_{idx}", None if last else "relu")
    return x


def _residual_block(x, scale: float, chains, name: str, activation):
    """``x + scale * conv(concat(branches))``, then ``activation``: ``(n, h, w, c)`` -> the same. Layers
    ``{name}_mixed``, ``{name}_conv`` (1x1, biased, no batch norm) and ``{name}_ac``."""
    channel_axis = imagenet_utils.channel_axis()
    mixed = layers.Concatenate(axis=channel_axis, name=f"{name}_mixed")([_branch(x, chain) for chain in chains])
    up = conv_bn(mixed, x.shape[channel_axis], 1, activation=None, use_bias=True, name=f"{name}_conv")
    x = CustomScaleLayer(scale)([x, up])
    if activation is not None:
        x = layers.Activation(activation, name=f"{name}_ac")(x)
    return x


def preprocess_input(x, data_format: str | None = None):
    """Images in [0, 255] -> [-1, 1] ("tf" mode); see ``imagenet_utils.preprocess_input``."""
    return imagenet_utils.preprocess_input(x, data_format=data_format, mode="tf")
