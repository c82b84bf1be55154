"""keras-io example "Image classification with modern MLP models" (examples/vision/mlp_image_classification.py,
the Keras 3 edition) run with ``import layerwise as keras`` and in Keras 3 (torch backend): the ``Patches`` and
``PositionEmbedding`` layers, the MLP-Mixer, FNet and gMLP blocks inside ``build_classifier`` (summaries at the
example's sizes, outputs and ``evaluate`` from the same weights), and ``run_experiment`` (AdamW, the accuracy and
top-5 metrics, ``validation_split``, ``ReduceLROnPlateau`` and ``EarlyStopping(restore_best_weights=True)``).

Replaced from the listing: CIFAR-100 is not downloaded (random uint8 images of its shape, labels of shape (n, 1)).
The listing's ``keras.ops.image.extract_patches`` and ``keras.ops.fft2`` run as written in both libraries. The
example's globals (``data_augmentation``, ``embedding_dim``, ``learning_rate``...) are arguments here. Training runs
at smaller sizes (image_size 32 for 64, 16 patches for 64, embedding_dim 32 for 256, 2 blocks for 4) on 40 images,
batch_size 8 for 128 and 2 epochs for 50; summaries and outputs are compared at the example's sizes. Dropout and
the random augmentation draw from each library's own generator (README), so training is compared number by number
with dropout_rate 0, the augmentation's Normalization and Resizing only and ``shuffle=False``, and the listing's own
configuration is checked to train alike in kind. The callbacks' patience (5 and 10) is shortened to 1 and 2 in
one test so that they act within its few epochs."""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch
from guide_helpers import as_numpy, assert_close, libraries, summary_rows

import layerwise

num_classes = 100
input_shape = (32, 32, 3)
weight_decay = 0.0001
batch_size = 8  # the example: 128
num_epochs = 2  # the example: 50
LEARNING_RATES = {"mlpmixer": 0.005, "fnet": 0.001, "gmlp": 0.003}  # set before each run_experiment


