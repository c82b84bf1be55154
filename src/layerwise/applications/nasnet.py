"""NASNet-A (Zoph et al., 2018), as Keras' ``keras.applications.nasnet``: NASNetMobile (4 @ 1056) and NASNetLarge
(6 @ 4032), both built by ``NASNet(N @ P)``.

A stride-2 3x3 "valid" stem convolution, two reduction cells (``stem_1``, ``stem_2``), then three stages of N
normal cells with a reduction cell between them; each cell takes the two previous cells' outputs (``x`` and
``p``), and the stages' filters are P/24 times 1, 2, 4. A normal cell keeps the resolution and concatenates six
branches (sums of separable convolutions, 3x3 average pooling, identities); a reduction cell halves it and
concatenates four. A final ReLU ends the features: ``(224, 224, 3)`` -> ``(7, 7, 1056)`` for NASNetMobile,
``(331, 331, 3)`` -> ``(11, 11, 4032)`` for NASNetLarge. The top is global average pooling and the classifier.
Inputs are preprocessed in "tf" mode (scaled to [-1, 1]). Channels-last only: with ``image_data_format()``
"channels_first" the constructors raise, as Keras' do.

Keras 3.15 refuses to build NASNetMobile on its torch backend (a guard against a bug of that backend); layerwise
builds it, and it computes what Keras' ``NASNet`` with NASNetMobile's arguments computes.
"""
from __future__ import annotations

from layerwise import layers
from layerwise.applications import imagenet_utils, imagenet_weights
from layerwise.applications.imagenet_utils import decode_predictions as decode_predictions  # Keras' name
from layerwise.models import Model

BN = {"momentum": 0.9997, "epsilon": 1e-3}
WEIGHTS_URL = f"{imagenet_weights.BASE_URL}nasnet/"
# Keras picks the ImageNet file by the default input side alone: side -> (application, {include_top: (name in
# the cache, file under WEIGHTS_URL, md5)}).
IMAGENET_FILES = {
    224: ("NASNetMobile", {True: ("nasnet_mobile.h5", "NASNet-mobile.h5", "020fb642bf7360b370c678b08e0adf61"),
                           False: ("nasnet_mobile_no_top.h5", "NASNet-mobile-no-top.h5",
                                   "1ed92395b5b598bdda52abe5c0dbfd63")}),
    331: ("NASNetLarge", {True: ("nasnet_large.h5", "NASNet-large.h5", "11577c9a518f0070763c2b964a382f17"),
                          False: ("nasnet_large_no_top.h5", "NASNet-large-no-top.h5",
                                  "d81d89dc07e6e56530c4e77faddd61b5")}),
}


def imagenet_file(default_size: int, include_top: bool) -> imagenet_weights.WeightsFile:
    """The published file for the model whose default input side is ``default_size`` (224: NASNetMobile, 331:
    NASNetLarge), with or without its top."""
    app, files = IMAGENET_FILES[default_size]
    name, file, md5 = files[include_top]
    return imagenet_weights.WeightsFile(app, name, f"{WEIGHTS_URL}{file}", md5)


def NASNetMobile(input_shape=None, include_top: bool = True, weights="imagenet", input_tensor=None, pooling=None,
                 classes: int = 1000, classifier_activation="softmax", name: str = "nasnet_mobile") -> Model:
    """NASNetMobile, NASNet (4 @ 1056) (5,326,716 parameters with the top): images ``(n, h, w, 3)``, h and w at
    least 32 (``(224, 224, 3)`` by default, with the top or without) -> ``(n, classes)`` scores; without the top
    ``(n, 7, 7, 1056)`` features at 224x224 (``(n, 1, 1, 1056)`` at 32x32), or ``(n, 1056)`` with ``pooling``.

    ``weights``: "imagenet" (Keras' published ImageNet weights, fetched into Keras' cache unless already there;
    see ``imagenet_weights``), None (random initialization) or the path to a weights file.
    """
    if not include_top and input_shape is None:
        input_shape = (224, 224, 3)
    return _nasnet("NASNetMobile", input_shape, penultimate_filters=1056, num_blocks=4, stem_block_filters=32,
                   skip_reduction=False, filter_multiplier=2, include_top=include_top, weights=weights,
                   input_tensor=input_tensor, pooling=pooling, classes=classes, default_size=224,
                   classifier_activation=classifier_activation, name=name)


