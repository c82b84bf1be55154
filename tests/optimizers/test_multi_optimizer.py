"""``MultiOptimizer`` and ``OptimizerMap`` against Keras 3: lookups, fit and custom-loop updates, errors, configs,
and the optimizer state in layerwise's files and in ``.keras`` files (Keras' layout, read by Keras)."""
from __future__ import annotations

import copy
import warnings

import numpy as np
import pytest
import torch

import layerwise as lw
from layerwise import layers as ll
from layerwise import optimizers as lo

X = np.random.RandomState(0).randn(8, 3).astype("float32")
Y = np.random.RandomState(1).randn(8, 2).astype("float32")


def _models(keras):
    """The same two-layer model in Keras and in layerwise, with the same weights."""
    km = keras.Sequential([keras.Input((3,)), keras.layers.Dense(4, name="dense"),
                           keras.layers.Dense(2, name="dense_1")], name="sequential")
    lm = lw.models.Sequential([lw.Input((3,)), ll.Dense(4, name="dense"), ll.Dense(2, name="dense_1")],
                              name="sequential")
    lm.set_weights(km.get_weights())
    return km, lm


def _head_map(o):
    """SGD (with momentum and EMA) for the head, Adam for the rest; ``o`` is an optimizers module."""
    head = o.SGD(0.1, momentum=0.9, use_ema=True, ema_momentum=0.5)
    return o.MultiOptimizer(o.OptimizerMap(o.Adam(1e-3), {".*dense_1.*": head}))


def _assert_weights(a, b, atol=1e-5):
    for x, y in zip(a.get_weights(), b.get_weights(), strict=True):
        np.testing.assert_allclose(x, y, atol=atol)


def test_optimizer_map_lookup_matches_keras(keras):
    found = {}
    for o in (keras.optimizers, lo):
        adam, sgd, rms = o.Adam(), o.SGD(), o.RMSprop()
        opt_map = o.OptimizerMap(default_optimizer=rms)
        opt_map["encoder/layer_0/dense"] = adam
        opt_map["encoder/.*"] = sgd
        opt_map["decoder"] = adam
        keys = ["decoder", "encoder/layer_0/dense", "encoder/layer_0/attention/query", "decoder/layer_0/dense"]
        found[o] = [type(opt_map[k]).__name__ for k in keys] + [len(opt_map), list(opt_map)]
        clash = o.OptimizerMap(rms, {".*kernel.*": adam, ".*dense.*": sgd})
        with pytest.raises(ValueError, match="Multiple optimizers assigned to variable dense/kernel"):
            clash["dense/kernel"]
        with pytest.raises(ValueError, match="already exists in the OptimizerMap"):
            opt_map["decoder"] = sgd
        with pytest.raises(ValueError, match="key must be a string"):
            opt_map[3] = sgd
        with pytest.raises(ValueError, match="optimizer must be a Keras Optimizer instance"):
            opt_map["x"] = "adam"
        with pytest.raises(ValueError, match="optimizer cannot be LossScaleOptimizer"):
            opt_map["x"] = o.LossScaleOptimizer(o.SGD())
        with pytest.raises(ValueError, match="optimizer cannot be MultiOptimizer"):
            opt_map["x"] = o.MultiOptimizer(opt_map)
        with pytest.raises(TypeError, match="default_optimizer must be a Keras Optimizer instance"):
            o.OptimizerMap("adam")
        with pytest.raises(TypeError, match="optimizer_map must be a dictionary"):
            o.OptimizerMap(rms, [("a", adam)])
    assert found[lo] == found[keras.optimizers] == ["Adam", "Adam", "SGD", "RMSprop", 3,
                                                    ["encoder/layer_0/dense", "encoder/.*", "decoder"]]


def test_fit_matches_keras(keras):
    km, lm = _models(keras)
    ko, lo_ = _head_map(keras.optimizers), _head_map(lo)
    km.compile(optimizer=ko, loss="mse")
    lm.compile(optimizer=lo_, loss="mse")
    for model in (km, lm):
        model.fit(X, Y, batch_size=4, epochs=2, verbose=0, shuffle=False)
    _assert_weights(km, lm)  # the head's EMA averages too: fit ends with them in the weights
    assert [type(o).__name__ for o in lo_.optimizers] == [type(o).__name__ for o in ko.optimizers] == ["SGD", "Adam"]
    assert int(lo_.iterations) == int(ko.iterations) == 4
    assert [int(o.iterations) for o in lo_.optimizers] == [int(o.iterations) for o in ko.optimizers]
    assert [tuple(v.shape) for v in lo_.variables if v.ndim == 0] == [tuple(v.shape) for v in ko.variables
                                                                      if len(v.shape) == 0]
    assert len(lo_.variables) == len(ko.variables)
    scalars = [float(v) for v in lo_.variables if v.ndim == 0]
    np.testing.assert_allclose(scalars, [float(np.asarray(v)) for v in ko.variables if len(v.shape) == 0], rtol=1e-6)


