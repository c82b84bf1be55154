"""Subclassed models (``class M(Model)`` with ``call``), checked against Keras: TensorFlow's autoencoder
tutorial trains as Keras trains it, layers set as attributes (and in lists) are tracked in Keras' order,
``training`` reaches the layers, weights save and load, and what cannot work says so."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import layerwise


def _autoencoder_class(lib):
    """TensorFlow's "Intro to Autoencoders" model, written against ``lib`` (keras or layerwise)."""
    layers = lib.layers

    class Autoencoder(lib.Model):
        def __init__(self, latent_dim, shape):
            super().__init__()
            self.latent_dim, self.shape = latent_dim, shape
            self.encoder = lib.Sequential([layers.Flatten(), layers.Dense(latent_dim, activation="relu")])
            self.decoder = lib.Sequential([layers.Dense(int(np.prod(shape)), activation="sigmoid"),
                                           layers.Reshape(shape)])

        def call(self, x):
            return self.decoder(self.encoder(x))

    return Autoencoder


def test_the_tensorflow_autoencoder_tutorial_trains_as_in_keras(keras, rng):
    x = rng.random((24, 6, 5)).astype("float32")
    k_model, lw_model = _autoencoder_class(keras)(4, (6, 5)), _autoencoder_class(layerwise)(4, (6, 5))
    assert lw_model.name.startswith("autoencoder") and not lw_model.built
    k_model(x[:2])
    lw_model(x[:2])
    assert lw_model.built and [type(layer).__name__ for layer in lw_model.layers] == ["Sequential", "Sequential"]
    assert [w.shape for w in lw_model.get_weights()] == [w.shape for w in k_model.get_weights()]
    weights = [rng.normal(0, 0.3, w.shape).astype("float32") for w in k_model.get_weights()]
    k_model.set_weights(weights)
    lw_model.set_weights(weights)
    histories = []
    for model, lib in ((k_model, keras), (lw_model, layerwise)):
        model.compile(optimizer=lib.optimizers.SGD(0.5), loss=lib.losses.MeanSquaredError())
        histories.append(model.fit(x, x, batch_size=8, epochs=3, shuffle=False, validation_data=(x, x),
                                   verbose=0).history)
    assert sorted(histories[1]) == sorted(histories[0]) == ["loss", "val_loss"]
    for key in histories[0]:
        np.testing.assert_allclose(histories[1][key], histories[0][key], rtol=1e-4, err_msg=key)
    np.testing.assert_allclose(lw_model.predict(x, verbose=0), k_model.predict(x, verbose=0), atol=1e-5)
    codes = lw_model.encoder(x).detach().numpy()  # the tutorial's autoencoder.encoder(x_test)
    np.testing.assert_allclose(codes, np.asarray(k_model.encoder(x).detach().cpu()), atol=1e-5)
    assert lw_model.output_shape == (None, 6, 5) and lw_model.count_params() == k_model.count_params()


def _blocks(lib):
    layers = lib.layers

    class Blocks(lib.Model):
        """Layers in a list, a Dropout driven by ``training``, a layer set after the list."""

        def __init__(self):
            super().__init__(name="blocks")
            self.blocks = [layers.Dense(8, activation="tanh"), layers.Dense(3)]
            self.dropout = layers.Dropout(0.5)
            self.head = layers.Dense(1)

        def call(self, x, training=False):
            for block in self.blocks:
                x = block(x)
            return self.head(self.dropout(x, training=training))

    return Blocks()


