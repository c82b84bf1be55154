"""Device choice, seeding and the allocator setting."""
import itertools
import sys

import numpy as np
import pytest
import torch

from layerwise import backend, config


def test_default_device_is_cuda_only_when_present(monkeypatch):
    monkeypatch.setattr(backend, "_device", None)  # as in a fresh process (conftest chose the CPU for the suite)
    assert config.get_device().type == ("cuda" if torch.cuda.is_available() else "cpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message given when CUDA is absent")
def test_set_device_cuda_without_gpu_is_refused():
    with pytest.raises(ValueError, match="CUDA is not available"):
        config.set_device("cuda")


def test_set_random_seed_repeats_numpy_and_torch():
    backend.set_random_seed(7)
    first = (np.random.rand(3), torch.rand(3))
    backend.set_random_seed(7)
    second = (np.random.rand(3), torch.rand(3))
    assert np.array_equal(first[0], second[0]) and torch.equal(first[1], second[1])


@pytest.mark.skipif(sys.platform != "linux", reason="glibc's mallopt exists on Linux only")
def test_malloc_tuning_applies_and_can_be_switched_off(monkeypatch):
    assert backend.keep_large_buffers() is True
    monkeypatch.setenv("LAYERWISE_MALLOC_TUNING", "0")
    assert backend.keep_large_buffers() is False


def test_keras_config_calls_of_course_code_work(keras):
    assert config.backend() == keras.config.backend() == "torch"
    assert config.image_data_format() == keras.config.image_data_format()
    assert config.enable_unsafe_deserialization() is None  # Keras code calls it before load_model


def test_floatx_is_keras_name_and_set_floatx_builds_float64_models(keras):
    import numpy as np

    import layerwise
    assert config.floatx() == keras.config.floatx() == "float32"
    assert np.zeros(2, dtype=config.floatx()).dtype == np.float32  # course code: x.astype(K.floatx())
    x = np.random.default_rng(0).normal(size=(4, 3))
    try:
        config.set_floatx("float64")
        keras.config.set_floatx("float64")
        # an earlier set_dtype_policy (the mixed-precision tests restore "float32") pins the policy in both
        # libraries, which set_floatx then leaves alone: pin it to float64 too
        config.set_dtype_policy("float64")
        keras.config.set_dtype_policy("float64")
        ours = layerwise.Sequential([layerwise.Input((3,)), layerwise.layers.Dense(2, activation="tanh")])
        theirs = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, activation="tanh")])
        ours.set_weights(theirs.get_weights())
        assert ours.layers[0].kernel.dtype == torch.float64
        got, expected = ours.predict(x, verbose=0), keras.ops.convert_to_numpy(theirs.predict(x, verbose=0))
        assert got.dtype == expected.dtype == np.float64
        kernel, bias = theirs.get_weights()
        np.testing.assert_allclose(got, np.tanh(x @ kernel + bias), rtol=1e-14)  # float64 throughout
        np.testing.assert_allclose(got, expected, atol=1e-6)  # Keras 3.15's torch predict rounds through float32
    finally:
        config.set_floatx("float32")
        keras.config.set_floatx("float32")
        config.set_dtype_policy("float32")
        keras.config.set_dtype_policy("float32")
    with pytest.raises(ValueError, match="Unknown floatx type: 'float128'"):
        config.set_floatx("float128")


def test_backend_dtype_helpers_and_uids_as_keras(keras):
    for dtype in ("bfloat16", "float64", "int8", "uint8", "bool", torch.float16, np.int64):
        assert backend.is_float_dtype(dtype) == keras.backend.is_float_dtype(dtype)
        assert backend.is_int_dtype(dtype) == keras.backend.is_int_dtype(dtype)
        assert backend.standardize_dtype(dtype) == keras.backend.standardize_dtype(dtype)
    import layerwise
    assert backend.is_keras_tensor(layerwise.Input((2,))) and not backend.is_keras_tensor(torch.zeros(2))
    backend.clear_session()
    assert [backend.get_uid("probe"), backend.get_uid("probe")] == [1, 2]
    assert layerwise.layers.Dense(1).name == "dense"  # the same counter names layers
    assert backend.get_uid("dense") == 2
    with pytest.raises(AttributeError, match="has no attribute 'not_there'"):
        backend.not_there


NUMERIC = ["bool", "uint8", "uint16", "uint32", "uint64", "int8", "int16", "int32", "int64", "float16", "bfloat16",
           "float32", "float64", int, float]


def test_result_type_promotes_every_pair_as_keras(keras):
    """Keras' JAX-like lattice, 243 cases: weak Python types, signed with unsigned, 64-bit results as 32-bit."""
    cases = [(), *((a,) for a in NUMERIC), *itertools.product(NUMERIC, repeat=2), ("int8", int, float),
             (np.float64, np.int8), (torch.float16, "bfloat16")]
    assert [backend.result_type(*c) for c in cases] == [keras.backend.result_type(*c) for c in cases]
    for bad in (("string", "int32"), ("float8_e4m3fn", "float32")):
        with pytest.raises(ValueError, match="(?i)(promotion|conversion)"):
            keras.backend.result_type(*bad)
        with pytest.raises(ValueError, match="does not promote implicitly"):
            backend.result_type(*bad)