def test_custom_loop_with_callable_selector_matches_keras(keras):
    km, lm = _models(keras)
    seen = {}

    def selector_for(o, key):
        head, base = o.SGD(0.1), o.Adam(1e-2)

        def selector(variable):
            seen.setdefault(key, []).append((variable.path, variable.name, tuple(variable.shape)))
            return head if "dense_1" in variable.path else base
        return o.MultiOptimizer(selector, name="multi")

    ko, lo_ = selector_for(keras.optimizers, "keras"), selector_for(lo, "layerwise")
    for _ in range(3):
        for model, opt in ((km, ko), (lm, lo_)):
            weights = model.trainable_weights
            tensors = [w if isinstance(w, torch.Tensor) else w.value for w in weights]  # Keras': its torch value
            loss = torch.mean((model(torch.as_tensor(X)) - torch.as_tensor(Y)) ** 2)
            opt.apply(list(torch.autograd.grad(loss, tensors)), weights)
    _assert_weights(km, lm)
    assert seen["layerwise"] == seen["keras"] == [
        ("sequential/dense/kernel", "kernel", (3, 4)), ("sequential/dense/bias", "bias", (4,)),
        ("sequential/dense_1/kernel", "kernel", (4, 2)), ("sequential/dense_1/bias", "bias", (2,))]
    assert [type(o).__name__ for o in lo_.optimizers] == ["Adam", "SGD"]
    assert int(lo_.iterations) == 3 and lo_.name == "multi"
    with pytest.raises(ValueError, match="Gradients must match trainable variables one-to-one"):
        lo_.apply([torch.zeros(4, 3)], lm.trainable_weights[:1])
    with pytest.raises(ValueError, match="Unknown variable"):
        lo_.apply([torch.zeros(1)] * 4, [torch.nn.Parameter(torch.zeros(1))] * 4)


def test_keras_unit_semantics(keras):
    """Keras' own unit tests, on ``layerwise.Variable``s: routing, loss scaling and iteration counts."""
    def make(value, path):
        owner, name = path.split("/")
        return lw.Variable(torch.full((1, 2), value), name=name, owner=owner)

    w1, w2, w3 = make(2.0, "dense_1/kernel"), make(3.0, "dense_2/kernel"), make(4.0, "other/kernel")
    sgd1, sgd2, fallback = lo.SGD(0.1), lo.SGD(1.0), lo.SGD(0.0)
    multi = lo.MultiOptimizer(lo.OptimizerMap(fallback, {"^dense_1/.*": sgd1, "^dense_2/.*": sgd2}))
    multi.build([w1, w2, w3])
    assert multi.optimizers == [sgd1, sgd2, fallback]
    assert multi.optimizers[multi._var_to_optimizer_idx[multi._var_key(w3)]] is fallback
    multi.apply([torch.ones(1, 2)] * 3, [w1, w2, w3])
    np.testing.assert_allclose([w1.detach().numpy(), w2.detach().numpy(), w3.detach().numpy()],
                               [[[1.9, 1.9]], [[2.0, 2.0]], [[4.0, 4.0]]], rtol=1e-6)
    assert int(multi.iterations) == 1 and [int(o.iterations) for o in multi.optimizers] == [1, 1, 1]

    scaled = lo.SGD(0.1, loss_scale_factor=2.0)  # overridden by the MultiOptimizer's factor
    w = make(2.0, "dense_1/kernel")
    multi = lo.MultiOptimizer(lo.OptimizerMap(scaled, {"^dense_1/.*": scaled}), loss_scale_factor=5.0)
    assert float(multi.scale_loss(torch.tensor(2.0))) == 10.0 and scaled.loss_scale_factor == 5.0
    multi.apply([torch.full((1, 2), 10.0)], [w])
    np.testing.assert_allclose(w.detach().numpy(), [[1.8, 1.8]], rtol=1e-6)

    stateless = lo.MultiOptimizer(lo.OptimizerMap(lo.SGD(1.0), {"^dense_1/.*": lo.SGD(0.1)}))
    v1, v2 = make(2.0, "dense_1/kernel"), make(3.0, "dense_2/kernel")
    stateless.build([v1, v2])
    new_weights, _ = stateless.stateless_apply([v.numpy() for v in stateless.variables], [torch.ones(1, 2)] * 2,
                                               [v1.detach().clone(), v2.detach().clone()])
    np.testing.assert_allclose([t.numpy() for t in new_weights], [[[1.9, 1.9]], [[2.0, 2.0]]], rtol=1e-6)
    np.testing.assert_allclose(v1.detach().numpy(), [[2.0, 2.0]])  # stateless: the weights stay


