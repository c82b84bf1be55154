"""Losses and metrics written the Keras way, by subclassing: a ``Loss`` with ``call(y_true, y_pred)``
and a ``Metric`` keeping ``add_variable`` state in ``update_state``/``result``/``reset_state``. Each is
checked against the same class written for Keras 3 (torch backend), directly and inside fit/evaluate."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import layerwise as lw
from layerwise import ops, saving_registry

RNG = np.random.default_rng(3)
X = RNG.random((40, 5), dtype="float32")
Y = RNG.random((40, 3), dtype="float32")
LABELS = RNG.integers(0, 3, (40, 1))
WEIGHTS = RNG.random(40, dtype="float32")
REDUCTIONS = ["sum_over_batch_size", "sum", "mean", "mean_with_sample_weight", "none", None]


def loss_class(lib, ops_module):
    class CustomMSE(lib.losses.Loss):
        def __init__(self, regularization_factor=0.1, name="custom_mse", reduction="sum_over_batch_size"):
            super().__init__(name=name, reduction=reduction)
            self.regularization_factor = regularization_factor

        def call(self, y_true, y_pred):
            mse = ops_module.mean(ops_module.square(y_true - y_pred), axis=-1)
            return mse + ops_module.mean(ops_module.square(0.5 - y_pred), axis=-1) * self.regularization_factor

        def get_config(self):
            return {**super().get_config(), "regularization_factor": self.regularization_factor}

    return CustomMSE


def metric_classes(lib, ops_module):
    class CategoricalTruePositives(lib.metrics.Metric):
        def __init__(self, name="categorical_true_positives", **kwargs):
            super().__init__(name=name, **kwargs)
            self.true_positives = self.add_variable(shape=(), name="ctp", initializer="zeros")
            self.seen = self.add_weight(shape=(), name="seen", initializer="zeros")

        def update_state(self, y_true, y_pred, sample_weight=None):
            y_pred = ops_module.reshape(ops_module.argmax(y_pred, axis=1), (-1, 1))
            values = ops_module.cast(ops_module.cast(y_true, "int32") == ops_module.cast(y_pred, "int32"), "float32")
            if sample_weight is not None:
                values = ops_module.multiply(values, ops_module.reshape(ops_module.cast(sample_weight, "float32"),
                                                                        (-1, 1)))
            self.true_positives.assign_add(ops_module.sum(values))
            self.seen.assign_add(ops_module.cast(ops_module.shape(values)[0], "float32"))

        def result(self):
            return self.true_positives / self.seen

        def reset_state(self):
            self.true_positives.assign(0)
            self.seen.assign(0.0)

    class PerClassSums(lib.metrics.Metric):  # default reset_state; a vector state that starts at ones
        def __init__(self, name="per_class_sums", **kwargs):
            super().__init__(name=name, **kwargs)
            self.sums = self.add_variable(shape=(3,), initializer="ones", name="sums")

        def update_state(self, y_true, y_pred, sample_weight=None):
            self.sums.assign_add(ops_module.sum(y_pred, axis=0))
            self.sums.assign_sub(ops_module.sum(y_true, axis=0) * 0.5)

        def result(self):
            return self.sums

    return CategoricalTruePositives, PerClassSums


def twin_models(keras, units=3, activation=None):
    made = []
    for lib in (lw, keras):
        lib.utils.set_random_seed(0)
        made.append(lib.Sequential([lib.Input((5,)), lib.layers.Dense(4, activation="relu"),
                                    lib.layers.Dense(units, activation=activation)]))
    made[0].set_weights(made[1].get_weights())
    return made


def assert_histories(ours: dict, theirs: dict) -> None:
    assert sorted(ours) == sorted(theirs)
    for key in theirs:
        np.testing.assert_allclose(ours[key], theirs[key], rtol=1e-5, atol=1e-6, err_msg=key)


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_loss_subclass_reductions_and_sample_weights_match_keras(keras, reduction, weighted):
    ours, theirs = loss_class(lw, ops)(reduction=reduction), loss_class(keras, keras.ops)(reduction=reduction)
    pred = RNG.random((40, 3), dtype="float32")
    weight = WEIGHTS if weighted else None
    got = ours(Y, pred, sample_weight=weight)
    assert isinstance(got, torch.Tensor)
    np.testing.assert_allclose(got.numpy(), keras.ops.convert_to_numpy(theirs(Y, pred, sample_weight=weight)),
                               rtol=1e-6, atol=1e-7)


def test_loss_subclass_trains_and_evaluates_as_in_keras(keras):
    models = twin_models(keras)
    results = []
    for lib, ops_module, model in ((lw, ops, models[0]), (keras, keras.ops, models[1])):
        model.compile(optimizer=lib.optimizers.Adam(learning_rate=0.01),
                      loss=loss_class(lib, ops_module)(regularization_factor=0.3, reduction="sum"))
        history = model.fit(X, Y, sample_weight=WEIGHTS, batch_size=8, epochs=2, shuffle=False, verbose=0).history
        results.append((history, model.evaluate(X, Y, sample_weight=WEIGHTS, batch_size=16, verbose=0)))
    assert_histories(results[0][0], results[1][0])
    np.testing.assert_allclose(results[0][1], results[1][1], rtol=1e-5)


def test_loss_subclass_name_config_and_builtin_losses_unchanged(keras):
    custom = loss_class(lw, ops)(regularization_factor=0.2)
    assert custom.get_config() == loss_class(keras, keras.ops)(regularization_factor=0.2).get_config()

    class MeanAbsolute(lw.losses.Loss):
        def call(self, y_true, y_pred):
            return torch.mean(torch.abs(y_true - y_pred), dim=-1)

    lw.backend.clear_session()
    assert [MeanAbsolute().name, MeanAbsolute().name] == ["mean_absolute", "mean_absolute_1"]
    # Overriding call of a built-in class replaces its function, as in Keras.
    class Halved(lw.losses.MeanSquaredError):
        def call(self, y_true, y_pred):
            return 0.5 * lw.losses.mean_squared_error(y_true, y_pred)

    full = float(lw.losses.MeanSquaredError()(Y, X[:, :3]))
    assert float(Halved()(Y, X[:, :3])) == pytest.approx(full / 2, rel=1e-6)
    assert float(lw.losses.Loss(lw.losses.mean_squared_error)(Y, X[:, :3])) == pytest.approx(full, rel=1e-6)


@pytest.fixture()
def clean_registry():
    live = saving_registry._GLOBAL_CUSTOM_OBJECTS, saving_registry._GLOBAL_CUSTOM_NAMES
    copies = [dict(item) for item in live]
    yield
    for item, copy in zip(live, copies):
        item.clear()
        item.update(copy)


def test_registered_loss_subclass_saves_and_loads(tmp_path, clean_registry):
    custom_mse = lw.saving.register_keras_serializable(package="keras_style")(loss_class(lw, ops))
    model = lw.Sequential([lw.Input((5,)), lw.layers.Dense(3)])
    model.compile(optimizer="adam", loss=custom_mse(regularization_factor=0.25, reduction="sum"))
    model.fit(X, Y, batch_size=8, epochs=1, verbose=0)
    model.save(tmp_path / "m.lw")
    loaded = lw.load_model(tmp_path / "m.lw")
    assert type(loaded.loss) is custom_mse
    assert (loaded.loss.regularization_factor, loaded.loss.reduction) == (0.25, "sum")
    assert loaded.evaluate(X, Y, verbose=0) == pytest.approx(model.evaluate(X, Y, verbose=0), rel=1e-6)


def test_metric_subclass_over_batches_and_reset_matches_keras(keras):
    ours, theirs = [[cls() for cls in metric_classes(lib, ops_module)]
                    for lib, ops_module in ((lw, ops), (keras, keras.ops))]
    one_hot = np.eye(3, dtype="float32")[LABELS[:, 0]]
    for start in (0, 10, 25):
        rows = slice(start, start + 10)
        for ours_metric, theirs_metric, y_true in zip(ours, theirs, (LABELS, one_hot)):
            ours_metric.update_state(y_true[rows], Y[rows], sample_weight=WEIGHTS[rows])
            theirs_metric.update_state(y_true[rows], Y[rows], sample_weight=WEIGHTS[rows])
            np.testing.assert_allclose(np.asarray(ours_metric.result()),
                                       keras.ops.convert_to_numpy(theirs_metric.result()), rtol=1e-6)
    for ours_metric, theirs_metric in zip(ours, theirs):
        ours_metric.reset_state()
        theirs_metric.reset_state()
        got = [variable.numpy() for variable in ours_metric.variables]
        expected = [keras.ops.convert_to_numpy(variable) for variable in theirs_metric.variables]
        assert len(got) == len(expected)
        for a, b in zip(got, expected):
            np.testing.assert_array_equal(a, b)
    # result() returns what the subclass's result() returns (here a tensor, as Keras'): 0 / 0 after a reset
    assert type(ours[0].result()) is type(theirs[0].result()) is torch.Tensor and torch.isnan(ours[0].result())


def test_metric_subclass_in_compile_fit_and_evaluate_matches_keras(keras):
    models = twin_models(keras, activation="softmax")
    results = []
    for lib, ops_module, model in ((lw, ops, models[0]), (keras, keras.ops, models[1])):
        true_positives, _ = metric_classes(lib, ops_module)
        model.compile(optimizer=lib.optimizers.RMSprop(learning_rate=1e-2),
                      loss=lib.losses.SparseCategoricalCrossentropy(),
                      metrics=[true_positives()], weighted_metrics=[true_positives(name="weighted_tp")])
        history = model.fit(X, LABELS, sample_weight=WEIGHTS, batch_size=8, epochs=2, shuffle=False,
                            validation_data=(X[:16], LABELS[:16]), verbose=0).history
        results.append((history, model.evaluate(X, LABELS, sample_weight=WEIGHTS, batch_size=16, verbose=0,
                                                return_dict=True)))
    assert_histories(results[0][0], results[1][0])
    assert results[0][1] == pytest.approx(results[1][1], rel=1e-5)


def test_metric_variables_act_as_tensors():
    metric = metric_classes(lw, ops)[1]()
    sums = metric.sums
    assert sums.name == "sums" and sums.trainable is False and sums.path == "per_class_sums/sums"
    assert metric.variables == [sums] or metric.variables[0] is sums
    np.testing.assert_array_equal(sums.numpy(), np.ones(3, "float32"))
    np.testing.assert_array_equal(np.asarray(sums * 2), np.full(3, 2.0, "float32"))
    assert type(torch.sqrt(sums)) is torch.Tensor and type(ops.add(sums, 1.0)) is torch.Tensor
    assert type(sums.value) is torch.Tensor and float(ops.sum(sums)) == 3.0
    sums.assign([1.0, 2.0, 3.0])
    np.testing.assert_array_equal(metric.result(), [1.0, 2.0, 3.0])
    counts = lw.metrics.Metric.add_variable(metric, shape=2, initializer=lw.initializers.Constant(4), dtype="int32")
    counts.assign_add(1.5)  # kept as the variable's dtype, as Keras casts
    assert counts.dtype == torch.int32 and counts.numpy().tolist() == [5, 5]


def test_bad_subclasses_and_variables_are_named():
    class NoCall(lw.losses.Loss):
        pass

    with pytest.raises(NotImplementedError, match=r"NoCall \('no_call.*'\).*override call\(y_true, y_pred\)"):
        NoCall()(Y, X[:, :3])

    class NoResult(lw.metrics.Metric):
        def update_state(self, y_true, y_pred, sample_weight=None):
            pass

    with pytest.raises(NotImplementedError,
                       match=r"NoResult \('no_result(_\d+)?'\) overrides update_state but not result"):
        NoResult().result()

    metric = metric_classes(lw, ops)[0]()
    with pytest.raises(ValueError, match=r"CategoricalTruePositives\('categorical_true_positives'\)\.add_variable"
                                         r"\(name='bad'\): Unknown initializer 'no_such_init'"):
        metric.add_variable(shape=(), initializer="no_such_init", name="bad")
    with pytest.raises(ValueError, match=r"categorical_true_positives/ctp: the variable has shape \(\); received "
                                         r"a value of shape \(2,\)"):
        metric.true_positives.assign([1.0, 2.0])
    with pytest.raises(ValueError, match=r"per_class_sums/sums: the variable has shape \(3,\); received a value of "
                                         r"shape \(2,\)"):
        metric_classes(lw, ops)[1]().sums.assign_add([1.0, 2.0])

    class EarlyState(lw.metrics.Metric):
        def __init__(self):
            self.total_seen = self.add_variable(shape=())
            super().__init__()

        def update_state(self, y_true, y_pred, sample_weight=None):
            pass

    with pytest.raises(RuntimeError, match=r"EarlyState\('metric'\)\.add_variable: call super\(\).__init__\(\)"):
        EarlyState()
