"""ConvNeXt Tiny, Small, Base, Large and XLarge (Liu et al., 2022), as Keras' ``keras.applications.convnext``.

The model preprocesses its own inputs (pixels in [0, 255]): a ``Normalization`` by ImageNet's mean and standard
deviation (in pixel units), ``{name}_prestem_normalization``, unless ``include_preprocessing=False`` or the input
has other than 3 channels. A "patchify" stem (4x4 convolution with stride 4, then layer normalization) and four
stages of ConvNeXt blocks ``{name}_stage_{i}_block_{j}_`` (7x7 depthwise convolution, layer normalization, an
MLP of two Dense layers widening 4x with GELU between, a learned per-channel ``LayerScale``, then the residual
sum) with a downsampling block (layer normalization, 2x2 convolution with stride 2) before stages 1-3. The stem
and the downsampling blocks are nested ``Sequential`` models, as in Keras: ``(224, 224, 3)`` -> ``(7, 7, 768)``
for Tiny. The top is global average pooling, layer normalization and the classifier ``{name}_head_dense``;
without it the features (pooled when ``pooling`` says so) are layer-normalised by an unnamed layer.
Channels-last only: with ``image_data_format()`` "channels_first" the constructors raise, as Keras' do.
"""
from __future__ import annotations

import numpy as np
import torch

from layerwise import initializers, layers
from layerwise.applications import imagenet_utils, imagenet_weights
from layerwise.applications.imagenet_utils import decode_predictions as decode_predictions  # Keras' name
from layerwise.models import Model, Sequential

# variant -> (blocks per stage, channels per stage); every variant's default input is 224x224.
MODEL_CONFIGS = {"tiny": ((3, 3, 9, 3), (96, 192, 384, 768)), "small": ((3, 3, 27, 3), (96, 192, 384, 768)),
                 "base": ((3, 3, 27, 3), (128, 256, 512, 1024)), "large": ((3, 3, 27, 3), (192, 384, 768, 1536)),
                 "xlarge": ((3, 3, 27, 3), (256, 512, 1024, 2048))}
DEFAULT_SIZE = 224
LAYER_SCALE_INIT_VALUE = 1e-6
EPSILON = 1e-6  # of every layer normalization
# Keras' parameter counts with the 1000-class top, for the docstrings.
PARAMETERS = {"tiny": "28,589,128", "small": "50,223,688", "base": "88,591,464", "large": "197,767,336",
              "xlarge": "350,196,968"}

WEIGHTS_URL = "https://storage.googleapis.com/tensorflow/keras-applications/convnext/"
# weights name -> (sha256 of the file with the top, sha256 of the one without).
WEIGHTS_SHA256 = {
    "convnext_tiny": ("8ae6e78ce2933352b1ef4008e6dd2f17bc40771563877d156bc6426c7cf503ff",
                      "d547c096cabd03329d7be5562c5e14798aa39ed24b474157cef5e85ab9e49ef1"),
    "convnext_small": ("ce1277d8f1ee5a0ef0e171469089c18f5233860ceaf9b168049cb9263fd7483c",
                       "6fc8009faa2f00c1c1dfce59feea9b0745eb260a7dd11bee65c8e20843da6eab"),
    "convnext_base": ("52cbb006d3dadd03f6e095a8ca1aca47aecdd75acb4bc74bce1f5c695d0086e6",
                      "40a20c5548a5e9202f69735ecc06c990e6b7c9d2de39f0361e27baeb24cb7c45"),
    "convnext_large": ("070c5ed9ed289581e477741d3b34beffa920db8cf590899d6d2c67fba2a198a6",
                       "96f02b6f0753d4f543261bc9d09bed650f24dd6bc02ddde3066135b63d23a1cd"),
    "convnext_xlarge": ("c1f5ccab661354fc3a79a10fa99af82f0fbf10ec65cb894a3ae0815f17a889ee",
                        "de3f8a54174130e0cecdc71583354753d557fcf1f4487331558e2a16ba0cfe05"),
}


def weights_file(app: str, name: str, weights_name: str, include_top: bool) -> imagenet_weights.WeightsFile:
    """The ImageNet file of the model called ``name``: Keras names it after the model, ``{name}.h5`` or
    ``{name}_notop.h5``, and checks it against the sha256 of ``weights_name`` ("convnext_tiny"...)."""
    file_name = f"{name}{'' if include_top else '_notop'}.h5"
    return imagenet_weights.WeightsFile(app, file_name, WEIGHTS_URL + file_name,
                                        WEIGHTS_SHA256[weights_name][0 if include_top else 1])


class StochasticDepth(layers.Layer):
    """Drops the residual branch ``(n, ...)`` of whole samples at ``drop_path_rate`` in training (the kept ones
    scaled by ``1 / (1 - drop_path_rate)``); the identity in inference."""

    def __init__(self, drop_path_rate: float, **kwargs):
        super().__init__(**kwargs)
        self.drop_path_rate = drop_path_rate

    def call(self, x: torch.Tensor, training=None) -> torch.Tensor:
        if not training:
            return x
        keep_prob = 1 - self.drop_path_rate
        shape = (x.shape[0],) + (1,) * (x.ndim - 1)
        kept = torch.floor(keep_prob + torch.rand(shape, dtype=x.dtype, device=x.device))  # 1 with keep_prob
        return x / keep_prob * kept


