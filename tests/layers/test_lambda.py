"""Lambda: any PyTorch function as a layer, with its output shape inferred or given, and its ``mask`` argument."""
import numpy as np
import pytest
import torch

import layerwise
from layerwise import layers
from layerwise import layers as L

FUNCTIONS = {
    "affine": lambda x: x * 2.0 + 1.0,
    "every other feature": lambda x: x[:, ::2],
    "outer product": lambda x: x[:, :, None] * x[:, None, :],
}


@pytest.mark.parametrize("name", FUNCTIONS)
def test_outputs_and_inferred_shapes_match_keras(keras, name):
    function = FUNCTIONS[name]
    k_model = keras.Sequential([keras.Input((6,)), keras.layers.Lambda(function)])
    lw_model = layerwise.Sequential([layerwise.Input((6,)), layers.Lambda(function)])
    x = np.random.default_rng(0).normal(size=(3, 6)).astype("float32")
    np.testing.assert_allclose(lw_model.predict(x, verbose=0), k_model.predict(x, verbose=0), atol=1e-6)
    assert tuple(lw_model.output_shape) == tuple(k_model.output_shape)


def test_given_output_shapes_arguments_and_training_flag():
    def scale(x, factor, training=False):
        return x * factor * (10.0 if training else 1.0)

    layer = layers.Lambda(scale, arguments={"factor": 3.0}, output_shape=(4,))
    model = layerwise.Sequential([layerwise.Input((4,)), layer, layers.Lambda(torch.sin, output_shape=lambda s: s)])
    assert model.output_shape == (None, 4)
    x = torch.ones(2, 4)
    torch.testing.assert_close(model(x), torch.sin(3 * x))
    layer.train()
    torch.testing.assert_close(layer(x), 30 * x)


def test_shape_inference_failure_asks_for_output_shape():
    def needs_numpy(x):
        return torch.as_tensor(np.asarray(x))  # cannot run on a shape-only tensor

    with pytest.raises(ValueError, match=r"\(Lambda\) could not infer its output shape .* pass output_shape"):
        layerwise.Sequential([layerwise.Input((3,)), layers.Lambda(needs_numpy)])
    with pytest.raises(ValueError, match="Lambda needs a function, got 3"):
        layers.Lambda(3)


def test_models_with_a_lambda_train_and_refuse_to_save_whole(tmp_path):
    model = layerwise.Sequential([layerwise.Input((3,)), layers.Lambda(lambda x: x ** 2), layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    model.fit(np.ones((8, 3), "float32"), np.ones((8, 1), "float32"), epochs=1, verbose=0)
    with pytest.raises(ValueError, match="Cannot save the custom function"):
        model.save(tmp_path / "m.lw")
    assert not (tmp_path / "m.lw").exists()


def test_a_registered_function_saves_and_loads_as_in_keras(keras, tmp_path, fresh_registrations):
    def double(x):
        return x * 2.0

    for lib in (layerwise, keras):
        lib.saving.register_keras_serializable()(double)
    k_model = keras.Sequential([keras.Input((3,)), keras.layers.Lambda(double, name="twice"), keras.layers.Dense(2),
                                keras.layers.Lambda(keras.activations.relu)])
    lw_model = layerwise.Sequential([layerwise.Input((3,)), layers.Lambda(double, name="twice"), layers.Dense(2),
                                     layers.Lambda(layerwise.activations.relu)])
    lw_model.set_weights(k_model.get_weights())
    k_model.save(tmp_path / "k.keras")
    lw_model.save(tmp_path / "lw.keras")
    k_loaded, lw_loaded = keras.saving.load_model(tmp_path / "k.keras"), layerwise.load_model(tmp_path / "lw.keras")
    assert lw_loaded.layers[0].function is double and k_loaded.layers[0].function is double
    assert lw_loaded.layers[0].get_config()["function"] == "Custom>double"
    x = np.random.default_rng(0).normal(size=(4, 3)).astype("float32")
    expected = k_model.predict(x, verbose=0)
    assert (expected == 0).any() and (expected > 0).any()  # the relu Lambda acts
    keras_reads_ours = keras.saving.load_model(tmp_path / "lw.keras")  # layerwise writes Keras' form of the function
    for model in (k_loaded, lw_model, lw_loaded, keras_reads_ours):
        np.testing.assert_allclose(model.predict(x, verbose=0), expected, rtol=1e-6, atol=1e-6)
    layerwise.saving_registry.get_custom_objects().pop("Custom>double")  # a later session that lacks the registration
    with pytest.raises(ValueError, match=r"'twice' \(Lambda\): its saved function 'Custom>double' is no "
                                         r"built-in .*register_keras_serializable"):
        layerwise.load_model(tmp_path / "lw.keras")


# ---- Lambda(mask=...) -------------------------------------------------------------------------------------------

def _numpy(keras, value) -> np.ndarray:
    return keras.ops.convert_to_numpy(value) if not isinstance(value, torch.Tensor) else value.detach().cpu().numpy()


def test_lambda_mask_function_gives_the_output_mask_as_keras(keras):
    x = np.array([[1.0, 0.0, 2.0], [0.0, 3.0, 0.0]], "float32")
    predictions = []
    for library in (keras, layerwise):
        i = library.Input((3,))
        h = library.layers.Lambda(lambda t: t[..., None], mask=lambda t, m: t != 0)(i)
        model = library.Model(i, library.layers.LSTM(2, kernel_initializer="ones", recurrent_initializer="ones")(h))
        predictions.append(model.predict(x, verbose=0))
    np.testing.assert_allclose(predictions[1], predictions[0], atol=1e-6)
    masked = L.Lambda(lambda t: t[..., None], mask=lambda t, m: t != 0)
    sequential = layerwise.Sequential([layerwise.Input((3,)), masked,
                                       L.LSTM(2, kernel_initializer="ones", recurrent_initializer="ones")])
    np.testing.assert_allclose(sequential.predict(x, verbose=0), predictions[0], atol=1e-6)
    eager = L.Lambda(lambda t: t * 2, mask=lambda t, m: t > 0)(x)
    np.testing.assert_array_equal(eager._keras_mask.numpy(), x > 0)


def test_lambda_mask_array_and_a_function_taking_the_mask_as_keras(keras):
    mask = np.array([True, False, True])
    for library in (keras, layerwise):
        layer = library.layers.Lambda(lambda t: t, mask=mask)
        np.testing.assert_array_equal(_numpy(keras, layer.compute_mask(np.ones((3,), "float32"), None)), mask)
    config = L.Lambda(layerwise.activations.relu, mask=mask).get_config()
    assert config["mask"] == keras.layers.Lambda(keras.activations.relu, mask=mask).get_config()["mask"]
    np.testing.assert_array_equal(L.Lambda.from_config(config).mask, mask)

    def keep_real_steps(t, mask=None):
        return t if mask is None else t * mask[..., None]

    embedded = L.Embedding(5, 2, mask_zero=True)(np.array([[1, 0, 2]]))
    assert torch.all(L.Lambda(keep_real_steps)(embedded)[0, 1] == 0)
