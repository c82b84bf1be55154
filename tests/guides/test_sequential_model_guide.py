"""Keras 3's guide "The Sequential model", listing by listing, run with ``import layerwise as keras``; where
numbers can be compared the same listing also runs in Keras 3 (torch backend) from the same weights."""
from __future__ import annotations

import numpy as np
import pytest
from guide_helpers import as_numpy, assert_close, fresh, libraries, summary_rows

import layerwise as keras
from layerwise import layers, ops


def three_layers(keras, layers, ops):
    model = keras.Sequential(
        [
            layers.Dense(2, activation="relu", name="layer1"),
            layers.Dense(3, activation="relu", name="layer2"),
            layers.Dense(4, name="layer3"),
        ]
    )
    x = ops.ones((3, 3))
    return model, model(x)


def test_creating_a_sequential_model_matches_keras(real_keras):
    (ours, ours_y), (theirs, theirs_y) = [three_layers(*lib) for lib in libraries(real_keras)]
    assert [layer.name for layer in ours.layers] == ["layer1", "layer2", "layer3"]
    ours.set_weights(theirs.get_weights())
    assert_close(as_numpy(ours(ops.ones((3, 3)))), as_numpy(theirs_y))
    assert tuple(ours_y.shape) == (3, 4)


def test_calling_the_layers_one_by_one_is_the_same_function():
    model, _ = three_layers(keras, layers, ops)
    layer1, layer2, layer3 = model.layers
    x = ops.ones((3, 3))
    y = layer3(layer2(layer1(x)))
    assert_close(as_numpy(y), as_numpy(model(x)))


def test_add_and_pop():
    model = keras.Sequential()
    model.add(layers.Dense(2, activation="relu"))
    model.add(layers.Dense(3, activation="relu"))
    model.add(layers.Dense(4))
    model.pop()
    assert len(model.layers) == 2
    model = keras.Sequential(name="my_sequential")
    model.add(layers.Dense(2, activation="relu", name="layer1"))
    model.add(layers.Dense(3, activation="relu", name="layer2"))
    model.add(layers.Dense(4, name="layer3"))
    assert model.name == "my_sequential"
    assert [layer.name for layer in model.layers] == ["layer1", "layer2", "layer3"]


def test_pop_of_an_empty_model_names_the_model():
    with pytest.raises(IndexError, match="my_sequential.*no layers"):
        keras.Sequential(name="my_sequential").pop()


def no_weights_yet(keras, layers, ops):
    fresh(keras)
    layer = layers.Dense(3)
    empty = list(layer.weights)
    layer(ops.ones((1, 4)))
    model = keras.Sequential([layers.Dense(2, activation="relu"), layers.Dense(3, activation="relu"),
                              layers.Dense(4)])
    unbuilt = summary_rows(model)
    unbuilt_weights = list(model.weights)
    model(ops.ones((1, 4)))
    return empty, layer, unbuilt, unbuilt_weights, model


def test_weights_exist_once_the_input_shape_is_known(real_keras):
    ours, theirs = [no_weights_yet(*lib) for lib in libraries(real_keras)]
    empty, layer, unbuilt, unbuilt_weights, model = ours
    assert empty == [] and unbuilt_weights == []
    assert [tuple(w.shape) for w in layer.get_weights()] == [(4, 3), (3,)]
    assert unbuilt == theirs[2]  # "?" shapes and "0 (unbuilt)" parameters
    assert len(model.weights) == 6
    assert summary_rows(model)[-3:] == summary_rows(theirs[4])[-3:]


def input_then_dense(keras, layers, ops):
    fresh(keras)
    model = keras.Sequential()
    model.add(keras.Input(shape=(4,)))
    model.add(layers.Dense(2, activation="relu"))
    return model


def test_summary_after_an_input_matches_keras(real_keras):
    ours, theirs = [input_then_dense(*lib) for lib in libraries(real_keras)]
    assert summary_rows(ours) == summary_rows(theirs)
    assert len(ours.layers) == 1  # the Input is not a layer
    assert ours.layers[0].count_params() == 10


def downsampling_convnet(keras, layers, ops):
    fresh(keras)
    model = keras.Sequential()
    model.add(keras.Input(shape=(250, 250, 3)))  # 250x250 RGB images
    model.add(layers.Conv2D(32, 5, strides=2, activation="relu"))
    model.add(layers.Conv2D(32, 3, activation="relu"))
    model.add(layers.MaxPooling2D(3))
    first = summary_rows(model)
    model.add(layers.Conv2D(32, 3, activation="relu"))
    model.add(layers.Conv2D(32, 3, activation="relu"))
    model.add(layers.MaxPooling2D(3))
    model.add(layers.Conv2D(32, 3, activation="relu"))
    model.add(layers.Conv2D(32, 3, activation="relu"))
    model.add(layers.MaxPooling2D(2))
    second = summary_rows(model)
    model.add(layers.GlobalMaxPooling2D())
    model.add(layers.Dense(10))
    return model, first, second


