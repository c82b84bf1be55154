"""Every core layer's output shape: computed (compute_output_shape) equals produced (forward)."""
import pytest
import torch

from layerwise import layers as L


CASES = [
    (L.Dense(7), (3, 5)),
    (L.Dense(4), (3, 6, 5)),
    (L.Activation("tanh"), (3, 5)),
    (L.Rescaling(1 / 255, offset=-1), (3, 4, 4, 3)),
    (L.Flatten(), (3, 4, 5, 2)),
    (L.Reshape((10, 2)), (3, 4, 5)),
    (L.Reshape((-1, 4)), (3, 4, 5, 2)),
    (L.Dropout(0.5), (3, 5)),
    (L.GaussianNoise(0.1), (3, 5)),
    (L.BatchNormalization(), (3, 6, 6, 2)),
    (L.BatchNormalization(), (4, 5)),
    (L.Conv2D(4, 3), (2, 9, 9, 3)),
    (L.Conv2D(4, (2, 3), strides=(2, 1)), (2, 9, 8, 3)),
    (L.Conv2D(4, 3, strides=2, padding="same"), (2, 9, 9, 3)),
    (L.Conv2D(4, 4, strides=3, padding="same"), (2, 10, 11, 3)),
    (L.Conv2D(4, 2, padding="same"), (2, 7, 7, 3)),
    (L.Conv2D(4, 3, dilation_rate=2), (2, 9, 9, 3)),
    (L.Conv1D(5, 3, padding="same", strides=2), (2, 11, 3)),
    (L.Conv2DTranspose(4, 3), (2, 5, 5, 3)),
    (L.Conv2DTranspose(4, 3, strides=2, padding="same"), (2, 5, 5, 3)),
    (L.Conv2DTranspose(4, 2, strides=2), (2, 5, 6, 3)),
    (L.Conv2DTranspose(4, 1, strides=3), (2, 4, 4, 3)),
    (L.MaxPooling2D(), (2, 9, 9, 3)),
    (L.MaxPooling2D((3, 3), strides=2, padding="same"), (2, 10, 9, 3)),
    (L.AveragePooling2D((2, 2), strides=1), (2, 5, 5, 3)),
    (L.AveragePooling2D((3, 3), strides=2, padding="same"), (2, 8, 9, 3)),
    (L.MaxPooling1D(2), (2, 9, 3)),
    (L.AveragePooling1D(3, padding="same"), (2, 10, 3)),
    (L.GlobalAveragePooling2D(), (2, 4, 5, 3)),
    (L.GlobalMaxPooling2D(keepdims=True), (2, 4, 5, 3)),
    (L.GlobalAveragePooling1D(), (2, 7, 3)),
    (L.GlobalMaxPooling1D(), (2, 7, 3)),
    (L.UpSampling2D((2, 3)), (2, 4, 5, 3)),
    (L.UpSampling2D(interpolation="bilinear"), (2, 4, 5, 3)),
    (L.ZeroPadding1D((1, 2)), (2, 6, 3)),
    (L.ZeroPadding2D(((1, 0), (2, 3))), (2, 4, 5, 3)),
]


@pytest.mark.parametrize("layer,shape", CASES, ids=[f"{type(c[0]).__name__}-{c[1]}" for c in CASES])
def test_output_shape_matches_compute_output_shape(layer, shape):
    x = torch.randn(shape)
    layer.train()  # exercise the training branch of Dropout/GaussianNoise/BatchNormalization too
    y = layer(x)
    expected = layer.compute_output_shape((None, *shape[1:]))
    assert (None, *y.shape[1:]) == tuple(expected)
    assert y.shape[0] == shape[0]


