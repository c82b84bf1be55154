"""The ``keras.config`` functions layerwise took over from Keras: the fit/evaluate/predict debugging caps, the flash
attention switch, the traceback-filtering flag, ``set_backend`` and ``is_nnx_enabled``, each against real Keras."""
from __future__ import annotations

import importlib
import warnings

import numpy as np
import pytest
import torch

import layerwise as lw
from layerwise import config

X = np.random.default_rng(0).random((10, 3), dtype=np.float32)
Y = np.random.default_rng(1).random((10, 1), dtype=np.float32)


@pytest.fixture(autouse=True)
def restore_config(request):
    """Every test leaves the global settings, layerwise's and Keras', as it found them."""
    ours = (config.max_epochs(), config.max_steps_per_epoch(), config.is_flash_attention_enabled(),
            config.is_traceback_filtering_enabled())
    yield
    config.set_max_epochs(ours[0])
    config.set_max_steps_per_epoch(ours[1])
    (config.enable_flash_attention if ours[2] is None else config.disable_flash_attention)()
    (config.enable_traceback_filtering if ours[3] else config.disable_traceback_filtering)()
    if "keras" in request.fixturenames:
        keras = request.getfixturevalue("keras")
        keras.config.set_max_epochs(None)
        keras.config.set_max_steps_per_epoch(None)
        keras.config.enable_flash_attention()
        keras.config.enable_traceback_filtering()