def test_summaries_while_adding_layers_match_keras(real_keras):
    (ours, *ours_rows), (theirs, *theirs_rows) = [downsampling_convnet(*lib) for lib in libraries(real_keras)]
    assert ours_rows == theirs_rows
    assert ours_rows[0][2][1] == "(None, 40, 40, 32)"
    assert summary_rows(ours) == summary_rows(theirs)
    ours.set_weights(theirs.get_weights())
    x = np.random.default_rng(0).random((2, 250, 250, 3), dtype="float32")
    assert_close(as_numpy(ours(x)), as_numpy(theirs(x)), rtol=1e-4, atol=1e-5)


def feature_extractors(keras, layers, ops):
    initial_model = keras.Sequential(
        [
            keras.Input(shape=(250, 250, 3)),
            layers.Conv2D(32, 5, strides=2, activation="relu"),
            layers.Conv2D(32, 3, activation="relu", name="my_intermediate_layer"),
            layers.Conv2D(32, 3, activation="relu"),
        ]
    )
    every_layer = keras.Model(
        inputs=initial_model.inputs,
        outputs=[layer.output for layer in initial_model.layers],
    )
    one_layer = keras.Model(
        inputs=initial_model.inputs,
        outputs=initial_model.get_layer(name="my_intermediate_layer").output,
    )
    return initial_model, every_layer, one_layer


def test_feature_extraction_with_a_sequential_model_matches_keras(real_keras):
    (ours, ours_all, ours_one), (theirs, theirs_all, theirs_one) = \
        [feature_extractors(*lib) for lib in libraries(real_keras)]
    ours.set_weights(theirs.get_weights())
    x = np.random.default_rng(1).random((1, 250, 250, 3), dtype="float32")
    features = ours_all(x)
    assert len(features) == 3
    for got, expected in zip(features, theirs_all(x)):
        assert_close(as_numpy(got), as_numpy(expected), rtol=1e-4, atol=1e-5)
    assert_close(as_numpy(ours_one(x)), as_numpy(theirs_one(x)), rtol=1e-4, atol=1e-5)
    assert tuple(ours_one(x).shape) == (1, 121, 121, 32)


def freeze_all_but_last(keras, layers, ops, weights_path, x, y):
    model = keras.Sequential([
        keras.Input(shape=(784,)),
        layers.Dense(32, activation='relu'),
        layers.Dense(32, activation='relu'),
        layers.Dense(32, activation='relu'),
        layers.Dense(10),
    ])
    if weights_path is not None:
        model.load_weights(weights_path)
    for layer in model.layers[:-1]:
        layer.trainable = False
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
    return model


def test_transfer_learning_freezes_all_layers_but_the_last(real_keras, tmp_path):
    rng = np.random.default_rng(2)
    x = rng.normal(size=(16, 784)).astype("float32")
    y = rng.normal(size=(16, 10)).astype("float32")
    pretrained = keras.Sequential([keras.Input(shape=(784,))] + [layers.Dense(32, activation="relu")
                                                                  for _ in range(3)] + [layers.Dense(10)])
    pretrained.save_weights(tmp_path / "pretrained.weights.h5")
    ours = freeze_all_but_last(keras, layers, ops, tmp_path / "pretrained.weights.h5", x, y)
    assert_close(np.concatenate([w.ravel() for w in ours.get_weights()]),
                 np.concatenate([w.ravel() for w in pretrained.get_weights()]), rtol=0, atol=0)
    theirs = freeze_all_but_last(real_keras, real_keras.layers, real_keras.ops, None, x, y)
    theirs.set_weights(ours.get_weights())
    before = ours.get_weights()
    histories = [m.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0).history for m in (ours, theirs)]
    assert_close(histories[0]["loss"], histories[1]["loss"], rtol=1e-5)
    after = ours.get_weights()
    assert all(np.array_equal(a, b) for a, b in zip(before[:-2], after[:-2]))
    assert not np.array_equal(before[-2], after[-2])
    for got, expected in zip(after, theirs.get_weights()):
        assert_close(got, expected)
    assert summary_rows(ours)[-3:] == summary_rows(theirs)[-3:]


def test_a_frozen_sequential_base_inside_a_sequential_model(real_keras):
    base = keras.Sequential([keras.Input(shape=(8, 8, 3)), layers.Conv2D(4, 3, activation="relu"),
                             layers.GlobalAveragePooling2D()])
    base.trainable = False
    model = keras.Sequential([base, layers.Dense(5)])
    assert len(model.trainable_weights) == 2
    assert len(model.non_trainable_weights) == 2
