"""Save, load and resume: identical predictions, the loss curve continues, files are safe."""
import os
import signal
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import layerwise as keras
from layerwise import layers as L
from layerwise import saving


def trained_model(seed=0):
    keras.utils.set_random_seed(seed)
    rng = np.random.default_rng(seed)
    x = rng.random((64, 6, 6, 1)).astype("float32")
    y = keras.utils.to_categorical(rng.integers(0, 3, 64), 3)
    model = keras.Sequential([keras.Input((6, 6, 1)), L.Conv2D(4, 3, activation="relu", padding="same"),
                              L.MaxPooling2D(), L.BatchNormalization(), L.Flatten(), L.Dropout(0.1),
                              L.Dense(3, activation="softmax")])
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=0.01), loss="categorical_crossentropy",
                  metrics=["accuracy"])
    model.fit(x, y, epochs=2, batch_size=16, verbose=0)
    return model, x, y


def test_reloaded_model_predicts_identically(tmp_path):
    model, x, _ = trained_model()
    path = tmp_path / "model.lw"
    model.save(path)
    loaded = keras.load_model(path)
    np.testing.assert_array_equal(model.predict(x, verbose=0), loaded.predict(x, verbose=0))
    assert [l.name for l in loaded.layers] == [l.name for l in model.layers]
    assert loaded.count_params() == model.count_params()


def test_resume_training_continues_the_loss_curve(tmp_path):
    model, x, y = trained_model()
    model.save(tmp_path / "m.lw")
    loaded = keras.load_model(tmp_path / "m.lw")
    assert loaded.optimizer.iterations == model.optimizer.iterations
    keras.utils.set_random_seed(1)
    expected = model.fit(x, y, epochs=2, batch_size=16, verbose=0).history["loss"]
    keras.utils.set_random_seed(1)
    resumed = loaded.fit(x, y, epochs=2, batch_size=16, verbose=0).history["loss"]
    np.testing.assert_allclose(resumed, expected, rtol=1e-5)


def test_weights_only_round_trip(tmp_path):
    model, x, _ = trained_model()
    model.save_weights(tmp_path / "w.safetensors")
    other, _, _ = trained_model(seed=3)
    other.load_weights(tmp_path / "w.safetensors")
    np.testing.assert_array_equal(model.predict(x, verbose=0), other.predict(x, verbose=0))


def test_load_missing_file():
    with pytest.raises(FileNotFoundError, match="nope.lw"):
        keras.load_model("nope.lw")


def test_load_truncated_file_names_it(tmp_path):
    model, _, _ = trained_model()
    path = tmp_path / "m.lw"
    model.save(path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match=r"m\.lw.*truncated or corrupt"):
        keras.load_model(path)


@pytest.mark.parametrize("content,pattern", [
    (b"PK\x03\x04 zip archive", "zip archive"),
    (b"hello, not a model at all", "truncated or corrupt"),
])
def test_load_foreign_file(tmp_path, content, pattern):
    path = tmp_path / "foreign.bin"
    path.write_bytes(content)
    with pytest.raises(ValueError, match=pattern):
        keras.load_model(path)


def test_load_weights_file_as_model_is_refused(tmp_path):
    model, _, _ = trained_model()
    model.save_weights(tmp_path / "w.lw")
    with pytest.raises(ValueError, match="not a layerwise.model file"):
        keras.load_model(tmp_path / "w.lw")


def test_crash_during_save_keeps_previous_file(tmp_path, monkeypatch):
    model, x, y = trained_model()
    path = tmp_path / "m.lw"
    model.save(path)
    before = path.read_bytes()
    model.fit(x, y, epochs=1, verbose=0)

    def crash(fd):
        raise OSError("disk full (injected)")
    monkeypatch.setattr(saving.os, "fsync", crash)
    with pytest.raises(OSError, match="injected"):
        model.save(path)
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["m.lw"]  # no temporary file left behind


