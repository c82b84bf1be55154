"""MobileNet (Howard et al., 2017, v1), as Keras' ``keras.applications.mobilenet``.

A stride-2 3x3 convolution, then 13 depthwise-separable blocks (3x3 depthwise convolution and 1x1
pointwise convolution, each followed by batch normalisation and ReLU6); ``(224, 224, 3)`` ->
``(7, 7, 1024 * alpha)``. The top is global average pooling, dropout, a 1x1 convolution to the classes and
the classifier activation. Inputs are preprocessed in "tf" mode (scaled to [-1, 1]).
"""
from __future__ import annotations

from layerwise import layers
from layerwise.applications import imagenet_utils, imagenet_weights
from layerwise.applications.imagenet_utils import decode_predictions as decode_predictions  # Keras' name
from layerwise.models import Model

# (pointwise filters, stride) of the 13 depthwise-separable blocks, before alpha scales the filters.
BLOCKS = ((64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2), (512, 1), (512, 1), (512, 1), (512, 1),
          (512, 1), (1024, 2), (1024, 1))
PRETRAINED_SIZES = (128, 160, 192, 224)
PRETRAINED_ALPHAS = (0.25, 0.50, 0.75, 1.0)


def MobileNet(input_shape=None, alpha: float = 1.0, depth_multiplier: int = 1, dropout: float = 1e-3,
              include_top: bool = True, weights="imagenet", input_tensor=None, pooling=None, classes: int = 1000,
              classifier_activation="softmax", name: str | None = None) -> Model:
    """MobileNet (4,253,864 parameters with the top at alpha=1): images ``(n, h, w, 3)``, h and w at least 32
    (``(224, 224, 3)`` by default with the top) -> ``(n, classes)`` scores; without the top
    ``(n, h/32, w/32, int(1024 * alpha))`` features, or ``(n, int(1024 * alpha))`` with ``pooling``.

    ``alpha`` scales every layer's filters, ``depth_multiplier`` the depthwise convolutions' channels; ``dropout``
    is the rate before the classifier. The default ``name`` is ``mobilenet_{alpha:.2f}_{rows}``.
    ``weights``: "imagenet" (Keras' published ImageNet weights, fetched into Keras' cache unless already there;
    see ``imagenet_weights``), None (random initialization) or the path to a weights file. The ImageNet weights
    exist for ``alpha`` in 0.25, 0.5, 0.75, 1 and square inputs of 128, 160, 192 or 224 pixels; other input sizes
    warn and load the 224 ones (which fit any size without the top), as in Keras.
    """
    app = "MobileNet"
    imagenet_utils.check_arguments(app, weights, include_top, classes, pooling)
    # A square pretrained size keeps that default; anything else defaults to 224.
    default_size = 224
    if input_shape is not None and len(input_shape) == 3:
        rows, cols = imagenet_utils.image_sides(input_shape)
        if rows == cols and rows in PRETRAINED_SIZES:
            default_size = rows
    input_shape = imagenet_utils.obtain_input_shape(app, input_shape, default_size, 32, include_top, weights)
    rows, cols = imagenet_utils.image_sides(input_shape)
    imagenet_file = None
    if imagenet_utils.is_imagenet(weights):
        if depth_multiplier != 1:
            raise ValueError(f"{app}: the ImageNet weights need depth_multiplier=1; received "
                             f"depth_multiplier={depth_multiplier}.")
        if alpha not in PRETRAINED_ALPHAS:
            raise ValueError(f"{app}: the ImageNet weights exist for alpha in {PRETRAINED_ALPHAS}; received "
                             f"alpha={alpha}.")
        rows = imagenet_utils.pretrained_rows(app, rows, cols, PRETRAINED_SIZES)
        imagenet_file = imagenet_weights.mobilenet(alpha, rows, include_top)
    if include_top:
        imagenet_utils.validate_activation(app, classifier_activation, weights)
    img_input = imagenet_utils.image_input(app, input_tensor, input_shape)

    x = layers.Conv2D(int(32 * alpha), (3, 3), padding="same", use_bias=False, strides=(2, 2),
                      name="conv1")(img_input)
    x = layers.BatchNormalization(axis=imagenet_utils.channel_axis(-1), name="conv1_bn")(x)
    x = layers.ReLU(6.0, name="conv1_relu")(x)
    for block_id, (filters, stride) in enumerate(BLOCKS, start=1):
        x = _depthwise_block(x, int(filters * alpha), depth_multiplier, stride, block_id)

    if include_top:
        x = layers.GlobalAveragePooling2D(keepdims=True)(x)
        x = layers.Dropout(dropout, name="dropout")(x)
        x = layers.Conv2D(classes, (1, 1), padding="same", name="conv_preds")(x)
        x = layers.Reshape((classes,), name="reshape_2")(x)
        x = layers.Activation(activation=classifier_activation, name="predictions")(x)
    elif pooling == "avg":
        x = layers.GlobalAveragePooling2D()(x)
    elif pooling == "max":
        x = layers.GlobalMaxPooling2D()(x)
    return imagenet_utils.finish_model(img_input, input_tensor, x, name or f"mobilenet_{alpha:0.2f}_{rows}", weights,
                                       imagenet_file)


def _depthwise_block(x, filters: int, depth_multiplier: int, stride: int, block_id: int):
    """Depthwise 3x3 (stride 2 pads bottom/right by one, then "valid") and pointwise 1x1 to ``filters``."""
    if stride == 2:
        x = layers.ZeroPadding2D(((0, 1), (0, 1)), name=f"conv_pad_{block_id}")(x)
    x = layers.DepthwiseConv2D((3, 3), padding="same" if stride == 1 else "valid", depth_multiplier=depth_multiplier,
                               strides=(stride, stride), use_bias=False, name=f"conv_dw_{block_id}")(x)
    x = layers.BatchNormalization(axis=imagenet_utils.channel_axis(-1), name=f"conv_dw_{block_id}_bn")(x)
    x = layers.ReLU(6.0, name=f"conv_dw_{block_id}_relu")(x)
    x = layers.Conv2D(filters, (1, 1), padding="same", use_bias=False, strides=(1, 1), name=f"conv_pw_{block_id}")(x)
    x = layers.BatchNormalization(axis=imagenet_utils.channel_axis(-1), name=f"conv_pw_{block_id}_bn")(x)
    return layers.ReLU(6.0, name=f"conv_pw_{block_id}_relu")(x)


def preprocess_input(x, data_format: str | None = None):
    """Images in [0, 255] -> [-1, 1] ("tf" mode); see ``imagenet_utils.preprocess_input``."""
    return imagenet_utils.preprocess_input(x, data_format=data_format, mode="tf")
