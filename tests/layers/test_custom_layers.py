"""Layers written as in Keras' guide ("Making new layers via subclassing"): weights from ``add_weight``
in ``build`` or ``__init__``, ``call`` with torch operations, a ``training`` argument, output shapes
found without ``compute_output_shape`` — checked against the same layers written for Keras."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import layerwise


def _custom_layers(lib, ops):
    """The guide's Linear layer, a layer with a non-trainable weight, and a noise layer using ``training``."""

    class Linear(lib.layers.Layer):
        def __init__(self, units=32, **kwargs):
            super().__init__(**kwargs)
            self.units = units

        def build(self, input_shape):
            self.w = self.add_weight(shape=(input_shape[-1], self.units), initializer="random_normal")
            self.b = self.add_weight(shape=(self.units,), initializer="zeros")

        def call(self, inputs):
            return ops.matmul(inputs, self.w) + self.b

    class Scaled(lib.layers.Layer):
        """Multiplies by a fixed (non-trainable) vector created before the trainable one."""

        def __init__(self, size, **kwargs):
            super().__init__(**kwargs)
            self.fixed = self.add_weight(shape=(size,), initializer="ones", trainable=False)
            self.scale = self.add_weight(shape=(size,), initializer="ones")

        def call(self, inputs):
            return inputs * self.fixed * self.scale

    class Jitter(lib.layers.Layer):
        def call(self, inputs, training=False):
            return inputs + 1.0 if training else inputs

    return Linear, Scaled, Jitter


def _ops(lib_name):
    if lib_name == "keras":
        from keras import ops
        return ops
    return torch


def test_the_guides_linear_layer_trains_in_sequential_and_functional_models_as_in_keras(keras, rng):
    x, y = rng.normal(size=(32, 6)).astype("float32"), rng.normal(size=(32, 1)).astype("float32")
    histories, models = [], []
    for lib, name in ((keras, "keras"), (layerwise, "layerwise")):
        Linear, Scaled, Jitter = _custom_layers(lib, _ops(name))
        inputs = lib.Input((6,))
        hidden = lib.layers.Activation("tanh")(Linear(8)(inputs))
        functional = lib.Model(inputs, Scaled(1)(Linear(1)(Jitter()(hidden))))
        sequential = lib.Sequential([lib.Input((6,)), Linear(4), Scaled(4), lib.layers.Dense(1)])
        models.append((functional, sequential))
    for (k_model, lw_model) in zip(*models):
        assert [w.shape for w in lw_model.get_weights()] == [w.shape for w in k_model.get_weights()]
        assert lw_model.count_params() == k_model.count_params()
        assert lw_model.output_shape == k_model.output_shape
        weights = [rng.normal(0, 0.5, w.shape).astype("float32") for w in k_model.get_weights()]
        k_model.set_weights(weights)
        lw_model.set_weights(weights)
        np.testing.assert_allclose(lw_model.predict(x, verbose=0), k_model.predict(x, verbose=0), atol=1e-5)
        histories = []
        for model, lib in ((k_model, keras), (lw_model, layerwise)):
            model.compile(optimizer=lib.optimizers.SGD(0.05), loss="mse")
            histories.append(model.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0).history["loss"])
        np.testing.assert_allclose(histories[1], histories[0], rtol=1e-4)  # Jitter adds 1 while training
        for ours, theirs in zip(lw_model.get_weights(), k_model.get_weights()):
            np.testing.assert_allclose(ours, theirs, atol=1e-5)  # the fixed weights did not move


