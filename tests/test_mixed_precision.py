"""Dtype policies and mixed precision against Keras 3: policy objects and errors, layer and model output dtypes
under mixed_bfloat16, training under mixed_bfloat16 and mixed_float16 (dynamic loss scaling), saving."""
import sys

import numpy as np
import pytest
import torch

import layerwise as lw
from layerwise import dtype_policies, mixed_precision
from layerwise import layers as L
from layerwise.optimizers import SGD, Adam

NAMES = ["float32", "float16", "bfloat16", "float64", "mixed_float16", "mixed_bfloat16"]


@pytest.fixture(autouse=True)
def float32_afterwards():
    """Every test leaves both libraries' global policy at float32, whatever it set or raised."""
    yield
    mixed_precision.set_global_policy("float32")
    if "keras" in sys.modules:
        sys.modules["keras"].config.set_dtype_policy("float32")


def set_policy(name, keras=None):
    lw.config.set_dtype_policy(name)
    if keras is not None:
        keras.config.set_dtype_policy(name)


def mlp(lib):
    return lib.Sequential([lib.Input((6,)), lib.layers.Dense(16, activation="relu"),
                           lib.layers.Dense(8, activation="tanh"),
                           lib.layers.Dense(3, activation="softmax", dtype="float32")])


def cnn(lib):
    return lib.Sequential([lib.Input((8, 8, 3)), lib.layers.Conv2D(4, 3, activation="relu"),
                           lib.layers.MaxPooling2D(), lib.layers.BatchNormalization(), lib.layers.Flatten(),
                           lib.layers.Dense(3, activation="softmax", dtype="float32")])


def data(shape, n=16, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, *shape)).astype("float32")
    return x, np.eye(3, dtype="float32")[rng.integers(0, 3, n)]


# ---- policies --------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", NAMES)
def test_policy_matches_keras(keras, name):
    ours, theirs = dtype_policies.DTypePolicy(name), keras.DTypePolicy(name)
    assert (ours.name, ours.compute_dtype, ours.variable_dtype) == \
        (theirs.name, theirs.compute_dtype, theirs.variable_dtype)
    assert repr(ours) == repr(theirs) and ours.get_config() == theirs.get_config()
    assert dtype_policies.serialize(ours) == keras.dtype_policies.serialize(theirs)
    assert dtype_policies.get(dtype_policies.serialize(ours)) == ours
    assert ours == dtype_policies.get(name) and ours != dtype_policies.DTypePolicy("float32" if "16" in name
                                                                                   else "mixed_float16")


def test_global_policy_and_aliases(keras):
    assert mixed_precision.Policy is mixed_precision.DTypePolicy is dtype_policies.DTypePolicy
    assert lw.config.dtype_policy().name == keras.config.dtype_policy().name == "float32"
    mixed_precision.set_global_policy("mixed_bfloat16")
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    assert repr(mixed_precision.global_policy()) == repr(keras.mixed_precision.global_policy())
    assert lw.config.dtype_policy() == mixed_precision.dtype_policy() == mixed_precision.Policy("mixed_bfloat16")
    assert mixed_precision.DTypePolicy().name == keras.DTypePolicy().name == "mixed_bfloat16"  # None: the global
    layer, model = L.Dense(2), lw.Sequential()
    assert layer.dtype_policy.name == model.dtype_policy.name == "mixed_bfloat16"
    lw.config.set_dtype_policy(mixed_precision.Policy("float64"))
    assert L.Dense(2).dtype_policy.name == "float64" and layer.dtype_policy.name == "mixed_bfloat16"


@pytest.mark.parametrize("make", [
    lambda lib: lib.dtype_policies.DTypePolicy("float33"),
    lambda lib: lib.dtype_policies.DTypePolicy("mixed_int8"),
    lambda lib: lib.dtype_policies.DTypePolicy(3),
    lambda lib: lib.layers.Dense(3, dtype="float33"),
    lambda lib: lib.layers.Dense(3, dtype=3),
    lambda lib: lib.mixed_precision.set_global_policy("float33"),
    lambda lib: lib.config.set_dtype_policy(3),
    lambda lib: lib.mixed_precision.LossScaleOptimizer(lib.optimizers.SGD(), dynamic=False),
    lambda lib: lib.mixed_precision.LossScaleOptimizer(lib.optimizers.SGD(), clipnorm=1.0),
], ids=["unknown_name", "mixed_int8", "not_a_string", "layer", "layer_number", "global", "global_number",
        "static_scale", "inner_argument"])