def test_same_padding_with_stride_keeps_ceil_of_size():
    # Keras: 'same' output length is ceil(n / stride) whatever the kernel.
    for n in range(5, 12):
        y = L.Conv2D(2, 3, strides=2, padding="same")(torch.randn(1, n, n, 1))
        assert y.shape[1:3] == ((n + 1) // 2, (n + 1) // 2)


def test_max_pooling_same_never_picks_padding():
    x = -torch.ones(1, 5, 5, 1)  # all negative: zero padding would win a max; Keras pads with -inf
    y = L.MaxPooling2D(2, padding="same")(x)
    assert torch.all(y == -1)


def test_average_pooling_same_ignores_padding():
    x = torch.ones(1, 5, 5, 1)
    y = L.AveragePooling2D(2, padding="same")(x)
    assert torch.allclose(y, torch.ones_like(y))


def test_average_pooling_same_averages_only_real_entries_where_padding_is_uneven():
    """Windows over the edge average the entries they cover, as Keras' TensorFlow and JAX backends do. Keras 3.15's
    torch backend pads an uneven "same" by repeating the edge (11 here gives (10 + 11 + 11) / 3); that was fixed
    to the other backends' values in keras-team/keras#23233."""
    x = torch.arange(1.0, 12.0).reshape(1, 11, 1)  # 1..11; pool 3 needs one padded step, on the right
    assert L.AveragePooling1D(3, padding="same")(x).flatten().tolist() == [2.0, 5.0, 8.0, 10.5]
    x = torch.arange(1.0, 14.0).reshape(1, 13, 1)  # pool 4: one padded step on the left, two on the right
    assert L.AveragePooling1D(4, padding="same")(x).flatten().tolist() == [2.0, 5.5, 9.5, 12.5]
    grid = torch.arange(1.0, 26.0).reshape(1, 5, 5, 1)  # 2-D: the last row and column windows are cut to 2 x 2
    assert L.AveragePooling2D(3, padding="same")(grid)[0, -1, -1, 0].item() == (19 + 20 + 24 + 25) / 4


def test_flatten_uses_channels_last_order():
    x = torch.arange(2 * 3 * 4).reshape(1, 2, 3, 4).float()
    assert torch.equal(L.Flatten()(x)[0], x.reshape(-1))


def test_dropout_and_noise_are_identity_at_inference():
    x = torch.randn(4, 6)
    for layer in (L.Dropout(0.5), L.GaussianNoise(1.0)):
        layer.eval()
        assert torch.equal(layer(x), x)
        layer.train()
        assert not torch.equal(layer(x), x)


def test_layer_names_are_unique_and_snake_case():
    a, b = L.MaxPooling2D(), L.MaxPooling2D()
    assert a.name.startswith("max_pooling2d") and b.name.startswith("max_pooling2d") and a.name != b.name
    assert L.Conv2DTranspose(2, 2).name.startswith("conv2d_transpose")


def test_get_weights_are_in_keras_layout():
    dense = L.Dense(3)
    dense(torch.zeros(1, 5))
    assert [w.shape for w in dense.get_weights()] == [(5, 3), (3,)]
    conv = L.Conv2D(4, (2, 3))
    conv(torch.zeros(1, 6, 6, 2))
    assert [w.shape for w in conv.get_weights()] == [(2, 3, 2, 4), (4,)]
    convt = L.Conv2DTranspose(4, (2, 3))
    convt(torch.zeros(1, 6, 6, 2))
    assert [w.shape for w in convt.get_weights()] == [(2, 3, 4, 2), (4,)]


def test_set_weights_round_trip_and_bad_shape():
    dense = L.Dense(3)
    dense(torch.zeros(1, 5))
    weights = [w + 1 for w in dense.get_weights()]
    dense.set_weights(weights)
    assert all((a == b).all() for a, b in zip(dense.get_weights(), weights))
    with pytest.raises(ValueError, match=r"kernel.*\(5, 3\).*\(3, 5\)"):
        dense.set_weights([weights[0].T, weights[1]])


def test_unknown_activation_lists_valid_names():
    with pytest.raises(ValueError, match="Unknown activation 'relu7'.*relu.*sigmoid"):
        L.Dense(3, activation="relu7")


def test_config_round_trip():
    conv = L.Conv2D(8, 3, strides=2, padding="same", activation="relu", kernel_initializer="he_normal")
    clone = L.Conv2D.from_config(conv.get_config())
    assert clone.get_config() | {"name": conv.name} == conv.get_config()


def test_rescaling_maps_pixels():
    y = L.Rescaling(1 / 127.5, offset=-1)(torch.tensor([[0.0, 127.5, 255.0]]))
    torch.testing.assert_close(y, torch.tensor([[-1.0, 0.0, 1.0]]))


@pytest.mark.parametrize("layer, padding", [(L.ZeroPadding1D, (1, 2, 3)), (L.ZeroPadding1D, -1),
                                            (L.ZeroPadding2D, (1, 2, 3)), (L.ZeroPadding2D, ((1, 2), (3,)))])
def test_zero_padding_rejects_bad_padding(layer, padding):
    with pytest.raises(ValueError, match=f"{layer.__name__} padding must be"):
        layer(padding)


def test_layers_whose_weights_ignore_the_last_axis_take_any_size_as_keras_does():
    embedding = L.Embedding(10, 4)
    assert embedding(torch.ones(2, 5, dtype=torch.long)).shape == (2, 5, 4)
    assert embedding(torch.ones(2, 7, dtype=torch.long)).shape == (2, 7, 4)  # ids: the last axis is time
    pool = L.MaxPooling2D()
    assert pool(torch.ones(1, 4, 4, 3)).shape == (1, 2, 2, 3)
    assert pool(torch.ones(1, 4, 4, 5)).shape == (1, 2, 2, 5)  # no weights, no fixed channel count
    dense = L.Dense(2)
    dense(torch.ones(1, 3))
    with pytest.raises(ValueError, match=r"'dense.*' \(Dense\) expected input shape \(None, 3\)"):
        dense(torch.ones(1, 4))