def test_killed_save_keeps_previous_file(tmp_path):
    """A process killed in the middle of writing leaves the old file complete and loadable."""
    model, x, _ = trained_model()
    path = tmp_path / "m.lw"
    model.save(path)
    before = path.read_bytes()
    script = textwrap.dedent(f"""
        import os, sys, time
        import layerwise as keras
        from layerwise import saving
        model = keras.load_model({str(path)!r})
        def slow_fsync(fd):
            print("writing", flush=True)
            time.sleep(60)
        saving.os.fsync = slow_fsync
        model.save({str(path)!r})
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "writing"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert path.read_bytes() == before
    np.testing.assert_array_equal(keras.load_model(path).predict(x, verbose=0), model.predict(x, verbose=0))


def test_save_refuses_custom_activation_with_clear_message(tmp_path):
    model = keras.Sequential([keras.Input((3,)), L.Dense(2, activation=lambda t: t * 2)])
    with pytest.raises(ValueError, match="custom function"):
        model.save(tmp_path / "m.lw")


def test_layers_defined_outside_layerwise_layers_reload(tmp_path):
    from layerwise.autoencoders import MaskingNoise

    model = keras.Sequential([keras.Input((4,)), MaskingNoise(0.2), L.Dense(4)])
    model.save(tmp_path / "m.lw")
    loaded = keras.load_model(tmp_path / "m.lw")
    assert type(loaded.layers[0]) is MaskingNoise and loaded.layers[0].rate == 0.2


def test_unknown_layer_class_is_named(tmp_path):
    class Doubler(L.Layer):
        def forward(self, x):
            return 2 * x

    model = keras.Sequential([keras.Input((4,)), Doubler(), L.Dense(1)])
    model.save(tmp_path / "m.lw")
    from layerwise.layers import base
    del base.LAYER_CLASSES["Doubler"]
    with pytest.raises(ValueError, match="Unknown layer class 'Doubler'"):
        keras.load_model(tmp_path / "m.lw")


def test_zero_padding_layers_reload_with_their_padding(tmp_path):
    model = keras.Sequential([keras.Input((5, 6, 2)), L.ZeroPadding2D(((1, 0), (0, 2))), L.Conv2D(2, 3),
                                  L.Reshape((-1, 2)), L.ZeroPadding1D((2, 1)), L.Flatten(), L.Dense(1)])
    model.save(tmp_path / "padded.lw")
    loaded = keras.load_model(tmp_path / "padded.lw")
    assert loaded.layers[0].padding == ((1, 0), (0, 2)) and loaded.layers[3].padding == ((2, 1),)
    x = np.random.default_rng(0).random((3, 5, 6, 2), dtype=np.float32)
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-6)


def test_save_own_variables_and_load_own_variables_are_called_with_their_store(tmp_path):
    calls = []

    @keras.saving.register_keras_serializable(package="tests")
    class Counted(keras.layers.Layer):
        """A scale weight, and a count of calls kept out of the weights: saved through the store."""

        def build(self, input_shape):
            self.scale = self.add_weight(shape=(input_shape[-1],), initializer="ones")
            self.count = 0

        def call(self, inputs):
            self.count += 1
            return inputs * self.scale

        def save_own_variables(self, store):
            calls.append("save")
            super().save_own_variables(store)
            store["count"] = np.array([self.count])

        def load_own_variables(self, store):
            calls.append("load")
            self.scale.assign(store["0"])
            self.count = int(store["count"][0])

    model = keras.Sequential([keras.Input((3,)), Counted()])
    model.layers[0].scale.assign([1.0, 2.0, 3.0])
    model(np.ones((1, 3), "float32"))
    model.save(tmp_path / "counted.lw")
    restored = keras.models.load_model(tmp_path / "counted.lw")
    assert calls == ["save", "load"]
    assert restored.layers[0].count == model.layers[0].count >= 1
    np.testing.assert_array_equal(restored.layers[0].scale.numpy(), [1.0, 2.0, 3.0])
