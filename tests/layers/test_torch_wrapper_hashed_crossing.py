"""TorchModuleWrapper and HashedCrossing against Keras 3 (torch backend).

Wrapped torch modules train in a Sequential model as in Keras and keep their buffers through a file. Keras'
HashedCrossing needs TensorFlow, which the oracle lacks: its bins are checked against the values Keras and
TensorFlow publish in their own tests and against an independent big-integer port of ``tf.sparse.cross_hashed``.
"""
from __future__ import annotations

import copy
import os
import re

os.environ.setdefault("KERAS_BACKEND", "torch")  # before Keras' first import, wherever it happens

import numpy as np
import pytest
import torch
from torch import nn

import layerwise
from layerwise import layers as L
from layerwise.preprocessing.hashing import fingerprint64

ATOL = 1e-5


def numpy(t) -> np.ndarray:
    return np.asarray(t.detach().cpu() if hasattr(t, "detach") else t)


def param_counts(model, capsys) -> list[tuple[str, str]]:
    capsys.readouterr()
    model.summary()
    return re.findall(r"(Total|Trainable|Non-trainable) params: ([\d,]+)", capsys.readouterr().out)


# ---- TorchModuleWrapper ------------------------------------------------------------------------------------

def _conv_model(lib, M, conv: nn.Module, linear: nn.Module):
    return lib.Sequential([lib.Input((1, 6, 6)), M.TorchModuleWrapper(conv), M.Flatten(),
                           M.TorchModuleWrapper(linear), M.Dense(1)])


def test_wrapped_torch_modules_train_in_a_sequential_model_as_in_keras(keras, capsys):
    torch.manual_seed(0)
    conv, linear = nn.Conv2d(1, 3, 3), nn.Linear(48, 5)
    k_model = _conv_model(keras, keras.layers, copy.deepcopy(conv), copy.deepcopy(linear))
    lw_model = _conv_model(layerwise, L, conv, linear)
    rng = np.random.default_rng(5)
    x, y = rng.normal(size=(16, 1, 6, 6)).astype("float32"), rng.normal(size=(16, 1)).astype("float32")
    k_model.predict(x, verbose=0)  # Keras' Sequential cannot infer a wrapper's output shape: it builds when called
    assert param_counts(lw_model, capsys) == param_counts(k_model, capsys) == [
        ("Total", "281"), ("Trainable", "281"), ("Non-trainable", "0")]
    assert [w.shape for w in lw_model.get_weights()] == [tuple(w.shape) for w in k_model.get_weights()]
    lw_model.set_weights(k_model.get_weights())
    np.testing.assert_allclose(lw_model.predict(x, verbose=0), k_model.predict(x, verbose=0), atol=ATOL, rtol=0)
    for model, lib in ((k_model, keras), (lw_model, layerwise)):
        model.compile(optimizer=lib.optimizers.SGD(0.05), loss="mse")
    before = conv.weight.detach().clone()
    for _ in range(3):
        np.testing.assert_allclose(lw_model.train_on_batch(x, y), k_model.train_on_batch(x, y), rtol=1e-5)
    for ours, theirs in zip(lw_model.get_weights(), k_model.get_weights()):
        np.testing.assert_allclose(ours, numpy(theirs), rtol=1e-5, atol=1e-6)
    assert not torch.equal(conv.weight.detach(), before)  # the wrapped module itself was trained