def test_layers_in_lists_are_tracked_in_keras_order_and_training_reaches_them(keras, rng):
    x = rng.normal(size=(16, 5)).astype("float32")
    k_model, lw_model = _blocks(keras), _blocks(layerwise)
    k_model(x)
    lw_model(x)
    assert [type(layer).__name__ for layer in lw_model.layers] == [type(layer).__name__ for layer in k_model.layers]
    assert [w.shape for w in lw_model.get_weights()] == [w.shape for w in k_model.get_weights()]
    lw_model.set_weights(k_model.get_weights())
    np.testing.assert_allclose(lw_model.predict(x, verbose=0), k_model.predict(x, verbose=0), atol=1e-5)
    inference = lw_model(x).detach()
    torch.manual_seed(0)
    dropped = lw_model(x, training=True).detach()
    assert not torch.allclose(dropped, inference)  # call(training=True) drops
    np.testing.assert_allclose(lw_model(x).detach(), inference)  # and the model is back in inference mode
    dropout = lw_model.dropout
    ones = torch.ones(64, 3)
    assert (dropout(ones, training=True) == 0).any() and not dropout.training
    lw_model.compile(optimizer=layerwise.optimizers.Adam(0.01), loss="mse", metrics=["mae"])
    before = lw_model.evaluate(x, x[:, :1], verbose=0)[0]
    assert sorted(lw_model.fit(x, x[:, :1], epochs=30, verbose=0).history) == ["loss", "mae"]
    assert lw_model.evaluate(x, x[:, :1], verbose=0)[0] < 0.5 * before
    summary: list[str] = []
    lw_model.summary(print_fn=summary.append)
    assert 'Model: "blocks"' in summary[0] and "(None, 8)" in summary[0] and "(None, 1)" in summary[0]


def test_weights_save_and_load_and_what_cannot_work_says_so(tmp_path, rng):
    model = _blocks(layerwise)
    with pytest.raises(ValueError, match="not built"):
        model.save_weights(tmp_path / "early.lw")
    x = rng.normal(size=(6, 5)).astype("float32")
    expected = model.predict(x, verbose=0)
    model.save_weights(tmp_path / "w.lw")
    other = _blocks(layerwise)
    other.build((None, 5))
    other.load_weights(tmp_path / "w.lw")
    np.testing.assert_allclose(other.predict(x, verbose=0), expected, atol=1e-6)
    model.save(tmp_path / "whole.lw")  # a config made from its (no) constructor arguments, as in Keras, which
    with pytest.raises(TypeError, match="take every key"):  # holds trainable and dtype its __init__ cannot take
        layerwise.models.load_model(tmp_path / "whole.lw", custom_objects={"Blocks": type(model)})
    assert model(layerwise.Input((5,))).shape == (None, 1)  # a part of a functional model, as in Keras
    with pytest.raises(NotImplementedError, match="has no call"):
        layerwise.Model().predict(x, verbose=0)

    class TwoHeads(layerwise.Model):
        def __init__(self):
            super().__init__()
            self.a, self.b = layerwise.layers.Dense(1), layerwise.layers.Dense(2)

        def call(self, x):
            return [self.a(x), self.b(x)]

    heads = TwoHeads().predict(x, verbose=0)  # several outputs: a list, as the model returns them
    assert isinstance(heads, list) and [h.shape for h in heads] == [(6, 1), (6, 2)]
    with pytest.raises(ValueError, match=r"Layer 'dense.*expected input shape \(None, 5\)"):
        model.predict(np.zeros((2, 7), "float32"), verbose=0)


def test_layers_join_the_models_inference_mode_and_containers_are_tracked_like_keras(keras, rng):
    def model(lib):
        class Tracked(lib.Model):
            def __init__(self):
                super().__init__()
                self.drop, self.norm = lib.layers.Dropout(0.5), lib.layers.BatchNormalization()
                self.blocks = []
                self.blocks.append(lib.layers.Dense(4))  # an empty list, filled later
                self.heads = {"p": lib.layers.Dense(2), "q": lib.layers.Dense(1)}
                self.alias = self.heads["q"]  # one layer under two names

            def call(self, x):
                x = self.norm(self.drop(self.blocks[0](x)))
                return self.heads["q"](self.heads["p"](x))

        return Tracked()

    x = np.full((4, 3), 5.0, "float32")
    k_model, lw_model = model(keras), model(layerwise)
    k_model(x)
    out = lw_model(x).detach().numpy()
    assert not lw_model.drop.training and not lw_model.norm.training
    np.testing.assert_allclose(lw_model(x).detach().numpy(), out)  # no dropout outside fit
    np.testing.assert_array_equal(lw_model.norm.get_weights()[2:], [np.zeros(4), np.ones(4)])  # stats untouched
    assert lw_model.count_params() == k_model.count_params() == 16 + 16 + 10 + 3
    assert [w.shape for w in sorted(lw_model.get_weights(), key=np.shape)] == \
        [w.shape for w in sorted(k_model.get_weights(), key=np.shape)]
    built = model(layerwise)
    built.build((None, 3))  # one row of zeros, in inference mode
    assert built.output_shape == (None, 1)
    with pytest.raises(ValueError, match="built for one input; received a list of 2"):
        built([x, x])


