"""The optimizers, checked against Keras 3 (torch backend): an optimizer reused for another model,
Adafactor and Muon built without the model, EMA of non-trainable weights, saving custom optimizers and schedules,
gradient accumulation and the loss scale factor. (More in test_optimizer_api_learning_rates_and_schedules.py.)"""
from __future__ import annotations

import numpy as np
import pytest
import torch

import layerwise
from layerwise import layers as L

RNG = np.random.default_rng(0)
X3, Y1 = RNG.normal(size=(8, 3)).astype("float32"), RNG.normal(size=(8, 1)).astype("float32")


def dense_pair(keras, units=(4, 1)):
    """The same MLP on 3 inputs in Keras and in layerwise, with the same initial weights."""
    k_model = keras.Sequential([keras.Input((3,))] + [keras.layers.Dense(u) for u in units])
    lw_model = layerwise.Sequential([layerwise.Input((3,))] + [L.Dense(u) for u in units])
    lw_model.set_weights(k_model.get_weights())
    return k_model, lw_model


def assert_weights_close(ours, theirs, atol=1e-5):
    for mine, keras_weight in zip(ours.get_weights(), theirs.get_weights()):
        np.testing.assert_allclose(mine, keras_weight, rtol=1e-5, atol=atol)


# ---- 1. an optimizer reused for another model ----------------------------------------------------------

def test_an_optimizer_trained_for_one_model_is_refused_by_another_as_in_keras(keras):
    opt = layerwise.optimizers.Adam(0.1)
    first = layerwise.Sequential([layerwise.Input((3,)), L.Dense(1)])
    first.compile(optimizer=opt, loss="mse")
    first.fit(X3, Y1, verbose=0)
    second = layerwise.Sequential([layerwise.Input((3,)), L.Dense(8), L.Dense(1)])
    second.compile(optimizer=opt, loss="mse")
    pattern = r"Unknown variable: <weight path=sequential_\d+/dense_\d+/kernel, shape=\(3, 8\)>\. This optimizer can " \
              r"only be called for the variables it was originally built with"
    with pytest.raises(ValueError, match=pattern):
        second.fit(X3, Y1, epochs=5, verbose=0)
    with pytest.raises(ValueError, match="Unknown variable"):
        second.train_on_batch(X3, Y1)
    assert opt.iterations == 1  # nothing was stepped
    k_opt = keras.optimizers.Adam(0.1)
    k_first, k_second = dense_pair(keras, (1,))[0], dense_pair(keras)[0]
    k_first.compile(optimizer=k_opt, loss="mse")
    k_first.fit(X3, Y1, verbose=0)
    k_second.compile(optimizer=k_opt, loss="mse")
    with pytest.raises(ValueError, match="(?s)Unknown variable: .*This optimizer can only be called for the "
                                         "variables"):
        k_second.fit(X3, Y1, verbose=0)


def test_recompiling_the_same_model_with_its_optimizer_still_trains():  # a guard for the check above
    opt = layerwise.optimizers.Adam(0.1)
    model = layerwise.Sequential([layerwise.Input((3,)), L.Dense(1)])
    model.compile(optimizer=opt, loss="mse")
    model.fit(X3, Y1, verbose=0)
    model.compile(optimizer=opt, loss="mae")
    model.fit(X3, Y1, verbose=0)
    assert opt.iterations == 2
    assert model.evaluate(X3, Y1, verbose=0) == pytest.approx(float(np.abs(model.predict(X3, verbose=0) - Y1).mean()))


# ---- 2. Adafactor and Muon built without the model --------------------------------------------------------

