"""Shared fixtures for the layerwise test suite.

``keras`` is the oracle for the parity tests: Keras 3 on its PyTorch backend. It is imported
lazily (importing it costs seconds) and only the tests that ask for it skip, with the reason,
when it is not installed.
"""
from __future__ import annotations

import importlib
import os
import random

import numpy as np
import pytest
import torch

# Keras must pick its backend before its first import; the torch backend keeps the oracle on
# the same numerics (and the same CPU kernels) as layerwise.
os.environ.setdefault("KERAS_BACKEND", "torch")

SEED = 1234

# The suite checks the CPU path on every machine, a GPU one included: its tests build CPU tensors and compare
# with numpy arrays. The CUDA path is checked by benchmarks/gpu_speed.py on a GPU machine.
from layerwise import backend as _backend  # noqa: E402  (after KERAS_BACKEND, which Keras reads at import)

_backend.set_device("cpu")


@pytest.fixture(autouse=True)
def global_settings_restored():
    """Every test leaves layerwise's global settings (floatx, image data format, the dtype policy, unset or set) as
    it found them, so that no test depends on the order the tests run in."""
    policies = importlib.import_module("layerwise.dtype_policies.dtype_policy")
    saved = _backend.floatx(), _backend.image_data_format(), policies._global_policy[0]
    yield
    _backend.set_floatx(saved[0])
    _backend.set_image_data_format(saved[1])
    policies._global_policy[0] = saved[2]


def import_keras():
    """Keras 3 on the torch backend, or a pytest skip that says why it is missing."""
    try:
        import keras
    except ImportError as err:  # only a missing install skips; a broken Keras fails loudly
        pytest.skip(f"keras is not installed ({err}); the Keras-parity tests need keras>=3.3 "
                    "(pip install -e '.[test]')")
    if keras.backend.backend() != "torch":
        pytest.skip(f"Keras runs on the {keras.backend.backend()!r} backend; the parity tests need "
                    "KERAS_BACKEND=torch set before keras is first imported")
    return keras


@pytest.fixture(scope="session")
def keras():
    """The Keras module (torch backend); skips the requesting test if Keras is unavailable."""
    return import_keras()


def seed_everything(seed: int = SEED) -> None:
    """Seed Python, NumPy and PyTorch (and Keras, when it is already imported)."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    import sys
    if "keras" in sys.modules:
        sys.modules["keras"].utils.set_random_seed(seed)


@pytest.fixture
def seed() -> int:
    """Seeds every generator before the test; returns the seed used."""
    seed_everything(SEED)
    return SEED


@pytest.fixture
def rng(seed) -> np.random.Generator:
    """A seeded NumPy generator for test data."""
    return np.random.default_rng(seed)


@pytest.fixture
def fresh_registrations(keras, monkeypatch):
    """layerwise's and Keras' registries of custom objects, restored when the test ends (it may register some)."""
    from keras.src.saving import object_registration

    from layerwise import saving_registry
    for module, names in ((saving_registry, ("_GLOBAL_CUSTOM_OBJECTS", "_GLOBAL_CUSTOM_NAMES")),
                          (object_registration, ("GLOBAL_CUSTOM_OBJECTS", "GLOBAL_CUSTOM_NAMES"))):
        for name in names:
            monkeypatch.setattr(module, name, dict(getattr(module, name)))


@pytest.fixture
def flash_flags(monkeypatch):
    """``flash_flags(run)``: whether PyTorch's flash kernel was allowed at each scaled_dot_product_attention call
    that ``run()`` makes."""
    def record(run) -> list[bool]:
        flags, sdpa = [], torch.nn.functional.scaled_dot_product_attention

        def recording(*args, **kwargs):
            flags.append(torch.backends.cuda.flash_sdp_enabled())
            return sdpa(*args, **kwargs)

        monkeypatch.setattr(torch.nn.functional, "scaled_dot_product_attention", recording)
        run()
        return flags
    return record
