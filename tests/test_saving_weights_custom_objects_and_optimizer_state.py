"""Saving and loading, against Keras 3.15 (torch backend): a subclassed model's weights where Keras' writer puts
them, losses and metrics nothing registers, file permissions and links, Keras' form of functions, ``skip_mismatch``,
the optimizer state of Lamb, Adafactor and Muon. ``test_saving_serialization_and_file_names.py`` holds the rest."""
from __future__ import annotations

import json
import os
import stat
import warnings
import zipfile

import numpy as np
import pytest

import layerwise as lw
from keras_files import h5_datasets

RNG = np.random.default_rng(0)
X = RNG.random((16, 6)).astype("float32")
Y = RNG.random((16, 2)).astype("float32")


# ---- a subclassed model's weights: Keras' walk of its attributes -----------------------------------------------
def _subclassed(lib):
    """Layers under attributes sorting before and after ``layers``, in lists, in a dict, private, and in a layer."""
    class Block(lib.layers.Layer):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.z, self._p, self.a = lib.layers.Dense(3), lib.layers.Dense(3), lib.layers.Dense(3)

        def call(self, x):
            return self.a(self._p(self.z(x)))

    class Net(lib.Model):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.hidden, self.out = lib.layers.Dense(4), lib.layers.Dense(2)
            self.blocks = [lib.layers.Dense(3), lib.layers.Dense(3)]
            self.stack = [lib.layers.Dense(3)]
            self._private = lib.layers.Dense(3)
            self.block = Block()
            self.zz = {"a": lib.layers.Dense(3)}

        def call(self, x):
            h = self.hidden(x)
            for layer in self.blocks:
                h = layer(h)
            return self.out(self.zz["a"](self.block(self._private(self.stack[0](h)))))

    model = Net()
    model(X[:2])
    return model


def _h5_bytes(path) -> bytes:
    with open(path, "rb") as f:
        return f.read()


def test_subclassed_model_weights_sit_where_keras_writes_them_both_ways(keras, tmp_path):
    theirs, ours = _subclassed(keras), _subclassed(lw)
    theirs.save_weights(tmp_path / "keras.weights.h5")
    ours.load_weights(tmp_path / "keras.weights.h5")  # once: "no weights for layer 'dense_1' (looked for 'out')"
    np.testing.assert_allclose(ours.predict(X, verbose=0), theirs.predict(X, verbose=0), atol=1e-6)

    ours.save_weights(tmp_path / "ours.weights.h5")
    written = h5_datasets(_h5_bytes(tmp_path / "ours.weights.h5"))
    assert written == h5_datasets(_h5_bytes(tmp_path / "keras.weights.h5"))
    assert {"layers/dense_1/vars/0", "layers/dense_4/vars/0", "layers/dense_5/vars/0", "layers/dense_6/vars/0",
            "blocks/dense_1/vars/0", "block/_p/vars/0"} <= set(written)
    again = _subclassed(keras)
    again.load_weights(tmp_path / "ours.weights.h5")
    np.testing.assert_allclose(again.predict(X, verbose=0), theirs.predict(X, verbose=0), atol=1e-6)


def test_weights_under_attribute_names_as_earlier_layerwise_wrote_them_still_load(keras, tmp_path):
    import h5py

    theirs = _subclassed(keras)
    theirs.save_weights(tmp_path / "w.weights.h5")
    with h5py.File(tmp_path / "w.weights.h5", "r+") as f:
        f.move("layers/dense_1", "out")  # self.out under its attribute's name
    ours = _subclassed(lw)
    ours.load_weights(tmp_path / "w.weights.h5")
    np.testing.assert_allclose(ours.predict(X, verbose=0), theirs.predict(X, verbose=0), atol=1e-6)


# ---- losses and metrics nothing registers ---------------------------------------------------------------------
def _custom(lib):
    ops = lib.ops

    def my_loss(y_true, y_pred):
        return ops.mean(ops.square(y_true - y_pred), axis=-1)

    def my_metric(y_true, y_pred):
        return ops.mean(ops.abs(y_true - y_pred), axis=-1)

    class MyMetric(lib.metrics.Metric):
        def __init__(self, name="my_m", **kwargs):
            super().__init__(name=name, **kwargs)
            self.total = self.add_variable(shape=(), initializer="zeros", name="total")

        def update_state(self, y_true, y_pred, sample_weight=None):
            self.total.assign_add(ops.sum(ops.abs(y_true - y_pred)))

        def result(self):
            return self.total

        def reset_state(self):
            self.total.assign(0.0)

    return {"my_loss": my_loss, "my_metric": my_metric, "MyMetric": MyMetric}