def layout_twins(keras, kind: str):
    """A Conv2D or an Embedding model in both libraries, the same weights, and a batch (x, y)."""
    rng = np.random.default_rng(1)
    if kind == "conv":
        def build(lib):
            return lib.Sequential([lib.Input((6, 6, 2)), lib.layers.Conv2D(3, 3), lib.layers.Flatten(),
                                   lib.layers.Dense(2)])
        x = rng.normal(size=(4, 6, 6, 2)).astype("float32")
    else:
        def build(lib):
            return lib.Sequential([lib.Input((5,), dtype="int32"), lib.layers.Embedding(10, 4),
                                   lib.layers.GlobalAveragePooling1D(), lib.layers.Dense(2)])
        x = rng.integers(0, 10, size=(4, 5)).astype("int32")
    k_model, lw_model = build(keras), build(layerwise)
    lw_model.set_weights(k_model.get_weights())
    return k_model, lw_model, x, rng.normal(size=(4, 2)).astype("float32")


@pytest.mark.parametrize("name,kind", [("Adafactor", "conv"), ("Muon", "embedding")])
def test_a_custom_loop_on_bare_weights_steps_as_keras(keras, name, kind):
    """Keras' torch training-loop guide: loss.backward(), then optimizer.apply(grads, trainable_weights)."""
    k_model, lw_model, x, y = layout_twins(keras, kind)
    k_opt, lw_opt = getattr(keras.optimizers, name)(0.1), getattr(layerwise.optimizers, name)(0.1)
    for model, opt, is_keras in ((k_model, k_opt, True), (lw_model, lw_opt, False)):
        for _ in range(3):
            loss = ((model(torch.tensor(x)) - torch.tensor(y)) ** 2).mean()
            model.zero_grad()
            loss.backward()
            weights = list(model.trainable_weights)
            grads = [w.value.grad for w in weights] if is_keras else [w.grad for w in weights]
            with torch.no_grad():
                opt.apply(grads, weights)
    assert_weights_close(lw_model, k_model)


@pytest.mark.parametrize("name,kind", [("Adafactor", "conv"), ("Muon", "embedding")])
def test_building_on_the_trainable_weights_before_fit_steps_as_keras(keras, name, kind):
    k_model, lw_model, x, y = layout_twins(keras, kind)
    for model, lib in ((k_model, keras), (lw_model, layerwise)):
        opt = getattr(lib.optimizers, name)(0.1)
        opt.build(model.trainable_weights)
        model.compile(optimizer=opt, loss="mse")
        model.fit(x, y, epochs=2, batch_size=2, shuffle=False, verbose=0)
    assert_weights_close(lw_model, k_model)


# ---- 3. EMA leaves the non-trainable weights alone ----------------------------------------------------------

def counter_layer(lib):
    class Counter(lib.layers.Layer):
        def build(self, input_shape):
            self.count = self.add_weight(shape=(), initializer="zeros", trainable=False)

        def call(self, x, training=False):
            if training:
                self.count.assign(self.count + 1.0)
            return x
    return Counter()


def test_ema_averages_only_the_trainable_weights_as_keras(keras):
    models = []
    for lib in (keras, layerwise):
        model = lib.Sequential([lib.Input((3,)), counter_layer(lib), lib.layers.Dense(1)])
        models.append(model)
    models[1].set_weights(models[0].get_weights())
    for model, lib in zip(models, (keras, layerwise)):
        model.compile(optimizer=lib.optimizers.SGD(0.01, use_ema=True, ema_momentum=0.9), loss="mse")
        model.fit(np.ones((40, 3), "float32"), np.ones((40, 1), "float32"), batch_size=4, shuffle=False, verbose=0)
    assert float(models[1].layers[0].count) == float(keras.ops.convert_to_numpy(models[0].layers[0].count)) == 10.0
    assert_weights_close(models[1], models[0])


def test_ema_finalize_takes_one_variable_per_trainable_weight():
    model = layerwise.Sequential([layerwise.Input((3,)), counter_layer(layerwise), L.Dense(1)])
    model.compile(optimizer=layerwise.optimizers.SGD(0.1, use_ema=True), loss="mse")
    model.fit(X3, Y1, verbose=0)
    model.optimizer.finalize_variable_values(model.trainable_weights)  # Keras' call: one per trainable weight
    with pytest.raises(ValueError, match="got 1 variables, but the optimizer holds 2 moving averages"):
        model.optimizer.finalize_variable_values(model.trainable_weights[:1])


