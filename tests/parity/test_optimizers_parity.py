"""Parity with Keras 3 for Adadelta, Adamax, Nadam, Lion and Ftrl: the same model, weights and
batches in both libraries, several steps (with and without a learning-rate schedule, weight decay
and clipping), then the same weights; configs, saving and the summary's optimizer count too."""
from __future__ import annotations

import pickle
import re

import numpy as np
import pytest

import layerwise
from layerwise.optimizers import schedules
from test_layers_parity import summary_totals
from test_training_parity import assert_weights_close, classification_data, classifier

OPTIMIZERS = [
    ("Adadelta", {"learning_rate": 1.0}),
    ("Adadelta", {"learning_rate": 0.5, "rho": 0.8, "epsilon": 1e-5, "weight_decay": 0.05}),
    ("Adamax", {"learning_rate": 0.02}),
    ("Adamax", {"learning_rate": 0.02, "beta_1": 0.5, "beta_2": 0.9, "clipnorm": 0.1}),
    ("Nadam", {"learning_rate": 0.02}),
    ("Nadam", {"learning_rate": 0.02, "beta_1": 0.8, "epsilon": 1e-4, "global_clipnorm": 0.2}),
    ("Lion", {"learning_rate": 0.005}),
    ("Lion", {"learning_rate": 0.005, "beta_1": 0.5, "beta_2": 0.9, "weight_decay": 0.1}),
    ("Ftrl", {"learning_rate": 0.2}),
    ("Ftrl", {"learning_rate": 0.2, "l1_regularization_strength": 0.01, "l2_regularization_strength": 0.02,
              "l2_shrinkage_regularization_strength": 0.03, "beta": 0.1, "clipvalue": 0.5}),
    ("Ftrl", {"learning_rate": 0.2, "learning_rate_power": -0.7, "initial_accumulator_value": 0.5}),
]
NAMES = ["Adadelta", "Adamax", "Nadam", "Lion", "Ftrl"]
STEPS = 6


def keras_schedule(keras):
    return keras.optimizers.schedules.ExponentialDecay(0.03, decay_steps=2, decay_rate=0.5)


def our_schedule():
    return schedules.ExponentialDecay(0.03, decay_steps=2, decay_rate=0.5)


def train_both(keras, k_opt, lw_opt, steps: int = STEPS):
    """Both classifiers, compiled with the given optimizers, after ``steps`` batches (each a new one)."""
    k_model, lw_model = classifier(keras)
    k_model.compile(optimizer=k_opt, loss="categorical_crossentropy")
    lw_model.compile(optimizer=lw_opt, loss="categorical_crossentropy")
    for step in range(steps):
        x, _, y = classification_data(12, seed=step)
        k_loss = k_model.train_on_batch(x, y)
        assert lw_model.train_on_batch(x, y) == pytest.approx(float(k_loss), rel=1e-5), f"loss at step {step}"
    return k_model, lw_model


@pytest.mark.parametrize("name,kwargs", OPTIMIZERS, ids=lambda v: v if isinstance(v, str) else
                         "-".join(f"{k}={v}" for k, v in v.items()))
def test_steps_match_keras(keras, name, kwargs):
    start = classifier(keras)[1].get_weights()
    k_opt, lw_opt = getattr(keras.optimizers, name)(**kwargs), getattr(layerwise.optimizers, name)(**kwargs)
    k_model, lw_model = train_both(keras, k_opt, lw_opt)
    assert_weights_close(lw_model, k_model, rtol=1e-5, atol=1e-6)
    assert lw_opt.iterations == int(keras.ops.convert_to_numpy(k_opt.iterations)) == STEPS
    for before, after in zip(start, lw_model.get_weights()):  # every weight moved: not a vacuous match
        assert not np.allclose(before, after)


@pytest.mark.parametrize("name", NAMES)
def test_steps_with_a_schedule_match_keras(keras, name):
    k_opt, lw_opt = getattr(keras.optimizers, name)(keras_schedule(keras)), getattr(layerwise.optimizers, name)(
        our_schedule())
    k_model, lw_model = train_both(keras, k_opt, lw_opt)
    assert_weights_close(lw_model, k_model, rtol=1e-5, atol=1e-6)
    assert lw_opt.learning_rate == pytest.approx(0.03 * 0.5 ** (STEPS / 2))


