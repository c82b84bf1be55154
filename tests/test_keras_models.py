"""Models Keras 3.15 wrote (``.keras`` archives, legacy ``.h5`` files, ``to_json``) and Keras 2's JSON, rebuilt by
``layerwise.models.load_model`` / ``model_from_json``: the same layers, and the same predictions once the file's
weights are in; compile settings; clear errors for what cannot be rebuilt."""
from __future__ import annotations

import json
import zipfile

import numpy as np
import pytest

import layerwise

RNG = np.random.default_rng(0)
X4 = RNG.random((8, 4)).astype("float32")


def summary_rows(model) -> list[str]:
    """The summary's table rows and totals (the title, which names the model, left out)."""
    lines: list[str] = []
    model.summary(print_fn=lambda text, *args, **kwargs: lines.extend(text.splitlines()))
    return lines[1:]


def _same_predictions(keras_model, path, inputs, **kwargs):
    ours = layerwise.models.load_model(path, **kwargs)
    expected = keras_model.predict(inputs, verbose=0)
    got = ours.predict(inputs, verbose=0)
    for e, g in zip(expected if isinstance(expected, list) else [expected], got if isinstance(got, list) else [got]):
        np.testing.assert_allclose(g, e, rtol=1e-5, atol=1e-6)
    return ours


def test_sequential_keras_file_rebuilds_with_weights_and_compile_settings(keras, tmp_path):
    L = keras.layers
    model = keras.Sequential([keras.Input((4,)), L.Dense(3, activation="relu"), L.Dropout(0.2), L.Dense(1)],
                             name="regressor")
    model.compile(keras.optimizers.Adam(0.01), "mse", metrics=["mae"])
    model.fit(X4, X4[:, :1], epochs=2, verbose=0)
    model.save(tmp_path / "m.keras")

    ours = _same_predictions(model, tmp_path / "m.keras", X4)
    assert ours.name == "regressor" and isinstance(ours, layerwise.models.Sequential)
    assert [type(layer).__name__ for layer in ours.layers] == ["Dense", "Dropout", "Dense"]
    assert ours.count_params() == model.count_params() == 19
    assert isinstance(ours.optimizer, layerwise.optimizers.Adam)
    assert ours.optimizer.get_config()["learning_rate"] == pytest.approx(0.01)
    before = ours.evaluate(X4, X4[:, :1], verbose=0)
    history = ours.fit(X4, X4[:, :1], epochs=20, verbose=0)
    assert set(history.history) == {"loss", "mae"}
    assert ours.evaluate(X4, X4[:, :1], verbose=0)[0] < before[0]

    uncompiled = layerwise.models.load_model(tmp_path / "m.keras", compile=False)
    assert uncompiled.optimizer is None


def test_functional_keras_file_with_shared_layer_merge_and_two_outputs(keras, tmp_path):
    L = keras.layers
    inputs = keras.Input((4,), name="x")
    added = L.Add(name="add")([L.Dense(2, name="d")(inputs), L.Dense(2, name="e")(inputs)])
    shared = L.Dense(2, activation="tanh", name="shared")
    model = keras.Model(inputs, [shared(shared(added)), added], name="two_heads")
    model.compile("sgd", ["mse", "mae"])
    model.save(tmp_path / "f.keras")

    ours = _same_predictions(model, tmp_path / "f.keras", X4)
    assert [layer.name for layer in ours.layers] == [layer.name for layer in model.layers]
    assert ours.count_params() == model.count_params()
    assert ours.loss == model.loss == ["mse", "mae"]  # as compile was given them, as Keras keeps them


def test_encoder_decoder_lstm_with_states_passed_as_keyword_tensors(keras, tmp_path):
    L = keras.layers
    inputs = keras.Input((5, 3))
    encoded, h, c = L.LSTM(4, return_state=True)(inputs)
    decoded = L.LSTM(4, return_sequences=True)(L.RepeatVector(5)(encoded), initial_state=[h, c])
    model = keras.Model(inputs, L.TimeDistributed(L.Dense(2))(decoded))
    model.save(tmp_path / "s2s.keras")
    _same_predictions(model, tmp_path / "s2s.keras", RNG.random((2, 5, 3)).astype("float32"))


def test_nested_sequential_cnn_and_two_inputs(keras, tmp_path):
    L = keras.layers
    features = keras.Sequential([keras.Input((8, 8, 1)), L.Conv2D(4, 3, activation="relu"), L.BatchNormalization(),
                                 L.MaxPooling2D(), L.Flatten()], name="features")
    image, extra = keras.Input((8, 8, 1), name="image"), keras.Input((2,), name="extra")
    joined = L.Concatenate()([features(image), extra])
    model = keras.Model([image, extra], L.Dense(3, activation="softmax")(joined))
    images = RNG.random((6, 8, 8, 1)).astype("float32")
    extras = RNG.random((6, 2)).astype("float32")
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit([images, extras], np.arange(6) % 3, epochs=2, verbose=0)  # moving statistics move off 0 and 1
    model.save(tmp_path / "nested.keras")

    ours = _same_predictions(model, tmp_path / "nested.keras", [images, extras])
    assert isinstance(ours.get_layer("features"), layerwise.models.Sequential)


