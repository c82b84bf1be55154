"""Files layerwise writes in Keras 3's formats (``model.save("m.keras")``, ``save_weights("w.weights.h5")``), read
by Keras 3.15 itself: the same predictions, the same HDF5 layout as Keras' own files, the optimizer's state; and
read back by layerwise with nothing lost."""
from __future__ import annotations

import warnings
import zipfile

import numpy as np
import pytest

import layerwise
from keras_files import h5_datasets

RNG = np.random.default_rng(0)


def _mlp(lib):
    L = lib.layers
    model = lib.Sequential([lib.Input((6,)), L.Dense(8, activation="relu"), L.BatchNormalization(), L.Dropout(0.2),
                            L.Dense(3, activation="softmax")], name="mlp")
    model.compile(lib.optimizers.Adam(0.01), "sparse_categorical_crossentropy", metrics=["accuracy"])
    return model, RNG.random((16, 6)).astype("float32"), RNG.integers(0, 3, 16)


def _cnn(lib):
    L = lib.layers
    model = lib.Sequential([lib.Input((8, 8, 2)), L.Conv2D(4, 3, padding="same", activation="relu"),
                            L.MaxPooling2D(), L.SeparableConv2D(3, 3), L.Flatten(), L.Dense(2)])
    model.compile("rmsprop", lib.losses.MeanSquaredError(), metrics=["mae"])
    return model, RNG.random((8, 8, 8, 2)).astype("float32"), RNG.random((8, 2)).astype("float32")


def _text(lib):
    L = lib.layers
    model = lib.Sequential([lib.Input((7,), dtype="int32"), L.Embedding(20, 4, mask_zero=True),
                            L.Bidirectional(L.LSTM(5, return_sequences=True)), L.GRU(3),
                            L.Dense(1, activation="sigmoid")])
    model.compile(lib.optimizers.SGD(0.1, momentum=0.9), "binary_crossentropy")
    x = RNG.integers(1, 20, (8, 7))
    x[:, 5:] = 0
    return model, x, RNG.integers(0, 2, (8, 1)).astype("float32")


def _functional(lib):
    L = lib.layers
    seq = lib.Input((5, 4), name="seq")
    side = lib.Input((3,), name="side")
    h = L.MultiHeadAttention(2, 3)(seq, seq)
    h = L.LayerNormalization()(L.Add()([seq, h]))
    h = L.TimeDistributed(L.Dense(4))(h)
    h, state = L.SimpleRNN(6, return_state=True)(h)
    shared = L.Dense(6, activation="tanh")
    inner = lib.Sequential([lib.Input((15,)), L.Dense(4, activation="relu")], name="inner")
    joined = L.Concatenate()([shared(h), shared(state), L.Dense(3)(side)])
    out_a = L.Dense(1, name="a")(inner(joined))
    out_b = L.Dense(2, activation="softmax", name="b")(joined)
    model = lib.Model([seq, side], [out_a, out_b])
    model.compile("adam", ["mse", "categorical_crossentropy"], metrics=[["mae"], ["accuracy"]])
    x = [RNG.random((8, 5, 4)).astype("float32"), RNG.random((8, 3)).astype("float32")]
    y = [RNG.random((8, 1)).astype("float32"), np.eye(2, dtype="float32")[RNG.integers(0, 2, 8)]]
    return model, x, y


def _cells(lib):
    L = lib.layers
    model = lib.Sequential([lib.Input((6, 3)), L.RNN([L.LSTMCell(4), L.GRUCell(2)]), L.Dense(1)])
    model.compile("adam", "mse")
    return model, RNG.random((8, 6, 3)).astype("float32"), RNG.random((8, 1)).astype("float32")


def _conv_lstm(lib):
    L = lib.layers
    model = lib.Sequential([lib.Input((3, 6, 6, 1)), L.ConvLSTM2D(2, 3, padding="same"), L.GlobalAveragePooling2D(),
                            L.Dense(1)])
    model.compile("adam", "mse")
    return model, RNG.random((4, 3, 6, 6, 1)).astype("float32"), RNG.random((4, 1)).astype("float32")


