"""François Chollet, "Deep Learning with Python", 3rd edition (Keras 3), chapter 5 "Fundamentals of machine
learning" (notebook chapter05_fundamentals-of-ml.ipynb): MNIST with noise or zero channels, RMSprop at a too-large
and a suitable learning rate, models of too little and enough capacity, and on IMDB a smaller model,
L2 weight regularization and dropout, run with ``import layerwise as keras`` and in Keras 3 (torch backend) from the
same weights. MNIST and IMDB are not downloaded: random images and multi-hot reviews of their kinds stand in, a few
hundred rows with narrower layers (their labels are random, so the book's shuffled-labels listing is every MNIST test
here); one test reads real MNIST from the shared data folder when it is there."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from dlwp_helpers import same_start
from guide_helpers import assert_close, libraries

import layerwise as keras


def mnist_like(n: int = 120, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    train_images = rng.integers(0, 256, (n, 28 * 28)).astype("float32") / 255
    return train_images, rng.integers(0, 10, n).astype("uint8")


def fit_both(models, x, y, **kwargs) -> list[dict]:
    return [m.fit(x, y, shuffle=False, verbose=0, **kwargs).history for m in models]


def assert_same_history(ours: dict, theirs: dict, keys=("accuracy", "loss", "val_accuracy", "val_loss")) -> None:
    assert list(ours) == list(theirs) == sorted(keys)  # Keras' order too
    for key in keys:
        assert_close(ours[key], theirs[key], rtol=1e-4, atol=1e-6, what=key)


def classifier(units=(64,), optimizer="adam"):
    def build(keras, layers):
        model = keras.Sequential([*(layers.Dense(n, activation="relu") for n in units),
                                  layers.Dense(10, activation="softmax")])
        opt = optimizer(keras) if callable(optimizer) else optimizer
        model.compile(optimizer=opt, loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        return model
    return build


@pytest.mark.parametrize("extra", ["noise", "zeros"])
def test_noise_and_zeros_channels_train_as_in_keras(real_keras, extra):
    train_images, train_labels = mnist_like()
    rng = np.random.default_rng(1)
    padding = rng.random((len(train_images), 784)) if extra == "noise" else np.zeros((len(train_images), 784))
    train_images_with_channels = np.concatenate([train_images, padding], axis=1)  # float64, as in the book
    models = same_start(real_keras, classifier(), 2 * 784)
    assert_same_history(*fit_both(models, train_images_with_channels, train_labels, epochs=2, batch_size=128,
                                  validation_split=0.2))


@pytest.mark.parametrize("learning_rate", [1.0, 1e-2])
def test_rmsprop_learning_rates_match_keras(real_keras, learning_rate):
    # 1.0 is the book's "too large" rate: the loss jumps, identically in both libraries
    train_images, train_labels = mnist_like(seed=4)
    build = classifier(optimizer=lambda lib: lib.optimizers.RMSprop(learning_rate=learning_rate))
    models = same_start(real_keras, build, 784)
    assert_same_history(*fit_both(models, train_images, train_labels, epochs=2, batch_size=128,
                                  validation_split=0.2))


@pytest.mark.parametrize("units", [(), (32, 32)], ids=["insufficient_capacity", "appropriate_capacity"])
def test_model_capacity_listings_match_keras(real_keras, units):
    train_images, train_labels = mnist_like(seed=5)
    models = same_start(real_keras, classifier(units, "rmsprop"), 784)
    assert_same_history(*fit_both(models, train_images, train_labels, epochs=2, batch_size=128,
                                  validation_split=0.2))


SHARED_MNIST = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "mnist" / "mnist.npz"


def test_real_mnist_slice_trains_as_in_keras(real_keras):
    if not SHARED_MNIST.is_file():
        pytest.skip(f"{SHARED_MNIST} is absent: real MNIST lives in the shared data folder")
    (train_images, train_labels), _ = keras.datasets.mnist.load_data(str(SHARED_MNIST))
    assert train_images.shape == (60000, 28, 28) and train_images.dtype == np.uint8
    train_images = train_images.reshape((60000, 28 * 28))
    train_images = train_images.astype("float32") / 255
    train_images, train_labels = train_images[:256], train_labels[:256]
    models = same_start(real_keras, classifier(optimizer=lambda lib: lib.optimizers.RMSprop(learning_rate=1e-2)), 784)
    histories = fit_both(models, train_images, train_labels, epochs=2, batch_size=128, validation_split=0.2)
    assert_same_history(*histories)
    assert histories[0]["loss"][-1] < histories[0]["loss"][0]


def vectorize_sequences(sequences, dimension=300):
    results = np.zeros((len(sequences), dimension))
    for i, sequence in enumerate(sequences):
        results[i, sequence] = 1.0
    return results


def imdb_like(n: int = 100, seed: int = 6) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    train_data = vectorize_sequences([rng.integers(1, 300, rng.integers(5, 30)) for _ in range(n)])
    return train_data, rng.integers(0, 2, n)


def imdb_model(kind: str):
    def build(keras, layers):
        if kind == "l2":
            l2 = keras.regularizers.l2
            hidden = [layers.Dense(16, kernel_regularizer=l2(0.002), activation="relu"),
                      layers.Dense(16, kernel_regularizer=l2(0.002), activation="relu")]
        else:
            units = 4 if kind == "smaller" else 16
            hidden = [layers.Dense(units, activation="relu"), layers.Dense(units, activation="relu")]
        model = keras.Sequential([*hidden, layers.Dense(1, activation="sigmoid")])
        model.compile(optimizer="rmsprop", loss="binary_crossentropy", metrics=["accuracy"])
        return model
    return build


@pytest.mark.parametrize("kind", ["smaller", "l2"])  # the original model is chapter 4's
def test_imdb_size_and_l2_regularization_match_keras(real_keras, kind):
    train_data, train_labels = imdb_like()
    models = same_start(real_keras, imdb_model(kind), 300)
    histories = fit_both(models, train_data, train_labels, epochs=3, batch_size=512, validation_split=0.4)
    assert_same_history(*histories)
    penalties = [[float(v.detach()) if hasattr(v, "detach") else float(v) for v in m.losses] for m in models]
    assert len(penalties[0]) == (2 if kind == "l2" else 0)
    assert_close(penalties[0], penalties[1], rtol=1e-5)


def test_dropout_model_trains_with_keras_logs(real_keras):
    # Dropout masks come from each library's own generator: the logs' keys and the first epoch's scale are compared
    train_data, train_labels = imdb_like(seed=7)

    def build(keras, layers):
        model = keras.Sequential([
            layers.Dense(16, activation="relu"),
            layers.Dropout(0.5),
            layers.Dense(16, activation="relu"),
            layers.Dropout(0.5),
            layers.Dense(1, activation="sigmoid"),
        ])
        model.compile(optimizer="rmsprop", loss="binary_crossentropy", metrics=["accuracy"])
        return model

    models = same_start(real_keras, build, 300)
    ours, theirs = fit_both(models, train_data, train_labels, epochs=3, batch_size=512, validation_split=0.4)
    assert sorted(ours) == sorted(theirs)
    assert all(len(v) == 3 for v in ours.values())
    # Validation runs without dropout: the first epoch's validation loss, from the same weights, is Keras'.
    assert_close(ours["val_loss"][0], theirs["val_loss"][0], rtol=0.1)


def test_regularizer_objects_match_keras(real_keras):
    for lib, _, _ in libraries(real_keras):
        regularizers = lib.regularizers
        assert type(regularizers.l1(0.001)).__name__ == "L1"
        assert type(regularizers.l1_l2(l1=0.001, l2=0.001)).__name__ == "L1L2"
        assert regularizers.l1_l2(l1=0.001, l2=0.001).get_config() == {"l1": 0.001, "l2": 0.001}
        assert regularizers.l2(0.002).get_config() == {"l2": 0.002}
    weights = np.random.default_rng(8).normal(size=(5, 3)).astype("float32")
    for name, kwargs in (("l1", {"l1": 0.001}), ("l2", {"l2": 0.002}), ("l1_l2", {"l1": 0.001, "l2": 0.001})):
        ours, theirs = getattr(keras.regularizers, name)(**kwargs), getattr(real_keras.regularizers, name)(**kwargs)
        assert_close(float(ours(keras.ops.convert_to_tensor(weights))),
                     float(theirs(real_keras.ops.convert_to_tensor(weights))), rtol=1e-6, what=name)


def test_l1_config_matches_keras(real_keras):
    # Keras 3.15 keeps the factor as a float32 tensor: {'l1': 0.0010000000474974513}
    assert keras.regularizers.l1(0.001).get_config() == real_keras.regularizers.l1(0.001).get_config()
    assert keras.regularizers.OrthogonalRegularizer(0.01).get_config() == \
        real_keras.regularizers.OrthogonalRegularizer(0.01).get_config()
