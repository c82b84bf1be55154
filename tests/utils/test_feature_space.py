"""FeatureSpace against Keras 3.15's.

Keras' FeatureSpace needs TensorFlow (tf.data) to adapt and call, and this venv has none, so the expected
encodings below were recorded once from ``keras.utils.FeatureSpace`` (Keras 3.15.1, TensorFlow 2.21, in a
separate venv) on the same ``table()``; the live checks run Keras' own Normalization, Rescaling,
CategoryEncoding and quantile code (which need no TensorFlow) on the same columns.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

import layerwise
from layerwise import layers as L
from layerwise.utils.feature_space import FeatureSpace

PALETTE = ["red", "green", "blue", "green", "black"]


def table(rows: int) -> dict:
    i = np.arange(rows)
    return {"x": ((i * 37) % 23) / 4.0 - 2.5, "age": (20 + (i * 13) % 47).astype("float64"), "n": (i * i) % 5,
            "color": np.array([PALETTE[(j * 7) % 5] for j in i]), "r": i / 10.0, "k": i % 9}


TRAIN = table(40)
# Six known rows, then two with unseen values (n=9, 'purple') and values outside the adapted ranges.
QUERY = {key: np.concatenate([value[:6], extra]) for (key, value), extra in
         zip(table(6).items(), [[9.5, -7.0], [95.0, 3.0], [9, 4], ["purple", "blue"], [2.0, -1.0], [12, 3]])}
CONCAT_COLUMNS, DICT_COLUMNS = ["x", "age", "n", "color", "r"], ["color", "k", "n", "x"]

# Recorded from Keras: the non-zero entries of each encoded row (columns: age 0-3, color 4-8, n 9-12, r 13,
# x 14, age_X_n 15-19, n_X_color 20-27).
KERAS_CONCAT = [{0: 1.0, 6: 1.0, 12: 1.0, 13: 1.0, 14: -1.61609, 17: 1.0, 23: 1.0},
                {1: 1.0, 7: 1.0, 11: 1.0, 13: 1.05, 14: 0.47884, 17: 1.0, 20: 1.0},
                {2: 1.0, 8: 1.0, 10: 1.0, 13: 1.1, 14: -0.8679, 16: 1.0, 25: 1.0},
                {3: 1.0, 5: 1.0, 10: 1.0, 13: 1.15, 14: 1.22703, 18: 1.0, 21: 1.0},
                {0: 1.0, 5: 1.0, 11: 1.0, 13: 1.2, 14: -0.11971, 19: 1.0, 24: 1.0},
                {1: 1.0, 6: 1.0, 12: 1.0, 13: 1.25, 14: -1.46645, 16: 1.0, 23: 1.0},
                {3: 1.0, 4: 1.0, 9: 1.0, 13: 2.0, 14: 5.56652, 15: 1.0, 20: 1.0},
                {0: 1.0, 7: 1.0, 10: 1.0, 13: 0.5, 14: -4.30956, 18: 1.0, 23: 1.0}]
KERAS_DICT_IDS = {"color": [0, 0, 1, 4, 4, 0, 2, 0], "k": [1, 3, 1, 3, 5, 1, 4, 3],  # one-hot positions
                  "n": [3, 2, 1, 1, 2, 3, 0, 1], "n_X_k": [5, 5, 0, 2, 2, 5, 4, 2]}  # ids ('int')
# 300 values whose quantile bins depend on how adapt batches them.
VALUES = (((np.arange(300) * 7919) % 1000) / 10.0 + (np.arange(300) % 7) * 0.013).astype("float32")
KERAS_BOUNDS_DICT = [12.110143661499023, 24.932897567749023, 37.38846206665039, 50.370155334472656,
                     62.76118087768555, 75.46580505371094, 87.544921875]  # adapt({"v": VALUES}): batches of 32
KERAS_BOUNDS_BATCH100 = [11.979242324829102, 24.958480834960938, 37.282493591308594, 50.15199279785156,
                         62.69549560546875, 75.29999542236328, 87.39226531982422]  # a dataset batched by 100


def columns(data: dict, keys: list[str]) -> dict:
    return {key: data[key] for key in keys}


def concat_space() -> FeatureSpace:
    return FeatureSpace({"x": "float_normalized", "age": FeatureSpace.float_discretized(num_bins=4),
                         "n": "integer_categorical", "color": "string_categorical",
                         "r": FeatureSpace.float_rescaled(scale=0.5, offset=1.0)},
                        crosses=[("n", "color"), FeatureSpace.cross(("age", "n"), crossing_dim=5)], crossing_dim=8)


def dict_space() -> FeatureSpace:
    return FeatureSpace({"color": FeatureSpace.string_hashed(num_bins=5), "k": FeatureSpace.integer_hashed(num_bins=6),
                         "n": FeatureSpace.integer_categorical(output_mode="int"), "x": "float"},
                        crosses=[FeatureSpace.cross(("n", "k"), crossing_dim=7, output_mode="int")], output_mode="dict")


def dense(rows: list[dict], width: int) -> np.ndarray:
    out = np.zeros((len(rows), width), dtype="float32")
    for i, row in enumerate(rows):
        for j, value in row.items():
            out[i, j] = value
    return out


@pytest.fixture(scope="module")
def adapted() -> FeatureSpace:
    feature_space = concat_space()
    feature_space.adapt(columns(TRAIN, CONCAT_COLUMNS))
    return feature_space


# ---- parity --------------------------------------------------------------------------------------------------
def test_concat_encoding_equals_keras(adapted):
    out = adapted(columns(QUERY, CONCAT_COLUMNS))
    assert isinstance(out, torch.Tensor) and out.dtype == torch.float32 and tuple(out.shape) == (8, 28)
    np.testing.assert_allclose(out.numpy(), dense(KERAS_CONCAT, 28), atol=1e-5, rtol=0)
    assert adapted.preprocessors["n"].get_vocabulary() == [-1, 4, 1, 0]
    assert adapted.preprocessors["color"].get_vocabulary() == ["[UNK]", "green", "red", "blue", "black"]
    assert adapted.preprocessors["age"].bin_boundaries == [31.0, 43.0, 55.0]
    assert sorted(adapted.crossers) == ["age_X_n", "n_X_color"]
    # One sample of scalars loses the batch axis, as in Keras; a DataFrame (extra columns ignored) works too.
    one = adapted({key: value[1] for key, value in columns(QUERY, CONCAT_COLUMNS).items()})
    assert tuple(one.shape) == (28,)
    np.testing.assert_allclose(one.numpy(), dense(KERAS_CONCAT, 28)[1], atol=1e-5, rtol=0)
    frame = pd.DataFrame({**columns(QUERY, CONCAT_COLUMNS), "target": np.zeros(8)})
    np.testing.assert_allclose(adapted(frame).numpy(), out.numpy(), atol=0, rtol=0)


def test_dict_mode_equals_keras():
    feature_space = dict_space()
    feature_space.adapt(columns(TRAIN, DICT_COLUMNS))
    out = feature_space(columns(QUERY, DICT_COLUMNS))
    assert list(out) == ["color", "k", "n", "x", "n_X_k"]  # sorted features, then sorted crosses, as Keras
    assert {k: tuple(v.shape) for k, v in out.items()} == {"color": (8, 5), "k": (8, 6), "n": (8, 1), "x": (8, 1),
                                                          "n_X_k": (8, 1)}
    assert {k: v.dtype for k, v in out.items()} == {"color": torch.float32, "k": torch.float32, "n": torch.int64,
                                                   "x": torch.float32, "n_X_k": torch.int64}
    for key, width in (("color", 5), ("k", 6)):
        np.testing.assert_array_equal(out[key].numpy(), np.eye(width)[KERAS_DICT_IDS[key]])
    for key in ("n", "n_X_k"):
        assert out[key][:, 0].tolist() == KERAS_DICT_IDS[key]
    np.testing.assert_array_equal(out["x"].numpy()[:, 0], QUERY["x"].astype("float32"))


def test_adapt_batches_data_as_keras_does(keras):
    from keras.src.layers.preprocessing.discretization import get_bin_boundaries, merge_summaries, summarize

    def bounds(data) -> list[float]:
        feature_space = FeatureSpace({"v": FeatureSpace.float_discretized(num_bins=8)})
        feature_space.adapt(data)
        return feature_space.preprocessors["v"].bin_boundaries

    # Keras' own quantile code on batches of 32, live.
    summary = np.zeros((2, 0))
    for start in range(0, 300, 32):
        summary = merge_summaries(summarize(VALUES[start:start + 32, None], 0.01), summary, 0.01)
    np.testing.assert_allclose(get_bin_boundaries(summary, 8), KERAS_BOUNDS_DICT, rtol=0, atol=1e-6)
    assert bounds({"v": VALUES}) == KERAS_BOUNDS_DICT
    assert bounds(pd.DataFrame({"v": VALUES})) == KERAS_BOUNDS_DICT
    assert bounds({"v": v} for v in VALUES) == KERAS_BOUNDS_DICT  # a generator of single rows
    assert bounds([({"v": VALUES[i:i + 100]}, None) for i in range(0, 300, 100)]) == KERAS_BOUNDS_BATCH100
    whole = L.Discretization(num_bins=8)
    whole.adapt(VALUES[:, None])
    assert whole.bin_boundaries != KERAS_BOUNDS_DICT  # so batching is what the parity above rests on


def test_blocks_equal_keras_layers_run_on_the_columns(keras, adapted):
    out = adapted(columns(QUERY, CONCAT_COLUMNS)).numpy()
    norm = keras.layers.Normalization(axis=-1)
    norm.adapt(TRAIN["x"][:, None].astype("float32"))
    np.testing.assert_allclose(out[:, 14:15], keras.ops.convert_to_numpy(norm(QUERY["x"][:, None])), atol=1e-5)
    rescale = keras.layers.Rescaling(scale=0.5, offset=1.0)
    np.testing.assert_allclose(out[:, 13:14], keras.ops.convert_to_numpy(rescale(QUERY["r"][:, None])), atol=1e-6)
    # Lookup ids by hand: index 0 is the OOV bucket, then the vocabulary by descending count.
    color_ids = [["[UNK]", "green", "red", "blue", "black"].index(c) if c != "purple" else 0 for c in QUERY["color"]]
    n_ids = [{4: 1, 1: 2, 0: 3}.get(int(v), 0) for v in QUERY["n"]]
    age_ids = np.digitize(QUERY["age"], [31.0, 43.0, 55.0])
    for (start, width), ids in (((4, 5), color_ids), ((9, 4), n_ids), ((0, 4), age_ids)):
        encoder = keras.layers.CategoryEncoding(num_tokens=width, output_mode="multi_hot")
        expected = keras.ops.convert_to_numpy(encoder(np.asarray(ids)[:, None]))
        np.testing.assert_array_equal(out[:, start:start + width], expected)
    crossed = L.HashedCrossing(num_bins=8)([np.asarray(n_ids)[:, None], np.asarray(color_ids)[:, None]])
    np.testing.assert_array_equal(out[:, 20:28], np.eye(8)[crossed[:, 0].numpy()])
    # The same preprocessors and output modes as Keras gives these (TensorFlow-free) feature types.
    specs = {"f": "float", "r": "float_rescaled", "x": "float_normalized", "age": "float_discretized"}
    ours, theirs = FeatureSpace(specs, num_discretization_bins=6), keras.utils.FeatureSpace(specs,
                                                                                         num_discretization_bins=6)
    for key in specs:
        mine, other = ours.features[key], theirs.features[key]
        assert (mine.dtype, mine.output_mode) == (other.dtype, other.output_mode)
        assert type(mine.preprocessor).__name__ == {"TFDIdentity": "Identity"}.get(
            type(other.preprocessor).__name__, type(other.preprocessor).__name__)
        assert mine.preprocessor.name == other.preprocessor.name == f"{key}_preprocessor"
    assert ours.preprocessors["age"].num_bins == theirs.preprocessors["age"].num_bins == 6
    assert set(theirs.get_config()) <= set(ours.get_config())


# ---- models --------------------------------------------------------------------------------------------------
def test_models_learn_a_rule_from_encoded_features(tmp_path):
    layerwise.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    rows = 256
    data = {"x": rng.normal(size=rows).astype("float32"), "n": rng.integers(0, 4, rows),
            "color": rng.choice(["red", "green", "blue"], rows)}
    y = ((data["n"] == 2) | (data["color"] == "red")).astype("float32")
    # With strings: encode first, then a model on the vectors (Keras' dataset.map(...) pattern).
    feature_space = FeatureSpace({"x": "float_normalized", "n": "integer_categorical", "color": "string_categorical"},
                                 crosses=[("n", "color")], crossing_dim=8)
    feature_space.adapt([{k: v[i:i + 64] for k, v in data.items()} for i in range(0, rows, 64)])
    x = feature_space(data)
    model = layerwise.Sequential([L.Input((x.shape[1],)), L.Dense(1, activation="sigmoid")])
    model.compile(optimizer=layerwise.optimizers.Adam(0.1), loss="binary_crossentropy", metrics=["accuracy"])
    model.fit(x, y, epochs=15, batch_size=64, verbose=0)
    assert model.evaluate(feature_space(data), y, verbose=0)[1] >= 0.97
    # Numbers only: Keras' functional pattern, a model on raw columns that saves and loads whole.
    numeric = FeatureSpace({"x": "float_normalized", "n": "integer_categorical",
                            "b": FeatureSpace.float_discretized(num_bins=3)}, crosses=[("n", "b")])
    raw = {"x": data["x"], "n": data["n"], "b": data["x"]}
    numeric.adapt(raw)
    encoded = numeric.get_encoded_features()
    assert tuple(encoded.shape) == (None, 3 + 5 + 1 + 32)
    out = L.Dense(1, activation="sigmoid")(encoded)
    model = layerwise.Model(numeric.get_inputs(), out)
    target = ((data["n"] == 2) | (data["x"] > 1)).astype("float32")
    model.compile(optimizer=layerwise.optimizers.Adam(0.1), loss="binary_crossentropy", metrics=["accuracy"])
    model.fit(raw, target, epochs=15, batch_size=64, verbose=0)
    assert model.evaluate(raw, target, verbose=0)[1] >= 0.95
    model.save(tmp_path / "model.keras")
    loaded = layerwise.models.load_model(tmp_path / "model.keras")
    np.testing.assert_allclose(loaded.predict(raw, verbose=0), model.predict(raw, verbose=0), atol=1e-6, rtol=0)


def test_dict_mode_in_a_functional_model():
    feature_space = FeatureSpace({"x": "float", "n": FeatureSpace.integer_categorical(output_mode="int")},
                                 crosses=[FeatureSpace.cross(("n", "x"), crossing_dim=4)], output_mode="dict")
    feature_space.adapt({"x": np.arange(6.0), "n": np.arange(6) % 3})
    encoded = feature_space.get_encoded_features()
    assert {k: v.shape for k, v in encoded.items()} == {"n": (None, 1), "x": (None, 1), "n_X_x": (None, 4)}
    model = layerwise.Model(feature_space.get_inputs(), encoded)
    data = {"x": np.array([1.0, 4.0]), "n": np.array([2, 0])}
    got, direct = model.predict(data, verbose=0), feature_space(data)
    for key in direct:
        np.testing.assert_array_equal(np.asarray(got[key]), direct[key].numpy())


def test_model_on_the_encoded_features_tensor():
    # As Keras' FeatureSpace example: a model that starts at the encoded features holds only what follows them.
    feature_space = FeatureSpace({"x": "float"})
    feature_space.adapt({"x": np.arange(4.0)[:, None]})
    encoded = feature_space.get_encoded_features()
    model = layerwise.Model(inputs=encoded, outputs=L.Dense(1)(encoded))
    assert [type(layer).__name__ for layer in model.layers] == ["InputLayer", "Dense"]
    assert model.predict(np.ones((2, 1), "float32"), verbose=0).shape == (2, 1)


@pytest.mark.xfail(strict=True, raises=ValueError,
                   reason="Keras (on TensorFlow) takes string inputs in a model; layerwise models take tensors only, "
                   "so string features are encoded before the model (feature_space(data))")
def test_string_features_in_a_functional_model():
    feature_space = FeatureSpace({"color": "string_categorical"})
    feature_space.adapt({"color": np.array(["a", "b"])})
    feature_space.get_inputs()


# ---- saving and errors -----------------------------------------------------------------------------------------
def test_save_load_and_config_round_trip(tmp_path, adapted):
    query = columns(QUERY, CONCAT_COLUMNS)
    adapted.save(tmp_path / "space.bin")
    loaded = FeatureSpace.load(tmp_path / "space.bin")
    np.testing.assert_array_equal(loaded(query).numpy(), adapted(query).numpy())
    rebuilt = FeatureSpace.from_config(adapted.get_config())
    np.testing.assert_array_equal(rebuilt(query).numpy(), adapted(query).numpy())
    with pytest.raises(ValueError, match="not a layerwise.model file"):
        layerwise.models.load_model(tmp_path / "space.bin")
    fresh = FeatureSpace.from_config(concat_space().get_config())
    with pytest.raises(ValueError, match="is not adapted"):
        fresh(query)


def test_bad_input_names_the_feature(adapted):
    with pytest.raises(ValueError, match="feature 'x' has an unknown type 'float_normalised'"):
        FeatureSpace({"x": "float_normalised"})
    with pytest.raises(ValueError, match=r"cross \['x', 'y'\] names unknown feature\(s\) \['y'\]"):
        FeatureSpace({"x": "float"}, crosses=[("x", "y")])
    with pytest.raises(ValueError, match="output_mode must be 'concat' or 'dict', got 'list'"):
        FeatureSpace({"x": "float"}, output_mode="list")
    with pytest.raises(ValueError, match=r"lacks the feature\(s\) \['color'\]"):
        adapted({k: v for k, v in columns(QUERY, CONCAT_COLUMNS).items() if k != "color"})
    with pytest.raises(ValueError, match=r"not adapted: call .*adapt\(data\).*\['x', 'age', 'n', 'color'\]"):
        concat_space()(columns(QUERY, CONCAT_COLUMNS))
    with pytest.raises(TypeError, match="feature 'x' expects numbers"):
        concat_space().adapt({**columns(TRAIN, CONCAT_COLUMNS), "x": TRAIN["color"]})
    with pytest.raises(TypeError, match="feature 'x' .*expects numbers"):
        adapted({**columns(QUERY, CONCAT_COLUMNS), "x": QUERY["color"]})
    with pytest.raises(TypeError, match="must yield dict batches"):
        concat_space().adapt([1, 2])
    with pytest.raises(ValueError, match=r"feature\(s\) \['color'\] hold strings"):
        adapted.get_inputs()
    ints = FeatureSpace({"n": FeatureSpace.integer_categorical(output_mode="int")})
    ints.adapt({"n": np.arange(4)})
    with pytest.raises(ValueError, match="cannot concatenate features because feature 'n' has not been encoded"):
        ints({"n": np.arange(4)})
    with pytest.raises(ValueError, match="feature 'd' has output_mode='one_hot'"):
        FeatureSpace({"d": FeatureSpace.feature("float32", L.Dense(2), "one_hot")}).adapt({"d": np.zeros(2)})
