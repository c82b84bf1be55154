"""layerwise: the Keras API for classic deep-learning models, running as native PyTorch."""
__version__ = "0.1.0"
