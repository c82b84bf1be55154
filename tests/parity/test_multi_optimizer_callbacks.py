"""The callbacks that read or set a learning rate, and ``summary``, under a ``MultiOptimizer``, as in Keras 3: each
inner optimizer's rate set and logged as ``learning_rate_<name>``, the EMA swap over the optimizers that keep
averages, and the optimizer parameters counted over every inner optimizer."""
from __future__ import annotations

import numpy as np
import pytest

import layerwise as lw

X = np.random.RandomState(0).randn(16, 3).astype("float32")
Y = np.random.RandomState(1).randn(16, 2).astype("float32")


def _compiled(lib, use_ema=False):
    model = lib.Sequential([lib.Input((3,)), lib.layers.Dense(4, name="body"), lib.layers.Dense(2, name="head")],
                           name="sequential")
    o = lib.optimizers
    head = o.SGD(0.1, name="head_sgd", use_ema=use_ema, ema_momentum=0.5)
    model.compile(optimizer=o.MultiOptimizer(o.OptimizerMap(o.Adam(0.01, name="body_adam"), {".*head.*": head})),
                  loss="mse")
    return model


def _pair(keras, use_ema=False):
    theirs, ours = _compiled(keras, use_ema), _compiled(lw, use_ema)
    ours.set_weights(theirs.get_weights())
    return theirs, ours


def _history(model, callbacks):
    return model.fit(X, Y, batch_size=8, epochs=3, verbose=0, shuffle=False, callbacks=callbacks).history


@pytest.mark.parametrize("make_callback", [
    lambda lib: lib.callbacks.LearningRateScheduler(lambda epoch, lr: lr * 0.5),
    lambda lib: lib.callbacks.ReduceLROnPlateau(monitor="loss", patience=0, factor=0.5, min_delta=10.0),
], ids=["scheduler", "plateau"])
def test_rate_callbacks_set_and_log_each_inner_rate_as_keras(keras, make_callback):
    theirs, ours = _pair(keras)
    expected, got = _history(theirs, [make_callback(keras)]), _history(ours, [make_callback(lw)])
    assert list(got) == list(expected)
    assert {"learning_rate_body_adam", "learning_rate_head_sgd"} <= set(got)
    for key in expected:
        np.testing.assert_allclose(got[key], expected[key], rtol=1e-5, err_msg=key)
    for a, b in zip(ours.get_weights(), theirs.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, atol=1e-5)


def test_swap_ema_weights_swaps_the_optimizers_that_keep_averages(keras):
    theirs, ours = _pair(keras, use_ema=True)
    _history(theirs, []), _history(ours, [])
    for model, lib in ((theirs, keras), (ours, lw)):
        model.evaluate(X, Y, verbose=0, callbacks=[lib.callbacks.SwapEMAWeights()])
    for a, b in zip(ours.get_weights(), theirs.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, atol=1e-5)
    theirs, ours = _pair(keras, use_ema=False)
    for model, lib in ((theirs, keras), (ours, lw)):
        model.fit(X, Y, verbose=0, epochs=1)
        with pytest.raises(ValueError, match="at least one inner optimizer has `use_ema=True`"):
            model.evaluate(X, Y, verbose=0, callbacks=[lib.callbacks.SwapEMAWeights()])


def test_summary_counts_every_inner_optimizer_s_variables(keras):
    theirs, ours = _pair(keras)
    _history(theirs, []), _history(ours, [])
    lines = {}
    for name, model in (("theirs", theirs), ("ours", ours)):
        printed = []
        model.summary(print_fn=lambda line, _printed=printed, **_: _printed.append(line))
        lines[name] = [line.strip() for line in "\n".join(printed).splitlines() if "params" in line]
    assert lines["ours"] == lines["theirs"]


@pytest.mark.parametrize("multi", [False, True])
def test_loss_scale_optimizer_turns_off_its_inner_optimizer_s_factor_as_keras(keras, multi):
    found = []
    for o in (keras.optimizers, lw.optimizers):
        inner = o.SGD(0.1, loss_scale_factor=4.0)
        if multi:
            inner = o.MultiOptimizer(o.OptimizerMap(inner), loss_scale_factor=4.0)
        o.LossScaleOptimizer(inner)
        found.append([inner.loss_scale_factor] + [opt.loss_scale_factor for opt in getattr(inner, "optimizers", [])])
    assert found[1] == found[0]
    assert found[0][0] is None
