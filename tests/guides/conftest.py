"""Fixtures for the guide tests: a listing uses the name ``keras`` for layerwise, so Keras 3 itself (the
oracle) is ``real_keras`` here."""
from __future__ import annotations

import json

import pytest


@pytest.fixture(scope="session")
def real_keras(keras):
    """Keras 3 on the torch backend (the suite's ``keras`` fixture, under a name guide listings leave free)."""
    return keras


@pytest.fixture
def class_index(real_keras, tmp_path, monkeypatch):
    """A made-up ImageNet class index where Keras caches the real one (a fresh KERAS_HOME), which layerwise reads;
    Keras is handed it directly, as it would download the real one."""
    from keras.src.applications import imagenet_utils as keras_imagenet_utils

    index = {str(i): [f"n{i:08d}", f"class_{i}"] for i in range(1000)}
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "imagenet_class_index.json").write_text(json.dumps(index))
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    monkeypatch.setattr(keras_imagenet_utils, "CLASS_INDEX", index)
    return index
