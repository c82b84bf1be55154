"""Fixtures the application tests share: cheap builds of models whose weights are replaced, and no network."""
from __future__ import annotations

import urllib.error
import urllib.request

import pytest
import torch

from layerwise import initializers


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
