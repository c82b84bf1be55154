"""Autoencoders: Keras-style models (dense, convolutional, sequence; optionally denoising) and the
scikit-learn ``Autoencoder`` transformer that reduces dimensions where ``PCA`` would.

``dense_autoencoder``/``conv_autoencoder``/``sequence_autoencoder`` return ``(encoder, decoder,
autoencoder)``: three ``Sequential`` models sharing their layers, so training the autoencoder trains
the other two.
"""
from layerwise.autoencoders.builders import conv_autoencoder, dense_autoencoder, join, sequence_autoencoder
from layerwise.autoencoders.noise import (NOISE_KINDS, MaskingNoise, SaltAndPepperNoise, corrupt,
                                          corruption_layer)
from layerwise.autoencoders.transformer import Autoencoder

__all__ = [
    "NOISE_KINDS", "Autoencoder", "MaskingNoise", "SaltAndPepperNoise", "conv_autoencoder", "corrupt",
    "corruption_layer", "dense_autoencoder", "join", "sequence_autoencoder",
]