def _compiled(lib, objects):
    model = lib.Sequential([lib.Input((6,)), lib.layers.Dense(2)])
    model.compile("adam", objects["my_loss"], metrics=[objects["my_metric"], objects["MyMetric"](), "mae"])
    return model


def test_unregistered_loss_and_metrics_are_saved_as_keras_saves_them(keras, tmp_path):
    ours, mine, theirs = _compiled(lw, _custom(lw)), _custom(lw), _custom(keras)
    ours.fit(X, Y, epochs=1, verbose=0)
    expected = ours.evaluate(X, Y, verbose=0, return_dict=True)
    ours.save(tmp_path / "m.keras")  # once: "Cannot save the custom loss 'my_loss'"
    written = json.loads(zipfile.ZipFile(tmp_path / "m.keras").read("config.json"))["compile_config"]
    function = {"module": "builtins", "class_name": "function", "registered_name": "function"}
    assert written["loss"] == {**function, "config": "my_loss"}
    assert written["metrics"][0] == {**function, "config": "my_metric"}
    assert written["metrics"][1] == {"module": __name__, "class_name": "MyMetric",
                                     "config": {"name": "my_m", "dtype": "float32"}, "registered_name": "MyMetric"}
    by_keras = keras.models.load_model(tmp_path / "m.keras", custom_objects=theirs)
    assert by_keras.evaluate(X, Y, verbose=0, return_dict=True) == pytest.approx(expected, rel=1e-5)
    for name in ("m.keras", "m.lw"):
        ours.save(tmp_path / name)
        loaded = lw.models.load_model(tmp_path / name, custom_objects=mine)
        assert loaded.evaluate(X, Y, verbose=0, return_dict=True) == pytest.approx(expected, rel=1e-6)
        with pytest.raises(ValueError, match="Could not locate function 'my_loss'.*custom_objects={'my_loss'"):
            lw.models.load_model(tmp_path / name)


def test_model_checkpoint_saves_a_model_compiled_with_a_function_loss(tmp_path):
    objects = _custom(lw)
    model = lw.Sequential([lw.Input((6,)), lw.layers.Dense(2)])
    model.compile("adam", objects["my_loss"])
    model.fit(X, Y, epochs=2, verbose=0, callbacks=[lw.callbacks.ModelCheckpoint(tmp_path / "c.keras")])
    loaded = lw.models.load_model(tmp_path / "c.keras", custom_objects=objects)
    assert loaded.evaluate(X, Y, verbose=0) == pytest.approx(model.evaluate(X, Y, verbose=0), rel=1e-6)


def test_keras_files_naming_unregistered_functions_say_which_and_how(keras, tmp_path):
    theirs = _compiled(keras, _custom(keras))
    theirs.fit(X, Y, epochs=1, verbose=0)
    theirs.save(tmp_path / "k.keras")
    with pytest.raises(ValueError, match="Could not locate function 'my_loss'.*custom_objects={'my_loss'"):
        lw.models.load_model(tmp_path / "k.keras")  # once: "Unknown loss class 'function'"
    ours = lw.models.load_model(tmp_path / "k.keras", custom_objects=_custom(lw))
    expected = theirs.evaluate(X, Y, verbose=0, return_dict=True)
    assert ours.evaluate(X, Y, verbose=0, return_dict=True) == pytest.approx(expected, rel=1e-5)
    with pytest.raises(ValueError, match="Could not locate function 'my_metric'.*custom_objects={'my_metric'"):
        lw.metrics.deserialize({"module": "builtins", "class_name": "function", "config": "my_metric",
                                "registered_name": "function"})


def test_lambdas_are_still_refused_with_the_fix():
    with pytest.raises(ValueError, match="Cannot save the custom loss.*named function"):
        lw.losses.serialize(lw.losses.get(lambda y, p: (y - p).abs().mean(-1)))