def test_torch_module_wrapper_saves_buffers_and_round_trips(tmp_path):
    torch.manual_seed(1)
    block = nn.Sequential(nn.Linear(4, 6), nn.BatchNorm1d(6), nn.ReLU())
    model = layerwise.Sequential([layerwise.Input((4,)), L.TorchModuleWrapper(block), L.Dense(1)])
    model.compile(optimizer="adam", loss="mse")
    x = np.random.default_rng(6).normal(2.0, 3.0, size=(64, 4)).astype("float32")
    model.fit(x, x[:, :1], epochs=2, batch_size=16, verbose=0)
    assert float(block[1].running_mean.abs().sum()) > 0  # fit updated the statistics
    expected = model.predict(x, verbose=0)
    model.save(tmp_path / "wrapped.lw")
    loaded = layerwise.models.load_model(tmp_path / "wrapped.lw")
    np.testing.assert_allclose(loaded.predict(x, verbose=0), expected, atol=1e-6, rtol=0)
    wrapper = L.TorchModuleWrapper(copy.deepcopy(block))
    store: dict = {}
    wrapper.save_own_variables(store)
    assert set(store) == set(block.state_dict())  # buffers too, as Keras saves them
    clone = L.TorchModuleWrapper.from_config(wrapper.get_config())
    clone.load_own_variables(store)
    assert clone.count_params() == wrapper.count_params() == 4 * 6 + 6 + 6 + 6
    torch.testing.assert_close(clone.module[1].running_var, block[1].running_var)
    fresh_block = nn.Sequential(nn.Linear(4, 6), nn.BatchNorm1d(6), nn.ReLU())
    fresh = layerwise.Sequential([layerwise.Input((4,)), L.TorchModuleWrapper(fresh_block), L.Dense(1)])
    model.save_weights(tmp_path / "wrapped.weights.lw")
    fresh.load_weights(tmp_path / "wrapped.weights.lw")  # a weights file keeps the buffers too, as Keras'
    torch.testing.assert_close(fresh_block[1].running_mean, block[1].running_mean)
    np.testing.assert_allclose(fresh.predict(x, verbose=0), expected, atol=1e-6, rtol=0)


class _Scaled(nn.Module):
    def __init__(self):
        super().__init__()
        self.scale = nn.Parameter(torch.tensor(2.0))

    def forward(self, x):
        return x * self.scale


def test_torch_module_wrapper_config_loads_only_known_classes(keras):
    theirs = keras.layers.TorchModuleWrapper(nn.Linear(3, 2)).get_config()
    ours = L.TorchModuleWrapper(nn.Linear(3, 2), output_shape=(None, 2)).get_config()
    assert set(ours) <= set(theirs) and {"module", "output_shape"} <= set(ours)
    from_keras = L.TorchModuleWrapper.from_config(theirs)  # Keras' base64 torch.save bytes
    assert isinstance(from_keras.module, nn.Linear) and from_keras.compute_output_shape((None, 3)) == (None, 2)
    custom = L.TorchModuleWrapper(_Scaled()).get_config()
    with pytest.raises(ValueError, match=r"uses \['.*_Scaled'\].*register_keras_serializable"):
        L.TorchModuleWrapper.from_config(custom)
    with layerwise.saving.custom_object_scope({"_Scaled": _Scaled}):
        rebuilt = L.TorchModuleWrapper.from_config(custom)
    assert float(rebuilt(torch.ones(2))[0]) == 2.0


def test_torch_module_wrapper_weights_trainability_and_bad_arguments(keras):
    linear = nn.Linear(3, 2)
    linear.bias.requires_grad_(False)
    ours, theirs = L.TorchModuleWrapper(linear), keras.layers.TorchModuleWrapper(copy.deepcopy(linear))
    assert [len(ours.trainable_weights), len(ours.non_trainable_weights)] == \
        [len(theirs.trainable_weights), len(theirs.non_trainable_weights)] == [1, 1]
    for a, b in zip(ours.get_weights(), theirs.get_weights()):
        np.testing.assert_array_equal(a, numpy(b))
    x = np.ones((4, 3), "float32")
    np.testing.assert_allclose(numpy(ours(x)), numpy(theirs(x)), atol=ATOL)
    ours.trainable = False
    assert not linear.weight.requires_grad and ours.trainable_weights == []
    with pytest.raises(ValueError, match=r"LazyModules are not supported unless they are already initialized"):
        L.TorchModuleWrapper(nn.LazyLinear(3))
    with pytest.raises(ValueError, match=r"module must be a torch.nn.Module, got function"):
        L.TorchModuleWrapper(lambda t: t)
    with pytest.raises(ValueError, match=r"'conv' \(TorchModuleWrapper\) could not run its module on an input of "
                                         r"shape \(None, 4\)"):
        layerwise.Sequential([layerwise.Input((4,)), L.TorchModuleWrapper(nn.Conv2d(1, 2, 3), name="conv")])


