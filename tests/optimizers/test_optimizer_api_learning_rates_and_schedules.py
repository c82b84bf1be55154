"""The optimizers and schedules, checked against Keras 3 (torch backend): Keras' custom-optimizer
API and public members, callable and invalid learning rates, gradients of another dtype, schedules of arrays of
steps, argument checks, automatic names, ``get(None)`` and Adam with ``beta_2=1``."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import layerwise
from layerwise import layers as L

SCHEDULES = [
    ("ExponentialDecay", {"initial_learning_rate": 0.1, "decay_steps": 3, "decay_rate": 0.5}),
    ("ExponentialDecay", {"initial_learning_rate": 0.1, "decay_steps": 3, "decay_rate": 0.5, "staircase": True}),
    ("InverseTimeDecay", {"initial_learning_rate": 0.1, "decay_steps": 3, "decay_rate": 0.5, "staircase": True}),
    ("PiecewiseConstantDecay", {"boundaries": [2, 5], "values": [0.1, 0.01, 0.001]}),
    ("PolynomialDecay", {"initial_learning_rate": 0.1, "decay_steps": 4}),
    ("PolynomialDecay", {"initial_learning_rate": 0.1, "decay_steps": 3, "power": 2.0, "cycle": True}),
    ("CosineDecay", {"initial_learning_rate": 0.1, "decay_steps": 10}),
    ("CosineDecay", {"initial_learning_rate": 0.0, "decay_steps": 6, "warmup_target": 0.1, "warmup_steps": 3}),
    ("CosineDecayRestarts", {"initial_learning_rate": 0.1, "first_decay_steps": 3, "t_mul": 2.0, "m_mul": 0.5}),
]


def keras_array(keras, value) -> np.ndarray:
    return np.asarray(keras.ops.convert_to_numpy(value))


# ---- 6. Keras' custom-optimizer API ------------------------------------------------------------------------

def keras_sgd_example(lib):
    """The custom optimizer of Keras' BaseOptimizer docstring, written against ``lib``."""
    ops = lib.ops

    class MySGD(lib.optimizers.Optimizer):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.momentum = 0.9

        def build(self, variables):
            super().build(variables)
            self.momentums = [self.add_variable_from_reference(reference_variable=v, name="momentum")
                              for v in variables]

        def update_step(self, gradient, variable, learning_rate):
            learning_rate = ops.cast(learning_rate, variable.dtype)
            gradient = ops.cast(gradient, variable.dtype)
            m = self.momentums[self._get_variable_index(variable)]
            self.assign(m, ops.subtract(ops.multiply(m, ops.cast(self.momentum, variable.dtype)),
                                        ops.multiply(gradient, learning_rate)))
            self.assign_add(variable, m)
    return MySGD


def test_keras_custom_optimizer_example_trains_as_keras(keras):
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(32, 4)).astype("float32"), rng.normal(size=(32, 1)).astype("float32")
    k_model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8, activation="tanh"), keras.layers.Dense(1)])
    lw_model = layerwise.Sequential([layerwise.Input((4,)), L.Dense(8, activation="tanh"), L.Dense(1)])
    lw_model.set_weights(k_model.get_weights())
    histories = []
    for model, lib in ((k_model, keras), (lw_model, layerwise)):
        model.compile(optimizer=keras_sgd_example(lib)(learning_rate=0.01), loss="mse")
        histories.append(model.fit(x, y, batch_size=8, epochs=3, shuffle=False, verbose=0).history["loss"])
    np.testing.assert_allclose(histories[1], histories[0], rtol=1e-5)
    assert len(lw_model.optimizer.variables) == len(k_model.optimizer.variables) == 2 + 4


def two_variables(keras):
    rng = np.random.default_rng(1)
    values = [rng.normal(size=(2, 3)).astype("float32"), rng.normal(size=(3,)).astype("float32")]
    return values, [keras.Variable(v) for v in values], [torch.nn.Parameter(torch.tensor(v)) for v in values]


@pytest.mark.parametrize("name,kwargs", [("Adam", {}), ("Adam", {"amsgrad": True}), ("Nadam", {}),
                                         ("RMSprop", {"momentum": 0.5, "centered": True}), ("Adafactor", {}),
                                         ("Muon", {}), ("SGD", {"momentum": 0.5, "use_ema": True,
                                                                "gradient_accumulation_steps": 2})])
def test_variables_are_listed_in_keras_order(keras, name, kwargs):
    values, k_vars, lw_vars = two_variables(keras)
    k_opt, lw_opt = getattr(keras.optimizers, name)(**kwargs), getattr(layerwise.optimizers, name)(**kwargs)
    assert [tuple(v.shape) for v in lw_opt.variables] == [(), ()]  # iterations and the learning rate
    k_opt.build(k_vars)
    lw_opt.build(lw_vars)
    assert [tuple(v.shape) for v in lw_opt.variables] == [tuple(v.shape) for v in k_opt.variables]