def _counts(K):
    """fit (5 epochs asked, validation on), evaluate and predict under caps of 2 epochs and 2 steps: the epochs
    trained, the train / test / predict batches run, predict's rows and the "Limiting ..." warnings."""
    class Count(K.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.batches = {"train": 0, "test": 0, "predict": 0}

        def on_train_batch_end(self, batch, logs=None):
            self.batches["train"] += 1

        def on_test_batch_end(self, batch, logs=None):
            self.batches["test"] += 1

        def on_predict_batch_end(self, batch, logs=None):
            self.batches["predict"] += 1

    model = K.Sequential([K.Input((3,)), K.layers.Dense(1)])
    model.compile("sgd", "mse")
    K.config.set_max_epochs(2)
    K.config.set_max_steps_per_epoch(2)
    count = Count()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        history = model.fit(X, Y, batch_size=2, epochs=5, verbose=0, callbacks=[count], validation_split=0.2)
        model.evaluate(X, Y, batch_size=2, verbose=0, callbacks=[count])
        rows = len(model.predict(X, batch_size=2, verbose=0, callbacks=[count]))
        unbatched_rows = len(model.predict(X, verbose=0))  # the cap sets the default batch size: 2 of 5 rows
    limits = [str(w.message) for w in caught if str(w.message).startswith("Limiting")]
    return len(history.history["loss"]), count.batches, rows, unbatched_rows, limits


def test_max_epochs_and_steps_cap_fit_evaluate_predict_as_keras(keras):
    ours = _counts(lw)
    assert ours == _counts(keras)
    assert ours[:3] == (2, {"train": 4, "test": 4, "predict": 2}, 4)


def test_limits_round_trip_and_reject_bad_values(keras):
    for K in (lw, keras):
        assert K.config.max_epochs() is None and K.config.max_steps_per_epoch() is None
        K.config.set_max_epochs(3)
        K.config.set_max_steps_per_epoch(7)
        assert (K.config.max_epochs(), K.config.max_steps_per_epoch()) == (3, 7)
    with pytest.raises(ValueError, match=r"set_max_epochs takes None .* got 'two'"):
        config.set_max_epochs("two")
    with pytest.raises(ValueError, match=r"set_max_steps_per_epoch takes None .* got -1"):
        config.set_max_steps_per_epoch(-1)


def test_no_cap_warns_nothing_and_an_uncapped_fit_runs_every_epoch():
    model = lw.Sequential([lw.Input((3,)), lw.layers.Dense(1)])
    model.compile("sgd", "mse")
    config.set_max_epochs(10)  # above the epochs asked: no cap, no warning, as in Keras
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        history = model.fit(X, Y, batch_size=5, epochs=3, verbose=0)
    assert len(history.history["loss"]) == 3


def test_environment_variables_set_the_caps(monkeypatch):
    monkeypatch.setenv("KERAS_MAX_EPOCHS", "4")
    monkeypatch.setenv("KERAS_MAX_STEPS_PER_EPOCH", "6")
    try:
        importlib.reload(config)  # Keras reads them once, at import
        assert (config.max_epochs(), config.max_steps_per_epoch()) == (4, 6)
        monkeypatch.setenv("KERAS_MAX_EPOCHS", "four")
        with pytest.raises(ValueError, match="KERAS_MAX_EPOCHS must be an integer, got 'four'"):
            importlib.reload(config)
    finally:
        monkeypatch.delenv("KERAS_MAX_EPOCHS")
        monkeypatch.delenv("KERAS_MAX_STEPS_PER_EPOCH")
        importlib.reload(config)
    assert config.max_epochs() is None


def test_flash_attention_switch_matches_keras(keras):
    for K in (lw, keras):
        assert K.config.is_flash_attention_enabled() is None
        K.config.disable_flash_attention()
        assert K.config.is_flash_attention_enabled() is False
    # As in Keras, a layer resolves the setting when it is built: the global False stands in for None.
    assert lw.layers.MultiHeadAttention(2, 4).flash_attention is keras.layers.MultiHeadAttention(2, 4)._flash_attention
    for K in (lw, keras):
        K.config.enable_flash_attention()  # Keras' "enable" is back to the default: None, PyTorch chooses
        assert K.config.is_flash_attention_enabled() is None


def test_disabled_flash_attention_excludes_the_flash_kernel(monkeypatch, flash_flags):
    x = torch.rand(2, 5, 8)
    layer = lw.layers.MultiHeadAttention(2, 4)
    assert flash_flags(lambda: layer(x, x)) == [True]
    expected = layer(x, x)
    config.disable_flash_attention()
    off = lw.layers.MultiHeadAttention(2, 4)
    assert flash_flags(lambda: off(x, x)) == [False]
    off.set_weights(layer.get_weights())
    torch.testing.assert_close(off(x, x), expected)  # another kernel, the same attention
    q = torch.rand(2, 5, 2, 4)
    assert flash_flags(lambda: lw.ops.dot_product_attention(q, q, q, flash_attention=False)) == [False]


def test_flash_attention_true_raises_where_the_kernel_cannot_run(keras):
    if torch.cuda.is_available():
        pytest.skip("checks the CPU, where PyTorch's flash kernel (CUDA only) cannot run")
    x = np.random.default_rng(2).random((2, 5, 8), dtype=np.float32)
    with pytest.raises(RuntimeError, match="Flash attention is not supported"):
        keras.layers.MultiHeadAttention(2, 8, flash_attention=True)(x, x)
    with pytest.raises(RuntimeError, match=r"'mha' \(MultiHeadAttention\): flash_attention=True, but PyTorch's flash"):
        lw.layers.MultiHeadAttention(2, 8, flash_attention=True, name="mha")(x, x)
    q = x.reshape(2, 5, 2, 4)
    with pytest.raises(RuntimeError, match="flash kernel cannot run"):  # Keras' type: RuntimeError
        lw.ops.dot_product_attention(q, q, q, flash_attention=True)


def test_traceback_filtering_flag_matches_keras(keras):
    for K in (lw, keras):
        assert K.config.is_traceback_filtering_enabled() is True
        K.config.disable_traceback_filtering()
        assert K.config.is_traceback_filtering_enabled() is False
        K.config.enable_traceback_filtering()
        assert K.config.is_traceback_filtering_enabled() is True


def test_set_backend_and_nnx(keras):
    assert config.is_nnx_enabled() is keras.config.is_nnx_enabled() is False
    config.set_backend("torch")  # what layerwise runs on: nothing changes
    assert config.backend() == keras.config.backend() == "torch"
    with pytest.raises(ValueError, match="layerwise runs on PyTorch only, so backend must be 'torch', got 'jax'"):
        config.set_backend("jax")


def test_config_has_every_keras_config_function(keras):
    public = {name for name in dir(keras.config) if not name.startswith("_")}
    assert public <= set(dir(config))