@pytest.mark.parametrize("name", NAMES)
def test_compile_by_name_uses_keras_defaults(keras, name):
    k_model, lw_model = train_both(keras, name.lower(), name.lower(), steps=3)
    assert type(lw_model.optimizer) is getattr(layerwise.optimizers, name)
    assert_weights_close(lw_model, k_model, rtol=1e-5, atol=1e-6)
    # Keras counts every optimizer variable (Nadam's momentum product included) in the summary.
    assert summary_totals(lw_model) == summary_totals(k_model)


def assert_same_config(ours: dict, theirs: dict) -> None:
    """Same keys and values; Keras rounds the learning rate through float32 and numbers its
    names (``adadelta_4``), layerwise names every instance after its class."""
    assert set(ours) == set(theirs)
    assert re.sub(r"_\d+$", "", ours["name"]) == re.sub(r"_\d+$", "", theirs["name"])
    for key, value in theirs.items():
        if key == "name":
            continue
        if isinstance(value, float):
            assert ours[key] == pytest.approx(value, rel=1e-6), key
        else:
            assert ours[key] == value, key


def assert_config_matches_keras_and_round_trips(keras, name: str, kwargs: dict) -> None:
    k_config = getattr(keras.optimizers, name)(**kwargs).get_config()
    ours = getattr(layerwise.optimizers, name)(**kwargs)
    assert_same_config(ours.get_config(), k_config)
    again = layerwise.optimizers.deserialize(layerwise.optimizers.serialize(ours))
    assert type(again) is type(ours) and again.get_config() == ours.get_config()
    # A config written by Keras builds the same optimizer.
    from_keras = getattr(layerwise.optimizers, name).from_config(k_config)
    assert_same_config(from_keras.get_config(), ours.get_config())


@pytest.mark.parametrize("name,kwargs", OPTIMIZERS[1::2], ids=lambda v: v if isinstance(v, str) else "")
def test_config_matches_keras_and_round_trips(keras, name, kwargs):
    assert_config_matches_keras_and_round_trips(keras, name, kwargs)


@pytest.mark.parametrize("name", NAMES)
def test_schedule_config_round_trips(name):
    ours = getattr(layerwise.optimizers, name)(our_schedule())
    again = layerwise.optimizers.deserialize(layerwise.optimizers.serialize(ours))
    assert isinstance(again._learning_rate, schedules.ExponentialDecay)
    assert again.get_config() == ours.get_config()


@pytest.mark.parametrize("name", NAMES)
def test_saved_model_resumes_exactly(keras, tmp_path, name):
    """Save after 3 steps, load, 3 more: the same weights as 6 uninterrupted steps (the state is saved)."""
    opt = getattr(layerwise.optimizers, name)(learning_rate=0.02)
    _, lw_model = train_both(keras, getattr(keras.optimizers, name)(learning_rate=0.02), opt, steps=3)
    lw_model.save(tmp_path / "m.lw")
    loaded = layerwise.load_model(tmp_path / "m.lw")
    assert loaded.optimizer.get_config() == opt.get_config() and loaded.optimizer.iterations == 3
    for model in (lw_model, loaded):
        for step in range(3, 6):
            x, _, y = classification_data(12, seed=step)
            model.train_on_batch(x, y)
    for ours, theirs in zip(loaded.get_weights(), lw_model.get_weights()):
        np.testing.assert_array_equal(ours, theirs)


# ---- bad input ------------------------------------------------------------------------------------

