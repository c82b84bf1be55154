"""keras-io example "Image classification with Vision Transformer"
(examples/vision/image_classification_with_vision_transformer.py, the Keras 3 edition written with ``keras.ops``)
run with ``import layerwise as keras`` and in Keras 3 (torch backend): the data-augmentation Sequential adapted on
the training images, the ``Patches`` and ``PatchEncoder`` layers, the ViT classifier (summary at the example's sizes,
outputs and ``evaluate`` from the same weights), and ``run_experiment`` (AdamW, the accuracy and top-5 metrics,
``validation_split``, a best-only weights checkpoint reloaded before the evaluation).

Replaced from the listing: CIFAR-100 is not downloaded (random uint8 images of its shape, labels of shape (n, 1));
matplotlib is left out (the patch display is checked on the arrays it would show, its image converted as float32:
a strict xfail shows why). The model runs at smaller sizes than the example's (image_size 16 for 72, patch_size 4
for 6, projection_dim 8 for 64, 2 heads for 4, 2 transformer layers for 8, a [32, 16] head for [2048, 1024]), with
batch_size 8 for 256 and 2 epochs for 10; its summary is also compared at the example's sizes. Dropout and the
random augmentation draw from each library's own generator (README), so training is compared number by number with
``dropout=False`` (rates 0, the augmentation's Normalization and Resizing only, ``shuffle=False``) and the listing's
model is checked to train alike in kind."""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch
from guide_helpers import as_numpy, assert_close, libraries, summary_rows

import layerwise

num_classes = 100
input_shape = (32, 32, 3)
learning_rate = 0.001
weight_decay = 0.0001
batch_size = 8  # the example: 256
num_epochs = 2  # the example: 10


