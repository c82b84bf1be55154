"""Restricted Boltzmann machines: binary and Gaussian RBMs, DBNs, an oversampler and an imputer."""
from layerwise.rbm.bernoulli import BernoulliRBM
from layerwise.rbm.dbn import DBN
from layerwise.rbm.gaussian import GaussianBernoulliRBM
from layerwise.rbm.imputer import RBMImputer
from layerwise.rbm.monitoring import (
    ais_log_partition,
    exact_log_partition,
    free_energy_gap,
    log_likelihood,
    pseudo_likelihood,
    reconstruction_error,
)
from layerwise.rbm.oversampler import RBMOversampler

__all__ = [
    "BernoulliRBM",
    "DBN",
    "GaussianBernoulliRBM",
    "RBMImputer",
    "RBMOversampler",
    "ais_log_partition",
    "exact_log_partition",
    "free_energy_gap",
    "log_likelihood",
    "pseudo_likelihood",
    "reconstruction_error",
]