def test_legacy_h5_model_file_written_by_keras(keras, tmp_path):
    L = keras.layers
    inputs = keras.Input((4,), name="x")
    model = keras.Model(inputs, L.Concatenate()([L.Dense(2, name="d")(inputs), L.Dense(3, name="e")(inputs)]))
    model.compile("adam", "mse", metrics=["mae"])
    model.fit(X4, np.ones((8, 5)), verbose=0)
    model.save(tmp_path / "legacy.h5")
    ours = _same_predictions(model, tmp_path / "legacy.h5", X4)
    assert isinstance(ours.optimizer, layerwise.optimizers.Adam)


# What Keras 2 (tf.keras 2.x) writes: string dtypes, initializers without a module, the input shape on the
# InputLayer as batch_input_shape, and each call as a list of [layer name, call index, output index, kwargs].
KERAS2_FUNCTIONAL = {
    "class_name": "Functional", "keras_version": "2.15.0", "backend": "tensorflow",
    "config": {"name": "model", "trainable": True, "layers": [
        {"class_name": "InputLayer", "name": "x", "inbound_nodes": [],
         "config": {"batch_input_shape": [None, 4], "dtype": "float32", "sparse": False, "ragged": False,
                    "name": "x"}},
        {"class_name": "Dense", "name": "d", "inbound_nodes": [[["x", 0, 0, {}]]],
         "config": {"name": "d", "trainable": True, "dtype": "float32", "units": 3, "activation": "relu",
                    "use_bias": True, "kernel_initializer": {"class_name": "GlorotUniform", "config": {"seed": None}},
                    "bias_initializer": {"class_name": "Zeros", "config": {}}, "kernel_regularizer": None,
                    "bias_regularizer": None, "activity_regularizer": None, "kernel_constraint": None,
                    "bias_constraint": None}},
        {"class_name": "Concatenate", "name": "concatenate", "inbound_nodes": [[["d", 0, 0, {}], ["x", 0, 0, {}]]],
         "config": {"name": "concatenate", "trainable": True, "dtype": "float32", "axis": -1}}],
        "input_layers": [["x", 0, 0]], "output_layers": [["concatenate", 0, 0]]}}


def keras2_model(keras):
    """Keras 3 reads Keras 2's configs with its legacy loader (what its ``load_model`` uses for ``.h5`` files)."""
    from keras.src.legacy.saving import saving_utils

    return saving_utils.model_from_config(json.loads(json.dumps(KERAS2_FUNCTIONAL)))  # it consumes its argument


def test_keras2_json_rebuilds_the_model_keras3_rebuilds(keras):
    theirs, ours = keras2_model(keras), layerwise.models.model_from_json(json.dumps(KERAS2_FUNCTIONAL))
    assert [type(layer).__name__ for layer in ours.layers] == ["InputLayer", "Dense", "Concatenate"]
    ours.set_weights(theirs.get_weights())
    np.testing.assert_allclose(ours.predict(X4, verbose=0), theirs.predict(X4, verbose=0), rtol=1e-6)


def test_keras2_h5_model_file_with_its_training_config(keras, tmp_path):
    import h5py

    theirs = keras2_model(keras)
    theirs.save(tmp_path / "keras2.h5")  # the legacy weights layout; the attributes below are Keras 2's
    training = {"loss": "mse", "metrics": [[{"class_name": "MeanMetricWrapper", "config": {
        "name": "mae", "dtype": "float32", "fn": "mean_absolute_error"}}]], "weighted_metrics": None,
        "loss_weights": None, "optimizer_config": {"class_name": "RMSprop", "config": {
            "name": "RMSprop", "learning_rate": 0.002, "rho": 0.9, "momentum": 0.0, "epsilon": 1e-07,
            "centered": False}}}
    with h5py.File(tmp_path / "keras2.h5", "r+") as f:
        f.attrs["model_config"] = json.dumps(KERAS2_FUNCTIONAL)
        f.attrs["training_config"] = json.dumps(training)
        f.attrs["keras_version"] = "2.15.0"
    ours = _same_predictions(theirs, tmp_path / "keras2.h5", X4)
    assert isinstance(ours.optimizer, layerwise.optimizers.RMSprop)
    assert ours.optimizer.get_config()["learning_rate"] == pytest.approx(0.002)
    assert set(ours.fit(X4, np.ones((8, 7)), verbose=0).history) == {"loss", "mae"}