def test_errors(keras):
    multi = lo.MultiOptimizer(lo.OptimizerMap(lo.SGD()))
    with pytest.raises(AttributeError, match="Learning rate cannot be accessed on a MultiOptimizer"):
        _ = multi.learning_rate
    with pytest.raises(AttributeError, match="Learning rate cannot be set on a MultiOptimizer"):
        multi.learning_rate = 0.1
    with pytest.raises(TypeError, match="optimizer_map must be an OptimizerMap or a callable"):
        lo.MultiOptimizer({".*": lo.SGD()})
    with pytest.raises(ValueError, match="a MultiOptimizer needs its optimizers"):
        lo.get("multioptimizer")
    w = lw.Variable(torch.ones(1), name="kernel", owner="dense_1")
    for inner, message in ((lo.LossScaleOptimizer(lo.SGD()), "LossScaleOptimizer cannot be used inside an "
                                                              "MultiOptimizer"),
                           (multi, "MultiOptimizer cannot be used inside an MultiOptimizer"),
                           ("sgd", "Optimizer for variable dense_1/kernel is not an Optimizer instance")):
        with pytest.raises(ValueError, match=message):
            lo.MultiOptimizer(lambda v, inner=inner: inner).build([w])
    used = lo.SGD()
    used.build([lw.Variable(torch.ones(2), name="bias", owner="other")])
    with pytest.raises(ValueError, match="the sub-optimizer 'sgd.*' is already built for 1 other variables"):
        lo.MultiOptimizer(lo.OptimizerMap(used)).build([w])


def _selector(variable):
    return _SHARED["head"] if "dense_1" in variable.path else _SHARED["base"]


_SHARED: dict = {}


def test_config_round_trip_with_keras(keras):
    multi = lo.MultiOptimizer(lo.OptimizerMap(lo.RMSprop(1e-4), {"^dense_1/.*": lo.Adam(1e-3),
                                                                 "^dense_2/.*": lo.SGD(1e-2)}),
                              loss_scale_factor=4.0, name="multi")
    config = lo.serialize(multi)
    keras_copy = keras.optimizers.deserialize(copy.deepcopy(config))  # Keras reads layerwise's config (in place)...
    assert [type(o).__name__ for o in keras_copy.optimizers] == ["Adam", "SGD", "RMSprop"]
    back = lo.deserialize(keras.optimizers.serialize(keras_copy))  # ...and layerwise Keras'
    assert [type(o).__name__ for o in back.optimizers] == ["Adam", "SGD", "RMSprop"]
    assert back.name == "multi" and back.loss_scale_factor == 4.0
    assert [float(o.learning_rate) for o in back.optimizers] == pytest.approx([1e-3, 1e-2, 1e-4])
    assert list(back._optimizer_map) == ["^dense_1/.*", "^dense_2/.*"]
    assert lo.serialize(lo.deserialize(config)) == config

    _SHARED.update(head=lo.SGD(), base=lo.Adam())
    by_function = lo.MultiOptimizer(_selector)
    saved = lo.serialize(by_function)
    assert saved["config"]["optimizer_map"] == {"module": "builtins", "class_name": "function",
                                                "config": "_selector", "registered_name": "function"}
    assert lo.deserialize(saved, custom_objects={"_selector": _selector})._optimizer_map is _selector
    with pytest.raises(ValueError, match="unknown optimizer selector '_selector'"):
        lo.deserialize(saved)


def test_layerwise_file_keeps_sub_optimizer_state(keras, tmp_path):
    _, lm = _models(keras)
    lm.compile(optimizer=_head_map(lo), loss="mse")
    lm.fit(X, Y, batch_size=4, epochs=1, verbose=0, shuffle=False)
    path = tmp_path / "model.lw"
    lm.save(path)
    loaded = lw.saving.load_model(path)
    assert [int(o.iterations) for o in loaded.optimizer.optimizers] == [2, 2]
    for model in (lm, loaded):
        model.fit(X, Y, batch_size=4, epochs=1, verbose=0, shuffle=False)
    _assert_weights(lm, loaded, atol=1e-7)
    fresh = _models(keras)[1]
    fresh.compile(optimizer=_head_map(lo), loss="mse")
    fresh.set_weights(loaded.get_weights())
    fresh.optimizer.build_for(fresh)
    fresh.optimizer.set_weights([v.numpy() for v in loaded.optimizer.variables])
    assert [int(o.iterations) for o in fresh.optimizer.optimizers] == [4, 4]
    np.testing.assert_allclose(fresh.optimizer.variables[4].numpy(), loaded.optimizer.variables[4].numpy())


def test_keras_file_in_keras_layout(keras, tmp_path):
    km, lm = _models(keras)
    lm.compile(optimizer=_head_map(lo), loss="mse")
    lm.fit(X, Y, batch_size=4, epochs=1, verbose=0, shuffle=False)
    lm.save(tmp_path / "lw.keras")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # Keras warns when it skips optimizer variables
        from_layerwise = keras.saving.load_model(tmp_path / "lw.keras")
    assert [int(o.iterations) for o in from_layerwise.optimizer.optimizers] == [2, 2]
    km.compile(optimizer=_head_map(keras.optimizers), loss="mse")
    km.fit(X, Y, batch_size=4, epochs=1, verbose=0, shuffle=False)
    km.save(tmp_path / "keras.keras")
    from_keras = lw.saving.load_model(tmp_path / "keras.keras")
    for model in (from_layerwise, lm, km, from_keras):
        model.fit(X, Y, batch_size=4, epochs=1, verbose=0, shuffle=False)
    _assert_weights(from_layerwise, lm)
    _assert_weights(km, from_keras)
    _assert_weights(km, lm)