def test_get_and_serialize_take_the_forms_keras_takes(keras):
    """Names, Keras' serialized dicts (either library's), objects; a LossScaleOptimizer is not made from a name."""
    for identifier in ("adam", "SGD", {"class_name": "Adam", "config": {"learning_rate": 0.1}},
                       keras.optimizers.serialize(keras.optimizers.RMSprop(0.2))):
        ours, theirs = layerwise.optimizers.get(identifier), keras.optimizers.get(identifier)
        assert type(ours).__name__ == type(theirs).__name__
        assert float(ours.learning_rate) == pytest.approx(float(theirs.learning_rate))
    ours, theirs = layerwise.optimizers.Adam(0.1), keras.optimizers.Adam(0.1)
    ours_dict, theirs_dict = layerwise.optimizers.serialize(ours), keras.optimizers.serialize(theirs)
    assert ours_dict["class_name"] == theirs_dict["class_name"] == "Adam"
    assert type(keras.optimizers.deserialize(ours_dict)).__name__ == "Adam"  # Keras reads ours
    with pytest.raises(KeyError, match="inner_optimizer"):  # Keras fails inside its from_config; ours says why
        keras.optimizers.get("LossScaleOptimizer")
    with pytest.raises(ValueError, match="Could not interpret optimizer identifier: 'LossScaleOptimizer'"):
        layerwise.optimizers.get("LossScaleOptimizer")
    inner = layerwise.optimizers.serialize(layerwise.optimizers.SGD(0.5))  # a file saved before the name was mended
    old = {"class_name": "losscaleoptimizer", "config": {"inner_optimizer": inner}}
    assert float(layerwise.optimizers.deserialize(old).inner_optimizer.learning_rate) == 0.5


def test_unknown_name_lists_the_valid_ones():
    with pytest.raises(ValueError, match="interpret optimizer identifier: 'nadamw'.*adadelta.*ftrl.*lion.*nadam"):
        layerwise.optimizers.get("nadamw")
    with pytest.raises(ValueError, match="Unknown optimizer 'Madam'.*adamax"):
        layerwise.optimizers.deserialize({"class_name": "Madam", "config": {}})


@pytest.mark.parametrize("kwargs", [{"gradient_accumulation_steps": 4}, {"loss_scale_factor": 128.0}])
def test_accumulation_and_loss_scale_arguments_are_kept_as_keras_keeps_them(keras, kwargs):
    # How they train is checked against Keras in
    # tests/optimizers/test_optimizer_binding_ema_and_gradient_accumulation.py.
    ours, theirs = layerwise.optimizers.Nadam(**kwargs), keras.optimizers.Nadam(**kwargs)
    assert {k: ours.get_config()[k] for k in kwargs} == {k: theirs.get_config()[k] for k in kwargs} == kwargs
    assert layerwise.optimizers.deserialize(layerwise.optimizers.serialize(ours)).get_config() == ours.get_config()


def test_keras_defaults_of_unsupported_arguments_are_accepted():
    opt = layerwise.optimizers.Adamax(use_ema=False, ema_momentum=0.99, loss_scale_factor=None)
    assert opt.get_config()["use_ema"] is False


def test_only_one_clipping_argument(keras):
    with pytest.raises(ValueError, match="Adadelta: only one of clipnorm, clipvalue and global_clipnorm"):
        layerwise.optimizers.Adadelta(clipnorm=1.0, clipvalue=0.5)
    with pytest.raises(ValueError, match="Only one of"):
        keras.optimizers.Adadelta(clipnorm=1.0, clipvalue=0.5)


@pytest.mark.parametrize("name,kwargs,pattern", [
    ("Lion", {"beta_1": 0.0}, r"Lion: beta_1 must be in \(0, 1\].*got beta_1=0.0"),
    ("Lion", {"beta_1": 1.5}, r"got beta_1=1.5"),
    ("Ftrl", {"learning_rate_power": 0.5}, "Ftrl: learning_rate_power must be negative or zero, got 0.5"),
    ("Ftrl", {"initial_accumulator_value": -1.0}, "Ftrl: initial_accumulator_value must be positive or zero"),
    ("Ftrl", {"l1_regularization_strength": -0.1}, "l1_regularization_strength must be positive or zero, got -0.1"),
    ("Ftrl", {"l2_shrinkage_regularization_strength": -0.1}, "l2_shrinkage_regularization_strength must be"),
])
def test_invalid_arguments_are_refused_like_keras(keras, name, kwargs, pattern):
    with pytest.raises(ValueError, match=pattern):
        getattr(layerwise.optimizers, name)(**kwargs)
    with pytest.raises(ValueError):
        getattr(keras.optimizers, name)(**kwargs)


