"""Models: Sequential (the training loop lives in ``trainer``) and loading saved models."""
from layerwise.models.sequential import Sequential
from layerwise.saving import load_model

__all__ = ["Sequential", "load_model"]