def test_bad_input_raises_as_keras(keras, make):
    with pytest.raises((ValueError, TypeError)) as theirs:
        make(keras)
    with pytest.raises(theirs.type) as ours:
        make(lw)
    assert str(ours.value) == str(theirs.value)
    assert lw.config.dtype_policy().name == "float32"  # a refused policy leaves the global one as it was


# ---- layers and models ------------------------------------------------------------------------------
@pytest.mark.parametrize("name, layer", [
    ("mixed_bfloat16", lambda lib, dtype: lib.layers.Dense(4, dtype=dtype)),
    ("mixed_float16", lambda lib, dtype: lib.layers.Dense(4, activation="softmax", dtype=dtype)),
    ("mixed_bfloat16", lambda lib, dtype: lib.layers.Rescaling(2.0, dtype=dtype)),
    ("mixed_bfloat16", lambda lib, dtype: lib.layers.LayerNormalization(dtype=dtype)),
    ("float64", lambda lib, dtype: lib.layers.Dense(4, dtype=dtype)),
    ("bfloat16", lambda lib, dtype: lib.layers.Dense(4, dtype=dtype)),
], ids=["dense", "softmax_f16", "rescaling", "layer_norm", "dense_f64", "dense_pure_bf16"])
def test_layer_dtypes_match_keras(keras, name, layer):
    ours, theirs = layer(lw, name), layer(keras, name)
    x = np.random.default_rng(0).normal(size=(2, 3)).astype("float32")
    out, expected = ours(torch.tensor(x)), theirs(x)
    assert str(out.dtype) == str(expected.dtype)
    assert (ours.dtype_policy, ours.compute_dtype, ours.variable_dtype, ours.dtype) == \
        (dtype_policies.DTypePolicy(name), theirs.compute_dtype, theirs.variable_dtype, theirs.dtype)
    assert [str(w.dtype) for w in ours.weights] == [str(w.value.dtype) for w in theirs.weights]


@pytest.mark.parametrize("name", ["float32", "mixed_bfloat16", "bfloat16"])
@pytest.mark.parametrize("merge", ["Add", "Multiply", "Average", "Maximum", "Concatenate"])
def test_merge_layers_take_their_inputs_in_the_compute_dtype_as_keras(keras, name, merge):
    x = np.random.default_rng(0).normal(size=(2, 3)).astype("float32")
    out = getattr(L, merge)(dtype=name)([torch.tensor(x), torch.tensor(x).to(torch.bfloat16)])
    full = keras.ops.convert_to_tensor(x)
    expected = getattr(keras.layers, merge)(dtype=name)([full, keras.ops.cast(full, "bfloat16")])
    assert str(out.dtype) == str(expected.dtype)  # float32 + bfloat16: bfloat16 under mixed_bfloat16
    np.testing.assert_allclose(out.float().numpy(), keras.ops.convert_to_numpy(keras.ops.cast(expected, "float32")),
                               atol=1e-6)


@pytest.mark.parametrize("build, shape", [(mlp, (6,)), (cnn, (8, 8, 3))], ids=["mlp", "cnn"])
def test_mixed_model_dtypes_and_outputs_match_keras(keras, build, shape):
    x, _ = data(shape, n=4)
    set_policy("mixed_bfloat16", keras)
    ours, theirs = build(lw), build(keras)
    set_policy("float32", keras)
    full = build(lw)  # the same model in float32, with the same weights
    ours.set_weights(theirs.get_weights())
    full.set_weights(theirs.get_weights())
    assert [layer.dtype_policy.name for layer in ours.layers] == [layer.dtype_policy.name for layer in theirs.layers]
    assert [str(w.dtype) for w in ours.weights] == ["torch.float32"] * len(ours.weights)
    # every layer's output dtype, through a feature-extraction model of the same layers
    features = lw.Model(ours.inputs, [layer.output for layer in ours.layers])(x)
    expected = keras.Model(theirs.inputs[0], [layer.output for layer in theirs.layers])(x)
    assert [str(t.dtype) for t in features] == [str(t.dtype) for t in expected]
    assert str(features[-2].dtype) == "torch.bfloat16" and str(features[-1].dtype) == "torch.float32"
    out = ours.predict(x, verbose=0)
    assert out.dtype == theirs.predict(x, verbose=0).dtype == np.float32
    np.testing.assert_allclose(out, full.predict(x, verbose=0), atol=2e-2)  # bfloat16 keeps ~3 digits
    np.testing.assert_allclose(out, keras.ops.convert_to_numpy(theirs(x)), atol=2e-2)