def _build_with_same_weights(k_model, lw_model, x, rng) -> None:
    """Build both models by calling them on ``x``, then give them the same random weights."""
    k_model(x)
    lw_model(x)
    weights = [rng.normal(0, 0.3, w.shape).astype("float32") for w in k_model.get_weights()]
    k_model.set_weights(weights)
    lw_model.set_weights(weights)


def _wide_and_deep(lib, keyed: bool):
    class WideAndDeep(lib.Model):
        """Two inputs, as in Hands-On Machine Learning's subclassing example (one output here)."""

        def __init__(self):
            super().__init__()
            self.hidden1, self.hidden2 = lib.layers.Dense(8, activation="relu"), lib.layers.Dense(8, activation="relu")
            self.main = lib.layers.Dense(1)

        def call(self, inputs):
            wide, deep = (inputs["wide"], inputs["deep"]) if keyed else inputs
            return self.main(lib.layers.concatenate([wide, self.hidden2(self.hidden1(deep))]))

    return WideAndDeep()


@pytest.mark.parametrize("keyed", [False, True])
def test_a_subclassed_model_takes_several_inputs_as_keras(keras, rng, keyed):
    wide, deep = rng.normal(size=(24, 5)).astype("float32"), rng.normal(size=(24, 6)).astype("float32")
    y = rng.normal(size=(24, 1)).astype("float32")
    x = {"wide": wide, "deep": deep} if keyed else (wide, deep)
    k_model, lw_model = _wide_and_deep(keras, keyed), _wide_and_deep(layerwise, keyed)
    _build_with_same_weights(k_model, lw_model, x, rng)
    losses = []
    for model, lib in ((k_model, keras), (lw_model, layerwise)):
        model.compile(optimizer=lib.optimizers.SGD(0.05), loss="mse")
        losses.append(model.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0).history["loss"])
    np.testing.assert_allclose(losses[1], losses[0], rtol=1e-4)
    np.testing.assert_allclose(lw_model.predict(x, verbose=0), k_model.predict(x, verbose=0), atol=1e-5)
    fresh = _wide_and_deep(layerwise, keyed)  # built by fit itself, from the first data
    fresh.compile(optimizer="sgd", loss="mse")
    fresh.fit(x, y, epochs=1, verbose=0)
    assert fresh.input_names == (["wide", "deep"] if keyed else ["input_1", "input_2"])


def _two_heads(lib):
    class TwoHeads(lib.Model):
        """Hands-On Machine Learning's wide-and-deep model with its auxiliary output, returning a dict."""

        def __init__(self):
            super().__init__()
            self.hidden = lib.layers.Dense(8, activation="tanh")
            self.main, self.aux = lib.layers.Dense(1), lib.layers.Dense(1)

        def call(self, inputs):
            wide, deep = inputs
            h = self.hidden(deep)
            return {"main": self.main(lib.layers.concatenate([wide, h])), "aux": self.aux(h)}

    return TwoHeads()