# ---- 4. custom optimizers and schedules save and load ------------------------------------------------------------

def custom_classes():
    class MyAdam(layerwise.optimizers.Adam):
        def __init__(self, extra=1.0, **kwargs):
            super().__init__(**kwargs)
            self.extra = extra

        def get_config(self):
            return {**super().get_config(), "extra": self.extra}

    class Halving(layerwise.optimizers.schedules.LearningRateSchedule):
        def __init__(self, start=0.1):
            self.start = start

        def __call__(self, step):
            return self.start / 2 ** step

        def get_config(self):
            return {"start": self.start}
    return MyAdam, Halving


@pytest.mark.parametrize("suffix", ["keras", "lw"])
def test_registered_custom_optimizer_and_schedule_save_and_load(fresh_registrations, tmp_path, suffix):
    my_adam, halving = custom_classes()
    register = layerwise.saving.register_keras_serializable(package="my")
    my_adam, halving = register(my_adam), register(halving)
    model = layerwise.Sequential([layerwise.Input((3,)), L.Dense(1)])
    model.compile(optimizer=my_adam(extra=2.0, learning_rate=halving(0.2)), loss="mse")
    model.fit(X3, Y1, batch_size=4, verbose=0)
    model.save(tmp_path / f"m.{suffix}")
    loaded = layerwise.models.load_model(tmp_path / f"m.{suffix}").optimizer
    assert type(loaded) is my_adam and loaded.extra == 2.0 and loaded.iterations == 2
    assert isinstance(loaded._learning_rate, halving) and loaded.learning_rate == pytest.approx(0.05)
    assert loaded.get_config() == model.optimizer.get_config()


def test_deserialize_takes_custom_objects_as_keras(keras, fresh_registrations):
    my_adam, halving = custom_classes()
    config = {"module": None, "class_name": "MyAdam", "registered_name": "MyAdam",
              "config": {**my_adam(extra=3.0).get_config(), "learning_rate": {
                  "module": None, "class_name": "Halving", "config": {"start": 0.4}, "registered_name": "Halving"}}}
    optimizer = layerwise.optimizers.deserialize(config, custom_objects={"MyAdam": my_adam, "Halving": halving})
    assert type(optimizer) is my_adam and optimizer.extra == 3.0 and optimizer.learning_rate == pytest.approx(0.4)
    schedule = layerwise.optimizers.schedules.deserialize(config["config"]["learning_rate"],
                                                          custom_objects={"Halving": halving})
    assert type(schedule) is halving and schedule.start == 0.4
    with pytest.raises(ValueError, match="Unknown optimizer 'MyAdam'.*custom_objects"):
        layerwise.optimizers.deserialize(config)
    with pytest.raises(ValueError, match="Unknown learning-rate schedule 'Halving'.*custom_objects"):
        layerwise.optimizers.schedules.deserialize(config["config"]["learning_rate"])
    with pytest.raises(TypeError, match="Cannot save the custom optimizer .*MyAdam.*register_keras_serializable"):
        layerwise.optimizers.serialize(my_adam())
    assert str(keras.optimizers.deserialize.__code__.co_varnames[:2]) == "('config', 'custom_objects')"


# ---- 5. gradient accumulation and the loss scale factor ------------------------------------------------------

ACCUMULATING = [
    ("SGD", {"learning_rate": 0.1, "momentum": 0.5, "gradient_accumulation_steps": 2}),
    ("Adam", {"learning_rate": 0.05, "gradient_accumulation_steps": 3, "use_ema": True, "ema_momentum": 0.5,
              "ema_overwrite_frequency": 2}),
    ("AdamW", {"gradient_accumulation_steps": 2, "clipnorm": 0.05, "weight_decay": 0.1}),
    ("Adam", {"learning_rate": 0.01, "loss_scale_factor": 128.0}),
    ("RMSprop", {"learning_rate": 0.01, "loss_scale_factor": 8.0, "gradient_accumulation_steps": 2}),
]


