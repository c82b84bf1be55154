"""keras-io example "Point cloud classification with PointNet" (examples/vision/pointnet.py, the Keras 3 edition
written with ``keras.ops``) run with ``import layerwise as keras`` and in Keras 3 (torch backend): the ``conv_bn`` /
``dense_bn`` blocks (``BatchNormalization(momentum=0.0)``), the custom ``OrthogonalRegularizer`` written with
``keras.ops`` and used as the T-net's ``activity_regularizer``, the T-nets' ``Dense`` with a ``Constant`` identity
bias and ``Dot(axes=(2, 1))``, the network's summary, outputs and losses from the same weights, training, and the
prediction of classes with ``ops.argmax``.

ModelNet10 is not downloaded and trimesh is not used: each class is points sampled on its own ellipsoid (float64,
as trimesh's ``sample`` gives them). The example's tf.data pipeline (``from_tensor_slices``, ``shuffle``,
``map(augment)``, ``take``/``skip``, ``batch``) becomes numpy: one shuffle, the example's ``augment`` (written with
``keras.random``) applied to each cloud as a tensor, the 80/20 split, and ``fit(..., batch_size=BATCH_SIZE)``.
The listing's ``CLASS_MAP[preds[i].numpy()]`` becomes ``CLASS_MAP[int(preds[i])]``: on the torch backend
``.numpy()`` of a scalar gives a 0-d array, which a dict cannot look up (in Keras as here). matplotlib is left out.

The clouds have 16 points (the example: 2048) and batches 16 clouds (the example: 32); the summary is also compared
at the example's 2048 points, with the totals its page prints. The network has Dropout, whose masks differ by design
(README): training is compared number by number on the same network with ``Dropout(0.0)`` (one plain gradient step,
and one step of the example's Adam, whose later steps follow the signs of float32 rounding, see that test), and
the listing's network trains 2 epochs (the example: 20) in layerwise."""
from __future__ import annotations

import re

import numpy as np
import pytest
from guide_helpers import as_numpy, assert_close, fresh, libraries, summary_rows

NUM_POINTS = 16  # the example: 2048
NUM_CLASSES = 10
BATCH_SIZE = 16  # the example: 32


def pointnet_parts(keras, layers, ops):
    """The example's building blocks, over one library's ``(keras, layers, ops)``."""

    def conv_bn(x, filters):
        x = layers.Conv1D(filters, kernel_size=1, padding="valid")(x)
        x = layers.BatchNormalization(momentum=0.0)(x)
        return layers.Activation("relu")(x)

    def dense_bn(x, filters):
        x = layers.Dense(filters)(x)
        x = layers.BatchNormalization(momentum=0.0)(x)
        return layers.Activation("relu")(x)

    class OrthogonalRegularizer(keras.regularizers.Regularizer):
        def __init__(self, num_features, l2reg=0.001):
            self.num_features = num_features
            self.l2reg = l2reg
            self.eye = ops.eye(num_features)

        def __call__(self, x):
            x = ops.reshape(x, (-1, self.num_features, self.num_features))
            xxt = ops.tensordot(x, x, axes=(2, 2))
            xxt = ops.reshape(xxt, (-1, self.num_features, self.num_features))
            return ops.sum(self.l2reg * ops.square(xxt - self.eye))

    def tnet(inputs, num_features):
        # Initialise bias as the identity matrix
        bias = keras.initializers.Constant(np.eye(num_features).flatten())
        reg = OrthogonalRegularizer(num_features)

        x = conv_bn(inputs, 32)
        x = conv_bn(x, 64)
        x = conv_bn(x, 512)
        x = layers.GlobalMaxPooling1D()(x)
        x = dense_bn(x, 256)
        x = dense_bn(x, 128)
        x = layers.Dense(
            num_features * num_features,
            kernel_initializer="zeros",
            bias_initializer=bias,
            activity_regularizer=reg,
        )(x)
        feat_T = layers.Reshape((num_features, num_features))(x)
        # Apply affine transformation to input features
        return layers.Dot(axes=(2, 1))([inputs, feat_T])

    return conv_bn, dense_bn, OrthogonalRegularizer, tnet


