"""Fixtures the application tests share: cheap builds of models whose weights are replaced, and no network."""
from __future__ import annotations

import urllib.error
import urllib.request

import pytest
import torch

import layerwise
from layerwise import initializers
from layerwise.applications import imagenet_weights


def _zeros(self, shape, dtype=torch.float32) -> torch.Tensor:
    return torch.zeros(shape, dtype=dtype)


@pytest.fixture(scope="module")
def fast_init():
    """Zeros instead of truncated-normal and uniform draws (the cost of building a large model) for layerwise
    models whose weights are replaced afterwards."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(initializers.TruncatedNormal, "__call__", _zeros)
        patch.setattr(initializers.RandomUniform, "__call__", _zeros)
        yield


def _refuse(url, *args, **kwargs):
    raise urllib.error.URLError("no network in the tests")


@pytest.fixture
def no_network(monkeypatch):
    """Any download fails, as offline: a cached file with the right hash needs none."""
    monkeypatch.setattr(urllib.request, "urlopen", _refuse)


@pytest.fixture
def channels_first():
    """layerwise builds channels-first for the test; channels-last comes back whatever happens."""
    try:
        layerwise.config.set_image_data_format("channels_first")
        yield
    finally:
        layerwise.config.set_image_data_format("channels_last")


@pytest.fixture
def both_channels_first(keras, channels_first):
    """Keras too builds channels-first for the test."""
    try:
        keras.config.set_image_data_format("channels_first")
        yield
    finally:
        keras.config.set_image_data_format("channels_last")


@pytest.fixture
def asked_files(monkeypatch) -> list:
    """The ImageNet files the constructors ask for, in order; each request stops the build with
    ``RuntimeError("asked")`` (nothing is fetched)."""
    asked = []

    def fetch(file):
        asked.append(file)
        raise RuntimeError("asked")

    monkeypatch.setattr(imagenet_weights, "fetch", fetch)
    return asked