def hyperparameters(image_size=16, patch_size=4, projection_dim=8, num_heads=2, transformer_layers=2,
                    mlp_head_units=(32, 16)):
    """The example's derived hyperparameters; the defaults are this file's small sizes."""
    num_patches = (image_size // patch_size) ** 2
    hidden_dim = projection_dim * num_heads
    return SimpleNamespace(image_size=image_size, patch_size=patch_size, num_patches=num_patches,
                           projection_dim=projection_dim, num_heads=num_heads, hidden_dim=hidden_dim,
                           transformer_units=[hidden_dim * 2, hidden_dim],  # Size of the transformer layers
                           transformer_layers=transformer_layers, mlp_head_units=list(mlp_head_units))


EXAMPLE = hyperparameters(image_size=72, patch_size=6, projection_dim=64, num_heads=4, transformer_layers=8,
                          mlp_head_units=(2048, 1024))
SMALL = hyperparameters()


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """The batches here are tiny: a second thread only adds waiting (seconds of it on a busy machine)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def fresh(keras):
    """A new session's layer names (``dense``, ``dense_1``...) in either library; no garbage collection, which
    takes most of a second with Keras loaded."""
    keras.utils.clear_session(free_memory=False)


def cifar_like(n, seed):
    """Images and labels as ``cifar100.load_data`` returns them: (n, 32, 32, 3) uint8 and (n, 1) integers."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 8, (n, 1))
    x = rng.integers(0, 200, (n, *input_shape)) + 7 * y[:, :, None, None]  # a little to learn
    return x.astype("uint8"), y


def make_data_augmentation(keras, layers, hp, x_train, augment=True):
    """The example's ``data_augmentation``; ``augment=False`` keeps its deterministic Normalization and Resizing."""
    fresh(keras)
    random_layers = [
        layers.RandomFlip("horizontal"),
        layers.RandomRotation(factor=0.02),
        layers.RandomZoom(height_factor=0.2, width_factor=0.2),
    ]
    data_augmentation = keras.Sequential(
        [
            layers.Normalization(),
            layers.Resizing(hp.image_size, hp.image_size),
            *(random_layers if augment else []),
        ],
        name="data_augmentation",
    )
    # Compute the mean and the variance of the training data for normalization.
    data_augmentation.layers[0].adapt(x_train)
    return data_augmentation


def mlp(keras, layers, x, hidden_units, dropout_rate):
    for units in hidden_units:
        x = layers.Dense(units, activation=keras.activations.gelu)(x)
        x = layers.Dropout(dropout_rate)(x)
    return x


def vit_layers(keras, layers, ops):
    class Patches(layers.Layer):
        def __init__(self, patch_size):
            super().__init__()
            self.patch_size = patch_size

        def call(self, images):
            input_shape = ops.shape(images)
            batch_size = input_shape[0]
            height = input_shape[1]
            width = input_shape[2]
            channels = input_shape[3]
            num_patches_h = height // self.patch_size
            num_patches_w = width // self.patch_size
            patches = keras.ops.image.extract_patches(images, size=self.patch_size)
            patches = ops.reshape(
                patches,
                (
                    batch_size,
                    num_patches_h * num_patches_w,
                    self.patch_size * self.patch_size * channels,
                ),
            )
            return patches

        def get_config(self):
            config = super().get_config()
            config.update({"patch_size": self.patch_size})
            return config

    class PatchEncoder(layers.Layer):
        def __init__(self, num_patches, projection_dim):
            super().__init__()
            self.num_patches = num_patches
            self.projection = layers.Dense(units=projection_dim)
            self.position_embedding = layers.Embedding(input_dim=num_patches, output_dim=projection_dim)

        def call(self, patch):
            positions = ops.expand_dims(ops.arange(start=0, stop=self.num_patches, step=1), axis=0)
            projected_patches = self.projection(patch)
            encoded = projected_patches + self.position_embedding(positions)
            return encoded

        def get_config(self):
            config = super().get_config()
            config.update({"num_patches": self.num_patches})
            return config

    return Patches, PatchEncoder


def create_vit_classifier(keras, layers, ops, hp, data_augmentation, dropout=True):
    """The example's ViT; ``dropout=False`` sets its dropout rates to 0 (for number-by-number training). Layer
    names start from those of ``data_augmentation``'s new session."""
    Patches, PatchEncoder = vit_layers(keras, layers, ops)
    rate = 1.0 if dropout else 0.0
    inputs = keras.Input(shape=input_shape)
    # Augment data.
    augmented = data_augmentation(inputs)
    # Create patches.
    patches = Patches(hp.patch_size)(augmented)
    # Encode patches.
    encoded_patches = PatchEncoder(hp.num_patches, hp.hidden_dim)(patches)

    # Create multiple layers of the Transformer block.
    for _ in range(hp.transformer_layers):
        # Layer normalization 1.
        x1 = layers.LayerNormalization(epsilon=1e-6)(encoded_patches)
        # Create a multi-head attention layer.
        attention_output = layers.MultiHeadAttention(
            num_heads=hp.num_heads, key_dim=hp.projection_dim, dropout=0.1 * rate
        )(x1, x1)
        # Skip connection 1.
        x2 = layers.Add()([attention_output, encoded_patches])
        # Layer normalization 2.
        x3 = layers.LayerNormalization(epsilon=1e-6)(x2)
        # MLP.
        x3 = mlp(keras, layers, x3, hidden_units=hp.transformer_units, dropout_rate=0.1 * rate)
        # Skip connection 2.
        encoded_patches = layers.Add()([x3, x2])

    # Create a [batch_size, projection_dim] tensor.
    representation = layers.LayerNormalization(epsilon=1e-6)(encoded_patches)
    representation = layers.Flatten()(representation)
    representation = layers.Dropout(0.5 * rate)(representation)
    # Add MLP.
    features = mlp(keras, layers, representation, hidden_units=hp.mlp_head_units, dropout_rate=0.5 * rate)
    # Classify outputs.
    logits = layers.Dense(num_classes)(features)
    # Create the Keras model.
    model = keras.Model(inputs=inputs, outputs=logits)
    return model


def run_experiment(keras, model, data, checkpoint_filepath, shuffle=True):
    """The example's ``run_experiment`` (verbose=0); returns the history and the test accuracies. ``shuffle=False``
    (the example shuffles, fit's default) keeps the batches in the same order in both libraries."""
    (x_train, y_train), (x_test, y_test) = data
    optimizer = keras.optimizers.AdamW(learning_rate=learning_rate, weight_decay=weight_decay)

    model.compile(
        optimizer=optimizer,
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=[
            keras.metrics.SparseCategoricalAccuracy(name="accuracy"),
            keras.metrics.SparseTopKCategoricalAccuracy(5, name="top-5-accuracy"),
        ],
    )

    checkpoint_callback = keras.callbacks.ModelCheckpoint(
        checkpoint_filepath,
        monitor="val_accuracy",
        save_best_only=True,
        save_weights_only=True,
    )

    history = model.fit(
        x=x_train,
        y=y_train,
        batch_size=batch_size,
        epochs=num_epochs,
        validation_split=0.1,
        callbacks=[checkpoint_callback],
        shuffle=shuffle,
        verbose=0,
    )

    model.load_weights(checkpoint_filepath)
    _, accuracy, top_5_accuracy = model.evaluate(x_test, y_test, verbose=0)
    return history, accuracy, top_5_accuracy


def both_models(real_keras, hp, x_train, dropout=True, augment=True):
    """The classifier in both libraries, ours with Keras' weights (the Normalization statistics included)."""
    ours, theirs = [create_vit_classifier(keras, layers, ops, hp,
                                          make_data_augmentation(keras, layers, hp, x_train, augment), dropout)
                    for keras, layers, ops in libraries(real_keras)]
    ours.set_weights(theirs.get_weights())
    return ours, theirs


def test_the_patches_of_one_resized_image_match_keras(real_keras):
    # The example's display: one training image resized to image_size, cut into patches, each patch reshaped back.
    x_train, _ = cifar_like(4, 0)
    image = x_train[np.random.default_rng(0).choice(range(x_train.shape[0]))]
    results = []
    for keras, layers, ops in libraries(real_keras):
        Patches, _ = vit_layers(keras, layers, ops)
        resized_image = ops.image.resize(ops.convert_to_tensor([image], dtype="float32"),
                                         size=(EXAMPLE.image_size, EXAMPLE.image_size))
        patches = Patches(EXAMPLE.patch_size)(resized_image)
        assert tuple(patches.shape) == (1, EXAMPLE.num_patches, 6 * 6 * 3) == (1, 144, 108)
        n = int(np.sqrt(patches.shape[1]))
        patch_imgs = [ops.convert_to_numpy(ops.reshape(patch, (EXAMPLE.patch_size, EXAMPLE.patch_size, 3)))
                      for patch in patches[0]]
        results.append((as_numpy(resized_image), np.stack(patch_imgs)))
    (resized, patch_imgs), (k_resized, k_patch_imgs) = results
    assert_close(resized, k_resized, rtol=1e-5, atol=1e-3)
    assert_close(patch_imgs, k_patch_imgs, rtol=1e-5, atol=1e-3)
    # Patch i of the n x n grid is the image's block at row i // n, column i % n.
    assert n == 12
    assert_close(patch_imgs[n + 2], resized[0, 6:12, 12:18])


def test_the_listing_s_display_resizes_the_uint8_image_as_keras(real_keras):
    x_train, _ = cifar_like(1, 0)
    resized = [as_numpy(ops.image.resize(ops.convert_to_tensor([x_train[0]]), size=(EXAMPLE.image_size,) * 2))
               for _, _, ops in libraries(real_keras)]
    assert_close(resized[0], resized[1], rtol=0, atol=0)
    assert resized[0].dtype == resized[1].dtype == np.uint8


def test_extract_patches_and_resize_of_a_non_square_image_match_keras(real_keras):
    images = np.random.default_rng(1).random((2, 12, 18, 3)).astype("float32")
    assert_close(as_numpy(layerwise.ops.image.extract_patches(images, size=6)),
                 as_numpy(real_keras.ops.image.extract_patches(images, size=6)))
    assert_close(as_numpy(layerwise.ops.image.resize(images, size=(24, 24))),
                 as_numpy(real_keras.ops.image.resize(images, size=(24, 24))), atol=1e-5)


def test_data_augmentation_matches_keras(real_keras):
    x_train, _ = cifar_like(40, 1)
    augmentations = [make_data_augmentation(keras, layers, SMALL, x_train) for keras, layers, _ in
                     libraries(real_keras)]
    ours, theirs = augmentations
    assert [layer.name for layer in ours.layers] == [layer.name for layer in theirs.layers]
    # The adapted statistics, per channel, and Keras' broadcastable view of them (layer.mean, layer.variance).
    assert_close(as_numpy(ours.layers[0].adapt_mean), as_numpy(theirs.layers[0].adapt_mean), rtol=1e-5)
    assert_close(as_numpy(ours.layers[0].adapt_variance), as_numpy(theirs.layers[0].adapt_variance), rtol=1e-4)
    assert_close(as_numpy(ours.layers[0].mean), as_numpy(theirs.layers[0].mean), rtol=1e-5)
    assert_close(as_numpy(ours.layers[0].variance), as_numpy(theirs.layers[0].variance), rtol=1e-4)
    assert_close(as_numpy(ours.layers[0].adapt_mean), x_train.mean(axis=(0, 1, 2)), rtol=1e-5)
    images = x_train[:4]
    inference = [as_numpy(model(images, training=False)) for model in augmentations]
    assert inference[0].shape == (4, SMALL.image_size, SMALL.image_size, 3)
    assert_close(inference[0], inference[1], rtol=1e-4, atol=1e-4)
    assert abs(inference[0].mean()) < 0.2  # normalised by the adapted statistics
    # Keras augments on a direct call; in layerwise a direct call is inference (README): training=True asks for it.
    for model, training in ((ours, {"training": True}), (theirs, {})):
        augmented = as_numpy(model(images, **training))
        assert augmented.shape == inference[0].shape
        assert not np.allclose(augmented, inference[0], atol=1e-3)


def test_summary_at_the_example_s_sizes_matches_keras(real_keras):
    x_train, _ = cifar_like(8, 2)
    models = [create_vit_classifier(keras, layers, ops, EXAMPLE, make_data_augmentation(keras, layers, EXAMPLE,
                                                                                        x_train))
              for keras, layers, ops in libraries(real_keras)]
    assert summary_rows(models[0]) == summary_rows(models[1])
    assert models[0].count_params() == models[1].count_params()


def test_outputs_and_evaluate_from_the_same_weights_match_keras(real_keras):
    (x_train, _), (x_test, y_test) = cifar_like(40, 3), cifar_like(12, 4)
    ours, theirs = both_models(real_keras, SMALL, x_train)
    assert summary_rows(ours) == summary_rows(theirs)
    # Keras' direct call augments and drops out (training mode by default there); inference is asked of both.
    logits = as_numpy(ours(x_test, training=False))
    assert logits.shape == (12, num_classes)
    assert_close(logits, as_numpy(theirs(x_test, training=False)), rtol=1e-4, atol=1e-5)
    assert_close(ours.predict(x_test, verbose=0), theirs.predict(x_test, verbose=0), rtol=1e-4, atol=1e-5)
    for (keras, _, _), model in zip(libraries(real_keras), (ours, theirs)):
        model.compile(loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                      metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy"),
                               keras.metrics.SparseTopKCategoricalAccuracy(5, name="top-5-accuracy")])
    evaluation = ours.evaluate(x_test, y_test, verbose=0, return_dict=True)
    k_evaluation = theirs.evaluate(x_test, y_test, verbose=0, return_dict=True)
    assert sorted(evaluation) == sorted(k_evaluation) == ["accuracy", "loss", "top-5-accuracy"]
    for key in k_evaluation:
        assert evaluation[key] == pytest.approx(k_evaluation[key], rel=1e-4, abs=1e-6), key