def get_model(keras, layers, ops, num_points=NUM_POINTS, dropout=0.3):
    """The example's network; ``dropout`` is its 0.3 except where training is compared number by number."""
    fresh(keras)
    conv_bn, dense_bn, _, tnet = pointnet_parts(keras, layers, ops)
    inputs = keras.Input(shape=(num_points, 3))

    x = tnet(inputs, 3)
    x = conv_bn(x, 32)
    x = conv_bn(x, 32)
    x = tnet(x, 32)
    x = conv_bn(x, 32)
    x = conv_bn(x, 64)
    x = conv_bn(x, 512)
    x = layers.GlobalMaxPooling1D()(x)
    x = dense_bn(x, 256)
    x = layers.Dropout(dropout)(x)
    x = dense_bn(x, 128)
    x = layers.Dropout(dropout)(x)

    outputs = layers.Dense(NUM_CLASSES, activation="softmax")(x)

    model = keras.Model(inputs=inputs, outputs=outputs, name="pointnet")
    return model


def compile_model(keras, model):
    model.compile(
        loss="sparse_categorical_crossentropy",
        optimizer=keras.optimizers.Adam(learning_rate=0.001),
        metrics=["sparse_categorical_accuracy"],
    )


def parse_dataset(num_points=NUM_POINTS, per_class=(4, 2), seed=0):
    """Stands in for the example's ``parse_dataset``: float64 clouds of ``num_points`` points sampled on each
    class's ellipsoid (axes growing with the class index), train then test, and the class map."""
    rng = np.random.default_rng(seed)
    class_map = {i: f"shape_{i}" for i in range(NUM_CLASSES)}
    splits = []
    for count in per_class:
        points, labels = [], []
        for i in range(NUM_CLASSES):
            axes = np.array([1.0 + 0.3 * i, 1.0, 1.0 + 0.15 * (i % 3)])
            for _ in range(count):
                directions = rng.normal(size=(num_points, 3))
                directions /= np.linalg.norm(directions, axis=1, keepdims=True)
                points.append(directions * axes)
                labels.append(i)
        splits.append((np.array(points), np.array(labels)))
    (train_points, train_labels), (test_points, test_labels) = splits
    return train_points, test_points, train_labels, test_labels, class_map


def augment_fn(keras, ops):
    def augment(points, label):
        # jitter points
        points += keras.random.uniform(points.shape, -0.005, 0.005, dtype="float64")
        # shuffle points
        points = keras.random.shuffle(points)
        return points, label

    return augment


def train_and_validation(keras, ops, train_points, train_labels, seed=1):
    """The example's pipeline without tf.data: shuffle, augment each cloud, then its 80/20 train/validation split."""
    train_size = 0.8
    train_dataset_size = int(len(train_points) * train_size)
    order = np.random.default_rng(seed).permutation(len(train_points))
    augment = augment_fn(keras, ops)
    pairs = [augment(ops.convert_to_tensor(train_points[i]), train_labels[i]) for i in order]
    points = np.stack([as_numpy(p) for p, _ in pairs])
    labels = np.array([label for _, label in pairs])
    return ((points[:train_dataset_size], labels[:train_dataset_size]),
            (points[train_dataset_size:], labels[train_dataset_size:]))


def same_models(real_keras, **kwargs):
    ours, theirs = [get_model(*lib, **kwargs) for lib in libraries(real_keras)]
    ours.set_weights(theirs.get_weights())
    return ours, theirs


def test_summary_at_the_example_s_size_matches_keras_and_the_page(real_keras):
    ours, theirs = [get_model(*lib, num_points=2048) for lib in libraries(real_keras)]
    rows = summary_rows(ours)
    assert rows == summary_rows(theirs)
    assert rows[-3:] == [("Total params: 748,979 (2.86 MB)",), ("Trainable params: 742,899 (2.83 MB)",),
                         ("Non-trainable params: 6,080 (23.75 KB)",)]
    # The second T-net transforms the 32 features of the second conv_bn (the page's "activation_6").
    dot_rows = [row for row in rows if row[0].startswith("dot")]
    assert [row[:3] for row in dot_rows] == [("dot (Dot)", "(None, 2048, 3)", "0"),
                                             ("dot_1 (Dot)", "(None, 2048, 32)", "0")]
    assert dot_rows[1][3].startswith("activation_6[0][")


