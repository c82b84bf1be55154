"""Freezing as Keras does it: a frozen BatchNormalization runs in inference mode even during fit (its statistics
stay, as the transfer-learning guide relies on), and a layer's setting reaches the layers it holds."""
from __future__ import annotations

import numpy as np

import layerwise

RNG = np.random.default_rng(0)
X = RNG.normal(3.0, 2.0, size=(32, 4)).astype("float32")
Y = RNG.normal(size=(32, 1)).astype("float32")


def _frozen_base(lib):
    base = lib.Sequential([lib.Input((4,)), lib.layers.Dense(4), lib.layers.BatchNormalization()], name="base")
    base.trainable = False
    inputs = lib.Input((4,))
    model = lib.Model(inputs, lib.layers.Dense(1)(base(inputs)))  # no training=False: the flag alone freezes BN
    model.compile(lib.optimizers.SGD(0.01), "mse")
    return model


def test_a_frozen_batch_normalization_keeps_its_statistics_during_fit_as_in_keras(keras):
    ours, theirs = _frozen_base(layerwise), _frozen_base(keras)
    theirs.set_weights(ours.get_weights())
    before = ours.get_weights()
    ours.fit(X, Y, epochs=2, batch_size=8, shuffle=False, verbose=0)
    theirs.fit(X, Y, epochs=2, batch_size=8, shuffle=False, verbose=0)
    after = ours.get_weights()
    for i in range(6):  # the base's kernel, bias, gamma, beta, moving mean and variance
        np.testing.assert_array_equal(after[i], before[i])
    for got, expected in zip(after, theirs.get_weights()):
        np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-6)


def test_freezing_a_users_layer_freezes_the_layers_it_holds(keras):
    def block(lib):
        class Block(lib.layers.Layer):
            def __init__(self, **kwargs):
                super().__init__(**kwargs)
                self.dense = lib.layers.Dense(4)
                self.norm = lib.layers.BatchNormalization()

            def call(self, x, training=False):
                return self.norm(self.dense(x), training=training)

        layer = Block()
        layer(X)
        layer.trainable = False
        return layer

    for lib in (layerwise, keras):
        layer = block(lib)
        assert not layer.dense.trainable and not layer.norm.trainable, lib.__name__
        mean = layer.norm.get_weights()[2]  # gamma, beta, moving mean, moving variance
        layer(X, training=True)
        np.testing.assert_array_equal(layer.norm.get_weights()[2], mean)


def _wrapped(lib):
    L = lib.layers
    bidirectional = L.Bidirectional(L.LSTM(2, return_sequences=True))
    distributed = L.TimeDistributed(L.Dense(3))
    rnn = L.RNN(L.GRUCell(2), return_sequences=True)
    model = lib.Sequential([lib.Input((4, 5)), bidirectional, distributed, rnn,
                            L.TimeDistributed(L.BatchNormalization())])
    distributed.layer.trainable = False
    bidirectional.forward_layer.trainable = False
    rnn.cell.trainable = False
    return model, (bidirectional, distributed, rnn)


def test_a_frozen_layer_inside_a_wrapper_or_rnn_is_reported_frozen_as_in_keras(keras):
    ours, theirs = _wrapped(layerwise), _wrapped(keras)
    for mine, its in zip(ours[1], theirs[1]):
        assert (len(mine.trainable_weights), len(mine.non_trainable_weights)) == \
            (len(its.trainable_weights), len(its.non_trainable_weights)), mine.name
    count = lambda weights: sum(int(np.prod(w.shape)) for w in weights)  # noqa: E731
    assert count(ours[0].trainable_weights) == count(theirs[0].trainable_weights)
    assert count(ours[0].non_trainable_weights) == count(theirs[0].non_trainable_weights)


def test_a_frozen_model_trains_nothing_even_with_a_layer_unfrozen_inside(keras):
    # Keras trains model.trainable_weights, none while the model is frozen; layerwise trained the unfrozen layer.
    changed = []
    for lib in (layerwise, keras):
        inner = lib.Sequential([lib.Input((4,)), lib.layers.Dense(4, name="a"), lib.layers.Dense(2, name="z")])
        model = lib.Sequential([lib.Input((4,)), inner, lib.layers.Dense(1, name="top")])
        model.trainable = False
        inner.get_layer("z").trainable = True
        before = model.get_weights()
        model.compile(optimizer="sgd", loss="mse")
        model.fit(X, Y, verbose=0)
        changed.append([not np.allclose(a, b) for a, b in zip(before, model.get_weights())])
    assert changed[0] == changed[1] == [False] * 6


def test_trainable_weights_list_a_layer_unfrozen_inside_a_frozen_part_as_keras(keras):
    # The frozen part hid the layer unfrozen inside it from the outer model's list (both libraries train it), and
    # the frozen part itself listed it.
    found = []
    for lib in (layerwise, keras):
        inner = lib.Sequential([lib.Input((4,)), lib.layers.Dense(4, name="a")], name="inner")
        outer = lib.Sequential([lib.Input((4,)), inner, lib.layers.Dense(2, name="z")], name="outer")
        outer.trainable = False
        inner.trainable = True
        model = lib.Sequential([lib.Input((4,)), outer, lib.layers.Dense(1, name="top")])
        found.append([sorted(int(np.prod(w.shape)) for w in model.trainable_weights), len(outer.trainable_weights),
                      len(model.non_trainable_weights), len(outer.non_trainable_weights)])
    assert found[0] == found[1] == [[1, 2, 4, 16], 0, 2, 4]