def hyperparameters(image_size=32, patch_size=8, embedding_dim=32, num_blocks=2, dropout_rate=0.2):
    """The example's hyperparameters; the defaults are this file's small sizes."""
    return SimpleNamespace(image_size=image_size, patch_size=patch_size,
                           num_patches=(image_size // patch_size) ** 2,  # Size of the data array.
                           embedding_dim=embedding_dim, num_blocks=num_blocks, dropout_rate=dropout_rate)


EXAMPLE = hyperparameters(image_size=64, patch_size=8, embedding_dim=256, num_blocks=4)
SMALL = hyperparameters()
DETERMINISTIC = hyperparameters(dropout_rate=0.0)


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
    data_augmentation = keras.Sequential(
        [
            layers.Normalization(),
            layers.Resizing(hp.image_size, hp.image_size),
            *([layers.RandomFlip("horizontal"), layers.RandomZoom(height_factor=0.2, width_factor=0.2)]
              if augment else []),
        ],
        name="data_augmentation",
    )
    # Compute the mean and the variance of the training data for normalization.
    data_augmentation.layers[0].adapt(x_train)
    return data_augmentation


def mlp_layers(keras, layers):
    """The example's layers: Patches, PositionEmbedding, MLPMixerLayer, FNetLayer, gMLPLayer."""

    class Patches(layers.Layer):
        def __init__(self, patch_size, **kwargs):
            super().__init__(**kwargs)
            self.patch_size = patch_size

        def call(self, x):
            patches = keras.ops.image.extract_patches(x, self.patch_size)
            batch_size = keras.ops.shape(patches)[0]
            num_patches = keras.ops.shape(patches)[1] * keras.ops.shape(patches)[2]
            patch_dim = keras.ops.shape(patches)[3]
            out = keras.ops.reshape(patches, (batch_size, num_patches, patch_dim))
            return out

    class PositionEmbedding(keras.layers.Layer):
        def __init__(
            self,
            sequence_length,
            initializer="glorot_uniform",
            **kwargs,
        ):
            super().__init__(**kwargs)
            if sequence_length is None:
                raise ValueError("`sequence_length` must be an Integer, received `None`.")
            self.sequence_length = int(sequence_length)
            self.initializer = keras.initializers.get(initializer)

        def get_config(self):
            config = super().get_config()
            config.update(
                {
                    "sequence_length": self.sequence_length,
                    "initializer": keras.initializers.serialize(self.initializer),
                }
            )
            return config

        def build(self, input_shape):
            feature_size = input_shape[-1]
            self.position_embeddings = self.add_weight(
                name="embeddings",
                shape=[self.sequence_length, feature_size],
                initializer=self.initializer,
                trainable=True,
            )

            super().build(input_shape)

        def call(self, inputs, start_index=0):
            shape = keras.ops.shape(inputs)
            feature_length = shape[-1]
            sequence_length = shape[-2]
            # trim to match the length of the input sequence, which might be less
            # than the sequence_length of the layer.
            position_embeddings = keras.ops.convert_to_tensor(self.position_embeddings)
            position_embeddings = keras.ops.slice(
                position_embeddings,
                (start_index, 0),
                (sequence_length, feature_length),
            )
            return keras.ops.broadcast_to(position_embeddings, shape)

        def compute_output_shape(self, input_shape):
            return input_shape

    class MLPMixerLayer(layers.Layer):
        def __init__(self, num_patches, hidden_units, dropout_rate, *args, **kwargs):
            super().__init__(*args, **kwargs)

            self.mlp1 = keras.Sequential(
                [
                    layers.Dense(units=num_patches, activation="gelu"),
                    layers.Dense(units=num_patches),
                    layers.Dropout(rate=dropout_rate),
                ]
            )
            self.mlp2 = keras.Sequential(
                [
                    layers.Dense(units=num_patches, activation="gelu"),
                    layers.Dense(units=hidden_units),
                    layers.Dropout(rate=dropout_rate),
                ]
            )
            self.normalize = layers.LayerNormalization(epsilon=1e-6)

        def build(self, input_shape):
            return super().build(input_shape)

        def call(self, inputs):
            # Apply layer normalization.
            x = self.normalize(inputs)
            # Transpose inputs from [num_batches, num_patches, hidden_units] to
            # [num_batches, hidden_units, num_patches].
            x_channels = keras.ops.transpose(x, axes=(0, 2, 1))
            # Apply mlp1 on each channel independently.
            mlp1_outputs = self.mlp1(x_channels)
            # Transpose mlp1_outputs from [num_batches, hidden_dim, num_patches] to
            # [num_batches, num_patches, hidden_units].
            mlp1_outputs = keras.ops.transpose(mlp1_outputs, axes=(0, 2, 1))
            # Add skip connection.
            x = mlp1_outputs + inputs
            # Apply layer normalization.
            x_patches = self.normalize(x)
            # Apply mlp2 on each patch independtenly.
            mlp2_outputs = self.mlp2(x_patches)
            # Add skip connection.
            x = x + mlp2_outputs
            return x

    class FNetLayer(layers.Layer):
        def __init__(self, embedding_dim, dropout_rate, *args, **kwargs):
            super().__init__(*args, **kwargs)

            self.ffn = keras.Sequential(
                [
                    layers.Dense(units=embedding_dim, activation="gelu"),
                    layers.Dropout(rate=dropout_rate),
                    layers.Dense(units=embedding_dim),
                ]
            )

            self.normalize1 = layers.LayerNormalization(epsilon=1e-6)
            self.normalize2 = layers.LayerNormalization(epsilon=1e-6)

        def call(self, inputs):
            # Apply fourier transformations.
            real_part = inputs
            im_part = keras.ops.zeros_like(inputs)
            x = keras.ops.fft2((real_part, im_part))[0]
            # Add skip connection.
            x = x + inputs
            # Apply layer normalization.
            x = self.normalize1(x)
            # Apply Feedfowrad network.
            x_ffn = self.ffn(x)
            # Add skip connection.
            x = x + x_ffn
            # Apply layer normalization.
            return self.normalize2(x)

    class gMLPLayer(layers.Layer):
        def __init__(self, num_patches, embedding_dim, dropout_rate, *args, **kwargs):
            super().__init__(*args, **kwargs)

            self.channel_projection1 = keras.Sequential(
                [
                    layers.Dense(units=embedding_dim * 2, activation="gelu"),
                    layers.Dropout(rate=dropout_rate),
                ]
            )

            self.channel_projection2 = layers.Dense(units=embedding_dim)

            self.spatial_projection = layers.Dense(units=num_patches, bias_initializer="Ones")

            self.normalize1 = layers.LayerNormalization(epsilon=1e-6)
            self.normalize2 = layers.LayerNormalization(epsilon=1e-6)

        def spatial_gating_unit(self, x):
            # Split x along the channel dimensions.
            # Tensors u and v will in the shape of [batch_size, num_patchs, embedding_dim].
            u, v = keras.ops.split(x, indices_or_sections=2, axis=2)
            # Apply layer normalization.
            v = self.normalize2(v)
            # Apply spatial projection.
            v_channels = keras.ops.transpose(v, axes=(0, 2, 1))
            v_projected = self.spatial_projection(v_channels)
            v_projected = keras.ops.transpose(v_projected, axes=(0, 2, 1))
            # Apply element-wise multiplication.
            return u * v_projected

        def call(self, inputs):
            # Apply layer normalization.
            x = self.normalize1(inputs)
            # Apply the first channel projection. x_projected shape: [batch_size, num_patches, embedding_dim * 2].
            x_projected = self.channel_projection1(x)
            # Apply the spatial gating unit. x_spatial shape: [batch_size, num_patches, embedding_dim].
            x_spatial = self.spatial_gating_unit(x_projected)
            # Apply the second channel projection. x_projected shape: [batch_size, num_patches, embedding_dim].
            x_projected = self.channel_projection2(x_spatial)
            # Add skip connection.
            return x + x_projected

    return SimpleNamespace(Patches=Patches, PositionEmbedding=PositionEmbedding, MLPMixerLayer=MLPMixerLayer,
                           FNetLayer=FNetLayer, gMLPLayer=gMLPLayer)


def build_classifier(keras, layers, hp, data_augmentation, blocks, positional_encoding=False):
    example = mlp_layers(keras, layers)
    inputs = layers.Input(shape=input_shape)
    # Augment data.
    augmented = data_augmentation(inputs)
    # Create patches.
    patches = example.Patches(hp.patch_size)(augmented)
    # Encode patches to generate a [batch_size, num_patches, embedding_dim] tensor.
    x = layers.Dense(units=hp.embedding_dim)(patches)
    if positional_encoding:
        x = x + example.PositionEmbedding(sequence_length=hp.num_patches)(x)
    # Process x using the module blocks.
    x = blocks(x)
    # Apply global average pooling to generate a [batch_size, embedding_dim] representation tensor.
    representation = layers.GlobalAveragePooling1D()(x)
    # Apply dropout.
    representation = layers.Dropout(rate=hp.dropout_rate)(representation)
    # Compute logits outputs.
    logits = layers.Dense(num_classes)(representation)
    # Create the Keras model.
    return keras.Model(inputs=inputs, outputs=logits)


def make_classifier(keras, layers, which, hp, x_train, augment=True):
    """The example's three classifiers: its ``*_blocks`` Sequential, then ``build_classifier``."""
    data_augmentation = make_data_augmentation(keras, layers, hp, x_train, augment)
    example = mlp_layers(keras, layers)
    if which == "mlpmixer":
        blocks = keras.Sequential(
            [example.MLPMixerLayer(hp.num_patches, hp.embedding_dim, hp.dropout_rate) for _ in range(hp.num_blocks)]
        )
        return build_classifier(keras, layers, hp, data_augmentation, blocks)
    if which == "fnet":
        blocks = keras.Sequential(
            [example.FNetLayer(hp.embedding_dim, hp.dropout_rate) for _ in range(hp.num_blocks)]
        )
        return build_classifier(keras, layers, hp, data_augmentation, blocks, positional_encoding=True)
    blocks = keras.Sequential(
        [example.gMLPLayer(hp.num_patches, hp.embedding_dim, hp.dropout_rate) for _ in range(hp.num_blocks)]
    )
    return build_classifier(keras, layers, hp, data_augmentation, blocks)


def run_experiment(keras, model, data, learning_rate, shuffle=True, patience=(5, 10)):
    """The example's ``run_experiment`` (verbose=0); returns the history and the test accuracies. ``shuffle=False``
    (the example shuffles, fit's default) keeps the batches in the same order in both libraries; ``patience`` is
    the example's for ReduceLROnPlateau and EarlyStopping."""
    (x_train, y_train), (x_test, y_test) = data
    # Create Adam optimizer with weight decay.
    optimizer = keras.optimizers.AdamW(
        learning_rate=learning_rate,
        weight_decay=weight_decay,
    )
    # Compile the model.
    model.compile(
        optimizer=optimizer,
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=[
            keras.metrics.SparseCategoricalAccuracy(name="acc"),
            keras.metrics.SparseTopKCategoricalAccuracy(5, name="top5-acc"),
        ],
    )
    # Create a learning rate scheduler callback.
    reduce_lr = keras.callbacks.ReduceLROnPlateau(monitor="val_loss", factor=0.5, patience=patience[0])
    # Create an early stopping callback.
    early_stopping = keras.callbacks.EarlyStopping(monitor="val_loss", patience=patience[1],
                                                   restore_best_weights=True)
    # Fit the model.
    history = model.fit(
        x=x_train,
        y=y_train,
        batch_size=batch_size,
        epochs=num_epochs if patience == (5, 10) else 5,  # 5 epochs for the shortened patience
        validation_split=0.1,
        callbacks=[early_stopping, reduce_lr],
        shuffle=shuffle,
        verbose=0,
    )

    _, accuracy, top_5_accuracy = model.evaluate(x_test, y_test, verbose=0)
    # Return history to plot learning curves.
    return history, accuracy, top_5_accuracy


def both_classifiers(real_keras, which, hp, x_train, augment=True):
    """The classifier in both libraries, ours with Keras' weights (the Normalization statistics included)."""
    ours, theirs = [make_classifier(keras, layers, which, hp, x_train, augment)
                    for keras, layers, _ in libraries(real_keras)]
    ours.set_weights(theirs.get_weights())
    return ours, theirs


def test_patches_match_keras(real_keras):
    images = np.random.default_rng(0).random((2, 64, 64, 3)).astype("float32")
    patches = [as_numpy(mlp_layers(keras, layers).Patches(EXAMPLE.patch_size)(images))
               for keras, layers, _ in libraries(real_keras)]
    assert patches[0].shape == (2, EXAMPLE.num_patches, 8 * 8 * 3) == (2, 64, 192)
    assert_close(patches[0], patches[1], rtol=0, atol=0)
    # Patch 9 is the block at row 1, column 1 of the 8 x 8 grid, flattened row by row.
    assert_close(patches[0][1, 9], images[1, 8:16, 8:16].reshape(-1), rtol=0, atol=0)


def test_extract_patches_of_a_non_square_image_matches_keras(real_keras):
    images = np.random.default_rng(1).random((2, 16, 24, 3)).astype("float32")
    assert_close(as_numpy(layerwise.ops.image.extract_patches(images, 8)),
                 as_numpy(real_keras.ops.image.extract_patches(images, 8)))


def test_fft2_matches_keras(real_keras):
    real = np.random.default_rng(3).random((2, 16, 32)).astype("float32")
    (re, im), (k_re, k_im) = [ops.fft2((real, ops.zeros_like(real))) for _, _, ops in libraries(real_keras)]
    assert_close(as_numpy(re), as_numpy(k_re), rtol=1e-5, atol=1e-4)
    assert_close(as_numpy(im), as_numpy(k_im), rtol=1e-5, atol=1e-4)
    assert_close(as_numpy(re), np.fft.fft2(real).real, rtol=1e-5, atol=1e-4)


def test_position_embedding_matches_keras(real_keras):
    x = np.random.default_rng(4).random((3, 16, 8)).astype("float32")
    embeddings = [mlp_layers(keras, layers).PositionEmbedding(sequence_length=20)
                  for keras, layers, _ in libraries(real_keras)]
    for layer in embeddings:
        layer(x)  # builds the embeddings for 8 features
    ours, theirs = embeddings
    assert [tuple(w.shape) for w in ours.get_weights()] == [tuple(w.shape) for w in theirs.get_weights()] == [(20, 8)]
    ours.set_weights(theirs.get_weights())
    outputs = [as_numpy(layer(x)) for layer in embeddings]
    assert outputs[0].shape == x.shape
    assert_close(outputs[0], outputs[1], rtol=0, atol=0)
    assert_close(outputs[0][2], theirs.get_weights()[0][:16], rtol=0, atol=0)  # the first 16 positions, per item
    config, k_config = ours.get_config(), theirs.get_config()
    assert sorted(config) == sorted(k_config)
    assert config["sequence_length"] == k_config["sequence_length"] == 20
    clone = type(ours).from_config(config)
    assert clone.sequence_length == 20 and type(clone.initializer) is type(ours.initializer)
    assert type(ours.initializer).__name__ == type(theirs.initializer).__name__ == "GlorotUniform"
    with pytest.raises(ValueError, match="sequence_length"):
        type(ours)(sequence_length=None)


def test_position_embedding_config_equals_keras(real_keras):
    configs = [mlp_layers(keras, layers).PositionEmbedding(sequence_length=20).get_config()
               for keras, layers, _ in libraries(real_keras)]
    assert configs[0]["initializer"] == configs[1]["initializer"]


@pytest.mark.parametrize("which", ["mlpmixer", "fnet", "gmlp"])
def test_summary_at_the_example_s_sizes_matches_keras(real_keras, which):
    x_train, _ = cifar_like(8, 5)
    ours, theirs = [make_classifier(keras, layers, which, EXAMPLE, x_train) for keras, layers, _ in
                    libraries(real_keras)]
    assert summary_rows(ours) == summary_rows(theirs)
    assert ours.count_params() == theirs.count_params()
    # The blocks' own Sequential: its custom layers, each with the example's weights.
    blocks, k_blocks = [next(layer for layer in model.layers if layer.name.startswith("sequential"))
                        for model in (ours, theirs)]
    assert len(blocks.layers) == len(k_blocks.layers) == EXAMPLE.num_blocks
    assert summary_rows(blocks) == summary_rows(k_blocks)


@pytest.mark.parametrize("which", ["mlpmixer", "fnet", "gmlp"])
def test_outputs_and_evaluate_from_the_same_weights_match_keras(real_keras, which):
    (x_train, _), (x_test, y_test) = cifar_like(16, 6), cifar_like(8, 7)
    ours, theirs = both_classifiers(real_keras, which, EXAMPLE, x_train)
    # Keras' direct call augments and drops out (training mode by default there); inference is asked of both.
    logits = as_numpy(ours(x_test, training=False))
    assert logits.shape == (8, num_classes)
    assert_close(logits, as_numpy(theirs(x_test, training=False)), rtol=1e-4, atol=1e-4)
    assert_close(ours.predict(x_test, verbose=0), theirs.predict(x_test, verbose=0), rtol=1e-4, atol=1e-4)
    for (keras, _, _), model in zip(libraries(real_keras), (ours, theirs)):
        model.compile(loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                      metrics=[keras.metrics.SparseCategoricalAccuracy(name="acc"),
                               keras.metrics.SparseTopKCategoricalAccuracy(5, name="top5-acc")])
    evaluation = ours.evaluate(x_test, y_test, verbose=0, return_dict=True)
    k_evaluation = theirs.evaluate(x_test, y_test, verbose=0, return_dict=True)
    assert sorted(evaluation) == sorted(k_evaluation) == ["acc", "loss", "top5-acc"]
    for key in k_evaluation:
        assert evaluation[key] == pytest.approx(k_evaluation[key], rel=1e-4, abs=1e-6), key


@pytest.mark.parametrize("which", ["mlpmixer", "fnet", "gmlp"])
def test_the_experiment_from_the_same_weights_matches_keras(real_keras, which):
    data = cifar_like(40, 8), cifar_like(12, 9)
    models = both_classifiers(real_keras, which, DETERMINISTIC, data[0][0], augment=False)
    runs = [run_experiment(keras, model, data, LEARNING_RATES[which], shuffle=False)
            for (keras, _, _), model in zip(libraries(real_keras), models)]
    (history, accuracy, top_5_accuracy), (k_history, k_accuracy, k_top_5_accuracy) = runs
    assert sorted(history.history) == sorted(k_history.history) == [
        "acc", "learning_rate", "loss", "top5-acc", "val_acc", "val_loss", "val_top5-acc"]
    for key, values in k_history.history.items():
        assert_close(history.history[key], values, rtol=1e-4, atol=1e-5, what=key)
    assert accuracy == pytest.approx(k_accuracy, abs=1e-6)
    assert top_5_accuracy == pytest.approx(k_top_5_accuracy, abs=1e-6)
    for got, expected in zip(models[0].get_weights(), models[1].get_weights()):
        assert_close(got, expected, rtol=1e-3, atol=2e-4)


def test_reduce_lr_and_early_stopping_act_as_in_keras(real_keras):
    # The example's callbacks with patience 1 and 2 (the example: 5 and 10) over at most 5 epochs: the learning
    # rate is halved after an epoch without a better val_loss, training stops after two such epochs, and
    # EarlyStopping restores the best epoch's weights at the end (Keras 3 does so also without stopping early).
    real_keras.utils.set_random_seed(1)  # initial weights with which both callbacks act within 5 epochs
    data = cifar_like(40, 10), cifar_like(12, 11)
    models = both_classifiers(real_keras, "mlpmixer", DETERMINISTIC, data[0][0], augment=False)
    runs = [run_experiment(keras, model, data, 0.02, shuffle=False, patience=(1, 2))
            for (keras, _, _), model in zip(libraries(real_keras), models)]
    (history, accuracy, _), (k_history, k_accuracy, _) = runs
    assert sorted(history.history) == sorted(k_history.history)
    for key, values in k_history.history.items():
        assert_close(history.history[key], values, rtol=1e-4, atol=1e-5, what=key)
    val_loss, learning_rates = k_history.history["val_loss"], k_history.history["learning_rate"]
    assert len(val_loss) < 5 and min(learning_rates) < 0.019  # the callbacks did act
    assert accuracy == pytest.approx(k_accuracy, abs=1e-6)
    for got, expected in zip(models[0].get_weights(), models[1].get_weights()):
        assert_close(got, expected, rtol=1e-3, atol=2e-4)
    # The restored weights are the best epoch's: evaluating the validation split gives the best val_loss.
    (x_train, y_train), _ = data
    for (keras, _, _), model in zip(libraries(real_keras), models):
        restored = model.evaluate(x_train[36:], y_train[36:], verbose=0, return_dict=True)["loss"]
        assert restored == pytest.approx(min(val_loss), rel=1e-4), keras.__name__
        assert restored < val_loss[-1]


def test_the_listing_s_experiment_trains_as_in_keras(real_keras):
    data = cifar_like(40, 12), cifar_like(12, 13)
    results = []
    for keras, layers, _ in libraries(real_keras):
        model = make_classifier(keras, layers, "gmlp", SMALL, data[0][0])
        history, accuracy, top_5_accuracy = run_experiment(keras, model, data, LEARNING_RATES["gmlp"])
        assert 0.0 <= accuracy <= top_5_accuracy <= 1.0, keras.__name__
        results.append(history.history)
    history, k_history = results
    assert sorted(history) == sorted(k_history)
    assert all(len(v) == num_epochs and np.isfinite(v).all() for v in history.values())
    # Keras logs the float32 learning rate (0.003000000026...), layerwise the float it was given.
    assert_close(history["learning_rate"], k_history["learning_rate"], rtol=1e-7)
