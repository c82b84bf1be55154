"""Fixtures for the guide tests: a listing uses the name ``keras`` for layerwise, so Keras 3 itself (the
oracle) is ``real_keras`` here."""
from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def real_keras(keras):
    """Keras 3 on the torch backend (the suite's ``keras`` fixture, under a name guide listings leave free)."""
    return keras
