"""InceptionV3 and InceptionResNetV2 against keras.applications: the same layers (names, order, types, output
shapes, parameter counts), the same outputs once Keras' weights are copied over, and the same argument checks.

Both are built once per module in both libraries at the smallest input Keras allows (75x75), with the top for
10 classes (logits); Keras' default-size figures are recorded instead of building it at 299x299.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch
from test_applications import assert_same_layers, fresh_pair, outputs, transfer

from layerwise import applications
from layerwise.applications import imagenet_utils
from layerwise.applications.inception_resnet_v2 import CustomScaleLayer

SIDE = 75  # Keras' minimum for both


def randomise(keras_model, rng: np.random.Generator) -> None:
    """Batch-norm offsets and statistics (these have no scale: beta, mean, var) and biases away from their
    initial values, so that a layer reading them in the wrong order fails; Keras' random kernels stay (drawing
    50M new ones would cost seconds) and keep the signal of order 0.1 through the depth."""
    for layer in keras_model.layers:
        if type(layer).__name__ == "BatchNormalization":
            beta, mean, var = (w.shape for w in layer.get_weights())
            layer.set_weights([rng.normal(0, 0.1, beta).astype("float32"), rng.normal(0, 0.1, mean).astype("float32"),
                               rng.uniform(0.8, 1.2, var).astype("float32")])
        elif type(layer).__name__ in ("Conv2D", "Dense") and layer.use_bias:
            kernel, bias = layer.get_weights()
            layer.set_weights([kernel, rng.normal(0, 0.1, bias.shape).astype("float32")])


@pytest.fixture(scope="module", params=["InceptionV3", "InceptionResNetV2"])
def built(request, keras):
    """``(name, keras_model, layerwise_model)`` at 75x75 with a 10-class logits top, Keras' random weights
    copied into ours."""
    theirs, ours = fresh_pair(keras, request.param, weights=None, input_shape=(SIDE, SIDE, 3), classes=10,
                              classifier_activation=None)
    randomise(theirs, np.random.default_rng(0))
    transfer(theirs, ours)
    return request.param, theirs, ours


def test_same_layers_as_keras(built):
    _, theirs, ours = built
    assert_same_layers(theirs, ours)


def test_same_outputs_as_keras_with_its_weights(built):
    _, theirs, ours = built
    x = np.random.default_rng(1).normal(0, 1, (1, SIDE, SIDE, 3)).astype("float32")
    with torch.no_grad():  # the forward passes take a third of the time without the autograd graph
        expected, received = outputs(theirs, x), outputs(ours, x)
    assert expected.shape == (1, 10) and np.abs(expected).max() > 0.1  # not a vanishing signal
    np.testing.assert_allclose(received, expected, rtol=1e-4, atol=1e-5 * np.abs(expected).max())


def test_inception_v3_default_size_with_the_top():
    """Keras 3.15's figures for InceptionV3(weights=None): 299x299x3 in, ImageNet's 1000 classes out."""
    model = applications.InceptionV3(weights=None)
    assert tuple(model.inputs[0].shape) == (None, 299, 299, 3) and tuple(model.output.shape) == (None, 1000)
    assert (model.count_params(), len(model.layers), model.name) == (23_851_784, 313, "inception_v3")
    assert [layer.name for layer in model.layers[-3:]] == ["mixed10", "avg_pool", "predictions"]


def test_inception_v3_pooling_layer_keeps_its_automatic_name():
    """As in Keras (unlike ResNet's ``avg_pool``/``max_pool``), the pooling without the top is unnamed; the
    features are 1x1 at 75x75."""
    model = applications.InceptionV3(weights=None, include_top=False, input_shape=(SIDE, SIDE, 3), pooling="avg")
    assert model.layers[-1].name == "global_average_pooling2d" and tuple(model.output.shape) == (None, 2048)
    assert tuple(model.layers[-2].output.shape) == (None, 1, 1, 2048) and model.count_params() == 21_802_784


def test_custom_scale_layer():
    """``[x, r]`` -> ``x + scale * r``, with ``scale`` in its config (Keras' ``CustomScaleLayer``)."""
    x, r = torch.randn(2, 3, 3, 4), torch.randn(2, 3, 3, 4)
    layer = CustomScaleLayer(0.17)
    torch.testing.assert_close(layer([x, r]), x + 0.17 * r)
    assert layer.get_config()["scale"] == 0.17 and layer.name.startswith("custom_scale_layer")


@pytest.mark.parametrize("module", ["inception_v3", "inception_resnet_v2"])
def test_preprocess_input_and_keras_module_names(keras, module):
    """Each module's preprocess_input is Keras' "tf" mode (to [-1, 1]); decode_predictions is the shared one."""
    ours, theirs = getattr(applications, module), getattr(keras.applications, module)
    images = np.random.default_rng(4).uniform(0, 255, (2, 5, 5, 3)).astype("float32")
    np.testing.assert_allclose(ours.preprocess_input(images), theirs.preprocess_input(images.copy()), rtol=1e-6)
    assert ours.decode_predictions is imagenet_utils.decode_predictions
    app = {"inception_v3": "InceptionV3", "inception_resnet_v2": "InceptionResNetV2"}[module]
    assert getattr(ours, app) is getattr(applications, app) and app in applications.__all__
    assert module in applications.__all__
