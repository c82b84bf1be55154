"""keras-io example "Structured data classification from scratch" (examples/structured_data/
structured_data_classification_from_scratch.py) run with ``import layerwise as keras`` and compared with Keras 3
(torch backend). The heart-disease CSV is replaced by small synthetic columns of the same kinds; tf.data pipelines
are replaced by arrays. The example as it stands (lookups with a fixed vocabulary before the model, a ``Classifier``
layer over a dict of inputs) is checked first; its earlier version (commit b0d68751, ``IntegerLookup`` /
``StringLookup`` / ``Normalization`` adapted on the columns, concatenated inside the model) after it. Neither version
uses ``keras.utils.FeatureSpace`` (which layerwise does not have). Keras 3's ``IntegerLookup`` and ``StringLookup``
need TensorFlow, which the oracle lacks: those lookups are checked against the encodings the example itself expects
(its ``get_cat_encoding`` helper) and Keras' documented vocabulary order."""
from __future__ import annotations

import numpy as np
from guide_helpers import as_numpy, assert_close, fresh, heart_table, libraries, summary_rows

import layerwise as keras
from layerwise import layers

NUMERIC_FEATURE_NAMES = ["age", "trestbps", "thalach", "oldpeak", "slope", "chol"]
INTEGER_CATEGORICAL = ["sex", "cp", "fbs", "restecg", "exang", "ca"]


COLUMNS, _target = heart_table(n=64, seed=0, thal={"normal": 0.55, "reversible": 0.35, "fixed": 0.06, "1": 0.02,
                                                  "2": 0.02})
COLUMNS["target"] = _target
# The example's vocabulary lists: the sorted unique values of each categorical column (ints stay ints).
CATEGORICAL_FEATURES_WITH_VOCABULARY = {name: sorted(np.unique(COLUMNS[name]).tolist())
                                        for name in INTEGER_CATEGORICAL + ["thal"]}
FEATURE_NAMES = NUMERIC_FEATURE_NAMES + list(CATEGORICAL_FEATURES_WITH_VOCABULARY)
SAMPLE = {"age": 60, "sex": 1, "cp": 1, "trestbps": 145, "chol": 233, "fbs": 1, "restecg": 2, "thalach": 150,
          "exang": 0, "oldpeak": 2.3, "slope": 3, "ca": 0, "thal": "fixed"}


def get_cat_encoding(cat, cat_value):
    encoding = [0] * len(cat)
    if cat_value in cat:
        encoding[cat.index(cat_value)] = 1
    return encoding


def encode_categorical(features):
    """The example's ``encode_categorical`` (there a tf.data map) on a dict of column arrays."""
    features = dict(features)
    for feature_name in features:
        if feature_name in CATEGORICAL_FEATURES_WITH_VOCABULARY:
            lookup_class = layers.StringLookup if features[feature_name].dtype.kind in "OUS" else layers.IntegerLookup
            vocabulary = CATEGORICAL_FEATURES_WITH_VOCABULARY[feature_name]
            index = lookup_class(vocabulary=vocabulary, mask_token=None, num_oov_indices=0, output_mode="binary")
            features[feature_name] = as_numpy(index(features[feature_name]))
    return features


def test_lookups_with_the_example_s_vocabularies_encode_as_its_helper_does():
    # Each value alone (shape (1,)) is one row of the encoding, as the tf.data map sees one sample.
    for name, value in SAMPLE.items():
        if name in CATEGORICAL_FEATURES_WITH_VOCABULARY:
            encoded = encode_categorical({name: np.array([value])})[name]
            expected = get_cat_encoding(CATEGORICAL_FEATURES_WITH_VOCABULARY[name], value)
            np.testing.assert_array_equal(encoded, expected, err_msg=name)
    # A batch of rows (shape (n, 1)) gives one row per sample.
    batch = encode_categorical({name: COLUMNS[name][:, None] for name in CATEGORICAL_FEATURES_WITH_VOCABULARY})
    for name, vocabulary in CATEGORICAL_FEATURES_WITH_VOCABULARY.items():
        expected = [get_cat_encoding(vocabulary, v) for v in COLUMNS[name].tolist()]
        np.testing.assert_array_equal(batch[name], expected, err_msg=name)