# ---- permissions and symbolic links -----------------------------------------------------------------------------
@pytest.fixture
def umask_022():
    previous = os.umask(0o022)
    yield
    os.umask(previous)


def _mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.mark.parametrize("name", ["m.keras", "m.lw", "w.weights.h5", "w.lw"])
def test_saved_files_get_the_umask_mode_and_keep_an_existing_one(tmp_path, umask_022, name):
    model = lw.Sequential([lw.Input((3,)), lw.layers.Dense(1)])
    save = model.save_weights if name.startswith("w") else model.save
    save(tmp_path / name)
    assert _mode(tmp_path / name) == 0o644  # once 0o600
    os.chmod(tmp_path / name, 0o664)
    save(tmp_path / name)
    assert _mode(tmp_path / name) == 0o664


def test_saving_to_a_symbolic_link_writes_its_target(tmp_path):
    model = lw.Sequential([lw.Input((3,)), lw.layers.Dense(1)])
    model.save(tmp_path / "real.keras")
    os.symlink("real.keras", tmp_path / "link.keras")
    model.layers[0].set_weights([np.ones((3, 1), "float32"), np.zeros(1, "float32")])
    model.save(tmp_path / "link.keras")
    assert os.path.islink(tmp_path / "link.keras")
    reloaded = lw.models.load_model(tmp_path / "real.keras")
    np.testing.assert_array_equal(reloaded.layers[0].get_weights()[0], np.ones((3, 1)))


# ---- serialize_keras_object: Keras' form of a function ------------------------------------------------------------
def test_functions_are_serialized_in_keras_form(keras):
    for ours, theirs in ((lw.activations.relu, keras.activations.relu),
                         (lw.losses.mean_squared_error, keras.losses.mean_squared_error)):
        written = lw.saving.serialize_keras_object(ours)
        assert written == keras.saving.serialize_keras_object(theirs)  # once module "layerwise.activations"
        assert keras.saving.deserialize_keras_object(written) is theirs
        assert lw.saving.deserialize_keras_object(written) is ours
    old_form = {"module": "layerwise.activations", "class_name": "function", "config": "relu"}
    assert lw.saving.deserialize_keras_object(old_form) is lw.activations.relu


def test_a_layer_config_with_a_serialized_activation_loads_in_keras(keras, tmp_path, fresh_registrations):
    def define(lib):
        @lib.saving.register_keras_serializable(package="review")
        class Activated(lib.layers.Layer):
            def __init__(self, activation="relu", **kwargs):
                super().__init__(**kwargs)
                self.activation = lib.activations.get(activation)

            def call(self, x):
                return self.activation(x) * 2.0

            def get_config(self):
                return {**super().get_config(), "activation": lib.saving.serialize_keras_object(self.activation)}

        return Activated

    define(keras)
    ours = lw.Sequential([lw.Input((3,)), define(lw)("tanh"), lw.layers.Dense(2)])
    ours.save(tmp_path / "m.keras")
    theirs = keras.models.load_model(tmp_path / "m.keras")  # once: "Could not locate function 'tanh'"
    x = RNG.random((4, 3)).astype("float32")
    np.testing.assert_allclose(theirs.predict(x, verbose=0), ours.predict(x, verbose=0), atol=1e-6)


# ---- load_weights(skip_mismatch=True) -------------------------------------------------------------------------
def _pair(lib, units: int):
    return lib.Sequential([lib.Input((6,)), lib.layers.Dense(4), lib.layers.Dense(units)])


@pytest.mark.parametrize("name", ["w.weights.h5", "m.keras", "w.lw"])
def test_skip_mismatch_loads_the_layers_that_fit_and_warns_about_the_others(keras, tmp_path, name):
    source = _pair(keras if not name.endswith(".lw") else lw, 2)
    (source.save if name.endswith(".keras") else source.save_weights)(tmp_path / name)
    target = _pair(lw, 3)
    kept = target.layers[1].get_weights()
    with pytest.raises(ValueError, match="does not match|weight"):
        target.load_weights(tmp_path / name)
    with pytest.warns(UserWarning, match="(?s)A total of 1 objects could not be loaded.*List of objects"):
        target.load_weights(tmp_path / name, skip_mismatch=True)  # once a TypeError
    for got, expected in zip(target.layers[0].get_weights(), source.layers[0].get_weights()):
        np.testing.assert_array_equal(got, expected)
    for got, expected in zip(target.layers[1].get_weights(), kept):
        np.testing.assert_array_equal(got, expected)