def test_keras3_to_json_gives_the_same_architecture(keras):
    L = keras.layers
    model = keras.Sequential([keras.Input((6, 2)), L.Conv1D(4, 3, padding="causal"), L.GRU(3), L.Dense(1)])
    ours = layerwise.models.model_from_json(model.to_json())
    assert [type(layer).__name__ for layer in ours.layers] == ["Conv1D", "GRU", "Dense"]
    assert [w.shape for w in ours.get_weights()] == [w.shape for w in model.get_weights()]
    ours.set_weights(model.get_weights())
    steps = RNG.random((3, 6, 2)).astype("float32")
    np.testing.assert_allclose(ours.predict(steps, verbose=0), model.predict(steps, verbose=0), rtol=1e-5,
                               atol=1e-6)


def test_custom_layer_needs_its_class_and_loads_with_custom_objects(keras, tmp_path):
    @keras.saving.register_keras_serializable(package="lwtest")
    class Scale(keras.layers.Layer):
        def __init__(self, factor=2.0, **kwargs):
            super().__init__(**kwargs)
            self.factor = factor

        def call(self, x):
            return x * self.factor

        def get_config(self):
            return {**super().get_config(), "factor": self.factor}

    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2), Scale(3.0)])
    model.save(tmp_path / "custom.keras")
    with pytest.raises(ValueError, match="Scale"):
        layerwise.models.load_model(tmp_path / "custom.keras")

    class OurScale(layerwise.layers.Layer):
        def __init__(self, factor=2.0, **kwargs):
            super().__init__(**kwargs)
            self.factor = factor

        def call(self, x):
            return x * self.factor

    ours = _same_predictions(model, tmp_path / "custom.keras", X4, custom_objects={"lwtest>Scale": OurScale})
    assert ours.layers[-1].factor == 3.0


def test_subclassed_model_file_is_refused_with_the_reason(keras, tmp_path):
    class Net(keras.Model):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.dense = keras.layers.Dense(2)

        def call(self, x):
            return self.dense(x)

    model = Net()
    model(X4)
    model.save(tmp_path / "sub.keras")
    with pytest.raises(ValueError, match="Net.*not a Sequential or functional model"):
        layerwise.models.load_model(tmp_path / "sub.keras")


def test_broken_keras_files_are_named(keras, tmp_path):
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    model.save_weights(tmp_path / "only.weights.h5")
    with pytest.raises(ValueError, match="only.weights.h5.*weights only.*load_weights"):
        layerwise.models.load_model(tmp_path / "only.weights.h5")
    with zipfile.ZipFile(tmp_path / "empty.keras", "w") as archive:
        archive.writestr("metadata.json", "{}")
    with pytest.raises(ValueError, match="empty.keras.*without config.json"):
        layerwise.models.load_model(tmp_path / "empty.keras")


def test_layerwise_files_still_load(tmp_path):
    model = layerwise.models.Sequential([layerwise.Input((4,)), layerwise.layers.Dense(2)])
    model.save(tmp_path / "own.lw")
    np.testing.assert_array_equal(layerwise.models.load_model(tmp_path / "own.lw").predict(X4, verbose=0),
                                  model.predict(X4, verbose=0))


def test_masked_text_model_and_attention_block(keras, tmp_path):
    L = keras.layers
    text = keras.Sequential([keras.Input((7,), dtype="int32"), L.Embedding(20, 4, mask_zero=True),
                             L.Bidirectional(L.LSTM(3)), L.Dense(2, activation="softmax")])
    text.save(tmp_path / "text.keras")
    _same_predictions(text, tmp_path / "text.keras", np.array([[1, 2, 3, 0, 0, 0, 0], [4, 5, 6, 7, 8, 9, 1]]))

    tokens = keras.Input((5, 8))
    attended = L.MultiHeadAttention(2, 4)(tokens, tokens)
    pooled = L.GlobalAveragePooling1D()(L.LayerNormalization()(L.Add()([tokens, attended])))
    block = keras.Model(tokens, L.Dense(1)(pooled))
    block.save(tmp_path / "block.keras")
    _same_predictions(block, tmp_path / "block.keras", RNG.random((3, 5, 8)).astype("float32"))


def test_keras_application_file(keras, tmp_path):
    model = keras.applications.MobileNetV2(weights=None, input_shape=(32, 32, 3), classes=5)
    model.save(tmp_path / "mobilenet.keras")
    ours = _same_predictions(model, tmp_path / "mobilenet.keras", RNG.random((2, 32, 32, 3)).astype("float32") * 255)
    assert len(ours.layers) == len(model.layers)