# ---- HashedCrossing ----------------------------------------------------------------------------------------

_M64 = (1 << 64) - 1


def reference_cross(row, num_bins: int) -> int:
    """tf.sparse.cross_hashed of one row, in Python integers (FarmHash FingerprintCat64 from key 0xDECAFCAFFE)."""
    mul, value = 0xC6A4A7935BD1E995, 0xDECAFCAFFE

    def shift_mix(v):
        return v ^ (v >> 47)

    for feature in row:
        fp = fingerprint64(feature.encode()) if isinstance(feature, str) else int(feature) & _M64
        value = (value ^ mul) ^ ((shift_mix((fp * mul) & _M64) * mul) & _M64)
        value = shift_mix((shift_mix((value * mul) & _M64) * mul) & _M64)
    return value % num_bins


def test_hashed_crossing_gives_keras_published_bins():
    feat1, feat2 = np.array(["A", "B", "A", "B", "A"]), np.array([101, 101, 101, 102, 102])
    np.testing.assert_array_equal(L.HashedCrossing(num_bins=5)((feat1, feat2)), [1, 4, 1, 1, 3])  # Keras' docs
    one_hot = L.HashedCrossing(num_bins=5, output_mode="one_hot")((feat1, feat2))
    np.testing.assert_array_equal(one_hot, np.eye(5, dtype="float32")[[1, 4, 1, 1, 3]])
    assert one_hot.dtype == np.float32
    # TensorFlow's own test vector for three string features (sparse_cross_op_test: test_hashed_no_hash_key).
    three = [np.array([["batch1-FC1-F1"]]), np.array([["batch1-FC2-F1"]]), np.array([["batch1-FC3-F1"]])]
    np.testing.assert_array_equal(L.HashedCrossing(num_bins=100)(three), [[83]])


def test_hashed_crossing_integer_and_mixed_features_match_the_reference():
    rng = np.random.default_rng(8)
    ints = [rng.integers(-(2 ** 62), 2 ** 62, 40), rng.integers(-5, 5, 40),
            np.array([0, -1, 2 ** 63 - 1, -(2 ** 63)] * 10)]
    words = rng.choice(["red", "green", "a much longer colour name, over thirty-two bytes"], 40)
    for num_bins in (7, 1000003):
        out = L.HashedCrossing(num_bins)(ints)
        assert out.dtype == torch.int64 and tuple(out.shape) == (40,)
        assert out.tolist() == [reference_cross(row, num_bins) for row in zip(*ints)]
        mixed = L.HashedCrossing(num_bins)([ints[0][:, None], words[:, None]])
        assert mixed.shape == (40, 1)
        assert mixed[:, 0].tolist() == [reference_cross(row, num_bins) for row in zip(ints[0], words)]
    assert int(L.HashedCrossing(9)((np.array(3), np.array("x")))) == reference_cross((3, "x"), 9)
    tensors = L.HashedCrossing(11)([torch.from_numpy(ints[1]), torch.from_numpy(ints[1]).float()])
    assert tensors.tolist() == [reference_cross((a, a), 11) for a in ints[1]]
    if torch.cuda.is_available():  # the fold is PyTorch arithmetic: the same bins on a GPU
        on_gpu = L.HashedCrossing(1000003)([torch.from_numpy(a).cuda() for a in ints])
        assert on_gpu.device.type == "cuda" and on_gpu.cpu().tolist() == L.HashedCrossing(1000003)(ints).tolist()


def _crossing_model(lib, M):
    a, b = lib.Input((1,), dtype="int64"), lib.Input((1,), dtype="int64")
    crossed = M.HashedCrossing(num_bins=16, output_mode="one_hot")([a, b])
    return lib.Model([a, b], M.Dense(1, activation="sigmoid")(crossed))


