"""Variables flagged ``overwrite_with_gradient`` (Keras' float8 scales) take their gradient as their value instead of
an optimizer step, with and without gradient accumulation, as in Keras 3."""
import numpy as np
import pytest
import torch

from layerwise import layers, optimizers

GRADIENTS = [np.array([0.5, -2.0, 1.0], np.float32), np.array([1.5, -1.0, 0.25], np.float32),
             np.array([-0.5, 3.0, 0.75], np.float32), np.array([2.0, 0.0, -1.0], np.float32)]


def _trajectory(make_weights, apply, to_numpy):
    """The two weights' values after each of the four applies (the flagged one first)."""
    flagged, plain = make_weights()
    values = []
    for grad in GRADIENTS:
        apply([grad, 2 * grad], [flagged, plain])
        values.append((to_numpy(flagged), to_numpy(plain)))
    return values


def _ours(optimizer):
    layer = layers.Layer()
    flagged = layer.add_weight(shape=(3,), initializer="ones", overwrite_with_gradient=True)
    plain = layer.add_weight(shape=(3,), initializer="ones")
    return _trajectory(lambda: (flagged, plain),
                       lambda grads, weights: optimizer.apply([torch.tensor(g) for g in grads], weights),
                       lambda w: w.detach().numpy().copy())


def _keras(keras, optimizer):
    layer = keras.layers.Layer()
    flagged = layer.add_weight(shape=(3,), initializer="ones", overwrite_with_gradient=True)
    plain = layer.add_weight(shape=(3,), initializer="ones")
    return _trajectory(lambda: (flagged, plain),
                       lambda grads, weights: optimizer.apply([keras.ops.convert_to_tensor(g) for g in grads],
                                                              weights),
                       lambda w: keras.ops.convert_to_numpy(w).copy())


@pytest.mark.parametrize("options", [{}, {"gradient_accumulation_steps": 2}, {"clipnorm": 0.1},
                                     {"loss_scale_factor": 4.0}])
def test_flagged_variables_take_their_gradient_as_keras(keras, options):
    ours = _ours(optimizers.SGD(learning_rate=0.1, **options))
    theirs = _keras(keras, keras.optimizers.SGD(learning_rate=0.1, **options))
    for step, ((flagged, plain), (k_flagged, k_plain)) in enumerate(zip(ours, theirs)):
        np.testing.assert_allclose(flagged, k_flagged, rtol=1e-6, err_msg=f"flagged weight after apply {step}")
        np.testing.assert_allclose(plain, k_plain, rtol=1e-6, err_msg=f"plain weight after apply {step}")


def test_only_flagged_variables_still_count_the_step():
    layer = layers.Layer()
    flagged = layer.add_weight(shape=(2,), initializer="zeros", overwrite_with_gradient=True)
    optimizer = optimizers.Adam()
    optimizer.apply([torch.tensor([3.0, -1.0])], [flagged])
    np.testing.assert_array_equal(flagged.detach().numpy(), [3.0, -1.0])
    assert int(optimizer.iterations) == 1