MODELS = {"mlp": _mlp, "cnn": _cnn, "text": _text, "functional": _functional, "stacked_cells": _cells,
          "conv_lstm": _conv_lstm}


def _predictions(model, x):
    out = model.predict(x, verbose=0)
    return out if isinstance(out, list) else [out]


def _one_more_step_agrees(model_a, model_b, x, y, rtol=1e-4, atol=1e-6):
    """One more training step on the same batch in both models leaves the same weights (their optimizers' states
    carried over)."""
    model_a.train_on_batch(x[:4], y[:4])
    model_b.train_on_batch(x[:4], y[:4])
    for got, expected in zip(model_a.get_weights(), model_b.get_weights()):
        np.testing.assert_allclose(got, expected, rtol=rtol, atol=atol)


@pytest.mark.parametrize("name", list(MODELS))
def test_keras_loads_the_archive_and_predicts_the_same(keras, tmp_path, name):
    ours, x, y = MODELS[name](layerwise)
    ours.fit(x, y, epochs=2, batch_size=4, verbose=0)
    ours.save(tmp_path / "ours.keras")

    loaded = keras.models.load_model(tmp_path / "ours.keras")
    for got, expected in zip(_predictions(loaded, x), _predictions(ours, x)):
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)
    assert loaded.count_params() == ours.count_params()
    assert [layer.name for layer in loaded.layers] == [layer.name for layer in ours.layers]
    np.testing.assert_allclose(loaded.evaluate(x, y, verbose=0), ours.evaluate(x, y, verbose=0), rtol=1e-4)

    theirs, _, _ = MODELS[name](keras)
    theirs.fit(x, y, epochs=1, batch_size=4, verbose=0)
    theirs.save(tmp_path / "theirs.keras")
    read = {path: zipfile.ZipFile(path).read("model.weights.h5") for path in (tmp_path / "ours.keras",
                                                                              tmp_path / "theirs.keras")}
    assert h5_datasets(read[tmp_path / "ours.keras"]) == h5_datasets(read[tmp_path / "theirs.keras"])


@pytest.mark.parametrize("name", ["mlp", "functional", "stacked_cells"])
def test_keras_reads_to_json_and_layerwise_reads_it_back(keras, name):
    ours, x, _ = MODELS[name](layerwise)
    text = ours.to_json()
    theirs = keras.models.model_from_json(text)  # once "Could not locate class 'Sequential'"
    theirs.set_weights(ours.get_weights())
    assert [layer.name for layer in theirs.layers] == [layer.name for layer in ours.layers]
    for got, expected in zip(_predictions(theirs, x), _predictions(ours, x)):
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)
    again = layerwise.models.model_from_json(text)
    again.set_weights(ours.get_weights())
    for got, expected in zip(_predictions(again, x), _predictions(ours, x)):
        np.testing.assert_allclose(got, expected, rtol=1e-6)


def _no_dropout(lib):
    L = lib.layers
    # (BatchNormalization first: a bias just before it gets a gradient of rounding noise, which Adam magnifies.)
    model = lib.Sequential([lib.Input((6,)), L.BatchNormalization(), L.Dense(8, activation="relu"),
                            L.Dense(3, activation="softmax")])
    model.compile(lib.optimizers.Adam(0.01), "sparse_categorical_crossentropy", metrics=["accuracy"])
    return model, RNG.random((16, 6)).astype("float32"), RNG.integers(0, 3, 16)


def test_keras_resumes_training_from_the_optimizer_state_layerwise_saved(keras, tmp_path):
    ours, x, y = _no_dropout(layerwise)
    ours.fit(x, y, epochs=3, batch_size=4, verbose=0)
    ours.save(tmp_path / "m.keras")
    loaded = keras.models.load_model(tmp_path / "m.keras")
    assert int(loaded.optimizer.iterations.numpy()) == 12

    # One more step on the same batch in both libraries: Adam's moments carried over, so the weights agree.
    _one_more_step_agrees(loaded, ours, x, y, rtol=1e-4, atol=1e-6)