def test_hashed_crossing_in_a_functional_model_trains_and_round_trips(tmp_path):
    rng = np.random.default_rng(9)
    a, b = rng.integers(0, 4, (96, 1)), rng.integers(0, 3, (96, 1))
    y = ((a + b) % 2).astype("float32")
    model = _crossing_model(layerwise, L)
    assert model.output_shape == (None, 1) and model.layers[2].compute_output_shape([(None, 1), (None, 1)]) == \
        (None, 16)
    model.compile(optimizer=layerwise.optimizers.Adam(0.1), loss="binary_crossentropy")
    history = model.fit([a, b], y, epochs=30, batch_size=32, verbose=0)
    assert history.history["loss"][-1] < 0.5 * history.history["loss"][0]
    expected = model.predict([a, b], verbose=0)
    model.save(tmp_path / "cross.lw")
    loaded = layerwise.models.load_model(tmp_path / "cross.lw")
    np.testing.assert_allclose(loaded.predict([a, b], verbose=0), expected, atol=1e-6, rtol=0)
    crossing = L.HashedCrossing(num_bins=16, output_mode="one_hot", name="c")
    config = crossing.get_config()
    assert set(config) == {"num_bins", "output_mode", "sparse", "name", "dtype"}  # Keras' keys
    assert L.HashedCrossing.from_config(config).get_config() == config


def test_hashed_crossing_bad_arguments_and_inputs():
    layer = L.HashedCrossing(num_bins=10, name="hc")
    with pytest.raises(ValueError, match=r"'hc' \(HashedCrossing\) should be called on a list or tuple of inputs"):
        layer(np.array(1))
    with pytest.raises(ValueError, match=r"should be called on at least two inputs, received 1"):
        layer([np.array(1)])
    with pytest.raises(ValueError, match=r"inputs should have shape \(\), \(batch_size\) or \(batch_size, 1\)"):
        layer((np.array([[[1]]]), np.array([[[1]]])))
    with pytest.raises(ValueError, match=r"inputs should have equal shape, received shapes \[\(2,\), \(3,\)\]"):
        layer((np.array([1, 2]), np.array([1, 2, 3])))
    with pytest.raises(ValueError, match=r"should have an integer or string dtype"):
        layer((np.array([1.0]), np.array([1.0])))
    with pytest.raises(ValueError, match=r"values that are not whole numbers"):
        layer((torch.tensor([1.5]), torch.tensor([1])))
    with pytest.raises(ValueError, match=r"output_mode must be one of \['int', 'one_hot'\], got 'multi_hot'"):
        L.HashedCrossing(4, output_mode="multi_hot")
    with pytest.raises(ValueError, match=r"sparse=True needs TensorFlow"):
        L.HashedCrossing(4, sparse=True)
    with pytest.raises(ValueError, match=r"num_bins must be a positive int, got 0"):
        L.HashedCrossing(0)


@pytest.mark.parametrize("output_mode, dtype", [("int", "int64"), ("one_hot", "float32")])
def test_hashed_crossing_config_writes_the_resolved_dtype(output_mode, dtype):
    # Keras' __init__ sets dtype="int64" for 'int' (floatx otherwise) and get_config writes self.dtype.
    layer = L.HashedCrossing(num_bins=5, output_mode=output_mode, name="h")
    config = layer.get_config()
    assert config == {"num_bins": 5, "output_mode": output_mode, "sparse": False, "name": "h", "dtype": dtype}
    assert L.HashedCrossing.from_config(config).get_config() == config
    assert L.HashedCrossing(num_bins=5, dtype="int32").get_config()["dtype"] == "int32"
    # Keras' documented bins are unchanged.
    bins = layer((np.array(["A", "B", "A", "B", "A"]), np.array([101, 101, 101, 102, 102])))
    expected = [1, 4, 1, 1, 3] if output_mode == "int" else np.eye(5)[[1, 4, 1, 1, 3]]
    np.testing.assert_array_equal(bins, expected)
    assert str(bins.dtype) == dtype
