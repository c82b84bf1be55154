"""Models: Sequential and functional ``Model(inputs, outputs)`` (the training loop lives in ``trainer``),
and loading saved models."""
from layerwise.models.functional import Functional
from layerwise.models.model import Model
from layerwise.models.sequential import Sequential
from layerwise.saving import load_model

__all__ = ["Functional", "Model", "Sequential", "load_model"]
