"""Each user mistake gets an error that says what is wrong and what to do, before any training step."""
import numpy as np
import pytest

import layerwise as keras
from layerwise import layers as L


def small_classifier(input_shape=(8, 8, 1), classes=3):
    model = keras.Sequential([keras.Input(input_shape), L.Conv2D(4, 3, activation="relu"), L.Flatten(),
                              L.Dense(classes, activation="softmax")])
    model.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"])
    return model


def no_step_taken(model):
    return model.optimizer.iterations == 0


def test_wrong_input_shape_names_layer_and_shapes():
    model = small_classifier()
    x = np.zeros((5, 28, 28, 1), "float32")
    y = keras.utils.to_categorical(np.zeros(5), 3)
    with pytest.raises(ValueError, match=r"conv2d.*Conv2D.*\(None, 8, 8, 1\).*\(5, 28, 28, 1\)"):
        model.fit(x, y, verbose=0)
    assert no_step_taken(model)
    with pytest.raises(ValueError, match=r"expected \(None, 8, 8, 1\)"):
        model.predict(x, verbose=0)


def test_integer_labels_with_categorical_crossentropy_suggest_fixes():
    model = small_classifier()
    x = np.zeros((5, 8, 8, 1), "float32")
    for y in (np.array([0, 1, 2, 0, 1]), np.array([[0], [1], [2], [0], [1]])):
        with pytest.raises(ValueError, match="to_categorical.*sparse_categorical_crossentropy"):
            model.fit(x, y, verbose=0)
    assert no_step_taken(model)


def test_one_hot_labels_with_sparse_loss_suggest_fix():
    model = small_classifier()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    with pytest.raises(ValueError, match="categorical_crossentropy.*argmax"):
        model.fit(np.zeros((4, 8, 8, 1)), keras.utils.to_categorical([0, 1, 2, 0], 3), verbose=0)


def test_sparse_label_out_of_range():
    model = small_classifier()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    with pytest.raises(ValueError, match=r"\[0, 2\].*from 0 to 7"):
        model.fit(np.zeros((4, 8, 8, 1)), np.array([0, 1, 7, 2]), verbose=0)


def test_label_count_mismatch():
    model = small_classifier()
    with pytest.raises(ValueError, match="x has 5, y has 4"):
        model.fit(np.zeros((5, 8, 8, 1)), keras.utils.to_categorical([0, 1, 2, 0], 3), verbose=0)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_nan_or_inf_in_x_or_y(bad):
    model = small_classifier()
    x = np.zeros((4, 8, 8, 1), "float32")
    y = keras.utils.to_categorical([0, 1, 2, 0], 3)
    x_bad = x.copy()
    x_bad[1, 2, 3, 0] = bad
    with pytest.raises(ValueError, match=r"x contains 1 NaN or infinite"):
        model.fit(x_bad, y, verbose=0)
    y_bad = y.copy()
    y_bad[0, 0] = bad
    with pytest.raises(ValueError, match=r"y contains 1 NaN or infinite"):
        model.fit(x, y_bad, verbose=0)
    assert no_step_taken(model)


def test_fit_before_compile():
    model = keras.Sequential([keras.Input((3,)), L.Dense(1)])
    with pytest.raises(RuntimeError, match=r"compile\(\) before fit\(\)"):
        model.fit(np.zeros((2, 3)), np.zeros(2))


@pytest.mark.parametrize("kwargs,pattern", [
    ({"optimizer": "adamx", "loss": "mse"},
     "Could not interpret optimizer identifier: 'adamx'. Valid names: adadelta, adafactor, adagrad, adam"),
    ({"optimizer": "adam", "loss": "hinge2"}, "Unknown loss 'hinge2'. Valid names: .*binary_crossentropy"),
    ({"optimizer": "adam", "loss": "mse", "metrics": ["f1"]}, "Unknown metric 'f1'. Valid names: acc, accuracy, "),
])
def test_unknown_names_list_valid_ones(kwargs, pattern):
    model = keras.Sequential([keras.Input((3,)), L.Dense(1)])
    with pytest.raises(ValueError, match=pattern):
        model.compile(**kwargs)


def test_incompatible_layer_added_after_build_is_refused_and_model_unchanged():
    model = keras.Sequential([keras.Input((8,)), L.Dense(4)])
    with pytest.raises(ValueError, match=r"conv2d.*Conv2D.*rank 4.*\(None, 4\)"):
        model.add(L.Conv2D(2, 3))
    assert len(model.layers) == 1
    assert model.predict(np.zeros((2, 8)), verbose=0).shape == (2, 4)