def test_functional_files_with_keras_recorded_masks_and_training_flags(keras, tmp_path):
    # Keras 3.15 records each mask it computes as op entries (NotEqual, Any) fed to the next layer as mask=,
    # and training=False in every call; layerwise rebuilds those ops and lets fit set training.
    L = keras.layers
    ids = keras.Input((7,), dtype="int32")
    embedded = keras.Model(ids, L.LSTM(3)(L.Embedding(20, 4, mask_zero=True)(ids)))
    embedded.save(tmp_path / "embedded.keras")
    _same_predictions(embedded, tmp_path / "embedded.keras", np.array([[0, 0, 3, 4, 5, 1, 2], [1, 2, 3, 0, 0, 0, 0]]))
    series = keras.Input((7, 3))
    hidden = L.Bidirectional(L.GRU(3, return_sequences=True))(L.Masking()(series))
    masked = keras.Model(series, L.Dropout(0.5)(L.GRU(2)(hidden)))
    masked.save(tmp_path / "masked.keras")
    x = RNG.random((16, 7, 3)).astype("float32")  # 32 dropped-or-kept outputs: two calls agree with chance 2**-32
    x[0, :3] = 0.0
    ours = _same_predictions(masked, tmp_path / "masked.keras", x)
    assert not np.array_equal(ours(x, training=True).detach().numpy(), ours(x, training=True).detach().numpy())
    loaded = layerwise.models.load_model(tmp_path / "masked.keras")
    assert summary_rows(loaded) == summary_rows(masked)  # the same graph: NotEqual, then Any, as mask=
    assert sum("(NotEqual)" in row or "(Any)" in row for row in summary_rows(loaded)) == 2
    # a mask the author computed (the Embedding makes none) is rebuilt as well
    authored = keras.Model(ids, L.LSTM(3)(L.Embedding(10, 4)(ids), mask=keras.ops.not_equal(ids, 0)))
    authored.save(tmp_path / "authored.keras")
    ours = _same_predictions(authored, tmp_path / "authored.keras", np.array([[0, 0, 3, 4, 5, 1, 2],
                                                                              [1, 2, 3, 0, 0, 0, 0]]))
    assert summary_rows(ours) == summary_rows(authored)
    # Keras' comparison and reduction ops beyond the mask's load too, with their options (Any's axis)
    x = keras.Input((4, 3))
    flags = keras.ops.all(keras.ops.greater_equal(x, 0.5), axis=-1, keepdims=True)
    logic = keras.Model(x, keras.ops.logical_or(flags, keras.ops.less(x, 0.1)))
    logic.save(tmp_path / "logic.keras")
    ours = layerwise.models.load_model(tmp_path / "logic.keras")
    sample = RNG.random((5, 4, 3)).astype("float32")
    assert np.array_equal(ours.predict(sample, verbose=0), logic.predict(sample, verbose=0))
    assert summary_rows(ours) == summary_rows(logic)


def test_registered_function_losses_and_per_output_metrics_from_keras_files(keras, tmp_path, fresh_registrations):
    def ours():
        @layerwise.saving.register_keras_serializable(package="my")
        def half_squared(y, p):
            return ((y - p) ** 2).mean(-1) / 2
    ours()

    @keras.saving.register_keras_serializable(package="my")
    def half_squared(y, p):
        return keras.ops.mean((y - p) ** 2, axis=-1) / 2

    L = keras.layers
    inputs = keras.Input((4,))
    model = keras.Model(inputs, {"reg": L.Dense(1, name="reg")(inputs),
                                 "cls": L.Dense(2, activation="softmax", name="cls")(inputs)})
    model.compile("adam", loss={"reg": half_squared, "cls": "sparse_categorical_crossentropy"},
                  metrics={"reg": ["mae", half_squared], "cls": ["accuracy"]})
    model.save(tmp_path / "two.keras")
    ours = layerwise.models.load_model(tmp_path / "two.keras")
    y = {"reg": X4[:, :1], "cls": (X4[:, 0] > 0.5).astype("int64")}
    expected = model.evaluate(X4, y, verbose=0, return_dict=True)
    got = ours.evaluate(X4, y, verbose=0, return_dict=True)
    assert set(got) == set(expected)
    for key, value in expected.items():
        assert got[key] == pytest.approx(value, rel=1e-5), key


def test_damaged_archive_member_is_reported_with_the_file(keras, tmp_path):
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    model.save(tmp_path / "m.keras")
    data = bytearray((tmp_path / "m.keras").read_bytes())
    with zipfile.ZipFile(tmp_path / "m.keras") as archive:
        info = archive.getinfo("model.weights.h5")
    data[info.header_offset + 30 + len(info.filename) + len(info.extra) + 50] ^= 0xFF
    (tmp_path / "bad.keras").write_bytes(bytes(data))
    with pytest.raises(ValueError, match=r"bad.keras.*corrupt .*model.weights.h5 cannot be read"):
        layerwise.models.load_model(tmp_path / "bad.keras")