class LayerScale(layers.Layer):
    """``(..., projection_dim)`` -> the same, each channel multiplied by its learned scale (initially
    ``init_values``)."""

    def __init__(self, init_values: float, projection_dim: int, **kwargs):
        super().__init__(**kwargs)
        self.init_values = init_values
        self.projection_dim = projection_dim

    def build(self, input_shape: tuple) -> None:
        self.gamma = self.add_weight(shape=(self.projection_dim,), initializer=initializers.Constant(self.init_values),
                                     trainable=True)

    def call(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.gamma


DOCSTRING = """ConvNeXt{Variant} ({parameters} parameters with the top): images ``(n, h, w, 3)`` with values in
    [0, 255] (the model normalises them itself unless ``include_preprocessing=False``), h and w at least 32
    (``(224, 224, 3)`` by default with the top) -> ``(n, classes)`` scores; without the top
    ``(n, h//32, w//32, {features})`` layer-normalised features, or ``(n, {features})`` with ``pooling``.

    ``weights``: "imagenet" (Keras' published ImageNet weights, fetched into Keras' cache unless already there;
    the file is named after the model, so ``name`` must contain "convnext_{variant}"), None (random
    initialization) or the path to a weights file.
    """


def _constructor(variant: str):
    """Keras' ``ConvNeXt<Variant>`` function, with its own name, default model name and docstring."""
    app = f"ConvNeXt{'XLarge' if variant == 'xlarge' else variant.capitalize()}"

    def constructor(include_top: bool = True, include_preprocessing: bool = True, weights="imagenet",
                    input_tensor=None, input_shape=None, pooling=None, classes: int = 1000,
                    classifier_activation="softmax", name: str = f"convnext_{variant}") -> Model:
        depths, projection_dims = MODEL_CONFIGS[variant]
        return _convnext(app, depths, projection_dims, 0.0, LAYER_SCALE_INIT_VALUE, DEFAULT_SIZE, name,
                         include_preprocessing, include_top, weights, input_tensor, input_shape, pooling, classes,
                         classifier_activation, f"convnext_{variant}")

    constructor.__name__ = constructor.__qualname__ = app
    constructor.__doc__ = DOCSTRING.format(Variant=app.removeprefix("ConvNeXt"), parameters=PARAMETERS[variant],
                                           features=MODEL_CONFIGS[variant][1][-1], variant=variant)
    return constructor


ConvNeXtTiny, ConvNeXtSmall, ConvNeXtBase, ConvNeXtLarge, ConvNeXtXLarge = map(_constructor, MODEL_CONFIGS)


def ConvNeXt(depths, projection_dims, drop_path_rate: float = 0.0, layer_scale_init_value: float | None = 1e-6,
             default_size: int = 224, name: str = "convnext", include_preprocessing: bool = True,
             include_top: bool = True, weights=None, input_tensor=None, input_shape=None, pooling=None,
             classes: int = 1000, classifier_activation="softmax", weights_name: str | None = None) -> Model:
    """Keras' general ConvNeXt: four stages of ``depths`` blocks with ``projection_dims`` channels (the variants
    are its five configurations). The residual branch of block ``b`` of ``sum(depths)`` is dropped in training
    at rate ``drop_path_rate * b / (sum(depths) - 1)``; ``layer_scale_init_value`` None leaves out LayerScale.
    ``weights="imagenet"`` needs ``weights_name`` ("convnext_tiny"...) with its variant's configuration."""
    return _convnext("ConvNeXt", depths, projection_dims, drop_path_rate, layer_scale_init_value, default_size, name,
                     include_preprocessing, include_top, weights, input_tensor, input_shape, pooling, classes,
                     classifier_activation, weights_name)


def _convnext(app: str, depths, projection_dims, drop_path_rate: float, layer_scale_init_value, default_size: int,
              name: str, include_preprocessing: bool, include_top: bool, weights, input_tensor, input_shape,
              pooling, classes: int, classifier_activation, weights_name: str | None) -> Model:
    if imagenet_utils.channels_first():  # Keras refuses it first of all, so the layers below assume channels last
        raise ValueError(f"{app}: ConvNeXt does not support the 'channels_first' image data format, as in Keras; "
                         "call layerwise.config.set_image_data_format('channels_last') before building it.")
    img_input = imagenet_utils.prepare_input(app, include_top, weights, input_tensor, input_shape, pooling, classes,
                                             classifier_activation, default_size=default_size, min_size=32)
    if imagenet_utils.is_imagenet(weights):  # Keras checks after building; nothing fails in between
        _check_imagenet_variant(app, depths, projection_dims, name, weights_name)

    x = img_input
    # Keras reads the channel count off input_shape (3 when it is not given), not off input_tensor.
    if include_preprocessing and (input_shape[-1] if input_shape else 3) == 3:
        x = layers.Normalization(mean=[m * 255 for m in imagenet_utils.TORCH_MEAN],
                                 variance=[(s * 255) ** 2 for s in imagenet_utils.TORCH_STD],
                                 name=f"{name}_prestem_normalization")(x)

    drop_rates = [float(rate) for rate in np.linspace(0.0, drop_path_rate, sum(depths))]
    first = 0  # the stage's first block, counted over all stages
    for stage, (depth, channels) in enumerate(zip(depths, projection_dims)):
        x = _downsampling(stage, channels, name)(x)
        for j in range(depth):
            x = _block(x, channels, drop_rates[first + j], layer_scale_init_value, f"{name}_stage_{stage}_block_{j}")
        first += depth

    if include_top:
        x = layers.GlobalAveragePooling2D(name=f"{name}_head_gap")(x)
        x = layers.LayerNormalization(epsilon=EPSILON, name=f"{name}_head_layernorm")(x)
        x = layers.Dense(classes, activation=classifier_activation, name=f"{name}_head_dense")(x)
    else:
        x = imagenet_utils.classifier_top(x, False, pooling, classes, classifier_activation)
        x = layers.LayerNormalization(epsilon=EPSILON)(x)
    imagenet_file = (weights_file(app, name, weights_name, include_top) if imagenet_utils.is_imagenet(weights)
                     else None)
    return imagenet_utils.finish_model(img_input, input_tensor, x, name, weights, imagenet_file)


def _check_imagenet_variant(app: str, depths, projection_dims, name: str, weights_name: str | None) -> None:
    """The ImageNet weights need their variant's configuration, and the model's name (which names the file) must
    contain ``weights_name``."""
    if weights_name not in WEIGHTS_SHA256:
        raise ValueError(f"{app}: weights='imagenet' needs weights_name, one of "
                         f"{', '.join(map(repr, WEIGHTS_SHA256))}; received weights_name={weights_name!r}.")
    expected_depths, expected_dims = MODEL_CONFIGS[weights_name.removeprefix("convnext_")]
    if tuple(depths) != expected_depths or tuple(projection_dims) != expected_dims:
        raise ValueError(f"{app}: the ImageNet weights of {weights_name} need depths={list(expected_depths)} and "
                         f"projection_dims={list(expected_dims)}; received depths={list(depths)}, "
                         f"projection_dims={list(projection_dims)}.")
    if weights_name not in name:
        raise ValueError(f"{app}: with weights='imagenet' the model name must contain {weights_name!r} (the "
                         f"weights file is named after the model); received name={name!r}.")


def _downsampling(stage: int, channels: int, name: str) -> Sequential:
    """Stage 0's stem ``(n, h, w, c)`` -> ``(n, h/4, w/4, channels)``: a 4x4 convolution with stride 4, then layer
    normalization; before the other stages ``(n, h, w, c)`` -> ``(n, h/2, w/2, channels)``: layer normalization,
    then a 2x2 convolution with stride 2. Nested models, as in Keras."""
    if stage == 0:
        return Sequential([layers.Conv2D(channels, kernel_size=4, strides=4, name=f"{name}_stem_conv"),
                           layers.LayerNormalization(epsilon=EPSILON, name=f"{name}_stem_layernorm")],
                          name=f"{name}_stem")
    i = stage - 1  # Keras counts the downsampling blocks from 0
    return Sequential([layers.LayerNormalization(epsilon=EPSILON, name=f"{name}_downsampling_layernorm_{i}"),
                       layers.Conv2D(channels, kernel_size=2, strides=2, name=f"{name}_downsampling_conv_{i}")],
                      name=f"{name}_downsampling_block_{i}")


def _block(inputs, channels: int, drop_path_rate: float, layer_scale_init_value, prefix: str):
    """``(n, h, w, channels)`` -> the same: the ConvNeXt block, its layers named ``{prefix}_depthwise_conv`` ...
    ``{prefix}_stochastic_depth`` (or ``{prefix}_identity`` when nothing is dropped), then the residual sum."""
    x = layers.Conv2D(channels, kernel_size=7, padding="same", groups=channels, name=f"{prefix}_depthwise_conv")(
        inputs)
    x = layers.LayerNormalization(epsilon=EPSILON, name=f"{prefix}_layernorm")(x)
    # The pointwise convolutions are Dense layers on the channel axis, as in the original implementation.
    x = layers.Dense(4 * channels, name=f"{prefix}_pointwise_conv_1")(x)
    x = layers.Activation("gelu", name=f"{prefix}_gelu")(x)
    x = layers.Dense(channels, name=f"{prefix}_pointwise_conv_2")(x)
    if layer_scale_init_value is not None:
        x = LayerScale(layer_scale_init_value, channels, name=f"{prefix}_layer_scale")(x)
    if drop_path_rate:
        x = StochasticDepth(drop_path_rate, name=f"{prefix}_stochastic_depth")(x)
    else:
        x = layers.Activation("linear", name=f"{prefix}_identity")(x)
    return inputs + x


def preprocess_input(x, data_format: str | None = None):
    """``x`` unchanged: ConvNeXt normalises its inputs itself (Keras keeps this for its API)."""
    return x
