"""MobileNetV3 Small and Large (Howard et al., 2019), as Keras' ``keras.applications.mobilenet_v3``.

The model preprocesses its own inputs: a ``Rescaling`` from pixels in [0, 255] to [-1, 1] (left out with
``include_preprocessing=False``, when the inputs must be in [-1, 1] already), so ``preprocess_input`` returns its
input. A stride-2 3x3 convolution to 16 channels, then inverted residual blocks ``expanded_conv[_{id}]_`` (1x1
expansion, depthwise convolution, optional squeeze-and-excitation, linear 1x1 projection, a residual Add where
shapes allow): 11 for Small, 15 for Large. A 1x1 convolution ``conv_1`` widens to six times the last block's
channels: ``(224, 224, 3)`` -> ``(7, 7, 576)`` for Small, ``(7, 7, 960)`` for Large. The top pools globally keeping
the 1x1 map, widens with the 1x1 convolution ``conv_2`` (1024 or 1280 channels), drops out and classifies with the
1x1 convolution ``logits``.

The activations are ReLU and hard swish; the squeeze-and-excitation gates are hard sigmoids, ``relu6(x + 3) / 6``,
built from operations on the symbolic tensors as Keras builds them. The minimalistic models have none of the
advanced parts: no squeeze-and-excitation, ReLU everywhere and 3x3 depthwise kernels only.
"""
from __future__ import annotations

import warnings

from layerwise import layers
from layerwise.applications import imagenet_utils, imagenet_weights
from layerwise.applications.imagenet_utils import decode_predictions as decode_predictions  # Keras' name
from layerwise.layers.symbolic import KerasTensor
from layerwise.models import Model

# The blocks of the full (not minimalistic) models: (expansion, filters before alpha, kernel size, stride,
# squeeze-and-excitation, activation). The minimalistic models use 3x3 kernels, no squeeze-and-excitation and
# ReLU throughout.
SMALL_BLOCKS = ((1, 16, 3, 2, True, "relu"), (72 / 16, 24, 3, 2, False, "relu"), (88 / 24, 24, 3, 1, False, "relu"),
                (4, 40, 5, 2, True, "hard_swish"), (6, 40, 5, 1, True, "hard_swish"),
                (6, 40, 5, 1, True, "hard_swish"), (3, 48, 5, 1, True, "hard_swish"),
                (3, 48, 5, 1, True, "hard_swish"), (6, 96, 5, 2, True, "hard_swish"),
                (6, 96, 5, 1, True, "hard_swish"), (6, 96, 5, 1, True, "hard_swish"))
LARGE_BLOCKS = ((1, 16, 3, 1, False, "relu"), (4, 24, 3, 2, False, "relu"), (3, 24, 3, 1, False, "relu"),
                (3, 40, 5, 2, True, "relu"), (3, 40, 5, 1, True, "relu"), (3, 40, 5, 1, True, "relu"),
                (6, 80, 3, 2, False, "hard_swish"), (2.5, 80, 3, 1, False, "hard_swish"),
                (2.3, 80, 3, 1, False, "hard_swish"), (2.3, 80, 3, 1, False, "hard_swish"),
                (6, 112, 3, 1, True, "hard_swish"), (6, 112, 3, 1, True, "hard_swish"),
                (6, 160, 5, 2, True, "hard_swish"), (6, 160, 5, 1, True, "hard_swish"),
                (6, 160, 5, 1, True, "hard_swish"))
# model type -> (blocks, channels of the top's conv_2 before alpha > 1 widens them).
MODEL_TYPES = {"small": (SMALL_BLOCKS, 1024), "large": (LARGE_BLOCKS, 1280)}
SE_RATIO = 0.25  # squeeze-and-excitation width, as a fraction of the expanded channels
BN = {"epsilon": 1e-3, "momentum": 0.999}
MIN_SIZE = 32

# Keras' published ImageNet weights: weights_mobilenet_v3_{key}[_no_top_v2].h5, key -> (md5 with the top, without).
WEIGHTS_URL = f"{imagenet_weights.BASE_URL}mobilenet_v3/"
WEIGHTS_MD5 = {
    "large_224_0.75_float": ("765b44a33ad4005b3ac83185abf1d0eb", "40af19a13ebea4e2ee0c676887f69a2e"),
    "large_224_1.0_float": ("59e551e166be033d707958cf9e29a6a7", "07fb09a5933dd0c8eaafa16978110389"),
    "large_minimalistic_224_1.0_float": ("675e7b876c45c57e9e63e6d90a36599c", "ec5221f64a2f6d1ef965a614bdae7973"),
    "small_224_0.75_float": ("cb65d4e5be93758266aa0a7f2c6708b7", "ebdb5cc8e0b497cd13a7c275d475c819"),
    "small_224_1.0_float": ("8768d4c2e7dee89b9d02b2d03d65d862", "d3e8ec802a04aa4fc771ee12a9a9b836"),
    "small_minimalistic_224_1.0_float": ("99cd97fb2fcdad2bf028eb838de69e37", "cde8136e733e811080d9fcd8a252f7e4"),
}


