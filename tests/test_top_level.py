"""The package's top level offers what ``keras.<name>`` offers for writing custom pieces."""
from __future__ import annotations

import numpy as np
import torch

import layerwise as keras


def test_base_classes_are_the_modules_own():
    assert keras.Layer is keras.layers.Layer
    assert keras.Loss is keras.losses.Loss and keras.Metric is keras.metrics.Metric
    assert keras.Optimizer is keras.optimizers.Optimizer
    assert keras.Initializer is keras.initializers.Initializer
    assert keras.Regularizer is keras.regularizers.Regularizer and keras.Constraint is keras.constraints.Constraint
    assert keras.version() == keras.__version__


def test_a_layer_subclassing_the_top_level_layer_trains():
    class Scale(keras.Layer):
        def build(self, input_shape):
            self.scale = self.add_weight(shape=(input_shape[-1],), initializer="ones")

        def call(self, inputs):
            return inputs * self.scale

    model = keras.Sequential([keras.Input((3,)), Scale()])
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
    x = np.ones((8, 3), "float32")
    model.fit(x, 2 * x, epochs=100, verbose=0)
    assert torch.allclose(model.layers[0].scale.detach(), torch.full((3,), 2.0), atol=0.05)
