"""The names ``keras.<name>`` has that layerwise added: DTypePolicy, FloatDTypePolicy, device, name_scope, tree."""
from __future__ import annotations

import threading

import numpy as np
import pytest
import torch

import layerwise
from layerwise import backend
from layerwise.scopes import current_path

ADDED = ["DTypePolicy", "FloatDTypePolicy", "device", "name_scope", "tree"]


def test_the_added_names_are_keras_top_level_names(keras):
    for name in ADDED:
        assert hasattr(keras, name) and hasattr(layerwise, name) and name in layerwise.__all__, name
    assert sorted(n for n in dir(keras.tree) if not n.startswith("_")) == sorted(layerwise.tree.__all__)
    assert all(callable(getattr(layerwise.tree, n)) for n in layerwise.tree.__all__)


def test_dtype_policies_as_keras(keras):
    assert layerwise.DTypePolicy is layerwise.dtype_policies.DTypePolicy
    for name in ("float32", "mixed_float16", "mixed_bfloat16", "float64"):
        ours, theirs = layerwise.DTypePolicy(name), keras.DTypePolicy(name)
        assert (ours.name, ours.compute_dtype, ours.variable_dtype) == \
            (theirs.name, theirs.compute_dtype, theirs.variable_dtype)
    # Keras 3 keeps FloatDTypePolicy as a name of DTypePolicy's behaviour (a subclass there, an alias here).
    ours, theirs = layerwise.FloatDTypePolicy("mixed_float16"), keras.FloatDTypePolicy("mixed_float16")
    assert isinstance(ours, layerwise.DTypePolicy) and isinstance(theirs, keras.DTypePolicy)
    assert (ours.compute_dtype, ours.variable_dtype) == (theirs.compute_dtype, theirs.variable_dtype)
    assert layerwise.layers.Dense(2, dtype=layerwise.DTypePolicy("float64")).dtype_policy.name == "float64"


@pytest.fixture
def cpu_device():
    yield
    backend.set_device("cpu")  # the suite's device (tests/conftest.py), whatever a failed test left


def test_device_scope_places_new_tensors_and_layers_and_restores(keras, cpu_device):
    with layerwise.device("meta") as ours, keras.device("meta") as theirs:
        assert ours == theirs == torch.device("meta") and backend.get_device() == torch.device("meta")
        assert layerwise.ops.ones((2,)).device.type == keras.ops.ones((2,)).device.type == "meta"
        dense = layerwise.layers.Dense(3)
        dense.build((None, 4))
        assert dense.kernel.device.type == "meta"
        model = layerwise.Sequential([layerwise.Input((4,)), layerwise.layers.Dense(2)])
        assert all(w.device.type == "meta" for w in model.weights)
        with layerwise.device("CPU:0") as inner:  # nested, and upper case, as Keras lower-cases the name
            assert inner == torch.device("cpu", 0) and layerwise.ops.ones((1,)).device.type == "cpu"
        assert backend.get_device().type == "meta"
    assert backend.get_device() == torch.device("cpu")
    assert layerwise.ops.convert_to_tensor(np.ones(2)).device.type == "cpu"


def test_device_scope_restores_after_an_error_and_rejects_bad_names(keras, cpu_device):
    with pytest.raises(RuntimeError, match="inside"):
        with layerwise.device("meta"):
            raise RuntimeError("inside")
    assert backend.get_device() == torch.device("cpu")
    with pytest.raises(ValueError, match="device_name"):
        with keras.device(3):
            pass
    with pytest.raises(ValueError, match="device_name=3"):
        with layerwise.device(3):
            pass
    if not torch.cuda.is_available():  # "gpu" is CUDA, as in Keras' torch backend
        with pytest.raises(ValueError, match="cuda:0"):
            with layerwise.device("gpu:0"):
                pass
    assert backend.get_device() == torch.device("cpu")


def test_name_scope_paths_match_keras(keras):
    from keras.src.backend.common.name_scope import current_path as keras_path

    with layerwise.name_scope("outer") as ours, keras.name_scope("outer") as theirs:
        assert ours.name == theirs.name == "outer"
        with layerwise.name_scope("inner"), keras.name_scope("inner"):
            assert current_path() == keras_path() == "outer/inner"
        with layerwise.name_scope("abs", override_parent="root/sub"), \
                keras.name_scope("abs", override_parent="root/sub"):
            assert current_path() == keras_path() == "root/sub/abs"
        assert current_path() == keras_path() == "outer"
    assert current_path() == keras_path() == ""
    for bad in ("a/b", 3):
        with pytest.raises(ValueError, match="cannot contain character `/`"):
            keras.name_scope(bad)
        with pytest.raises(ValueError, match="cannot contain character `/`"):
            layerwise.name_scope(bad)


def test_name_scope_deduplicates_a_callers_repeated_scope_per_thread():
    owner = object()
    with layerwise.name_scope("block", caller=owner):
        with layerwise.name_scope("block", caller=owner):  # the same caller re-entering: not a new level
            assert current_path() == "block"
        with layerwise.name_scope("block"):  # no caller: a new level, as in Keras
            assert current_path() == "block/block"
        seen = []
        thread = threading.Thread(target=lambda: seen.append(current_path()))
        thread.start()
        thread.join()
        assert seen == [""]  # another thread has its own scopes
    assert current_path() == ""


def test_tree_is_the_keras_tree_module(keras):
    assert layerwise.tree.flatten({"b": 1, "a": [2, 3]}) == keras.tree.flatten({"b": 1, "a": [2, 3]}) == [2, 3, 1]