def test_set_weights_save_and_load_own_variables_as_keras(keras):
    values, k_vars, lw_vars = two_variables(keras)
    k_opt, lw_opt = keras.optimizers.Adam(), layerwise.optimizers.Adam()
    k_opt.build(k_vars)
    lw_opt.build(lw_vars)
    weights = [np.array(7), np.array(0.5, "float32")] + [np.full(v.shape, i + 1.0, "float32")
                                                         for i, v in enumerate(lw_opt.variables[2:])]
    k_opt.set_weights(weights)
    lw_opt.set_weights(weights)
    assert int(lw_opt.iterations) == int(keras_array(keras, k_opt.iterations)) == 7
    assert float(lw_opt.learning_rate) == float(keras_array(keras, k_opt.learning_rate)) == 0.5
    store = {}
    lw_opt.save_own_variables(store)
    for ours, theirs in zip(store.values(), k_opt.variables):
        np.testing.assert_array_equal(ours, keras_array(keras, theirs))
    fresh = layerwise.optimizers.Adam()
    fresh.build(lw_vars)
    fresh.load_own_variables(store)
    assert int(fresh.iterations) == 7 and float(fresh.variables[-1][0]) == 4.0
    with pytest.warns(UserWarning, match="Skipping variable loading for optimizer 'adam_?\\d*', because it has 2 "
                                         "variables whereas the saved optimizer has 6"):
        layerwise.optimizers.Adam().load_own_variables(store)
    with pytest.raises(ValueError, match="calling `set_weights\\(\\)` on an optimizer that has not yet been built"):
        layerwise.optimizers.Adam().set_weights(weights)


def test_iterations_assign_and_stateless_apply_as_keras(keras):
    values, k_vars, lw_vars = two_variables(keras)
    k_opt, lw_opt = keras.optimizers.Adam(0.1), layerwise.optimizers.Adam(0.1)
    lw_opt.iterations.assign(5)
    k_opt.iterations.assign(5)
    assert int(lw_opt.iterations) == 5
    k_opt.build(k_vars)
    lw_opt.build(lw_vars)
    grads = [np.ones_like(v) for v in values]
    start = [v.detach().clone() for v in lw_vars]
    k_state = [keras_array(keras, v) for v in k_opt.variables]
    k_new, k_new_state = k_opt.stateless_apply(k_state, [torch.tensor(g) for g in grads],
                                               [torch.tensor(v) for v in values])
    ours, our_state = lw_opt.stateless_apply([v.clone() for v in lw_opt.variables],
                                             [torch.tensor(g) for g in grads], [torch.tensor(v) for v in values])
    for mine, theirs in zip(ours + our_state, list(k_new) + list(k_new_state)):
        np.testing.assert_allclose(mine.numpy(), keras_array(keras, theirs), rtol=1e-6)
    for variable, before in zip(lw_vars, start):  # the optimizer and the weights are as they were
        assert torch.equal(variable.detach(), before)
    assert int(lw_opt.iterations) == 5


# ---- 7. the learning rate: a callable, or a bad value ------------------------------------------------------

def test_a_callable_learning_rate_is_called_at_each_step_as_keras(keras):
    rates = iter([0.5, 0.25])
    opt = layerwise.optimizers.SGD(learning_rate=lambda: next(rates))
    weight = torch.nn.Parameter(torch.tensor([1.0, 2.0]))
    opt.apply_gradients([(torch.tensor([1.0, 1.0]), weight)])
    opt.apply_gradients([(torch.tensor([1.0, 1.0]), weight)])
    k_opt = keras.optimizers.SGD(learning_rate=lambda: 0.5)
    k_weight = keras.Variable(np.array([1.0, 2.0], "float32"))
    k_opt.apply_gradients([(keras.ops.convert_to_tensor(np.ones(2, "float32")), k_weight)])
    np.testing.assert_array_equal(weight.detach().numpy(), [0.25, 1.25])
    np.testing.assert_array_equal(keras_array(keras, k_weight), [0.5, 1.5])


@pytest.mark.parametrize("value", [1, "0.1", None, "abc", np.array(0.1), np.float32(0.1), True])
def test_a_learning_rate_keras_refuses_is_refused_with_its_message(keras, value):
    pattern = "Argument `learning_rate` should be float, or an instance of LearningRateSchedule, or a callable"
    for lib in (keras, layerwise):
        with pytest.raises(ValueError, match=pattern):
            lib.optimizers.SGD(learning_rate=value)