def test_layerwise_reads_its_archive_back_with_the_optimizer_state(tmp_path):
    model, x, y = _functional(layerwise)
    model.fit(x, y, epochs=2, batch_size=4, verbose=0)
    model.save(tmp_path / "m.keras")
    # Adam's state is in Keras' optimizer variables, read back from there: the archive is Keras' three files.
    assert zipfile.ZipFile(tmp_path / "m.keras").namelist() == ["metadata.json", "config.json", "model.weights.h5"]

    loaded = layerwise.models.load_model(tmp_path / "m.keras")
    for got, expected in zip(_predictions(loaded, x), _predictions(model, x)):
        np.testing.assert_array_equal(got, expected)
    model.fit(x, y, epochs=1, batch_size=8, shuffle=False, verbose=0)
    loaded.fit(x, y, epochs=1, batch_size=8, shuffle=False, verbose=0)
    for got, expected in zip(loaded.get_weights(), model.get_weights()):
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-7)


def test_keras_loads_weights_files_into_the_same_architecture(keras, tmp_path):
    ours, x, y = _text(layerwise)
    ours.fit(x, y, epochs=1, batch_size=4, verbose=0)
    ours.save_weights(tmp_path / "w.weights.h5")
    theirs, _, _ = _text(keras)
    theirs.load_weights(tmp_path / "w.weights.h5")
    np.testing.assert_allclose(theirs.predict(x, verbose=0), ours.predict(x, verbose=0), rtol=1e-5, atol=1e-6)

    again, _, _ = _text(layerwise)
    again.load_weights(tmp_path / "w.weights.h5")
    np.testing.assert_array_equal(again.predict(x, verbose=0), ours.predict(x, verbose=0))


def _subclassed(lib):
    """A Keras-guide layer with a weight of its own and layers in a list, inside a subclassed model."""

    class Block(lib.layers.Layer):
        def __init__(self, units, **kwargs):
            super().__init__(**kwargs)
            self.steps = [lib.layers.Dense(units, activation="relu"), lib.layers.Dense(units)]
            self.gate = lib.layers.Dense(units, activation="sigmoid")

        def build(self, input_shape):
            self.scale = self.add_weight(shape=(input_shape[-1],), initializer="ones", name="scale")

        def call(self, x):
            h = x * self.scale
            return self.steps[1](self.steps[0](h)) * self.gate(h)

    class Net(lib.Model):
        def __init__(self):
            super().__init__()
            self.block = Block(5)
            self.head = lib.layers.Dense(2)

        def call(self, x):
            return self.head(self.block(x))

    return Net()


def test_keras_loads_a_subclassed_models_weights_file(keras, tmp_path):
    x = RNG.random((6, 5)).astype("float32")
    ours = _subclassed(layerwise)
    ours(x)
    ours.set_weights([w + RNG.normal(0, 0.1, w.shape).astype("float32") for w in ours.get_weights()])
    ours.save_weights(tmp_path / "w.weights.h5")
    theirs = _subclassed(keras)
    theirs(x)
    theirs.load_weights(tmp_path / "w.weights.h5")
    np.testing.assert_allclose(theirs.predict(x, verbose=0), ours.predict(x, verbose=0), rtol=1e-5, atol=1e-6)

    theirs.save_weights(tmp_path / "k.weights.h5")
    written = [h5_datasets((tmp_path / name).read_bytes()) for name in ("w.weights.h5", "k.weights.h5")]
    assert written[0] == written[1]
    again = _subclassed(layerwise)
    again(x)
    again.load_weights(tmp_path / "k.weights.h5")
    np.testing.assert_allclose(again.predict(x, verbose=0), ours.predict(x, verbose=0), rtol=1e-5, atol=1e-6)