def test_the_t_net_starts_as_the_identity_as_in_keras(real_keras):
    # The last Dense of a T-net has a zero kernel and the flattened identity as bias: its Dot returns the input.
    points = parse_dataset()[1][:4]
    for keras, layers, ops in libraries(real_keras):
        fresh(keras)
        _, _, _, tnet = pointnet_parts(keras, layers, ops)
        inputs = keras.Input(shape=(NUM_POINTS, 3))
        model = keras.Model(inputs, tnet(inputs, 3))
        dense = [layer for layer in model.layers if layer.name == "dense_2"][0]
        kernel, bias = dense.get_weights()
        assert_close(kernel, np.zeros((128, 9)), rtol=0, atol=0)
        assert_close(bias, np.eye(3).flatten(), rtol=0, atol=0)
        assert_close(as_numpy(model(points)), points, rtol=1e-6, atol=1e-6, what=keras.__name__)


def test_the_orthogonal_regularizer_matches_keras(real_keras):
    rng = np.random.default_rng(2)
    x = rng.normal(size=(4, 9)).astype("float32")  # a batch of four flattened 3 x 3 matrices
    penalties = [float(as_numpy(pointnet_parts(*lib)[2](3)(x))) for lib in libraries(real_keras)]
    assert penalties[0] == pytest.approx(penalties[1], rel=1e-5)
    # The listing's tensordot pairs every matrix with every other one (batch^2 products), not just itself.
    m = x.reshape(-1, 3, 3)
    expected = 0.001 * np.square(np.einsum("aij,bkj->aibk", m, m).reshape(-1, 3, 3) - np.eye(3)).sum()
    assert penalties[0] == pytest.approx(expected, rel=1e-5)
    own = 0.001 * np.square(np.einsum("aij,akj->aik", m, m) - np.eye(3)).sum()  # X X^T of each matrix alone
    assert abs(penalties[0] - own) > 0.01