def current_model(keras, layers, ops):
    fresh(keras)

    class Classifier(keras.layers.Layer):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.dense_1 = layers.Dense(32, activation="relu")
            self.dropout = layers.Dropout(0.5)
            self.dense_2 = layers.Dense(1, activation="sigmoid")

        def call(self, inputs):
            all_features = layers.concatenate(list(inputs.values()))
            x = self.dense_1(all_features)
            x = self.dropout(x)
            return self.dense_2(x)

        def build(self, input_shape):
            self.built = True

    def encode_numerical_feature(feature, name):
        normalizer = layers.Normalization()
        normalizer.adapt(COLUMNS[name].astype("float32")[:, None])  # the example adapts on a tf.data map
        return normalizer(feature)

    inputs = {}
    for feature_name in FEATURE_NAMES:
        if feature_name in CATEGORICAL_FEATURES_WITH_VOCABULARY:
            num_categories = len(CATEGORICAL_FEATURES_WITH_VOCABULARY[feature_name])
            inputs[feature_name] = layers.Input(name=feature_name, shape=(num_categories,), dtype="int64")
        else:
            feature_input = layers.Input(name=feature_name, shape=(1,), dtype="float32")
            # As in the example, the dict holds the normalised tensor, not the Input itself.
            inputs[feature_name] = encode_numerical_feature(feature_input, feature_name)
    output = Classifier()(inputs)
    model = keras.Model(inputs, output)
    model.compile("adam", "binary_crossentropy", metrics=["accuracy"])
    return model


def model_data():
    data = encode_categorical({name: COLUMNS[name][:, None] if name in CATEGORICAL_FEATURES_WITH_VOCABULARY
                               else COLUMNS[name].astype("float32")[:, None] for name in FEATURE_NAMES})
    return {k: (v.astype("int64") if k in CATEGORICAL_FEATURES_WITH_VOCABULARY else v) for k, v in data.items()}


def test_the_example_s_model_starts_at_the_normalised_tensors_as_in_keras(real_keras):
    # The example puts the normalised tensors, not the Inputs, in the inputs dict. Keras, and layerwise as it,
    # take them as new inputs, so the Normalization layers are left out of the model (the example never
    # normalises what it is given).
    ours, theirs = current_model(keras, keras.layers, keras.ops), current_model(*libraries(real_keras)[1])
    for model, library in ((ours, keras), (theirs, real_keras)):
        assert not any(isinstance(layer, library.layers.Normalization) for layer in model.layers)
    assert [type(layer).__name__ for layer in ours.layers] == [type(layer).__name__ for layer in theirs.layers]


def classifier_on_inputs(keras, layers, ops):
    """The example's Classifier over a dict of plain Inputs: the model Keras builds from the example's dict."""
    fresh(keras)

    class Classifier(keras.layers.Layer):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.dense_1 = layers.Dense(32, activation="relu")
            self.dropout = layers.Dropout(0.5)
            self.dense_2 = layers.Dense(1, activation="sigmoid")

        def call(self, inputs):
            all_features = layers.concatenate(list(inputs.values()))
            return self.dense_2(self.dropout(self.dense_1(all_features)))

        def build(self, input_shape):
            self.built = True

    inputs = {name: layers.Input(name=name, shape=(len(CATEGORICAL_FEATURES_WITH_VOCABULARY[name]),), dtype="int64")
              if name in CATEGORICAL_FEATURES_WITH_VOCABULARY else layers.Input(name=name, shape=(1,))
              for name in FEATURE_NAMES}
    model = keras.Model(inputs, Classifier()(inputs))
    model.compile("adam", "binary_crossentropy", metrics=["accuracy"])
    return model


def test_the_classifier_layer_on_a_dict_of_inputs_matches_keras(real_keras):
    ours, theirs = [classifier_on_inputs(*lib) for lib in libraries(real_keras)]
    assert summary_rows(ours) == summary_rows(theirs)
    ours.set_weights(theirs.get_weights())
    data, y = model_data(), COLUMNS["target"]
    assert_close(as_numpy(ours(data)), as_numpy(theirs(data)), rtol=1e-4, atol=1e-5)
    assert_close(ours.evaluate(data, y, verbose=0), theirs.evaluate(data, y, verbose=0), rtol=1e-4, atol=1e-6)


