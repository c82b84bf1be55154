"""keras-io example "Structured data learning with Wide, Deep, and Cross networks" (examples/structured_data/
wide_deep_cross_networks.py) run with ``import layerwise as keras`` and in Keras 3 (torch backend): the dict of
scalar inputs, ``encode_inputs`` in its two forms (one-hot and embeddings), and the three models (baseline,
Wide & Deep, Deep & Cross, whose cross part is ``x0 * x + cross`` on symbolic tensors): summaries (cell for cell,
the scalar inputs' Keras shape "(None)" included), outputs and ``evaluate`` from the same weights, and
``run_experiment``'s training.

What was changed to run it here: the Covertype download is replaced by ``covertype_table()``, 320 made-up rows with
the example's 10 numeric columns, its two string columns (``Wilderness_Area``: 4 values, ``Soil_Type``: 40) and a
7-class target that depends on them; the CSV files and ``tf.data.experimental.make_csv_dataset`` are replaced by dicts
of arrays. The example runs on the TensorFlow backend only, because its models take strings (a ``StringLookup``
inside the model); neither layerwise nor Keras' torch backend can take strings into a model, and Keras' StringLookup
needs TensorFlow. So the lookup (``StringLookup(vocabulary=..., mask_token=None, num_oov_indices=0)``) is done before
the model (``lookup_indices``, checked against layerwise's StringLookup), the categorical inputs are those integer ids
(``shape=()``, int64) and inside the model the lookup's ``output_mode="binary"`` becomes ``CategoryEncoding(
output_mode="multi_hot")`` of the id (the same vector) and ``output_mode="int"`` the id itself, before the
Embedding. The numeric columns are standardised (BatchNormalization's moving statistics start at 0 and 1 and need the
example's ~1,900 steps to reach raw Covertype scales), and the experiment uses a larger learning rate, smaller
batches and more epochs than the example's single epoch on 500k rows, so that the small table can show learning."""
from __future__ import annotations

import math

import numpy as np
import pytest
from guide_helpers import as_numpy, assert_close, fresh, libraries, summary_rows

import layerwise

NUMERIC_FEATURE_NAMES = [
    "Aspect", "Elevation", "Hillshade_3pm", "Hillshade_9am", "Hillshade_Noon", "Horizontal_Distance_To_Fire_Points",
    "Horizontal_Distance_To_Hydrology", "Horizontal_Distance_To_Roadways", "Slope", "Vertical_Distance_To_Hydrology",
]
NUM_CLASSES = 7
dropout_rate = 0.1
hidden_units = [32, 32]


def covertype_table(n=320, seed=3):
    """Columns shaped like the example's Covertype DataFrame (after it turns the binary columns into the strings
    ``area_type_k`` and ``soil_type_k``); ``Cover_Type`` 0-6 follows Elevation and Wilderness_Area."""
    rng = np.random.default_rng(seed)
    area = rng.integers(1, 5, n)
    cols = {
        "Elevation": rng.uniform(1900, 3800, n), "Aspect": rng.uniform(0, 360, n), "Slope": rng.uniform(0, 50, n),
        "Horizontal_Distance_To_Hydrology": rng.uniform(0, 1300, n),
        "Vertical_Distance_To_Hydrology": rng.uniform(-150, 550, n),
        "Horizontal_Distance_To_Roadways": rng.uniform(0, 7000, n), "Hillshade_9am": rng.uniform(0, 254, n),
        "Hillshade_Noon": rng.uniform(0, 254, n), "Hillshade_3pm": rng.uniform(0, 254, n),
        "Horizontal_Distance_To_Fire_Points": rng.uniform(0, 7000, n),
        "Wilderness_Area": np.array([f"area_type_{k}" for k in area]),
        "Soil_Type": np.array([f"soil_type_{k}" for k in rng.integers(1, 41, n)]),
    }
    elevation_bin = np.digitize(cols["Elevation"], [2400, 2900, 3300])
    # Standardised: BatchNormalization's moving statistics start at 0 and 1 and settle in the ~100 steps of this
    # table only when the features are near that scale (the example's single epoch has ~1,900 steps).
    cols = {k: ((v - v.mean()) / v.std()).astype("float32") if k in NUMERIC_FEATURE_NAMES else v
            for k, v in cols.items()}
    cols["Cover_Type"] = np.minimum(elevation_bin + 3 * (area >= 3), NUM_CLASSES - 1).astype("int64")
    return cols


DATA = covertype_table()
# The example's vocabularies: list(data[name].unique()), values in order of first appearance.
CATEGORICAL_FEATURES_WITH_VOCABULARY = {name: list(dict.fromkeys(DATA[name].tolist()))
                                        for name in ("Soil_Type", "Wilderness_Area")}
CATEGORICAL_FEATURE_NAMES = list(CATEGORICAL_FEATURES_WITH_VOCABULARY.keys())
FEATURE_NAMES = NUMERIC_FEATURE_NAMES + CATEGORICAL_FEATURE_NAMES