def test_outputs_losses_and_a_gradient_step_from_the_same_weights_match_keras(real_keras):
    # Without dropout, for the training step at the end; the summary and inference are the listing's.
    real_keras.utils.set_random_seed(0)
    ours, theirs = [get_model(*lib, dropout=0.0) for lib in libraries(real_keras)]
    assert summary_rows(ours) == summary_rows(theirs)
    # Keras' weights with the 2-D kernels moved a little, so that the T-nets are no longer the identity and
    # their orthogonal penalties are not zero.
    rng = np.random.default_rng(3)
    weights = [w + rng.normal(scale=0.01, size=w.shape).astype(w.dtype) if w.ndim == 2 else w
               for w in theirs.get_weights()]
    ours.set_weights(weights)
    theirs.set_weights(weights)
    train_points, test_points, train_labels, test_labels, _ = parse_dataset()
    out, k_out = as_numpy(ours(test_points)), as_numpy(theirs(test_points))
    assert out.shape == (len(test_points), NUM_CLASSES)
    assert_close(out, k_out, rtol=1e-4, atol=1e-6)
    assert_close(out.sum(axis=1), np.ones(len(test_points)), rtol=1e-5)
    # The two T-nets' activity penalties (each divided by the batch size), as Keras collects them in a call.
    assert len(ours.losses) == len(theirs.losses) == 2
    penalties = [float(as_numpy(v)) for v in ours.losses]
    assert_close(penalties, [float(as_numpy(v)) for v in theirs.losses], rtol=1e-4, atol=1e-7)
    assert min(penalties) > 1e-2
    for (keras, _, _), model in zip(libraries(real_keras), (ours, theirs)):
        compile_model(keras, model)
    # evaluate's loss is the cross-entropy plus the penalties
    evaluation = ours.evaluate(test_points, test_labels, batch_size=BATCH_SIZE, verbose=0, return_dict=True)
    k_evaluation = theirs.evaluate(test_points, test_labels, batch_size=BATCH_SIZE, verbose=0, return_dict=True)
    assert sorted(evaluation) == sorted(k_evaluation) == ["loss", "sparse_categorical_accuracy"]
    for key in k_evaluation:
        assert evaluation[key] == pytest.approx(k_evaluation[key], rel=1e-4), key
    # One plain gradient step (SGD rather than the example's Adam, which rescales every gradient, see the next
    # test) moves each weight as in Keras: the gradients through the T-nets, Dot and the penalties agree.
    for (keras, _, _), model in zip(libraries(real_keras), (ours, theirs)):
        model.compile(loss="sparse_categorical_crossentropy", optimizer=keras.optimizers.SGD(learning_rate=0.1))
    # (return_dict: Keras 3.15 still reports the metric of the first compile after this one, which has none)
    logs = ours.train_on_batch(train_points[:BATCH_SIZE], train_labels[:BATCH_SIZE], return_dict=True)
    k_logs = theirs.train_on_batch(train_points[:BATCH_SIZE], train_labels[:BATCH_SIZE], return_dict=True)
    assert logs["loss"] == pytest.approx(k_logs["loss"], rel=1e-5)
    steps = [(w.path, got - before, expected - before)
             for w, got, expected, before in zip(theirs.weights, ours.get_weights(), theirs.get_weights(), weights)
             if "moving" not in w.path]
    # The convolutions' biases feed a BatchNormalization, which takes their mean out: their true gradient is zero
    # and what is left is float32 rounding, so the steps are compared to 1e-4 of the largest step in the model.
    largest = max(np.abs(expected).max() for _, _, expected in steps)
    for name, got, expected in steps:
        assert_close(got, expected, rtol=1e-3, atol=1e-4 * largest, what=name)


def test_the_augmentation_jitters_and_shuffles_each_cloud(real_keras):
    train_points, _, train_labels, _, _ = parse_dataset()
    for keras, layers, ops in libraries(real_keras):
        augment = augment_fn(keras, ops)
        cloud = train_points[5]
        points, label = augment(ops.convert_to_tensor(cloud.copy()), train_labels[5])
        points = as_numpy(points)
        assert points.dtype == np.float64 and points.shape == cloud.shape and label == train_labels[5]
        # Each point moved by at most 0.005 per coordinate, and the points were put in another order.
        distances = np.abs(points[:, None, :] - cloud[None, :, :]).max(axis=2)
        assert (distances.min(axis=1) <= 0.005).all(), keras.__name__
        assert sorted(distances.argmin(axis=1)) == list(range(NUM_POINTS)), keras.__name__
        assert not np.allclose(points, cloud, atol=0.01), keras.__name__
        (x_train, y_train), (x_val, y_val) = train_and_validation(keras, ops, train_points, train_labels)
        assert x_train.shape == (32, NUM_POINTS, 3) and x_val.shape == (8, NUM_POINTS, 3)
        assert sorted(np.concatenate([y_train, y_val])) == sorted(train_labels)


