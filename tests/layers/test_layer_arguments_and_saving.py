"""Activation, regularization and reshaping layers: bad arguments and inputs, noise shapes, and saving."""
import numpy as np
import pytest
import torch

import layerwise as keras
from layerwise import layers


@pytest.mark.parametrize("make, message", [
    (lambda: layers.ReLU(max_value=-1.0), "ReLU max_value must be a non-negative number, got -1.0"),
    (lambda: layers.LeakyReLU(negative_slope=None), "LeakyReLU negative_slope must be a non-negative number"),
    (lambda: layers.GaussianDropout(1.0), r"GaussianDropout rate must be in \[0, 1\), got 1.0"),
    (lambda: layers.SpatialDropout2D(0.2, data_format="channels_middle"), "or 'channels_first', received"),
])
def test_bad_arguments_are_refused_with_the_reason(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_bad_input_shapes_name_the_layer():
    with pytest.raises(ValueError, match=r"'spatial_dropout1d.*' \(SpatialDropout1D\) expected an input of rank 3"):
        layers.SpatialDropout1D(0.2)(torch.ones(4, 5))
    with pytest.raises(ValueError, match=r"\(PReLU\) expected an input with the axes \[3\] \(shared_axes\)"):
        layers.PReLU(shared_axes=3)(torch.ones(4, 5))


def test_models_with_these_layers_save_and_reload(tmp_path):
    model = keras.Sequential([keras.Input((6, 6, 1)), layers.Conv2D(4, 3), layers.PReLU(shared_axes=[1, 2]),
                              layers.SpatialDropout2D(0.2), layers.Flatten(), layers.Dense(8),
                              layers.LeakyReLU(0.1), layers.ActivityRegularization(l2=0.01), layers.Dense(3),
                              layers.Softmax()])
    with torch.no_grad():
        model.layers[1].alpha.uniform_(0.1, 0.3)
    model.compile(optimizer="sgd", loss="categorical_crossentropy")
    model.save(tmp_path / "m.lw")
    loaded = keras.models.load_model(tmp_path / "m.lw")
    x = np.random.default_rng(0).normal(size=(5, 6, 6, 1)).astype("float32")
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-6)
    assert loaded.layers[5].negative_slope == 0.1 and loaded.layers[6].l2 == 0.01


def test_dropout_noise_shape_shares_draws_along_axes_of_size_one():
    torch.manual_seed(0)
    layer = layers.Dropout(0.5, noise_shape=(None, 1, 3)).train()
    out = layer(torch.ones(200, 7, 3))
    assert torch.equal(out, out[:, :1, :].expand_as(out))  # one draw per sample and feature
    assert set(out.unique().tolist()) == {0.0, 2.0}
    assert torch.equal(layer.eval()(torch.ones(2, 7, 3)), torch.ones(2, 7, 3))
    with pytest.raises(ValueError, match=r"expected an input of rank 3 \(noise_shape \(None, 1, 3\)\)"):
        layers.Dropout(0.5, noise_shape=(None, 1, 3))(torch.ones(4, 3))


def test_reshaping_layers_refuse_bad_arguments_and_inputs():
    with pytest.raises(ValueError, match=r"Permute dims must be a permutation of 1..2, got \(0, 1\)"):
        layers.Permute((0, 1))
    with pytest.raises(ValueError, match="Cropping2D cropping must be a non-negative int"):
        layers.Cropping2D(-1)
    with pytest.raises(ValueError, match=r"\(Cropping1D\) expected more than 6 positions to crop"):
        layers.Cropping1D(3)(torch.ones(2, 6, 1))
    with pytest.raises(ValueError, match=r"\(Permute\) expected an input of rank 3"):
        layers.Permute((2, 1))(torch.ones(2, 6))


def test_layer_normalization_refuses_the_batch_axis_and_unknown_sizes():
    with pytest.raises(ValueError, match=r"\(LayerNormalization\) expected an input with the non-batch axes \[0\]"):
        layers.LayerNormalization(axis=0)(torch.ones(2, 3))
    with pytest.raises(ValueError, match=r"expected an input with the non-batch axes \[3\]"):
        layers.LayerNormalization(axis=3)(torch.ones(2, 3))


def test_an_initializer_class_builds_and_saves_as_its_instance(tmp_path):
    model = keras.Sequential([keras.Input((3,)), layers.Dense(2, kernel_initializer=keras.initializers.he_uniform)])
    model.save(tmp_path / "m.lw")
    loaded = keras.load_model(tmp_path / "m.lw")
    assert isinstance(loaded.layers[0].get_config()["kernel_initializer"], dict)
    np.testing.assert_allclose(loaded.get_weights()[0], model.get_weights()[0])