def earlier_version_model(cols):
    """The example's earlier listing: lookups and normalisers adapted on the columns, inside the model."""
    keras.backend.clear_session()

    def encode_numerical_feature(feature, name, data):
        normalizer = layers.Normalization()
        normalizer.adapt(data[name].astype("float32")[:, None])
        return normalizer(feature)

    def encode_categorical_feature(feature, name, data, is_string):
        lookup_class = layers.StringLookup if is_string else layers.IntegerLookup
        lookup = lookup_class(output_mode="binary")
        lookup.adapt(data[name][:, None])
        return lookup(feature)

    sex = keras.Input(shape=(1,), name="sex", dtype="int64")
    cp = keras.Input(shape=(1,), name="cp", dtype="int64")
    fbs = keras.Input(shape=(1,), name="fbs", dtype="int64")
    restecg = keras.Input(shape=(1,), name="restecg", dtype="int64")
    exang = keras.Input(shape=(1,), name="exang", dtype="int64")
    ca = keras.Input(shape=(1,), name="ca", dtype="int64")
    # A string Input needs TensorFlow in Keras 3 (and layerwise keeps strings out of models): thal is looked up
    # before the model, and its binary row is the model's input.
    thal_lookup = layers.StringLookup(output_mode="binary")
    thal_lookup.adapt(cols["thal"][:, None])
    thal = keras.Input(shape=(thal_lookup.vocabulary_size(),), name="thal")
    age = keras.Input(shape=(1,), name="age")
    trestbps = keras.Input(shape=(1,), name="trestbps")
    chol = keras.Input(shape=(1,), name="chol")
    thalach = keras.Input(shape=(1,), name="thalach")
    oldpeak = keras.Input(shape=(1,), name="oldpeak")
    slope = keras.Input(shape=(1,), name="slope")
    all_inputs = [sex, cp, fbs, restecg, exang, ca, thal, age, trestbps, chol, thalach, oldpeak, slope]

    sex_encoded = encode_categorical_feature(sex, "sex", cols, False)
    cp_encoded = encode_categorical_feature(cp, "cp", cols, False)
    fbs_encoded = encode_categorical_feature(fbs, "fbs", cols, False)
    restecg_encoded = encode_categorical_feature(restecg, "restecg", cols, False)
    exang_encoded = encode_categorical_feature(exang, "exang", cols, False)
    ca_encoded = encode_categorical_feature(ca, "ca", cols, False)
    age_encoded = encode_numerical_feature(age, "age", cols)
    trestbps_encoded = encode_numerical_feature(trestbps, "trestbps", cols)
    chol_encoded = encode_numerical_feature(chol, "chol", cols)
    thalach_encoded = encode_numerical_feature(thalach, "thalach", cols)
    oldpeak_encoded = encode_numerical_feature(oldpeak, "oldpeak", cols)
    slope_encoded = encode_numerical_feature(slope, "slope", cols)

    all_features = layers.concatenate([sex_encoded, cp_encoded, fbs_encoded, restecg_encoded, exang_encoded,
                                       slope_encoded, ca_encoded, thal, age_encoded, trestbps_encoded,
                                       chol_encoded, thalach_encoded, oldpeak_encoded])
    x = layers.Dense(32, activation="relu")(all_features)
    x = layers.Dropout(0.5)(x)
    output = layers.Dense(1, activation="sigmoid")(x)
    model = keras.Model(all_inputs, output)
    model.compile("adam", "binary_crossentropy", metrics=["accuracy"])
    return model, thal_lookup


def test_the_earlier_version_adapts_its_lookups_inside_the_model(seed):
    cols = COLUMNS
    model, thal_lookup = earlier_version_model(cols)
    # Keras' adapted vocabulary: the OOV token first, then the values by falling count, ties by falling value.
    cp_lookup = next(layer for layer in model.layers if layer.name == "integer_lookup_1")
    values, counts = np.unique(cols["cp"], return_counts=True)
    order = sorted(zip(counts.tolist(), values.tolist()), reverse=True)
    assert cp_lookup.get_vocabulary() == [-1] + [v for _, v in order]
    assert thal_lookup.get_vocabulary()[:3] == ["[UNK]", "normal", "reversible"]
    np.testing.assert_array_equal(as_numpy(cp_lookup(np.array([[order[0][1]], [99]]))),
                                  [[0, 1] + [0] * (len(order) - 1), [1] + [0] * len(order)])
    rows = {row[0]: row for row in summary_rows(model)}
    assert rows["integer_lookup (IntegerLookup)"][1] == "(None, 3)"  # sex: [-1, 1, 0]
    width = sum(len(np.unique(cols[name])) + 1 for name in INTEGER_CATEGORICAL) + thal_lookup.vocabulary_size() + 6
    assert rows["concatenate (Concatenate)"][1] == f"(None, {width})"
    assert ("Non-trainable params: 18 (72.00 B)",) in summary_rows(model)  # six normalisers' mean, variance, count

    data = {name: cols[name][:, None] for name in INTEGER_CATEGORICAL}
    data.update({name: cols[name].astype("float32")[:, None] for name in NUMERIC_FEATURE_NAMES})
    data["thal"] = as_numpy(thal_lookup(cols["thal"][:, None]))
    history = model.fit(data, cols["target"], batch_size=32, epochs=20, verbose=0).history
    assert history["loss"][-1] < 0.9 * history["loss"][0]
    sample = {name: np.array([[value]]) for name, value in SAMPLE.items() if name != "thal"}
    sample["thal"] = as_numpy(thal_lookup(np.array([[SAMPLE["thal"]]])))
    predictions = model.predict(sample, verbose=0)
    assert predictions.shape == (1, 1) and 0.0 <= predictions[0][0] <= 1.0