def test_training_without_dropout_matches_keras(real_keras, tmp_path):
    real_keras.utils.set_random_seed(1)
    ours, theirs = same_models(real_keras, dropout=0.0)
    train_points, test_points, train_labels, test_labels, _ = parse_dataset()
    lw = libraries(real_keras)[0]
    (x_train, y_train), validation = train_and_validation(lw[0], lw[2], train_points, train_labels)
    # One batch: Adam's first step is about lr * sign(gradient). The convolutions' biases feed a
    # BatchNormalization, which takes their mean out: their true gradient is zero and float32 rounding picks the
    # sign, in each library its own. Those steps change nothing downstream, but from the second step on they
    # change the gradients' tiny entries (the first T-net's layers get none at the first step, its last kernel
    # being zero, and tiny ones at the second), whose signs Adam then follows: the runs part by a few percent.
    x_train, y_train = x_train[:BATCH_SIZE], y_train[:BATCH_SIZE]
    histories = []
    for (keras, _, _), model in zip(libraries(real_keras), (ours, theirs)):
        compile_model(keras, model)
        histories.append(model.fit(x_train, y_train, batch_size=BATCH_SIZE, epochs=1, shuffle=False,
                                   validation_data=validation, verbose=0).history)
    history, k_history = histories
    assert sorted(history) == sorted(k_history) == ["loss", "sparse_categorical_accuracy", "val_loss",
                                                    "val_sparse_categorical_accuracy"]
    for key in ("loss", "sparse_categorical_accuracy"):
        assert_close(history[key], k_history[key], rtol=1e-4, atol=1e-6, what=key)
    # Validation runs BatchNormalization on the moving statistics, measured before the step: there the biases'
    # steps are not taken out again, and move the validation loss by a few 1e-4.
    assert_close(history["val_loss"], k_history["val_loss"], rtol=3e-3)
    # momentum=0.0: the moving statistics are that batch's own, in both libraries. Gradient entries near Adam's
    # epsilon (1e-7) get a fraction of the learning rate that follows their rounding: up to 1e-4 apart.
    for weight, got, expected in zip(theirs.weights, ours.get_weights(), theirs.get_weights()):
        if weight.path.startswith("conv1d") and weight.path.endswith("bias"):
            assert_close(got, expected, rtol=0.0, atol=2e-3, what=weight.path)
        else:
            assert_close(got, expected, rtol=1e-3, atol=1e-4, what=weight.path)

    # Keras' trained weights (momentum=0.0's moving statistics included) give Keras' predictions here too, and
    # survive a weights file (the custom regularizer has no get_config, so a whole-model file would not load).
    ours.set_weights(theirs.get_weights())
    expected = theirs.predict(test_points, verbose=0)
    assert_close(ours.predict(test_points, verbose=0), expected, rtol=1e-4, atol=1e-6)
    ours.save_weights(tmp_path / "pointnet.weights.h5")
    reloaded = get_model(*lw, dropout=0.0)
    reloaded.load_weights(tmp_path / "pointnet.weights.h5")
    assert_close(reloaded.predict(test_points, verbose=0), expected, rtol=1e-4, atol=1e-6)


def test_saving_the_whole_model_is_refused_as_in_keras(real_keras, tmp_path):
    for (keras, layers, ops), path in zip(libraries(real_keras), ("pointnet.lw", "pointnet.keras")):
        model = get_model(keras, layers, ops)
        with pytest.raises(NotImplementedError, match="get_config"):
            model.save(tmp_path / path)


def test_training_the_listing_s_network_and_predicting_classes():
    import layerwise as keras
    from layerwise import layers, ops

    train_points, test_points, train_labels, test_labels, CLASS_MAP = parse_dataset()
    keras.utils.set_random_seed(42)
    (x_train, y_train), validation = train_and_validation(keras, ops, train_points, train_labels)
    model = get_model(keras, layers, ops)
    compile_model(keras, model)
    history = model.fit(x_train, y_train, batch_size=BATCH_SIZE, epochs=2, validation_data=validation,
                        verbose=0).history
    # Keras logs the same four keys (the previous test); dropout's masks are each library's own (README).
    assert sorted(history) == ["loss", "sparse_categorical_accuracy", "val_loss", "val_sparse_categorical_accuracy"]
    assert all(len(v) == 2 and np.isfinite(v).all() for v in history.values())

    points = test_points[:8, ...]
    labels = test_labels[:8, ...]
    # run test data through model
    preds = model.predict(points, verbose=0)
    preds = ops.argmax(preds, -1)
    titles = ["pred: {:}, label: {:}".format(CLASS_MAP[int(preds[i])], CLASS_MAP[labels[i]]) for i in range(8)]
    assert re.fullmatch(r"pred: shape_\d, label: shape_0", titles[0])
    np.testing.assert_array_equal(as_numpy(preds), model.predict(points, verbose=0).argmax(-1))
