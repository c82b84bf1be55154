"""keras-io example "Image similarity estimation using a Siamese Network with a contrastive loss"
(examples/vision/siamese_contrastive.py) run with ``import layerwise as keras`` and in Keras 3 (torch backend):
the pair maker, the embedding network shared by two towers, the ``Lambda`` euclidean distance, the custom
contrastive loss, training with RMSprop and validation data, ``evaluate`` and ``predict``. The distance and the
loss are written with ``keras.ops`` as in the example's Keras 3 edition. MNIST is not downloaded (random images
of its shape and dtype stand in for it) and the matplotlib plots (``visualize``, ``plt_metric``) are left out."""
from __future__ import annotations

import random

import numpy as np
import pytest
from guide_helpers import as_numpy, assert_close, fresh, libraries, summary_rows

margin = 1  # the example's margin for the contrastive loss
batch_size = 16


def distance_function(keras, ops):
    def euclidean_distance(vects):
        x, y = vects
        sum_square = ops.sum(ops.square(x - y), axis=1, keepdims=True)
        return ops.sqrt(ops.maximum(sum_square, keras.backend.epsilon()))

    return euclidean_distance


def siamese_model(keras, layers, ops, output_shape=(1,)):
    fresh(keras)
    euclidean_distance = distance_function(keras, ops)
    input = keras.layers.Input((28, 28, 1))
    x = keras.layers.BatchNormalization()(input)
    x = keras.layers.Conv2D(4, (5, 5), activation="tanh")(x)
    x = keras.layers.AveragePooling2D(pool_size=(2, 2))(x)
    x = keras.layers.Conv2D(16, (5, 5), activation="tanh")(x)
    x = keras.layers.AveragePooling2D(pool_size=(2, 2))(x)
    x = keras.layers.Flatten()(x)
    x = keras.layers.BatchNormalization()(x)
    x = keras.layers.Dense(10, activation="tanh")(x)
    embedding_network = keras.Model(input, x)

    input_1 = keras.layers.Input((28, 28, 1))
    input_2 = keras.layers.Input((28, 28, 1))
    # One embedding network for both towers: the towers share its weights.
    tower_1 = embedding_network(input_1)
    tower_2 = embedding_network(input_2)
    merge_layer = keras.layers.Lambda(euclidean_distance, output_shape=output_shape)([tower_1, tower_2])
    normal_layer = keras.layers.BatchNormalization()(merge_layer)
    output_layer = keras.layers.Dense(1, activation="sigmoid")(normal_layer)
    siamese = keras.Model(inputs=[input_1, input_2], outputs=output_layer)
    return siamese


def loss(ops, margin=1):
    def contrastive_loss(y_true, y_pred):
        square_pred = ops.square(y_pred)
        margin_square = ops.square(ops.maximum(margin - (y_pred), 0))
        return ops.mean((1 - y_true) * square_pred + (y_true) * margin_square)

    return contrastive_loss


def make_pairs(x, y):
    """For each image: a pair with an image of the same class (label 1) and one of another class (label 0)."""
    num_classes = max(y) + 1
    digit_indices = [np.where(y == i)[0] for i in range(num_classes)]
    pairs = []
    labels = []
    for idx1 in range(len(x)):
        x1 = x[idx1]
        label1 = y[idx1]
        idx2 = random.choice(digit_indices[label1])
        x2 = x[idx2]
        pairs += [[x1, x2]]
        labels += [1]
        label2 = random.randint(0, num_classes - 1)
        while label2 == label1:
            label2 = random.randint(0, num_classes - 1)
        idx2 = random.choice(digit_indices[label2])
        x2 = x[idx2]
        pairs += [[x1, x2]]
        labels += [0]
    return np.array(pairs), np.array(labels).astype("float32")


def mnist_like(n, seed):
    """Images as the example loads them: (n, 28, 28) float32 in [0, 255] (not rescaled), labels 0-9."""
    rng = np.random.default_rng(seed)
    images = np.where(rng.random((n, 28, 28)) < 0.2, rng.integers(0, 256, (n, 28, 28)), 0).astype("float32")
    labels = np.arange(n) % 10  # every class present, as make_pairs needs
    return images, labels


def pair_data(n, seed):
    random.seed(seed)
    pairs, labels = make_pairs(*mnist_like(n, seed))
    return pairs[:, 0], pairs[:, 1], labels


def compiled_pair(real_keras):
    models = [siamese_model(*lib) for lib in libraries(real_keras)]
    models[0].set_weights(models[1].get_weights())
    for model, (keras, _, ops) in zip(models, libraries(real_keras)):
        model.compile(loss=loss(ops, margin=margin), optimizer="RMSprop", metrics=["accuracy"])
    return models