def test_learning_rate_and_iterations_take_keras_variable_calls(keras):
    # custom callbacks written for Keras call .assign and .numpy on these
    k_opt, lw_opt = keras.optimizers.Adam(0.01), layerwise.optimizers.Adam(0.01)
    for opt in (k_opt, lw_opt):
        opt.learning_rate.assign(0.05)
    assert lw_opt.learning_rate.numpy() == k_opt.learning_rate.numpy() == np.float32(0.05)
    assert float(lw_opt.learning_rate) == pytest.approx(0.05) and lw_opt.get_config()["learning_rate"] == 0.05
    assert lw_opt.iterations.numpy() == 0 and isinstance(lw_opt.iterations.numpy(), np.integer)
    assert pickle.loads(pickle.dumps(lw_opt.learning_rate)) == 0.05  # a plain float, without the optimizer


def assert_trained_alike(theirs, ours, x, y) -> None:
    """Give ``ours`` the Keras model's weights, train both alike, and compare the weights they end with."""
    ours.set_weights(theirs.get_weights())
    for model in (theirs, ours):
        model.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)
    for got, expected in zip(ours.get_weights(), theirs.get_weights()):
        np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5)


def test_exclude_from_weight_decay_matches_keras(keras):
    # AdamW sparing the biases and an LSTM's recurrent kernel, by name, and one weight by identity
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(32, 5, 3)).astype("float32"), rng.normal(size=(32, 1)).astype("float32")
    models = []
    for lib in (keras, layerwise):
        model = lib.Sequential([lib.Input((5, 3)), lib.layers.LSTM(4), lib.layers.Dense(1)])
        optimizer = lib.optimizers.AdamW(0.05, weight_decay=0.5)
        optimizer.exclude_from_weight_decay(var_list=[model.layers[-1].kernel], var_names=["bias", "recurrent"])
        model.compile(optimizer, "mse")
        models.append(model)
    assert_trained_alike(*models, x, y)
    with pytest.raises(ValueError, match="before the optimizer is built"):
        models[1].optimizer.exclude_from_weight_decay(var_names=["bias"])


@pytest.mark.parametrize("names", [["bias"], ["kernel"], ["dense"]])
def test_muon_and_adamw_excluding_a_whole_group_from_weight_decay_match_keras(keras, names):
    # With every weight of a group excluded (Muon keeps biases apart from kernels), the update crashed in
    # torch._foreach_mul_ on an empty list.
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(24, 4)).astype("float32"), rng.normal(size=(24, 2)).astype("float32")
    for name in ("Muon", "AdamW"):
        models = []
        for lib in (keras, layerwise):
            model = lib.Sequential([lib.Input((4,)), lib.layers.Dense(6), lib.layers.Dense(2)])
            optimizer = getattr(lib.optimizers, name)(0.01, weight_decay=0.1)
            optimizer.exclude_from_weight_decay(var_names=names)
            model.compile(optimizer, "mse")
            models.append(model)
        assert_trained_alike(*models, x, y)


def test_optimizer_warnings_name_the_callers_line_and_a_nameless_build():
    import torch

    with pytest.warns(UserWarning, match="decay") as record:
        layerwise.optimizers.AdamW(0.1, decay=1e-3)  # a subclass of a subclass: still this line
    assert record[0].filename == __file__
    optimizer = layerwise.optimizers.AdamW(0.1, weight_decay=0.5)
    optimizer.exclude_from_weight_decay(var_names=["bias"])
    with pytest.warns(UserWarning, match="needs the weights' names.*var_list"):
        optimizer.apply([torch.zeros(3)], [torch.nn.Parameter(torch.ones(3))])


def test_optimizers_pickled_before_iterations_was_a_property_load():
    optimizer = layerwise.optimizers.Adam(0.01)
    state = dict(optimizer.__dict__)
    state["iterations"] = state.pop("_iterations") + 7  # the old layout of the same object
    old = object.__new__(layerwise.optimizers.Adam)
    old.__setstate__(state)
    assert old.iterations == 7 and pickle.loads(pickle.dumps(old)).iterations == 7