def _arithmetic(lib):
    x = lib.Input((4,), name="pixels")
    h = lib.layers.Dense(3)(x / 255.0 - 0.5)
    return lib.Model(x, [abs(h) ** 2 + 2.0 * h, -h])


def test_arithmetic_on_symbolic_tensors_is_written_as_keras_operations(keras, tmp_path):
    x = RNG.random((5, 4)).astype("float32") * 255
    ours = _arithmetic(layerwise)
    ours.save(tmp_path / "ours.keras")
    path = tmp_path / "ours.keras"
    for loaded in (keras.models.load_model(path), layerwise.models.load_model(path)):
        for got, expected in zip(_predictions(loaded, x), _predictions(ours, x)):
            np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-6)

    theirs = _arithmetic(keras)  # and Keras' own file of such a model is rebuilt with the same operations
    theirs.save(tmp_path / "theirs.keras")
    loaded = layerwise.models.load_model(tmp_path / "theirs.keras")
    assert [type(op).__name__ for op in loaded.operations].count("TensorOperation") == 7
    for got, expected in zip(_predictions(loaded, x), _predictions(theirs, x)):
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)


def test_a_model_keras_form_cannot_hold_is_saved_in_layerwise_format_with_a_warning(tmp_path):
    inputs = layerwise.Input((3,))
    model = layerwise.Model(inputs, layerwise.ops.mean(layerwise.layers.Dense(2)(inputs), axis=-1))
    with pytest.warns(UserWarning, match="layerwise's own format.*operation 'mean'"):
        model.save(tmp_path / "m.keras")
    x = RNG.random((4, 3)).astype("float32")
    np.testing.assert_array_equal(layerwise.models.load_model(tmp_path / "m.keras").predict(x, verbose=0),
                                  model.predict(x, verbose=0))


def test_keras_loads_applications_with_their_own_layers_and_operations(keras, tmp_path):
    from layerwise.applications.convnext import LayerScale, StochasticDepth

    x = RNG.random((2, 32, 32, 3)).astype("float32") * 255
    mobilenet = layerwise.applications.MobileNetV3Small(weights=None, input_shape=(32, 32, 3), alpha=0.75)
    inputs = layerwise.Input((6, 6, 8))
    block = layerwise.Model(inputs, StochasticDepth(0.1)(LayerScale(0.5, 8)(inputs)) + inputs)
    for model, data in ((mobilenet, x), (block, x[:, :6, :6, :2].repeat(4, axis=-1))):
        model.save(tmp_path / "m.keras")
        loaded = keras.models.load_model(tmp_path / "m.keras")
        np.testing.assert_allclose(loaded.predict(data, verbose=0), model.predict(data, verbose=0),
                                   rtol=1e-5, atol=1e-6)


OPTIMIZERS = {
    "sgd_momentum": lambda opt: opt.SGD(0.1, momentum=0.9),
    "adam_amsgrad": lambda opt: opt.Adam(0.01, amsgrad=True),
    "adam_ema": lambda opt: opt.Adam(0.01, use_ema=True),
    "rmsprop_centered_momentum": lambda opt: opt.RMSprop(0.01, momentum=0.5, centered=True),
    "nadam": lambda opt: opt.Nadam(0.01),
    "adagrad": lambda opt: opt.Adagrad(0.1),
    "schedule": lambda opt: opt.Adam(opt.schedules.ExponentialDecay(0.01, 2, 0.5)),
}


@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_keras_resumes_each_optimizer_from_the_state_layerwise_saved(keras, tmp_path, name):
    ours, x, y = _no_dropout(layerwise)
    ours.compile(OPTIMIZERS[name](layerwise.optimizers), "sparse_categorical_crossentropy")
    ours.fit(x, y, epochs=2, batch_size=4, verbose=0)
    ours.save(tmp_path / "m.keras")
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)  # "Skipping variable loading for optimizer" would fail here
        loaded = keras.models.load_model(tmp_path / "m.keras")
    _one_more_step_agrees(loaded, ours, x, y, rtol=1e-4, atol=1e-6)