def test_bfloat16_outputs_predict_as_keras(keras):
    set_policy("mixed_bfloat16", keras)
    ours = lw.Sequential([lw.Input((3,)), L.Dense(2)])
    theirs = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    ours.set_weights(theirs.get_weights())
    x = np.ones((2, 3), "float32")
    out, expected = ours.predict(x, verbose=0), theirs.predict(x, verbose=0)
    assert out.dtype == expected.dtype and str(out.dtype) == "bfloat16"
    np.testing.assert_allclose(out.astype("float32"), expected.astype("float32"), atol=2e-2)


def test_float32_layer_inside_autocast_region_computes_in_float32():
    mixed_precision.set_global_policy("mixed_bfloat16")
    model = mlp(lw)
    x = torch.tensor(data((6,), n=4)[0])
    last = model.layers[-1]
    hidden = model.layers[1](model.layers[0](x))
    expected = torch.softmax(hidden.float() @ last.kernel.T + last.bias, -1)  # float32 from the bf16 features
    torch.testing.assert_close(model(x), expected, atol=1e-6, rtol=1e-5)


def test_a_float32_model_leaves_the_users_own_autocast_on():
    model = lw.Sequential([lw.Input((4,)), L.Dense(3, activation="relu"), L.Dense(2)])
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert model(torch.ones(2, 4)).dtype == torch.bfloat16
    assert model(torch.ones(2, 4)).dtype == torch.float32


# ---- training ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["mixed_bfloat16", "mixed_float16"])
def test_fit_reduces_the_loss(keras, name):
    x, y = data((6,), n=64)
    set_policy(name, keras)
    lw.utils.set_random_seed(0)
    model, theirs = mlp(lw), mlp(keras)
    model.compile(Adam(0.01), "categorical_crossentropy", metrics=["accuracy"])
    theirs.compile(keras.optimizers.Adam(0.01), "categorical_crossentropy")
    scaled = isinstance(model.optimizer, mixed_precision.LossScaleOptimizer)
    assert scaled == isinstance(theirs.optimizer, keras.mixed_precision.LossScaleOptimizer) == (name == "mixed_float16")
    history = model.fit(x, y, epochs=6, batch_size=16, verbose=0).history
    assert history["loss"][-1] < history["loss"][0] and np.isfinite(history["loss"]).all()
    assert all(w.dtype == torch.float32 for w in model.weights)
    assert model.evaluate(x, y, verbose=0, return_dict=True)["loss"] == pytest.approx(
        float(lw.losses.categorical_crossentropy(y, model.predict(x, verbose=0)).mean()), abs=1e-3)


def test_non_finite_gradient_halves_the_scale_and_skips_the_step():
    mixed_precision.set_global_policy("mixed_float16")
    x, y = data((6,), n=8)
    model = mlp(lw)
    model.compile(SGD(0.1), "mse")
    model.train_on_batch(x, y)
    optimizer = model.optimizer
    assert float(optimizer.dynamic_scale) == 2.0 ** 15 and int(optimizer.step_counter) == 1
    before, steps = model.get_weights(), optimizer.iterations
    optimizer.dynamic_scale.fill_(2.0 ** 40)  # the float16 gradients of so scaled a loss overflow to inf
    model.train_on_batch(x, y)
    assert float(optimizer.dynamic_scale) == 2.0 ** 39 and int(optimizer.step_counter) == 0
    assert optimizer.iterations == steps
    for w, v in zip(model.get_weights(), before):
        np.testing.assert_array_equal(w, v)
    optimizer.dynamic_scale.fill_(2.0 ** 15)
    model.train_on_batch(x, y)
    assert optimizer.iterations == steps + 1 and not np.array_equal(model.get_weights()[0], before[0])


