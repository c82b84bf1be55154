"""Device choice, seeding and the allocator setting."""
import sys

import numpy as np
import pytest
import torch

from layerwise import backend, config


def test_default_device_is_cuda_only_when_present():
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