def test_frozen_layers_stay_frozen_and_the_rest_trainable(keras, tmp_path):
    L = layerwise.layers
    x, y = RNG.random((8, 5)).astype("float32"), RNG.random((8, 1)).astype("float32")
    base = layerwise.Sequential([layerwise.Input((5,)), L.Dense(4)], name="base")
    base.trainable = False
    inputs = layerwise.Input((5,))
    model = layerwise.Model(inputs, L.Dense(1)(L.Dense(3, trainable=False)(base(inputs))))
    model.compile("adam", "mse")
    model.fit(x, y, verbose=0)
    model.save(tmp_path / "m.keras")
    for loaded in (keras.models.load_model(tmp_path / "m.keras"), layerwise.models.load_model(tmp_path / "m.keras")):
        # (Keras' Sequential.from_config leaves the nested model's own flag True; its layers stay frozen.)
        assert sorted(int(np.prod(w.shape)) for w in loaded.trainable_weights) == [1, 3]
        assert loaded.trainable and not loaded.layers[2].trainable


def test_registered_activations_and_mixed_precision_models_save_for_keras(keras, tmp_path, fresh_registrations):
    def half(x):
        return x * 0.5

    for lib in (layerwise, keras):
        lib.saving.register_keras_serializable("test")(half)
    x, y = RNG.random((8, 5)).astype("float32"), RNG.random((8, 1)).astype("float32")
    layerwise.mixed_precision.set_global_policy("mixed_float16")
    try:
        model = layerwise.Sequential([layerwise.Input((5,)), layerwise.layers.Dense(4, activation=half),
                                      layerwise.layers.Dense(1, dtype="float32")])
        model.compile("adam", "mse")
        model.fit(x, y, verbose=0)  # a LossScaleOptimizer: Keras starts its variables afresh
        model.save(tmp_path / "m.keras")
    finally:
        layerwise.mixed_precision.set_global_policy("float32")
    for loaded in (keras.models.load_model(tmp_path / "m.keras"), layerwise.models.load_model(tmp_path / "m.keras")):
        assert loaded.layers[0].activation is half
        np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-3, atol=1e-3)


def test_layerwise_resumes_training_from_a_keras_archive(keras, tmp_path):
    theirs, x, y = _no_dropout(keras)
    theirs.fit(x, y, epochs=2, batch_size=4, verbose=0)
    theirs.save(tmp_path / "k.keras")
    ours = layerwise.models.load_model(tmp_path / "k.keras")
    assert ours.optimizer.iterations == 8
    _one_more_step_agrees(ours, theirs, x, y, rtol=1e-4, atol=1e-6)


def test_an_optimizer_keras_order_does_not_cover_travels_beside_the_keras_files(tmp_path):
    model, x, y = _no_dropout(layerwise)
    model.compile(layerwise.optimizers.ScheduleFreeAdamW(0.01), "sparse_categorical_crossentropy")
    model.fit(x, y, epochs=2, batch_size=4, verbose=0)
    model.save(tmp_path / "m.keras")
    assert "layerwise.safetensors" in zipfile.ZipFile(tmp_path / "m.keras").namelist()
    loaded = layerwise.models.load_model(tmp_path / "m.keras")
    _one_more_step_agrees(loaded, model, x, y, rtol=1e-6, atol=1e-7)


def test_loading_weights_into_an_unbuilt_subclassed_model_says_to_build_it(tmp_path):
    built = _subclassed(layerwise)
    built(RNG.random((2, 5)).astype("float32"))
    for name in ("w.weights.h5", "w.lw"):
        built.save_weights(tmp_path / name)
        with pytest.raises(ValueError, match="is not built yet.*call it on a batch of data"):
            _subclassed(layerwise).load_weights(tmp_path / name)