def test_the_experiment_from_the_same_weights_matches_keras(real_keras, tmp_path):
    data = cifar_like(40, 5), cifar_like(12, 6)
    models = both_models(real_keras, SMALL, data[0][0], dropout=False, augment=False)
    runs = []
    for (keras, _, _), model in zip(libraries(real_keras), models):
        runs.append(run_experiment(keras, model, data, str(tmp_path / f"{keras.__name__}.weights.h5"),
                                    shuffle=False))
    (history, accuracy, top_5_accuracy), (k_history, k_accuracy, k_top_5_accuracy) = runs
    assert sorted(history.history) == sorted(k_history.history) == [
        "accuracy", "loss", "top-5-accuracy", "val_accuracy", "val_loss", "val_top-5-accuracy"]
    for key, values in k_history.history.items():
        assert_close(history.history[key], values, rtol=1e-4, atol=1e-5, what=key)
    # The checkpoint kept the weights of the best val_accuracy epoch, reloaded alike before the evaluation.
    assert accuracy == pytest.approx(k_accuracy, abs=1e-6)
    assert top_5_accuracy == pytest.approx(k_top_5_accuracy, abs=1e-6)
    ours, theirs = models
    for got, expected in zip(ours.get_weights(), theirs.get_weights()):
        assert_close(got, expected, rtol=1e-3, atol=2e-4)
    assert_close(ours.predict(data[1][0], verbose=0), theirs.predict(data[1][0], verbose=0), rtol=1e-3, atol=1e-4)


