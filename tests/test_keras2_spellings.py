"""Keras 2 spellings still in course code: Keras 3's behaviour where Keras 3 has one, else an error that says what
to write instead; Keras 2's module paths of layers and of to_categorical."""
from __future__ import annotations

import numpy as np
import pytest

import layerwise as keras


def test_optimizer_lr_and_decay_say_what_keras3_takes():
    with pytest.raises(ValueError, match=r"RMSprop: `lr` is Keras 2's name; write learning_rate=0.01"):
        keras.optimizers.RMSprop(lr=0.01)
    with pytest.warns(UserWarning, match="decay.*ignored.*InverseTimeDecay"):
        optimizer = keras.optimizers.SGD(learning_rate=0.1, decay=1e-6)  # Keras 3 ignores it with a warning too
    assert float(optimizer.learning_rate) == pytest.approx(0.1)
    with pytest.raises(ValueError, match=r"argument\(s\) not recognized: \{'momentun': 0.9\}"):
        keras.optimizers.SGD(momentun=0.9)


def test_model_reset_states_and_removed_methods():
    model = keras.Sequential([keras.Input(batch_shape=(2, 3, 1)), keras.layers.LSTM(2, stateful=True),
                              keras.layers.Dense(1)])
    x = np.ones((2, 3, 1), "float32")
    first = model.predict(x, verbose=0)
    assert not np.allclose(model.predict(x, verbose=0), first)  # the state carried over
    model.reset_states()
    np.testing.assert_allclose(model.predict(x, verbose=0), first)
    with pytest.raises(AttributeError, match=r"predict_classes.*Keras 2.*np.argmax\(model.predict\(x\)"):
        model.predict_classes(x)
    with pytest.raises(AttributeError, match="fit_generator.*model.fit\\(generator"):
        _ = model.fit_generator
    with pytest.raises(AttributeError, match="'Sequential' object has no attribute 'no_such'$"):
        _ = model.no_such


def test_keras2_module_paths():
    from layerwise.layers.convolutional import MaxPooling1D
    from layerwise.layers.core import Activation, Dense, Dropout
    from layerwise.layers.recurrent import LSTM, Embedding
    from layerwise.utils.np_utils import to_categorical

    assert Dropout is keras.layers.Dropout and Embedding is keras.layers.Embedding and LSTM is keras.layers.LSTM
    assert MaxPooling1D is keras.layers.MaxPooling1D and Dense is keras.layers.Dense and Activation
    np.testing.assert_array_equal(to_categorical([1, 0], 2), [[0, 1], [1, 0]])
    from layerwise.preprocessing.text import Tokenizer
    with pytest.raises(NotImplementedError, match="Tokenizer is Keras 2's.*TextVectorization"):
        Tokenizer(num_words=100)
    with pytest.raises(ImportError):
        from layerwise.layers.core import NoSuchLayer  # noqa: F401


def test_text_vectorization_in_a_sequential_says_where_it_goes():
    with pytest.raises(TypeError, match="TextVectorization cannot be a layer.*vectorizer\\(texts\\).*Embedding"):
        keras.Sequential([keras.Input((1,)), keras.layers.TextVectorization(vocabulary=["a"])])


def test_batch_input_shape_of_the_courses_stateful_lstm(tmp_path):
    # Brownlee's stateful loop: LSTM(batch_input_shape=(1, 1, 1), stateful=True), fit one epoch at a time
    model = keras.Sequential([keras.layers.LSTM(4, batch_input_shape=(1, 1, 1), stateful=True),
                              keras.layers.Dense(1)])
    model.compile("adam", "mse")
    X, y = np.arange(6, dtype="float32").reshape(6, 1, 1), np.arange(6, dtype="float32")
    for _ in range(2):
        model.fit(X, y, epochs=1, batch_size=1, shuffle=False, verbose=0)
        model.reset_states()
    assert model.layers[0].batch_input_shape == (1, 1, 1)
    model.save(tmp_path / "stateful.keras")  # a Keras 3 file: the batch size travels in the build config
    config = keras.models.load_model(tmp_path / "stateful.keras").layers[0].get_config()
    assert "batch_input_shape" not in config or config["batch_input_shape"] is None