def NASNetLarge(input_shape=None, include_top: bool = True, weights="imagenet", input_tensor=None, pooling=None,
                classes: int = 1000, classifier_activation="softmax", name: str = "nasnet_large") -> Model:
    """NASNetLarge, NASNet (6 @ 4032) (88,949,818 parameters with the top): images ``(n, h, w, 3)``, h and w at
    least 32 (``(331, 331, 3)`` by default with the top) -> ``(n, classes)`` scores; without the top
    ``(n, 11, 11, 4032)`` features at 331x331, or ``(n, 4032)`` with ``pooling``. Without the top give
    ``input_shape``: its default leaves the sides unknown, and the model then builds as Keras' does but cannot
    run (see ``NASNet``).

    ``weights``: "imagenet" (Keras' published ImageNet weights, fetched into Keras' cache unless already there;
    see ``imagenet_weights``), None (random initialization) or the path to a weights file.
    """
    return _nasnet("NASNetLarge", input_shape, penultimate_filters=4032, num_blocks=6, stem_block_filters=96,
                   skip_reduction=True, filter_multiplier=2, include_top=include_top, weights=weights,
                   input_tensor=input_tensor, pooling=pooling, classes=classes, default_size=331,
                   classifier_activation=classifier_activation, name=name)


def NASNet(input_shape=None, penultimate_filters: int = 4032, num_blocks: int = 6, stem_block_filters: int = 96,
           skip_reduction: bool = True, filter_multiplier: int = 2, include_top: bool = True, weights="imagenet",
           input_tensor=None, pooling=None, classes: int = 1000, default_size: int | None = None,
           classifier_activation="softmax", name: str = "NASNet") -> Model:
    """NASNet-A (N @ P) with N = ``num_blocks`` normal cells per stage and P = ``penultimate_filters`` channels
    in the last cell (a multiple of ``24 * filter_multiplier**2``): images ``(n, h, w, 3)``, h and w at least 32
    (``default_size`` square by default with the top; 331 when None) -> ``(n, classes)`` scores; without the top
    ``(n, h', w', P)`` features, or ``(n, P)`` with ``pooling``.

    ``stem_block_filters`` is the stem convolution's width; ``filter_multiplier`` widens each stage over the
    previous one; ``skip_reduction`` feeds a stage's first normal cell the cell before the reduction cell (as
    NASNetLarge) instead of the reduction cell's input. ``weights="imagenet"`` loads NASNetMobile's file when
    ``default_size`` is 224 and NASNetLarge's when it is 331 (the architecture must then be theirs).

    The cells decide from the static shapes whether the previous cell's output must be halved to fit: with
    unknown sides they cannot tell, so, as in Keras, the model builds but fails on its first call.
    """
    return _nasnet("NASNet", input_shape, penultimate_filters, num_blocks, stem_block_filters, skip_reduction,
                   filter_multiplier, include_top, weights, input_tensor, pooling, classes, default_size,
                   classifier_activation, name)