def test_custom_layers_save_regularize_and_freeze(tmp_path, rng):
    Linear, Scaled, _ = _custom_layers(layerwise, torch)

    class Regularized(Linear):
        def build(self, input_shape):
            self.w = self.add_weight(shape=(input_shape[-1], self.units), regularizer="l2",
                                     constraint=layerwise.constraints.MaxNorm(0.5), name="kernel")
            self.b = self.add_weight(shape=(self.units,), initializer="zeros", name="bias")

    model = layerwise.Sequential([layerwise.Input((5,)), Regularized(3), Scaled(3)])
    layer = model.layers[0]
    assert [v.name for v in layer.weight_views()] == ["kernel", "bias"]
    penalty = 0.01 * float((layer.w.detach() ** 2).sum())
    assert len(model.losses) == 1 and float(model.losses[0].detach()) == pytest.approx(penalty)
    model.compile(optimizer="sgd", loss="mse")
    model.fit(rng.normal(size=(16, 5)), rng.normal(size=(16, 3)) * 10, epochs=3, verbose=0)
    assert float(layer.w.detach().norm(dim=0).max()) <= 0.5 + 1e-5  # MaxNorm applied after each step
    model.save(tmp_path / "custom.lw")
    loaded = layerwise.models.load_model(tmp_path / "custom.lw")
    x = rng.normal(size=(4, 5)).astype("float32")
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-6)
    layer.trainable = False
    assert not layer.w.requires_grad and model.layers[1].scale.requires_grad
    assert not model.layers[1].fixed.requires_grad


def test_a_layer_without_call_or_forward_says_so():
    class Empty(layerwise.layers.Layer):
        pass

    model = layerwise.Sequential([layerwise.Input((3,)), Empty()])
    with pytest.raises(NotImplementedError, match="'empty' .* defines neither forward nor call"):
        model.predict(np.zeros((2, 3)), verbose=0)


def _activity_layer(lib, ops):
    """The guide's ActivityRegularizationLayer: ``add_loss(rate * mean(inputs))`` inside ``call``."""

    class ActivityRegularizationLayer(lib.layers.Layer):
        def __init__(self, rate=1e-2, **kwargs):
            super().__init__(**kwargs)
            self.rate = rate

        def call(self, inputs):
            self.add_loss(self.rate * ops.mean(ops.square(inputs)))
            return inputs

    return ActivityRegularizationLayer


def test_add_loss_joins_the_training_loss_as_in_keras(keras, rng):
    x, y = rng.normal(size=(24, 5)).astype("float32"), rng.normal(size=(24, 1)).astype("float32")
    histories, models = [], []
    for lib, name in ((keras, "keras"), (layerwise, "layerwise")):
        Activity = _activity_layer(lib, _ops(name))
        inputs = lib.Input((5,))
        hidden = Activity(0.5)(lib.layers.Dense(4, activation="tanh")(inputs))
        models.append(lib.Model(inputs, lib.layers.Dense(1)(hidden)))
    k_model, lw_model = models
    lw_model.set_weights(k_model.get_weights())
    for model, lib in ((k_model, keras), (lw_model, layerwise)):
        model.compile(optimizer=lib.optimizers.SGD(0.1), loss="mse")
        histories.append([model.fit(x, y, batch_size=6, epochs=2, shuffle=False, verbose=0).history["loss"],
                          model.evaluate(x, y, verbose=0)])
    np.testing.assert_allclose(histories[1][0], histories[0][0], rtol=1e-4)
    assert histories[1][1] == pytest.approx(histories[0][1], rel=1e-4)
    plain_mse = float(np.mean((lw_model.predict(x, verbose=0) - y) ** 2))
    assert histories[1][1] > plain_mse + 1e-4  # the added loss is part of evaluate's loss too
    lw_model(x)
    lw_model(x)
    assert len(lw_model.losses) == 1  # each call starts afresh


def test_a_tensor_given_to_add_loss_counts_as_its_sum_as_in_keras(keras, rng):
    """Keras sums each added loss: a per-sample tensor (a CTC layer's) trains and evaluates like its sum."""
    x, y = rng.normal(size=(12, 3)).astype("float32"), rng.normal(size=(12, 2)).astype("float32")
    def per_sample_layer(lib_ops):
        class PerSample(lib.layers.Layer):
            def call(self, inputs):
                self.add_loss(0.1 * lib_ops.sum(lib_ops.square(inputs), axis=-1, keepdims=True))
                return inputs
        return PerSample

    models = []
    for lib, name in ((keras, "keras"), (layerwise, "layerwise")):
        PerSample = per_sample_layer(_ops(name))
        inputs = lib.Input((3,))
        models.append(lib.Model(inputs, lib.layers.Dense(2)(PerSample()(lib.layers.Dense(3)(inputs)))))
        models[-1].compile(optimizer=lib.optimizers.SGD(0.05), loss="mse")
    models[1].set_weights(models[0].get_weights())
    results = [(model.fit(x, y, batch_size=4, epochs=2, shuffle=False, verbose=0).history["loss"],
                model.evaluate(x, y, verbose=0)) for model in models]
    np.testing.assert_allclose(results[1][0], results[0][0], rtol=1e-4)
    assert results[1][1] == pytest.approx(results[0][1], rel=1e-4)