def test_the_example_s_euclidean_distance_as_written(real_keras):
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(2, 5, 10)).astype("float32")
    b[0] = a[0]  # a zero distance: the epsilon floor under the square root
    results = [as_numpy(distance_function(keras, ops)([ops.convert_to_tensor(a), ops.convert_to_tensor(b)]))
               for keras, _, ops in libraries(real_keras)]
    assert_close(results[0], results[1], rtol=1e-6)
    assert results[0][0, 0] == pytest.approx(np.sqrt(1e-7))


def test_a_lambda_over_the_two_towers_infers_its_output_shape_as_in_keras(real_keras):
    ours, theirs = [siamese_model(*lib, output_shape=None) for lib in libraries(real_keras)]
    assert summary_rows(ours) == summary_rows(theirs)


def test_the_siamese_model_matches_keras(real_keras):
    ours, theirs = compiled_pair(real_keras)
    assert summary_rows(ours) == summary_rows(theirs)
    assert len(ours.layers[2].weights) == len(theirs.layers[2].weights)  # one embedding network, shared
    x_1, x_2, _ = pair_data(10, 1)
    x = [x_1[..., None], x_2[..., None]]
    assert_close(as_numpy(ours(x)), as_numpy(theirs(x)), rtol=1e-4, atol=1e-5)


def test_the_contrastive_loss_matches_keras(real_keras):
    rng = np.random.default_rng(2)
    y_true = rng.integers(0, 2, (12, 1)).astype("float32")
    y_pred = rng.uniform(0, 1.5, (12, 1)).astype("float32")
    results = [float(as_numpy(loss(ops, margin)(ops.convert_to_tensor(y_true), ops.convert_to_tensor(y_pred))))
               for _, _, ops in libraries(real_keras)]
    assert results[0] == pytest.approx(results[1], rel=1e-6)
    expected = np.mean((1 - y_true) * y_pred ** 2 + y_true * np.maximum(margin - y_pred, 0) ** 2)
    assert results[0] == pytest.approx(expected, rel=1e-5)


def test_training_with_the_contrastive_loss_matches_keras_epoch_by_epoch(real_keras):
    ours, theirs = compiled_pair(real_keras)
    x_train_1, x_train_2, labels_train = pair_data(40, 3)  # 80 pairs; the example makes 60,000
    x_val_1, x_val_2, labels_val = pair_data(10, 4)
    train = [x_train_1[..., None], x_train_2[..., None]]
    val = ([x_val_1[..., None], x_val_2[..., None]], labels_val)
    # The example's 10 epochs shrink to 2; shuffle=False and no dropout, so both train alike.
    histories = [m.fit(train, labels_train, validation_data=val, batch_size=batch_size, epochs=2, shuffle=False,
                       verbose=0).history for m in (ours, theirs)]
    assert sorted(histories[0]) == sorted(histories[1]) == ["accuracy", "loss", "val_accuracy", "val_loss"]
    for key in histories[1]:
        assert_close(histories[0][key], histories[1][key], rtol=1e-4, atol=1e-6, what=key)
    assert histories[0]["loss"][-1] < histories[0]["loss"][0]

    x_test_1, x_test_2, labels_test = pair_data(10, 5)
    test = [x_test_1[..., None], x_test_2[..., None]]
    results = [m.evaluate(test, labels_test, verbose=0) for m in (ours, theirs)]
    assert len(results[0]) == len(results[1]) == 2  # test loss, test accuracy
    assert_close(results[0], results[1], rtol=1e-4, atol=1e-6)
    predictions = [m.predict(test, verbose=0) for m in (ours, theirs)]
    assert predictions[0].shape == predictions[1].shape == (20, 1)
    assert_close(predictions[0], predictions[1], rtol=1e-4, atol=1e-5)


def test_the_example_s_pairs_without_a_channel_axis_train_as_in_keras(real_keras):
    ours, theirs = compiled_pair(real_keras)
    x_train_1, x_train_2, labels_train = pair_data(20, 6)
    assert x_train_1.shape == (40, 28, 28)  # as the example feeds them: no channel axis
    histories = [m.fit([x_train_1, x_train_2], labels_train, batch_size=batch_size, epochs=1, shuffle=False,
                       verbose=0).history for m in (ours, theirs)]
    assert_close(histories[0]["loss"], histories[1]["loss"], rtol=1e-4, atol=1e-6)
    predictions = [m.predict([x_train_1, x_train_2], verbose=0) for m in (ours, theirs)]
    assert_close(predictions[0], predictions[1], rtol=1e-4, atol=1e-5)


def test_make_pairs_pairs_same_and_different_classes():
    random.seed(7)
    x, y = mnist_like(30, 7)
    pairs, labels = make_pairs(x, y)
    assert pairs.shape == (60, 2, 28, 28) and labels.dtype == np.float32
    assert labels.tolist() == [1.0, 0.0] * 30
    assert np.array_equal(pairs[::2, 0], x) and np.array_equal(pairs[1::2, 0], x)