def with_schedule(lib, kwargs):
    if "learning_rate" in kwargs:
        return kwargs
    return {**kwargs, "learning_rate": lib.optimizers.schedules.ExponentialDecay(0.05, 1, 0.8)}


@pytest.mark.parametrize("name,kwargs", ACCUMULATING, ids=lambda v: v if isinstance(v, str) else "-".join(v))
def test_fit_accumulates_and_unscales_as_keras(keras, name, kwargs):
    k_model, lw_model = dense_pair(keras)
    x, y = np.random.default_rng(3).normal(size=(14, 3)).astype("float32"), Y1.repeat(2, axis=0)[:14]
    options = {"batch_size": 2, "epochs": 2, "shuffle": False, "verbose": 0}
    k_opt = getattr(keras.optimizers, name)(**with_schedule(keras, kwargs))
    lw_opt = getattr(layerwise.optimizers, name)(**with_schedule(layerwise, kwargs))
    k_model.compile(optimizer=k_opt, loss="mse")
    lw_model.compile(optimizer=lw_opt, loss="mse")
    k_history, lw_history = k_model.fit(x, y, **options), lw_model.fit(x, y, **options)
    np.testing.assert_allclose(lw_history.history["loss"], k_history.history["loss"], rtol=1e-5)
    assert_weights_close(lw_model, k_model)
    assert int(lw_opt.iterations) == int(keras.ops.convert_to_numpy(k_opt.iterations))
    assert float(lw_opt.learning_rate) == pytest.approx(float(keras.ops.convert_to_numpy(k_opt.learning_rate)))


@pytest.mark.parametrize("name,kwargs", ACCUMULATING, ids=lambda v: v if isinstance(v, str) else "-".join(v))
def test_apply_gradients_accumulates_and_unscales_as_keras(keras, name, kwargs):
    rng = np.random.default_rng(4)
    values = [rng.normal(size=shape).astype("float32") for shape in ((3, 2), (2,))]
    k_vars, lw_vars = [keras.Variable(v) for v in values], [torch.nn.Parameter(torch.tensor(v)) for v in values]
    k_opt = getattr(keras.optimizers, name)(**with_schedule(keras, kwargs))
    lw_opt = getattr(layerwise.optimizers, name)(**with_schedule(layerwise, kwargs))
    for step in range(7):
        grads = [rng.normal(size=v.shape).astype("float32") for v in values]
        if step == 3:  # a missing gradient: its accumulator and weight wait
            grads[1] = None
        k_opt.apply_gradients(zip([None if g is None else keras.ops.convert_to_tensor(g) for g in grads], k_vars))
        lw_opt.apply_gradients(zip([None if g is None else torch.tensor(g) for g in grads], lw_vars))
        for ours, theirs in zip(lw_vars, k_vars):
            np.testing.assert_allclose(ours.detach().numpy(), keras.ops.convert_to_numpy(theirs), rtol=1e-5,
                                       atol=1e-6, err_msg=f"step {step}")
    assert int(lw_opt.iterations) == int(keras.ops.convert_to_numpy(k_opt.iterations))


def test_scale_loss_and_the_accumulation_argument_check_as_keras(keras):
    for lib in (keras, layerwise):
        assert float(lib.optimizers.SGD(loss_scale_factor=4.0).scale_loss(torch.tensor(2.0))) == 8.0
        assert float(lib.optimizers.SGD().scale_loss(torch.tensor(2.0))) == 2.0
        with pytest.raises(ValueError, match="`gradient_accumulation_steps` must be an integer >= 2. Received: "
                                             "gradient_accumulation_steps=1"):
            lib.optimizers.SGD(gradient_accumulation_steps=1)