def lookup_indices(values, vocabulary):
    """``StringLookup(vocabulary=vocabulary, mask_token=None, num_oov_indices=0)(values)``, before the model."""
    position = {value: i for i, value in enumerate(vocabulary)}
    return np.array([position[v] for v in values.tolist()], dtype="int64")


def features_and_target(rows):
    features = {name: DATA[name][rows] for name in NUMERIC_FEATURE_NAMES}
    features.update({name: lookup_indices(DATA[name][rows], vocabulary)
                     for name, vocabulary in CATEGORICAL_FEATURES_WITH_VOCABULARY.items()})
    return features, DATA["Cover_Type"][rows]


TRAIN, TEST = features_and_target(slice(0, 256)), features_and_target(slice(256, None))


# ---- the example's listing ------------------------------------------------------------------------------------
def create_model_inputs(keras, layers, ops):
    inputs = {}
    for feature_name in FEATURE_NAMES:
        if feature_name in NUMERIC_FEATURE_NAMES:
            inputs[feature_name] = layers.Input(name=feature_name, shape=(), dtype="float32")
        else:  # the example: dtype="string"; here the StringLookup's ids
            inputs[feature_name] = layers.Input(name=feature_name, shape=(), dtype="int64")
    return inputs


def encode_inputs(keras, layers, ops, inputs, use_embedding=False):
    encoded_features = []
    for feature_name in inputs:
        if feature_name in CATEGORICAL_FEATURE_NAMES:
            vocabulary = CATEGORICAL_FEATURES_WITH_VOCABULARY[feature_name]
            if use_embedding:
                # The lookup's "int" output is the id itself.
                encoded_feature = inputs[feature_name]
                embedding_dims = int(math.sqrt(len(vocabulary)))
                embedding = layers.Embedding(input_dim=len(vocabulary), output_dim=embedding_dims)
                encoded_feature = embedding(encoded_feature)
            else:
                # The lookup's "binary" output of the id.
                encoding = layers.CategoryEncoding(num_tokens=len(vocabulary), output_mode="multi_hot")
                encoded_feature = encoding(keras.ops.expand_dims(inputs[feature_name], -1))
        else:
            encoded_feature = keras.ops.expand_dims(inputs[feature_name], -1)
        encoded_features.append(encoded_feature)
    all_features = layers.concatenate(encoded_features)
    return all_features


def create_baseline_model(keras, layers, ops):
    fresh(keras)
    inputs = create_model_inputs(keras, layers, ops)
    features = encode_inputs(keras, layers, ops, inputs)
    for units in hidden_units:
        features = layers.Dense(units)(features)
        features = layers.BatchNormalization()(features)
        features = layers.ReLU()(features)
        features = layers.Dropout(dropout_rate)(features)
    outputs = layers.Dense(units=NUM_CLASSES, activation="softmax")(features)
    return keras.Model(inputs=inputs, outputs=outputs)


def create_wide_and_deep_model(keras, layers, ops):
    fresh(keras)
    inputs = create_model_inputs(keras, layers, ops)
    wide = encode_inputs(keras, layers, ops, inputs)
    wide = layers.BatchNormalization()(wide)
    deep = encode_inputs(keras, layers, ops, inputs, use_embedding=True)
    for units in hidden_units:
        deep = layers.Dense(units)(deep)
        deep = layers.BatchNormalization()(deep)
        deep = layers.ReLU()(deep)
        deep = layers.Dropout(dropout_rate)(deep)
    merged = layers.concatenate([wide, deep])
    outputs = layers.Dense(units=NUM_CLASSES, activation="softmax")(merged)
    return keras.Model(inputs=inputs, outputs=outputs)


def create_deep_and_cross_model(keras, layers, ops):
    fresh(keras)
    inputs = create_model_inputs(keras, layers, ops)
    x0 = encode_inputs(keras, layers, ops, inputs, use_embedding=True)
    cross = x0
    for _ in hidden_units:
        units = cross.shape[-1]
        x = layers.Dense(units)(cross)
        cross = x0 * x + cross
    cross = layers.BatchNormalization()(cross)
    deep = x0
    for units in hidden_units:
        deep = layers.Dense(units)(deep)
        deep = layers.BatchNormalization()(deep)
        deep = layers.ReLU()(deep)
        deep = layers.Dropout(dropout_rate)(deep)
    merged = layers.concatenate([cross, deep])
    outputs = layers.Dense(units=NUM_CLASSES, activation="softmax")(merged)
    return keras.Model(inputs=inputs, outputs=outputs)


def run_experiment(keras, model, learning_rate=0.01, num_epochs=6, batch_size=16):
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=learning_rate),
                  loss=keras.losses.SparseCategoricalCrossentropy(),
                  metrics=[keras.metrics.SparseCategoricalAccuracy()])
    (x_train, y_train), (x_test, y_test) = TRAIN, TEST
    history = model.fit(x_train, y_train, batch_size=batch_size, epochs=num_epochs, shuffle=True, verbose=0)
    _, accuracy = model.evaluate(x_test, y_test, verbose=0)
    return history.history, accuracy