class LossOverride(lw.Sequential):
    """Overrides compute_loss, so fit runs Keras' default train_step rather than the fused one."""

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        return super().compute_loss(x, y, y_pred, sample_weight, training=training)


def test_default_train_step_scales_the_loss_as_the_fused_one():
    mixed_precision.set_global_policy("mixed_float16")
    x, y = data((6,), n=8)
    fused = mlp(lw)
    stepped = LossOverride(mlp(lw).layers)
    stepped.set_weights(fused.get_weights())
    for model in (fused, stepped):
        model.compile(SGD(0.5), "categorical_crossentropy", metrics=["accuracy"])
        model.train_on_batch(x, y)
    assert isinstance(stepped.optimizer, mixed_precision.LossScaleOptimizer)
    for ours, theirs in zip(stepped.get_weights(), fused.get_weights()):
        np.testing.assert_allclose(ours, theirs, atol=1e-6)


def test_loss_scale_optimizer_updates_as_keras(keras):
    ours = mixed_precision.LossScaleOptimizer(SGD(0.1), initial_scale=4.0, dynamic_growth_steps=2)
    theirs = keras.mixed_precision.LossScaleOptimizer(keras.optimizers.SGD(0.1), initial_scale=4.0,
                                                      dynamic_growth_steps=2)
    weight, variable = torch.nn.Parameter(torch.ones(3)), keras.Variable(np.ones(3, "float32"))
    for grad in ([4.0, 8.0, -4.0], [1.0, np.inf, 0.0], [2.0, 2.0, 2.0], [4.0, 4.0, 4.0], [np.nan, 1.0, 1.0],
                 [1.0, 1.0, 1.0]):
        grad = np.array(grad, "float32")
        ours.apply([torch.tensor(grad)], [weight])
        theirs.apply([keras.ops.convert_to_tensor(grad)], [variable])
        np.testing.assert_allclose(weight.detach().numpy(), keras.ops.convert_to_numpy(variable), rtol=1e-6)
        assert float(ours.dynamic_scale) == float(theirs.dynamic_scale)
        assert ours.iterations == int(theirs.iterations)
    assert float(ours.scale_loss(torch.tensor(1.0))) == float(theirs.scale_loss(1.0))


# ---- saving ----------------------------------------------------------------------------------------
def test_save_and_load_keep_policies_and_loss_scale(keras, tmp_path):
    mixed_precision.set_global_policy("mixed_float16")
    x, y = data((6,), n=8)
    model = mlp(lw)
    model.compile(Adam(0.01), "categorical_crossentropy")
    model.fit(x, y, epochs=2, batch_size=4, verbose=0)
    model.save(tmp_path / "mixed.lw")
    mixed_precision.set_global_policy("float32")
    loaded = lw.load_model(tmp_path / "mixed.lw")
    assert [layer.dtype_policy for layer in loaded.layers] == [layer.dtype_policy for layer in model.layers]
    assert [layer.dtype_policy.name for layer in loaded.layers] == ["mixed_float16"] * 2 + ["float32"]
    optimizer = loaded.optimizer
    assert isinstance(optimizer, mixed_precision.LossScaleOptimizer) and isinstance(optimizer.inner_optimizer, Adam)
    assert float(optimizer.dynamic_scale) == float(model.optimizer.dynamic_scale)
    assert optimizer.iterations == model.optimizer.iterations == 4
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    # the config holds Keras' serialized policy; a plain name loads too
    theirs = keras.layers.Dense(3, dtype="mixed_float16")
    assert model.layers[0].get_config()["dtype"] == theirs.get_config()["dtype"]
    assert L.Dense.from_config({"units": 3, "dtype": "mixed_bfloat16"}).dtype_policy.name == "mixed_bfloat16"
    assert L.Dense.from_config({"units": 3, "dtype": theirs.get_config()["dtype"]}).dtype_policy.name == \
        "mixed_float16"


def test_float32_layer_config_records_its_policy():  # as Keras, given or not
    assert L.Dense(3).get_config()["dtype"] == dtype_policies.serialize(dtype_policies.DTypePolicy("float32"))