def _nasnet(app: str, input_shape, penultimate_filters: int, num_blocks: int, stem_block_filters: int,
            skip_reduction: bool, filter_multiplier: int, include_top: bool, weights, input_tensor, pooling,
            classes: int, default_size: int | None, classifier_activation, name: str) -> Model:
    img_input, imagenet = _checked_input(app, input_shape, penultimate_filters, filter_multiplier, include_top,
                                         weights, input_tensor, pooling, classes, default_size, classifier_activation)
    filters = penultimate_filters // 24
    x = layers.Conv2D(stem_block_filters, (3, 3), strides=(2, 2), padding="valid", use_bias=False,
                      kernel_initializer="he_normal", name="stem_conv1")(img_input)
    x = layers.BatchNormalization(axis=-1, **BN, name="stem_bn1")(x)
    x, p = _reduction_a_cell(x, None, filters // (filter_multiplier**2), block_id="stem_1")
    x, p = _reduction_a_cell(x, p, filters // filter_multiplier, block_id="stem_2")
    for stage in range(3):
        width = filters * filter_multiplier**stage
        first = 0
        if stage:
            x, reduced_input = _reduction_a_cell(x, p, width, block_id=f"reduce_{stage * num_blocks}")
            p = p if skip_reduction else reduced_input
            first = stage * num_blocks + 1  # the cells are numbered on across the reduction cells
        for i in range(num_blocks):
            x, p = _normal_a_cell(x, p, width, block_id=f"{first + i}")
    x = layers.Activation("relu")(x)

    x = imagenet_utils.classifier_top(x, include_top, pooling, classes, classifier_activation, top_pool=None)
    return imagenet_utils.finish_model(img_input, input_tensor, x, name, weights, imagenet)


def _checked_input(app: str, input_shape, penultimate_filters: int, filter_multiplier: int, include_top: bool,
                   weights, input_tensor, pooling, classes: int, default_size: int | None, classifier_activation):
    """Keras' checks, in its order, then ``(image input, ImageNet file or None)``."""
    if imagenet_utils.channels_first():  # Keras refuses it first of all, so the layers assume channels last
        raise ValueError(f"{app}: NASNet does not support the 'channels_first' image data format, as in Keras; "
                         "call layerwise.config.set_image_data_format('channels_last') before building it.")
    imagenet_utils.check_arguments(app, weights, include_top, classes, pooling)
    imagenet = imagenet_utils.is_imagenet(weights)
    if imagenet and isinstance(input_shape, tuple) and None in input_shape:
        raise ValueError(f"{app}: with weights='imagenet' the input shape must be static (no None); received "
                         f"input_shape={input_shape}.")
    if default_size is None:
        default_size = 331
    input_shape = imagenet_utils.obtain_input_shape(app, input_shape, default_size, 32, include_top, weights)
    img_input = imagenet_utils.image_input(app, input_tensor, input_shape)
    if penultimate_filters % (24 * filter_multiplier**2):
        raise ValueError(f"{app}: penultimate_filters must be a multiple of 24 * filter_multiplier**2 = "
                         f"{24 * filter_multiplier**2}; received penultimate_filters={penultimate_filters}.")
    if include_top:
        imagenet_utils.validate_activation(app, classifier_activation, weights)
    if imagenet and default_size not in IMAGENET_FILES:
        raise ValueError(f"{app}: the ImageNet weights can only be loaded with NASNetLarge or NASNetMobile "
                         f"(default_size 331 or 224); received default_size={default_size}.")
    return img_input, imagenet_file(default_size, include_top) if imagenet else None


def _separable_conv_block(x, filters: int, kernel_size: int = 3, strides: int = 1, block_id: str = ""):
    """Twice ReLU, separable convolution, batch norm: ``(n, h, w, c)`` -> ``(n, h/strides, w/strides,
    filters)``; a stride-2 block zero-pads first and convolves "valid", as TensorFlow's "same" would place it."""
    x = layers.Activation("relu")(x)
    padding = "same"
    if strides == 2:
        x = layers.ZeroPadding2D(padding=imagenet_utils.correct_pad(x, kernel_size),
                                 name=f"separable_conv_1_pad_{block_id}")(x)
        padding = "valid"
    x = layers.SeparableConv2D(filters, (kernel_size, kernel_size), strides=(strides, strides), padding=padding,
                               use_bias=False, name=f"separable_conv_1_{block_id}")(x)
    x = layers.BatchNormalization(axis=-1, **BN, name=f"separable_conv_1_bn_{block_id}")(x)
    x = layers.Activation("relu")(x)
    x = layers.SeparableConv2D(filters, (kernel_size, kernel_size), padding="same", use_bias=False,
                               name=f"separable_conv_2_{block_id}")(x)
    return layers.BatchNormalization(axis=-1, **BN, name=f"separable_conv_2_bn_{block_id}")(x)


def _adjust_block(p, ip, filters: int, block_id: str):
    """The previous cell's output ``p`` fitted to the current input ``ip``: ``ip`` itself when there is none yet;
    halved in resolution (two 1x1 convolutions, one on ``p`` shifted by a pixel, concatenated) when wider than
    ``ip``; projected to ``filters`` channels by a 1x1 convolution when only the channels differ."""
    if p is None:
        return ip
    if p.shape[-2] != ip.shape[-2]:  # the widths, as Keras compares
        p = layers.Activation("relu", name=f"adjust_relu_1_{block_id}")(p)
        p1 = layers.AveragePooling2D((1, 1), strides=(2, 2), padding="valid", name=f"adjust_avg_pool_1_{block_id}")(p)
        p1 = layers.Conv2D(filters // 2, (1, 1), padding="same", use_bias=False, kernel_initializer="he_normal",
                           name=f"adjust_conv_1_{block_id}")(p1)
        p2 = layers.ZeroPadding2D(padding=((0, 1), (0, 1)))(p)
        p2 = layers.Cropping2D(cropping=((1, 0), (1, 0)))(p2)
        p2 = layers.AveragePooling2D((1, 1), strides=(2, 2), padding="valid",
                                     name=f"adjust_avg_pool_2_{block_id}")(p2)
        p2 = layers.Conv2D(filters // 2, (1, 1), padding="same", use_bias=False, kernel_initializer="he_normal",
                           name=f"adjust_conv_2_{block_id}")(p2)
        p = layers.concatenate([p1, p2], axis=-1)
        return layers.BatchNormalization(axis=-1, **BN, name=f"adjust_bn_{block_id}")(p)
    if p.shape[-1] != filters:
        p = layers.Activation("relu")(p)
        p = layers.Conv2D(filters, (1, 1), strides=(1, 1), padding="same", use_bias=False,
                          kernel_initializer="he_normal", name=f"adjust_conv_projection_{block_id}")(p)
        return layers.BatchNormalization(axis=-1, **BN, name=f"adjust_bn_{block_id}")(p)
    return p


def _squeeze(ip, filters: int, kind: str, block_id: str):
    """ReLU, 1x1 convolution to ``filters`` and batch norm: the cell's own input, ``{kind}_conv_1_{block_id}``."""
    h = layers.Activation("relu")(ip)
    h = layers.Conv2D(filters, (1, 1), strides=(1, 1), padding="same", use_bias=False, kernel_initializer="he_normal",
                      name=f"{kind}_conv_1_{block_id}")(h)
    return layers.BatchNormalization(axis=-1, **BN, name=f"{kind}_bn_1_{block_id}")(h)


def _normal_a_cell(ip, p, filters: int, block_id: str):
    """``(ip, p)`` -> ``(out, ip)``: ``(n, h, w, c)`` -> ``(n, h, w, 6 * filters)``, ``p`` and five sums of
    branches on ``p`` and ``ip`` concatenated."""
    p = _adjust_block(p, ip, filters, block_id)
    h = _squeeze(ip, filters, "normal", block_id)
    x1 = layers.add([_separable_conv_block(h, filters, 5, block_id=f"normal_left1_{block_id}"),
                     _separable_conv_block(p, filters, block_id=f"normal_right1_{block_id}")],
                    name=f"normal_add_1_{block_id}")
    x2 = layers.add([_separable_conv_block(p, filters, 5, block_id=f"normal_left2_{block_id}"),
                     _separable_conv_block(p, filters, 3, block_id=f"normal_right2_{block_id}")],
                    name=f"normal_add_2_{block_id}")
    x3 = _average_same(h, f"normal_left3_{block_id}")
    x3 = layers.add([x3, p], name=f"normal_add_3_{block_id}")
    x4 = layers.add([_average_same(p, f"normal_left4_{block_id}"), _average_same(p, f"normal_right4_{block_id}")],
                    name=f"normal_add_4_{block_id}")
    x5 = _separable_conv_block(h, filters, block_id=f"normal_left5_{block_id}")
    x5 = layers.add([x5, h], name=f"normal_add_5_{block_id}")
    x = layers.concatenate([p, x1, x2, x3, x4, x5], axis=-1, name=f"normal_concat_{block_id}")
    return x, ip


def _reduction_a_cell(ip, p, filters: int, block_id: str):
    """``(ip, p)`` -> ``(out, ip)``: ``(n, h, w, c)`` -> ``(n, ceil(h/2), ceil(w/2), 4 * filters)``, four sums of
    strided branches on ``p`` and ``ip`` concatenated. Keras' layer names are kept, irregular ones included."""
    p = _adjust_block(p, ip, filters, block_id)
    h = _squeeze(ip, filters, "reduction", block_id)
    h3 = layers.ZeroPadding2D(padding=imagenet_utils.correct_pad(h, 3), name=f"reduction_pad_1_{block_id}")(h)
    x1 = layers.add([_separable_conv_block(h, filters, 5, strides=2, block_id=f"reduction_left1_{block_id}"),
                     _separable_conv_block(p, filters, 7, strides=2, block_id=f"reduction_right1_{block_id}")],
                    name=f"reduction_add_1_{block_id}")
    x2_1 = layers.MaxPooling2D((3, 3), strides=(2, 2), padding="valid", name=f"reduction_left2_{block_id}")(h3)
    x2_2 = _separable_conv_block(p, filters, 7, strides=2, block_id=f"reduction_right2_{block_id}")
    x2 = layers.add([x2_1, x2_2], name=f"reduction_add_2_{block_id}")
    x3_1 = layers.AveragePooling2D((3, 3), strides=(2, 2), padding="valid", name=f"reduction_left3_{block_id}")(h3)
    x3_2 = _separable_conv_block(p, filters, 5, strides=2, block_id=f"reduction_right3_{block_id}")
    x3 = layers.add([x3_1, x3_2], name=f"reduction_add3_{block_id}")
    x4 = layers.add([x2, _average_same(x1, f"reduction_left4_{block_id}")])
    x5_1 = _separable_conv_block(x1, filters, 3, block_id=f"reduction_left4_{block_id}")
    x5_2 = layers.MaxPooling2D((3, 3), strides=(2, 2), padding="valid", name=f"reduction_right5_{block_id}")(h3)
    x5 = layers.add([x5_1, x5_2], name=f"reduction_add4_{block_id}")
    x = layers.concatenate([x2, x3, x4, x5], axis=-1, name=f"reduction_concat_{block_id}")
    return x, ip


def _average_same(x, name: str):
    """3x3 stride-1 average pooling, "same" (the padding left out of the averages, as in TensorFlow)."""
    return layers.AveragePooling2D((3, 3), strides=(1, 1), padding="same", name=name)(x)


def preprocess_input(x, data_format: str | None = None):
    """Images in [0, 255] -> [-1, 1] ("tf" mode); see ``imagenet_utils.preprocess_input``."""
    return imagenet_utils.preprocess_input(x, data_format=data_format, mode="tf")