def test_a_subclassed_model_can_add_loss(rng):
    class Shrinking(layerwise.Model):
        def __init__(self, weight):
            super().__init__()
            self.weight, self.dense = weight, layerwise.layers.Dense(3)

        def call(self, x):
            out = self.dense(x)
            self.add_loss(self.weight * torch.mean(out ** 2))
            return out

    x = rng.normal(size=(32, 4)).astype("float32")
    outputs = []
    for weight in (10.0, 0.0):
        layerwise.utils.set_random_seed(0)
        model = Shrinking(weight)
        model.compile(optimizer=layerwise.optimizers.SGD(0.05), loss="mse")
        model.fit(x, np.ones((32, 3)), epochs=20, verbose=0)
        outputs.append(np.abs(model.predict(x, verbose=0)).mean())
    # The added penalty pulls the outputs towards 0, away from the targets of 1.
    assert outputs[0] < 0.5 * outputs[1], outputs


def _penalised_encoder(lib):
    class Penalty(lib.layers.Layer):
        def call(self, x):
            self.add_loss(lib.ops.mean(x) if lib is not layerwise else torch.mean(x))
            return x

    inputs = lib.Input((3,))
    return lib.Model(inputs, Penalty()(lib.layers.Dense(2, kernel_initializer="ones")(inputs)))


def test_added_losses_count_every_call_of_a_shared_model_once_per_step(keras):
    """A siamese model calls one encoder twice: both calls' add_loss values count, as in Keras."""
    values = []
    for lib in (keras, layerwise):
        encoder = _penalised_encoder(lib)
        a, b = lib.Input((3,)), lib.Input((3,))
        model = lib.Model([a, b], lib.layers.Subtract()([encoder(a), encoder(b)]))
        model.compile(optimizer="sgd", loss="mse")
        x1, x2 = np.ones((2, 3), "float32"), 2 * np.ones((2, 3), "float32")
        values.append(model.evaluate([x1, x2], np.zeros((2, 2)), verbose=0))
        model([x1, x2])
        values.append(len(model.losses))
    assert values[2:] == values[:2] == [18.0, 2]


def test_a_standalone_layer_keeps_only_its_last_calls_losses_and_takes_a_list(rng):
    """Keras' guide: an outer layer's losses are those of its last call; the VAE guide's Sampling layer
    is called on a list [z_mean, z_log_var]."""
    Activity = _activity_layer(layerwise, torch)

    class Outer(layerwise.layers.Layer):
        def __init__(self):
            super().__init__()
            self.inner = Activity(1e-2)

        def call(self, inputs):
            return self.inner(inputs)

    outer = Outer()
    counts = [len(outer.losses)]
    for _ in range(2):
        outer(torch.zeros(1, 1))
        counts.append(len(outer.losses))
    assert counts == [0, 1, 1]

    class Sampling(layerwise.layers.Layer):
        def call(self, inputs):
            z_mean, z_log_var = inputs
            return z_mean + torch.exp(0.5 * z_log_var) * torch.randn_like(z_mean)

    inputs = layerwise.Input((3,))
    z = Sampling()([layerwise.layers.Dense(2)(inputs), layerwise.layers.Dense(2)(inputs)])
    assert z.shape == (None, 2)
    encoder = layerwise.Model(inputs, z)
    assert encoder.predict(rng.normal(size=(4, 3)), verbose=0).shape == (4, 2)
    assert Sampling()([np.zeros((5, 2), "float32"), np.zeros((5, 2), "float32")]).shape == (5, 2)


def test_a_layer_shared_by_two_nested_models_is_penalised_once():
    shared = layerwise.layers.Dense(3, kernel_initializer="ones", kernel_regularizer=layerwise.regularizers.L2(0.1))
    first = layerwise.Sequential([layerwise.Input((3,)), shared, layerwise.layers.Dense(3)])
    second = layerwise.Sequential([layerwise.Input((3,)), shared, layerwise.layers.Dense(3)])
    model = layerwise.Sequential([first, second])
    assert len(model.losses) == 1 and float(model.losses[0].detach()) == pytest.approx(0.1 * 9)