def weights_file(model_type: str, alpha: float, minimalistic: bool, include_top: bool) -> imagenet_weights.WeightsFile:
    """The ImageNet file of the ``model_type`` ("small" or "large") model, trained on 224x224 inputs, for ``alpha``
    0.75 or 1 (1 only when ``minimalistic``), with or without its top."""
    key = f"{model_type}{'_minimalistic' if minimalistic else ''}_224_{float(alpha)}_float"
    name = f"weights_mobilenet_v3_{key}{'' if include_top else '_no_top_v2'}.h5"
    return imagenet_weights.WeightsFile(f"MobileNetV3{model_type.capitalize()}", name, WEIGHTS_URL + name,
                                        WEIGHTS_MD5[key][0 if include_top else 1])


DOCSTRING = """MobileNetV3{Type} ({parameters} parameters with the top at alpha=1, {minimalistic} when minimalistic):
    images ``(n, h, w, 3)`` of any size from 32x32 up, with values in [0, 255] (the model rescales them itself; in
    [-1, 1] with ``include_preprocessing=False``) -> ``(n, classes)`` scores; without the top
    ``(n, ceil(h/32), ceil(w/32), {features})`` features at alpha=1, or ``(n, {features})`` with ``pooling``. Unless
    ``input_shape`` or ``input_tensor`` fixes it, the input size is left open, with the top too.

    ``alpha`` scales the filters of every block; ``minimalistic`` drops squeeze-and-excitation, hard swish and the
    5x5 depthwise kernels; ``dropout_rate`` is the top's dropout before the classifier (0: no Dropout layer).
    ``weights``: "imagenet" (Keras' published ImageNet weights, fetched into Keras' cache unless already there;
    see ``weights_file``), None (random initialization) or the path to a weights file. The ImageNet weights exist
    for alpha 0.75 and 1 (1 only when minimalistic) and were trained on 224x224 inputs: other sizes warn, as in
    Keras.
    """


def _constructor(model_type: str, parameters: str, minimalistic_parameters: str, features: int):
    """Keras' ``MobileNetV3<Type>`` function, with its own name, default model name and docstring."""
    app = f"MobileNetV3{model_type.capitalize()}"

    def constructor(input_shape=None, alpha: float = 1.0, minimalistic: bool = False, include_top: bool = True,
                    weights="imagenet", input_tensor=None, classes: int = 1000, pooling=None,
                    dropout_rate: float = 0.2, classifier_activation="softmax", include_preprocessing: bool = True,
                    name: str | None = app) -> Model:
        return _mobilenet_v3(model_type, input_shape, alpha, minimalistic, include_top, weights, input_tensor,
                             classes, pooling, dropout_rate, classifier_activation, include_preprocessing, name)

    constructor.__name__ = constructor.__qualname__ = app
    constructor.__doc__ = DOCSTRING.format(Type=model_type.capitalize(), parameters=parameters,
                                           minimalistic=minimalistic_parameters, features=features)
    return constructor


MobileNetV3Small = _constructor("small", "2,554,968", "2,056,848", 576)
MobileNetV3Large = _constructor("large", "5,507,432", "3,948,688", 960)