# ---- 8. a gradient of another dtype ----------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["Adam", "AdamW", "Adamax", "Nadam", "Lamb"])
@pytest.mark.parametrize("grad_dtype,var_dtype", [(torch.float64, torch.float32), (torch.float32, torch.float64),
                                                  (torch.float16, torch.float32)])
def test_a_gradient_of_another_dtype_is_cast_to_its_variable(name, grad_dtype, var_dtype):
    grad = torch.tensor([0.5, -1.0, 2.0])
    cast, given = torch.nn.Parameter(torch.ones(3, dtype=var_dtype)), torch.nn.Parameter(torch.ones(3, dtype=var_dtype))
    getattr(layerwise.optimizers, name)(0.1).apply_gradients([(grad.to(var_dtype), cast)])
    getattr(layerwise.optimizers, name)(0.1).apply_gradients([(grad.to(grad_dtype), given)])
    assert given.dtype == var_dtype
    torch.testing.assert_close(given, cast)


# ---- 9. schedules of arrays of steps ------------------------------------------------------------------------------

@pytest.mark.parametrize("name,kwargs", SCHEDULES, ids=lambda v: v if isinstance(v, str) else "-".join(v))
def test_schedules_take_arrays_and_tensors_of_steps_as_keras(keras, name, kwargs):
    ours = getattr(layerwise.optimizers.schedules, name)(**kwargs)
    theirs = getattr(keras.optimizers.schedules, name)(**kwargs)
    steps = np.arange(12)
    # Keras' values step by step: its own PiecewiseConstantDecay and warmed-up CosineDecay fail on arrays.
    expected = np.array([keras_array(keras, theirs(int(step))) for step in steps])
    for given in (steps, torch.arange(12), steps.reshape(3, 4)):
        rates = ours(given)
        assert isinstance(rates, torch.Tensor) and rates.dtype == torch.float32
        np.testing.assert_allclose(rates.numpy().reshape(-1), expected, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose([ours(int(s)) for s in steps], expected, rtol=1e-6, atol=1e-8)  # the scalar path


# ---- 10-13. argument checks, names, get(None), Adam with beta_2 = 1 -----------------------------------------------

@pytest.mark.parametrize("name,kwargs,pattern", [
    ("AdamW", {"weight_decay": None}, r"Argument `weight_decay` must be a float. Received: weight_decay=None"),
    ("SGD", {"momentum": -1.0}, r"`momentum` must be a float between \[0, 1\]"),
    ("SGD", {"momentum": 1.5}, r"`momentum` must be a float between \[0, 1\]"),
    ("SGD", {"momentum": 0}, r"`momentum` must be a float between \[0, 1\]"),
])
def test_arguments_keras_refuses_are_refused(keras, name, kwargs, pattern):
    for lib in (keras, layerwise):
        with pytest.raises(ValueError, match=pattern):
            getattr(lib.optimizers, name)(**kwargs)


def test_automatic_names_follow_keras(keras):
    def names(lib):
        lib.backend.clear_session()
        made = [lib.optimizers.AdamW(), lib.optimizers.AdamW(), lib.optimizers.RMSprop(), lib.optimizers.Adam(),
                lib.optimizers.Adam(), lib.optimizers.ScheduleFreeAdamW(),
                lib.optimizers.LossScaleOptimizer(lib.optimizers.SGD()), lib.optimizers.get("adam")]
        return [opt.name for opt in made]
    assert names(layerwise) == names(keras) == ["adam_w", "adam_w_1", "rm_sprop", "adam", "adam_1",
                                                "schedule_free_adam_w", "loss_scale_optimizer", "adam_2"]


def test_get_none_is_none_as_keras(keras):
    assert layerwise.optimizers.get(None) is None and keras.optimizers.get(None) is None


def test_adam_with_beta_2_of_one_leaves_the_weights_as_keras(keras):
    weight = torch.nn.Parameter(torch.tensor([1.0, 2.0]))
    k_weight = keras.Variable(np.array([1.0, 2.0], "float32"))
    opt, k_opt = layerwise.optimizers.Adam(0.1, beta_2=1.0), keras.optimizers.Adam(0.1, beta_2=1.0)
    for _ in range(2):
        opt.apply_gradients([(torch.tensor([0.5, -1.0]), weight)])
        k_opt.apply_gradients([(keras.ops.convert_to_tensor(np.array([0.5, -1.0], "float32")), k_weight)])
    np.testing.assert_array_equal(weight.detach().numpy(), keras_array(keras, k_weight))
    np.testing.assert_array_equal(weight.detach().numpy(), [1.0, 2.0])