def test_skip_mismatch_in_a_legacy_h5_file_skips_the_weights_of_other_shapes(keras, tmp_path):
    source = _pair(keras, 2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        source.save(tmp_path / "legacy.h5")
    target = _pair(lw, 3)
    kept = target.layers[1].get_weights()
    with pytest.warns(UserWarning, match="Skipping loading weights for layer #1 .*due to mismatch in shape"):
        target.load_weights(tmp_path / "legacy.h5", skip_mismatch=True)
    np.testing.assert_array_equal(target.layers[0].get_weights()[0], source.layers[0].get_weights()[0])
    np.testing.assert_array_equal(target.layers[1].get_weights()[0], kept[0])


# ---- the optimizer state of Lamb, Adafactor and Muon -------------------------------------------------------------
def _trained(lib, name: str):
    model = lib.Sequential([lib.Input((6,)), lib.layers.Dense(4, activation="tanh"), lib.layers.Dense(2)])
    model.compile(getattr(lib.optimizers, name)(), "mse")
    return model


def _close(model_a, model_b, atol=1e-6):
    for got, expected in zip(model_a.get_weights(), model_b.get_weights()):
        np.testing.assert_allclose(got, expected, atol=atol, rtol=1e-5)


@pytest.mark.parametrize("name", ["Lamb", "Adafactor", "Muon"])
def test_keras_optimizer_state_of_newer_optimizers_carries_over_both_ways(keras, tmp_path, name):
    theirs = _trained(keras, name)
    theirs.fit(X, Y, epochs=2, batch_size=4, verbose=0, shuffle=False)
    theirs.save(tmp_path / "k.keras")
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        warnings.filterwarnings("ignore", message=".*__array__")
        ours = lw.models.load_model(tmp_path / "k.keras")
    assert ours.optimizer.iterations == 8  # once 0
    for model in (theirs, ours):
        model.fit(X, Y, epochs=1, batch_size=4, verbose=0, shuffle=False)
    _close(ours, theirs)

    ours.save(tmp_path / "ours.keras")
    assert "layerwise.safetensors" not in zipfile.ZipFile(tmp_path / "ours.keras").namelist()
    again = keras.models.load_model(tmp_path / "ours.keras")
    assert int(again.optimizer.iterations) == 12
    for model in (again, ours):
        model.fit(X, Y, epochs=1, batch_size=4, verbose=0, shuffle=False)
    _close(ours, again)


def test_optimizer_state_that_cannot_be_restored_is_named_in_a_warning(keras, tmp_path):
    theirs = _trained(keras, "Adam")
    theirs.fit(X, Y, epochs=1, batch_size=4, verbose=0)
    theirs.save(tmp_path / "k.keras")
    with zipfile.ZipFile(tmp_path / "k.keras") as source, zipfile.ZipFile(tmp_path / "old.keras", "w") as target:
        for member in source.namelist():
            data = source.read(member)
            if member == "metadata.json":
                data = json.dumps({**json.loads(data), "keras_version": "3.9.0"}).encode()
            target.writestr(member, data)
    with pytest.warns(UserWarning, match="Keras 3.9.0.*fresh optimizer state"):
        assert lw.models.load_model(tmp_path / "old.keras").optimizer.iterations == 0


def test_an_optimizer_keras_order_does_not_cover_still_travels_beside_the_keras_files(tmp_path):
    model = _trained(lw, "ScheduleFreeAdamW")
    model.fit(X, Y, epochs=1, batch_size=4, verbose=0)
    model.save(tmp_path / "m.keras")
    assert "layerwise.safetensors" in zipfile.ZipFile(tmp_path / "m.keras").namelist()
    loaded = lw.models.load_model(tmp_path / "m.keras")
    assert loaded.optimizer.iterations == model.optimizer.iterations
    for copy in (model, loaded):
        copy.train_on_batch(X[:4], Y[:4])
    _close(loaded, model, atol=1e-7)