def _mobilenet_v3(model_type: str, input_shape, alpha: float, minimalistic: bool, include_top: bool, weights,
                  input_tensor, classes: int, pooling, dropout_rate: float, classifier_activation,
                  include_preprocessing: bool, name: str | None) -> Model:
    app = f"MobileNetV3{model_type.capitalize()}"
    imagenet_utils.check_arguments(app, weights, include_top, classes, pooling)
    rows, cols = _image_sides(app, input_shape, input_tensor)
    imagenet_file = None
    if imagenet_utils.is_imagenet(weights):
        imagenet_file = _imagenet_file(app, model_type, alpha, minimalistic, include_top, rows, cols)
    if include_top:
        imagenet_utils.validate_activation(app, classifier_activation, weights)
    if input_shape is None:  # Keras builds on the tensor, or leaves the size open
        input_shape = imagenet_utils.image_shape(None, None, 3)
    img_input = imagenet_utils.image_input(app, input_tensor, tuple(input_shape))
    channel_axis = imagenet_utils.channel_axis(-1)
    blocks, last_point_channels = MODEL_TYPES[model_type]

    x = img_input
    if include_preprocessing:
        x = layers.Rescaling(scale=1.0 / 127.5, offset=-1.0)(x)
    x = layers.Conv2D(16, kernel_size=3, strides=(2, 2), padding="same", use_bias=False, name="conv")(x)
    x = layers.BatchNormalization(axis=channel_axis, **BN, name="conv_bn")(x)
    x = _activation(x, "relu" if minimalistic else "hard_swish")
    for block_id, (expansion, filters, kernel_size, stride, squeeze_excite, activation) in enumerate(blocks):
        if minimalistic:
            kernel_size, squeeze_excite, activation = 3, False, "relu"
        x = _inverted_res_block(x, expansion, imagenet_utils.make_divisible(filters * alpha, 8), kernel_size, stride,
                                squeeze_excite, activation, block_id)

    x = layers.Conv2D(imagenet_utils.make_divisible(x.shape[channel_axis] * 6, 8), kernel_size=1, padding="same",
                      use_bias=False, name="conv_1")(x)
    x = layers.BatchNormalization(axis=channel_axis, **BN, name="conv_1_bn")(x)
    x = _activation(x, "relu" if minimalistic else "hard_swish")
    if include_top:
        # The top's conv_2 is widened for alpha > 1 but never narrowed.
        if alpha > 1.0:
            last_point_channels = imagenet_utils.make_divisible(last_point_channels * alpha, 8)
        x = _top(x, last_point_channels, "relu" if minimalistic else "hard_swish", dropout_rate, classes,
                 classifier_activation)
    else:
        x = imagenet_utils.classifier_top(x, False, pooling, classes, classifier_activation, named_pooling=True)
    return imagenet_utils.finish_model(img_input, input_tensor, x, name, weights, imagenet_file)


def _image_sides(app: str, input_shape, input_tensor) -> tuple:
    """``(rows, cols)`` of the input (None where unknown), from ``input_shape``, else ``input_tensor``, checked as
    Keras checks them: at least 32 pixels a side when both are known, and ``input_shape`` agreeing with
    ``input_tensor`` on the width."""
    if input_tensor is not None and not isinstance(input_tensor, KerasTensor):
        raise ValueError(f"{app}: input_tensor must be a symbolic tensor (from layerwise.Input or a layer called on "
                         f"one); received {type(input_tensor).__name__}.")
    if input_shape is not None and len(input_shape) != 3:
        raise ValueError(f"{app}: input_shape must be three integers (height, width, channels), channels first "
                         f"when image_data_format() is 'channels_first'; received input_shape={input_shape}.")
    tensor_sides = None if input_tensor is None else imagenet_utils.image_sides(input_tensor.shape[1:])
    shape_sides = None if input_shape is None else imagenet_utils.image_sides(input_shape)
    # Channels-first Keras compares the tensor's channels with the shape's height instead, which is not copied.
    if shape_sides and tensor_sides and shape_sides[1] != tensor_sides[1]:
        raise ValueError(f"{app}: input_tensor and input_shape disagree on the width: input_tensor.shape="
                         f"{input_tensor.shape}, input_shape={input_shape}.")
    rows, cols = shape_sides or tensor_sides or (None, None)
    if rows and cols and (rows < MIN_SIZE or cols < MIN_SIZE):
        raise ValueError(f"{app}: input height and width must be at least {MIN_SIZE}; received {rows}x{cols} "
                         f"(input_shape={input_shape}).")
    return rows, cols


def _imagenet_file(app: str, model_type: str, alpha: float, minimalistic: bool, include_top: bool, rows, cols):
    """The ImageNet file for ``alpha``, which must be a published one; sizes other than 224x224 warn."""
    if alpha != 1.0 and (minimalistic or alpha != 0.75):
        raise ValueError(f"{app}: the ImageNet weights exist for alpha 0.75 or 1.0, and only 1.0 when minimalistic; "
                         f"received alpha={alpha}, minimalistic={minimalistic}.")
    if rows != cols or rows != 224:
        warnings.warn(f"{app}: the ImageNet weights were trained on 224x224 inputs; received {rows}x{cols} (None: "
                      "undefined), so the weights for 224x224 inputs are loaded.", stacklevel=4)
    return weights_file(model_type, alpha, minimalistic, include_top)