def test_ragged_list_suggests_pad_sequences():
    model = keras.Sequential([keras.Input((3,)), L.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    with pytest.raises(ValueError, match="pad_sequences"):
        model.fit([[1, 2, 3], [1, 2]], [0, 1], verbose=0)


def test_binary_crossentropy_rejects_labels_outside_unit_interval():
    model = keras.Sequential([keras.Input((3,)), L.Dense(1, activation="sigmoid")])
    model.compile(optimizer="sgd", loss="binary_crossentropy")
    with pytest.raises(ValueError, match=r"targets in \[0, 1\].*from 0.0 to 3.0"):
        model.fit(np.zeros((3, 3)), np.array([0, 1, 3]), verbose=0)


def test_sample_weight_takes_a_column_and_needs_one_row_per_sample():
    model = keras.Sequential([keras.Input((2,)), L.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    x, y = np.ones((4, 2), "float32"), np.ones((4, 1), "float32")
    weights = np.array([1.0, 0.0, 2.0, 1.0])
    flat = model.evaluate(x, y, sample_weight=weights, verbose=0)
    assert model.evaluate(x, y, sample_weight=weights[:, None], verbose=0) == flat
    with pytest.raises(ValueError, match=r"one row per sample: shape \(4,\), \(4, 1\) or, for per-step losses, "
                                         r"\(4, steps\); got \(3,\)"):
        model.fit(x, y, sample_weight=np.ones(3), verbose=0)


@pytest.mark.parametrize("loss", ["mse", "mae", "huber"])
def test_one_target_per_row_for_several_output_units_is_refused(loss):
    # Keras 3 (torch) fails with "The size of tensor a (32) must match the size of tensor b (2)"; a 2-row batch
    # would silently compare every row with every target
    x = np.random.default_rng(0).random((32, 3)).astype("float32")
    y = np.random.default_rng(1).random(32).astype("float32")
    model = keras.Sequential([keras.Input((3,)), L.Dense(2)])
    model.compile("sgd", loss)
    for call in (lambda: model.fit(x, y, verbose=0), lambda: model.evaluate(x, y, verbose=0)):
        with pytest.raises(ValueError, match=r"output shape \(None, 2\), but y has shape \(32,\).*Dense\(1\)"):
            call()
    model.fit(x, np.stack([y, y], 1), verbose=0)  # the output's shape, and a column y[:, None] as Keras broadcasts
    assert np.isfinite(model.evaluate(x, y[:, None], verbose=0))


def test_sample_weight_beside_a_dataset_of_batches_is_refused_as_keras_does():
    # It was silently ignored: all-zero weights trained as if there were none.
    model = keras.Sequential([keras.Input((4,)), L.Dense(1)])
    model.compile("sgd", "mse")
    x, y = np.ones((10, 4), "float32"), np.ones((10, 1), "float32")
    batches = [(x[i:i + 2], y[i:i + 2]) for i in range(0, 10, 2)]
    for call in (model.fit, model.evaluate):
        with pytest.raises(ValueError, match=r"do not pass sample_weight separately: yield \(x, y, sample_weight\)"):
            call(iter(batches), sample_weight=np.zeros(10), verbose=0)
    assert no_step_taken(model)


def test_validation_settings_keras_ignores_or_that_make_no_sense():
    model = keras.Sequential([keras.Input((4,)), L.Dense(1)])
    model.compile("sgd", "mse")
    x, y = np.ones((10, 4), "float32"), np.ones((10, 1), "float32")
    # validation_steps without validation data is unused, as in Keras (it raised an AttributeError)
    assert list(model.fit(x, y, validation_steps=2, verbose=0).history) == ["loss"]
    for split in (-0.1, 1.0):  # a negative one gave a made-up val_loss of 0.0
        with pytest.raises(ValueError, match=rf"validation_split must be a fraction in \[0, 1\), got {split}"):
            model.fit(x, y, validation_split=split, verbose=0)


def test_an_empty_metrics_list_means_no_metrics_for_several_outputs(request):
    # Keras takes metrics=[] for a model of two outputs; it was refused as a list of 0 entries for 2 outputs.
    logs = []
    for lib in (keras, request.getfixturevalue("keras")):  # layerwise is imported as keras here
        inputs = lib.Input((4,))
        model = lib.Model(inputs, [lib.layers.Dense(1, name="a")(inputs), lib.layers.Dense(1, name="b")(inputs)])
        model.compile("sgd", ["mse", "mse"], metrics=[])
        logs.append(sorted(model.evaluate(np.ones((4, 4)), [np.ones((4, 1)), np.ones((4, 1))], verbose=0,
                                          return_dict=True)))
    assert logs[0] == logs[1] == ["a_loss", "b_loss", "loss"]