def test_a_built_layer_checks_each_new_input_shape():
    crop = layerwise.layers.Cropping1D((1, 1))
    assert crop(np.zeros((2, 8, 4), "float32")).shape == (2, 6, 4)
    with pytest.raises(ValueError, match="cropping1d"):
        crop(np.zeros((2, 2, 4), "float32"))


def doubled_dense_model(lib, functional: bool):
    """A subclass of the built-in Dense whose call doubles super().call(...), inside a model."""

    class DoubledDense(lib.layers.Dense):
        def call(self, inputs):
            return 2.0 * super().call(inputs)

    if functional:
        inputs = lib.Input((3,))
        return lib.Model(inputs, DoubledDense(2, activation="relu")(lib.layers.Dense(4)(inputs)))
    return lib.Sequential([lib.Input((3,)), lib.layers.Dense(4), DoubledDense(2, activation="relu")])


@pytest.mark.parametrize("functional", [False, True])
def test_a_built_in_layer_subclassed_with_its_own_call_runs_that_call_as_in_keras(keras, functional):
    ours, theirs = doubled_dense_model(layerwise, functional), doubled_dense_model(keras, functional)
    ours.set_weights(theirs.get_weights())
    x = np.random.default_rng(0).normal(size=(5, 3)).astype("float32")
    expected = keras.ops.convert_to_numpy(theirs(x))
    np.testing.assert_allclose(ours(x).detach().numpy(), expected, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(ours.predict(x, verbose=0), expected, rtol=1e-6, atol=1e-6)  # the plan too
    dense = layerwise.layers.Dense(2, kernel_initializer="ones")
    dense(x)
    np.testing.assert_allclose(dense.call(torch.as_tensor(x)).detach().numpy(), x.sum(1, keepdims=True).repeat(2, 1),
                               rtol=1e-6)


def test_custom_layers_take_any_sequence_length_as_in_keras(keras):
    """A layer written as in Keras' guides over an unknown length: its symbolic output keeps the length
    unknown, and called with one length it still takes others (an inner Sequential or Embedding too)."""
    def block_layer(lib):
        class Block(lib.layers.Layer):
            def __init__(self):
                super().__init__()
                self.embed = lib.layers.Embedding(10, 4)
                self.ffn = lib.Sequential([lib.layers.Dense(4)])

            def call(self, x):
                return self.ffn(self.embed(x))
        return Block

    for lib in (keras, layerwise):
        Block = block_layer(lib)
        tokens = lib.Input((None,), dtype="int32")
        out = Block()(tokens)
        assert tuple(out.shape) == (None, None, 4), lib.__name__
        model = lib.Model(tokens, out)
        for length in (7, 5, 9):
            assert tuple(model(np.zeros((2, length), "int32")).shape) == (2, length, 4), (lib.__name__, length)
        eager = Block()
        for length in (7, 5):
            assert tuple(eager(np.zeros((2, length), "int32")).shape) == (2, length, 4), (lib.__name__, length)


def test_a_custom_layers_sublayers_load_in_the_session_that_saved_them(tmp_path):
    """Sublayers' weights are saved under their attribute names (Keras' paths), so a model rebuilt while other
    layers took the automatic names (dense_1...) loads them."""
    class Block(layerwise.layers.Layer):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.inner = layerwise.layers.Dense(3)

        def call(self, x):
            return self.inner(x)

    inputs = layerwise.Input((4,))
    model = layerwise.Model(inputs, Block()(inputs))
    model.save(tmp_path / "block.lw")
    model.save_weights(tmp_path / "block.weights.lw")
    x = np.random.default_rng(0).normal(size=(2, 4)).astype("float32")
    restored = layerwise.load_model(tmp_path / "block.lw", custom_objects={"Block": Block})
    np.testing.assert_allclose(restored.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-6)
    inputs = layerwise.Input((4,))
    twin = layerwise.Model(inputs, Block()(inputs))
    assert twin.layers[1].inner.name != model.layers[1].inner.name
    twin.load_weights(tmp_path / "block.weights.lw")
    np.testing.assert_allclose(twin.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-6)