def test_the_listing_s_experiment_trains_and_checkpoints_as_in_keras(real_keras, tmp_path):
    data = cifar_like(40, 7), cifar_like(12, 8)
    results = []
    for keras, layers, ops in libraries(real_keras):
        model = create_vit_classifier(keras, layers, ops, SMALL, make_data_augmentation(keras, layers, SMALL,
                                                                                       data[0][0]))
        checkpoint_filepath = tmp_path / f"{keras.__name__}.weights.h5"
        history, accuracy, top_5_accuracy = run_experiment(keras, model, data, str(checkpoint_filepath))
        assert checkpoint_filepath.exists(), keras.__name__
        assert 0.0 <= accuracy <= top_5_accuracy <= 1.0, keras.__name__
        # What was reloaded from the checkpoint is what the model now predicts with.
        reloaded = create_vit_classifier(keras, layers, ops, SMALL, make_data_augmentation(keras, layers, SMALL,
                                                                                          data[0][0]))
        reloaded.load_weights(str(checkpoint_filepath))
        assert_close(reloaded.predict(data[1][0], verbose=0), model.predict(data[1][0], verbose=0), rtol=1e-5,
                     atol=1e-6)
        results.append(history.history)
    history, k_history = results
    assert sorted(history) == sorted(k_history)
    assert all(len(v) == num_epochs and np.isfinite(v).all() for v in history.values())


def test_the_patch_layers_configs_match_keras(real_keras):
    configs = []
    for keras, layers, ops in libraries(real_keras):
        Patches, PatchEncoder = vit_layers(keras, layers, ops)
        configs.append((Patches(SMALL.patch_size).get_config(),
                        PatchEncoder(SMALL.num_patches, SMALL.hidden_dim).get_config()))
    for ours, theirs in zip(*configs):
        assert list(ours) == list(theirs)
        assert {k: v for k, v in ours.items() if k != "name"} == {k: v for k, v in theirs.items() if k != "name"}