MODELS = {"baseline": create_baseline_model, "wide_and_deep": create_wide_and_deep_model,
          "deep_and_cross": create_deep_and_cross_model}


# ---- tests ----------------------------------------------------------------------------------------------------
def test_the_lookup_before_the_model_is_the_example_s_string_lookup():
    for name, vocabulary in CATEGORICAL_FEATURES_WITH_VOCABULARY.items():
        values = DATA[name]
        ids = lookup_indices(values, vocabulary)
        lookup = layerwise.layers.StringLookup(vocabulary=vocabulary, mask_token=None, num_oov_indices=0,
                                               output_mode="int")
        np.testing.assert_array_equal(as_numpy(lookup(values)), ids, err_msg=name)
        binary = layerwise.layers.StringLookup(vocabulary=vocabulary, mask_token=None, num_oov_indices=0,
                                               output_mode="binary")
        np.testing.assert_array_equal(as_numpy(binary(values[:, None])), np.eye(len(vocabulary))[ids], err_msg=name)
    assert len(CATEGORICAL_FEATURES_WITH_VOCABULARY["Soil_Type"]) == 40
    assert len(CATEGORICAL_FEATURES_WITH_VOCABULARY["Wilderness_Area"]) == 4


def encoder(keras, layers, ops, use_embedding):
    fresh(keras)
    inputs = create_model_inputs(keras, layers, ops)
    return keras.Model(inputs, encode_inputs(keras, layers, ops, inputs, use_embedding=use_embedding))


@pytest.mark.parametrize("use_embedding", [False, True])
def test_encode_inputs_matches_keras(real_keras, use_embedding):
    ours, theirs = [encoder(*lib, use_embedding) for lib in libraries(real_keras)]
    width = 10 + 6 + 2 if use_embedding else 10 + 40 + 4  # embeddings of int(sqrt(40)) and int(sqrt(4)) values
    assert ours.output_shape == theirs.output_shape == (None, width)
    assert summary_rows(ours) == summary_rows(theirs)
    ours.set_weights(theirs.get_weights())
    encoded = as_numpy(ours(TEST[0]))
    assert_close(encoded, as_numpy(theirs(TEST[0])), rtol=1e-6, atol=1e-6)
    if not use_embedding:  # the inputs in their order: numeric columns as they are, then the lookups' binary rows
        soil, area = (np.eye(len(v))[TEST[0][k]] for k, v in CATEGORICAL_FEATURES_WITH_VOCABULARY.items())
        expected = np.concatenate([TEST[0][k][:, None] for k in NUMERIC_FEATURE_NAMES] + [soil, area], axis=1)
        assert_close(encoded, expected, rtol=0, atol=0)


@pytest.mark.parametrize("name", list(MODELS))
def test_models_match_keras(real_keras, name):
    ours, theirs = [MODELS[name](*lib) for lib in libraries(real_keras)]
    assert summary_rows(ours) == summary_rows(theirs)
    assert ours.count_params() == theirs.count_params()
    ours.set_weights(theirs.get_weights())
    x, y = TEST
    assert_close(as_numpy(ours(x)), as_numpy(theirs(x)), rtol=1e-4, atol=1e-5)
    assert_close(as_numpy(ours.predict(x, verbose=0)), as_numpy(theirs.predict(x, verbose=0)), rtol=1e-4, atol=1e-5)
    for model in (ours, theirs):
        model.compile(loss="sparse_categorical_crossentropy", metrics=["sparse_categorical_accuracy"])
    assert_close(ours.evaluate(x, y, verbose=0), theirs.evaluate(x, y, verbose=0), rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("name", list(MODELS))
def test_run_experiment_learns(seed, name):
    chance = np.bincount(TEST[1], minlength=NUM_CLASSES).max() / len(TEST[1])
    history, accuracy = run_experiment(layerwise, MODELS[name](layerwise, layerwise.layers, layerwise.ops))
    assert history["loss"][-1] < 0.5 * history["loss"][0], history["loss"]
    assert history["sparse_categorical_accuracy"][-1] > 0.65, history
    assert accuracy > chance + 0.15, (accuracy, chance)


def test_keras_learns_alike(real_keras, seed):
    """The example's last model, three epochs in both libraries (Keras' fit is the slower one on this CPU)."""
    for lib in libraries(real_keras):
        history, _ = run_experiment(lib[0], create_deep_and_cross_model(*lib), num_epochs=3)
        assert history["loss"][-1] < 0.6 * history["loss"][0], (lib[0].__name__, history["loss"])
        assert history["sparse_categorical_accuracy"][-1] > 0.5, (lib[0].__name__, history)


def test_a_scalar_input_s_summary_row_is_keras_s(real_keras):
    """Keras 3.15 writes a rank-1 shape as "(None)" in its summary (not Python's "(None,)"), and so does layerwise."""
    rows = [summary_rows(create_baseline_model(*lib)) for lib in libraries(real_keras)]
    assert ("Aspect (InputLayer)", "(None)", "0", "-") in rows[1]
    assert rows[0] == rows[1]