def _activation(x, activation: str):
    """ReLU as an automatically named ``ReLU`` layer, hard swish as an ``Activation`` layer, as Keras builds them."""
    if activation == "relu":
        return layers.ReLU()(x)
    # Keras asks for "hard_swish" and its config says "hard_silu", the function's own name: so does this one.
    return layers.Activation("hard_silu")(x)


def _hard_sigmoid(x):
    """``relu6(x + 3) / 6``: an add operation, an automatically named ``ReLU(6)`` layer and a multiply operation."""
    return layers.ReLU(6.0)(x + 3.0) * (1.0 / 6.0)


def _top(x, channels: int, activation: str, dropout_rate: float, classes: int, classifier_activation):
    """``(n, h, w, c)`` -> ``(n, classes)``: global pooling to a 1x1 map, the 1x1 convolutions ``conv_2`` and
    ``logits`` (with dropout between them when ``dropout_rate`` > 0), flattened, then ``classifier_activation``."""
    x = layers.GlobalAveragePooling2D(keepdims=True)(x)
    x = layers.Conv2D(channels, kernel_size=1, padding="same", use_bias=True, name="conv_2")(x)
    x = _activation(x, activation)
    if dropout_rate > 0:
        x = layers.Dropout(dropout_rate)(x)
    x = layers.Conv2D(classes, kernel_size=1, padding="same", name="logits")(x)
    x = layers.Flatten()(x)
    return layers.Activation(classifier_activation, name="predictions")(x)


def _squeeze_excite(inputs, filters: int, prefix: str):
    """``(n, h, w, filters)`` scaled per channel by gates in [0, 1] computed from its global average."""
    x = layers.GlobalAveragePooling2D(keepdims=True, name=f"{prefix}squeeze_excite_avg_pool")(inputs)
    x = layers.Conv2D(imagenet_utils.make_divisible(filters * SE_RATIO, 8), kernel_size=1, padding="same",
                      name=f"{prefix}squeeze_excite_conv")(x)
    x = layers.ReLU(name=f"{prefix}squeeze_excite_relu")(x)
    x = layers.Conv2D(filters, kernel_size=1, padding="same", name=f"{prefix}squeeze_excite_conv_1")(x)
    x = _hard_sigmoid(x)
    return layers.Multiply(name=f"{prefix}squeeze_excite_mul")([inputs, x])


def _inverted_res_block(inputs, expansion: float, filters: int, kernel_size: int, stride: int, squeeze_excite: bool,
                        activation: str, block_id: int):
    """``(n, h, w, c)`` -> ``(n, h/stride, w/stride, filters)``; block 0 has no expansion and is named
    ``expanded_conv_*``, the others ``expanded_conv_{id}_*``."""
    channel_axis = imagenet_utils.channel_axis(-1)
    in_channels = inputs.shape[channel_axis]
    expanded = imagenet_utils.make_divisible(in_channels * expansion, 8)
    x = inputs
    prefix = "expanded_conv_"
    if block_id:
        prefix = f"expanded_conv_{block_id}_"
        x = layers.Conv2D(expanded, kernel_size=1, padding="same", use_bias=False, name=f"{prefix}expand")(x)
        x = layers.BatchNormalization(axis=channel_axis, **BN, name=f"{prefix}expand_bn")(x)
        x = _activation(x, activation)
    if stride == 2:
        x = layers.ZeroPadding2D(padding=imagenet_utils.correct_pad(x, kernel_size), name=f"{prefix}depthwise_pad")(x)
    x = layers.DepthwiseConv2D(kernel_size, strides=stride, padding="same" if stride == 1 else "valid", use_bias=False,
                               name=f"{prefix}depthwise")(x)
    x = layers.BatchNormalization(axis=channel_axis, **BN, name=f"{prefix}depthwise_bn")(x)
    x = _activation(x, activation)
    if squeeze_excite:
        x = _squeeze_excite(x, expanded, prefix)
    x = layers.Conv2D(filters, kernel_size=1, padding="same", use_bias=False, name=f"{prefix}project")(x)
    x = layers.BatchNormalization(axis=channel_axis, **BN, name=f"{prefix}project_bn")(x)
    if stride == 1 and in_channels == filters:
        return layers.Add(name=f"{prefix}add")([inputs, x])
    return x


def preprocess_input(x, data_format: str | None = None):
    """``x`` unchanged: MobileNetV3 rescales its inputs itself (Keras keeps this for its API)."""
    return x