def test_loaded_model_takes_the_global_policy_and_its_layers_keep_theirs_as_keras(keras, tmp_path):
    policies = []
    for lib, path in ((lw, tmp_path / "m.lw"), (keras, tmp_path / "m.keras")):
        lib.mixed_precision.set_global_policy("mixed_bfloat16")
        lib.Sequential([lib.Input((2,)), lib.layers.Dense(2)]).save(path)
        lib.mixed_precision.set_global_policy("float32")
        loaded = lib.models.load_model(path)
        policies.append((loaded.dtype_policy.name, [layer.dtype_policy.name for layer in loaded.layers]))
    assert policies[0] == policies[1] == ("float32", ["mixed_bfloat16"])


@pytest.mark.parametrize("recurrent", [L.LSTM, L.GRU, L.SimpleRNN])
def test_recurrent_layers_run_mixed_on_the_cpu(recurrent):
    # oneDNN has no bfloat16 recurrent kernels: the fused kernel runs in float32 and hands back bfloat16
    x, y = np.random.default_rng(0).random((8, 5, 3), dtype=np.float32), np.ones((8, 1), "float32")
    set_policy("float32")
    reference = lw.Sequential([lw.Input((5, 3)), recurrent(4), L.Dense(1)])
    set_policy("mixed_bfloat16")
    model = lw.Sequential([lw.Input((5, 3)), recurrent(4), L.Dense(1, dtype="float32")])
    model.set_weights(reference.get_weights())
    assert model.layers[0](x).dtype == torch.bfloat16
    np.testing.assert_allclose(model.predict(x, verbose=0), reference.predict(x, verbose=0), atol=3e-2)
    model.compile("adam", "mse")
    history = model.fit(x, y, epochs=3, verbose=0).history["loss"]
    assert history[-1] < history[0]


@pytest.mark.parametrize("name", ["LSTM", "GRU", "SimpleRNN"])
@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_recurrent_layers_of_a_half_precision_policy_run_on_the_cpu(keras, name, dtype):
    # the fused kernel ran in float32 on half-precision weights ("expected m1 and m2 to have the same dtype");
    # glorot_uniform: Keras' default orthogonal initializer has no half-precision QR on the CPU
    x = np.random.default_rng(0).random((2, 5, 3)).astype("float32")
    theirs = getattr(keras.layers, name)(4, dtype=dtype, recurrent_initializer="glorot_uniform")
    ours = getattr(L, name)(4, dtype=dtype, recurrent_initializer="glorot_uniform")
    expected = theirs(keras.ops.convert_to_tensor(x, dtype=dtype))
    ours(torch.from_numpy(x).to(getattr(torch, dtype)))
    ours.set_weights(theirs.get_weights())
    got = ours(torch.from_numpy(x).to(getattr(torch, dtype)))
    assert got.dtype == expected.dtype == getattr(torch, dtype)
    np.testing.assert_allclose(got.detach().float().numpy(), expected.detach().float().cpu().numpy(), atol=2e-2)


def test_a_float32_layer_after_a_float64_one_takes_float32_as_in_keras(keras):
    # Sequential ran the float32 Dense on the float64 layer's output ("mat1 and mat2 ... Double and Float")
    x = np.random.default_rng(0).random((2, 6)).astype("float32")
    theirs, ours = (lib.Sequential([lib.Input((6,)), lib.layers.Dense(3, dtype="float64"), lib.layers.Dense(3)])
                    for lib in (keras, lw))
    ours.set_weights(theirs.get_weights())
    outputs = [model.predict(x, verbose=0) for model in (theirs, ours)]
    assert outputs[0].dtype == outputs[1].dtype == np.float32
    np.testing.assert_allclose(outputs[1], outputs[0], atol=1e-6)


def test_input_takes_floatx_as_keras(keras):
    dtypes = []
    try:
        for lib in (keras, lw):
            lib.config.set_floatx("float64")
            dtypes.append(str(lib.Input((6,)).dtype).removeprefix("torch."))
    finally:
        keras.config.set_floatx("float32")
        keras.config.set_dtype_policy("float32")  # Keras 3.15 keeps the float64 policy it cached meanwhile
        lw.config.set_floatx("float32")
    assert dtypes == ["float64", "float64"]
    assert lw.Input((6,)).dtype == "float32"