def test_a_subclassed_model_with_several_outputs_trains_as_keras(keras, rng):
    x = (rng.normal(size=(24, 5)).astype("float32"), rng.normal(size=(24, 6)).astype("float32"))
    y = {"main": rng.normal(size=(24, 1)).astype("float32"), "aux": rng.normal(size=(24, 1)).astype("float32")}
    k_model, lw_model = _two_heads(keras), _two_heads(layerwise)
    _build_with_same_weights(k_model, lw_model, x, rng)
    histories = []
    for model, lib in ((k_model, keras), (lw_model, layerwise)):
        model.compile(optimizer=lib.optimizers.SGD(0.05), loss={"main": "mse", "aux": "mse"},
                      loss_weights={"main": 0.9, "aux": 0.1}, metrics={"main": ["mae"]})
        histories.append(model.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0).history)
    assert sorted(histories[1]) == sorted(histories[0]) == ["aux_loss", "loss", "main_loss", "main_mae"]
    for key in histories[0]:
        np.testing.assert_allclose(histories[1][key], histories[0][key], rtol=1e-4, err_msg=key)
    ours, theirs = lw_model.predict(x, verbose=0), k_model.predict(x, verbose=0)
    assert isinstance(ours, dict) and sorted(ours) == sorted(theirs)
    np.testing.assert_allclose(ours["aux"], theirs["aux"], atol=1e-5)
    fresh = _two_heads(layerwise)  # compiled before its outputs are known: resolved by fit's first data
    fresh.compile(optimizer="sgd", loss={"main": "mse", "aux": "mse"})
    assert sorted(fresh.fit(x, y, epochs=1, verbose=0).history) == ["aux_loss", "loss", "main_loss"]


def test_subclassed_models_set_up_from_a_dataset_a_shape_list_or_a_tuple(rng):
    wide, deep = rng.normal(size=(16, 5)).astype("float32"), rng.normal(size=(16, 6)).astype("float32")
    y = rng.normal(size=(16, 1)).astype("float32")
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(
        torch.as_tensor(wide), torch.as_tensor(deep), torch.as_tensor(y)), batch_size=8)

    class Pairs:
        def __iter__(self):
            return (((w, d), t) for w, d, t in loader)

    from_dataset = _wide_and_deep(layerwise, keyed=False)
    from_dataset.compile(optimizer="sgd", loss="mse")
    assert np.isfinite(from_dataset.fit(Pairs(), verbose=0).history["loss"][0])
    from_shapes = _wide_and_deep(layerwise, keyed=False)
    from_shapes.build([(None, 5), (None, 6)])
    assert from_shapes.predict([wide, deep], verbose=0).shape == (16, 1)
    from_tuple = _wide_and_deep(layerwise, keyed=False)
    assert from_tuple.predict((wide, deep), verbose=0).shape == (16, 1)
    with pytest.raises(ValueError, match="Unknown loss 'mean_sqared_error'"):
        _wide_and_deep(layerwise, keyed=False).compile(optimizer="sgd", loss="mean_sqared_error")

    class OneInAList(layerwise.Model):
        def __init__(self):
            super().__init__()
            self.dense = layerwise.layers.Dense(1)

        def call(self, x):
            return [self.dense(x)]

    listed = OneInAList()
    listed.compile(optimizer="sgd", loss="mse")
    assert np.isfinite(listed.evaluate(wide, y, verbose=0))
    out = listed.predict(wide, verbose=0)
    assert isinstance(out, list) and out[0].shape == (16, 1)  # a list, as the model returns one


def test_a_subclassed_recurrent_model_takes_other_sequence_lengths_as_keras(rng):
    class Reader(layerwise.Model):
        def __init__(self):
            super().__init__()
            self.lstm, self.head = layerwise.layers.LSTM(4), layerwise.layers.Dense(1)

        def call(self, x):
            return self.head(self.lstm(x))

    model = Reader()
    assert model(rng.normal(size=(2, 5, 3))).shape == (2, 1)
    assert model(rng.normal(size=(2, 9, 3))).shape == (2, 1)  # built on length 5, runs on 9
    with pytest.raises(ValueError, match=r"Layer 'lstm.*expected input shape \(None, 5, 3\)"):
        model(rng.normal(size=(2, 5, 4)))  # the feature axis is what the weights fix
