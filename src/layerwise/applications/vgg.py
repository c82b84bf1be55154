"""VGG16 and VGG19 (Simonyan & Zisserman, 2015), as Keras' ``keras.applications.vgg16`` / ``vgg19``.

Five blocks of 3x3 "same" ReLU convolutions, each closed by 2x2 max pooling (``(224, 224, 3)`` ->
``(7, 7, 512)``), then the top: Flatten, two Dense(4096) ReLU layers and the classifier. Inputs are
preprocessed in "caffe" mode (``preprocess_input``).
"""
from __future__ import annotations

from layerwise import layers
from layerwise.applications import imagenet_utils, imagenet_weights
from layerwise.applications.imagenet_utils import decode_predictions as decode_predictions  # Keras' name
from layerwise.models import Model

# Convolutions per block, for VGG16 and VGG19; the blocks have 64, 128, 256, 512 and 512 filters.
BLOCK_DEPTHS = {"VGG16": (2, 2, 3, 3, 3), "VGG19": (2, 2, 4, 4, 4)}
BLOCK_FILTERS = (64, 128, 256, 512, 512)


def VGG16(include_top: bool = True, weights="imagenet", input_tensor=None, input_shape=None, pooling=None,
          classes: int = 1000, classifier_activation="softmax", name: str = "vgg16") -> Model:
    """VGG16 (138,357,544 parameters with the top): images ``(n, h, w, 3)``, h and w at least 32, ``(224, 224, 3)``
    with the top -> ``(n, classes)`` scores; without the top ``(n, h/32, w/32, 512)`` features, or
    ``(n, 512)`` with ``pooling="avg"`` or ``"max"``.

    ``weights``: "imagenet" (Keras' published ImageNet weights, fetched into Keras' cache unless already there;
    see ``imagenet_weights``), None (random initialization) or the path to a weights file.
    """
    return _vgg("VGG16", include_top, weights, input_tensor, input_shape, pooling, classes, classifier_activation,
                name)


def VGG19(include_top: bool = True, weights="imagenet", input_tensor=None, input_shape=None, pooling=None,
          classes: int = 1000, classifier_activation="softmax", name: str = "vgg19") -> Model:
    """VGG19 (143,667,240 parameters with the top): VGG16 with a fourth convolution in blocks 3, 4 and 5;
    same arguments, shapes and weights rules as ``VGG16``."""
    return _vgg("VGG19", include_top, weights, input_tensor, input_shape, pooling, classes, classifier_activation,
                name)


def _vgg(app: str, include_top: bool, weights, input_tensor, input_shape, pooling, classes: int,
         classifier_activation, name: str) -> Model:
    img_input = imagenet_utils.prepare_input(app, include_top, weights, input_tensor, input_shape, pooling, classes,
                                             classifier_activation)

    x = img_input
    for block, (depth, filters) in enumerate(zip(BLOCK_DEPTHS[app], BLOCK_FILTERS), start=1):
        for conv in range(1, depth + 1):
            x = layers.Conv2D(filters, (3, 3), activation="relu", padding="same", name=f"block{block}_conv{conv}")(x)
        x = layers.MaxPooling2D((2, 2), strides=(2, 2), name=f"block{block}_pool")(x)

    if include_top:
        x = layers.Flatten(name="flatten")(x)
        x = layers.Dense(4096, activation="relu", name="fc1")(x)
        x = layers.Dense(4096, activation="relu", name="fc2")(x)
        x = layers.Dense(classes, activation=classifier_activation, name="predictions")(x)
    elif pooling == "avg":
        x = layers.GlobalAveragePooling2D()(x)
    elif pooling == "max":
        x = layers.GlobalMaxPooling2D()(x)
    return imagenet_utils.finish_model(img_input, input_tensor, x, name, weights,
                                       imagenet_weights.published(app, include_top))


def preprocess_input(x, data_format: str | None = None):
    """Images in [0, 255] -> BGR with the ImageNet mean pixel subtracted ("caffe" mode); see
    ``imagenet_utils.preprocess_input``."""
    return imagenet_utils.preprocess_input(x, data_format=data_format, mode="caffe")
