"""Estimators fitted on a GPU pickle as one torch.save blob that loads onto the reading machine's device; the
blob's round trip is checked here on the CPU by packing a CPU state the same way."""
from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits
from sklearn.preprocessing import minmax_scale

from layerwise.autoencoders import Autoencoder
from layerwise.pickling import pack_state, unpack_state
from layerwise.rbm import BernoulliRBM, RBMImputer

X = minmax_scale(load_digits().data[:120])


@pytest.mark.parametrize("make", [
    lambda: BernoulliRBM(n_components=6, n_iter=2, random_state=0).fit(X),
    lambda: Autoencoder(code_size=2, hidden_layers=(8,), epochs=2, random_state=0).fit(X),
    lambda: RBMImputer(n_components=4, n_iter=2, n_rounds=1, n_gibbs_steps=2, random_state=0).fit(
        np.where(np.random.default_rng(0).random(X[:, :6].shape) < 0.1, np.nan, X[:, :6])),
], ids=["BernoulliRBM", "Autoencoder", "RBMImputer"])
def test_a_packed_state_loads_back_to_the_same_transform(make):
    estimator = make()
    data = X[:, :6] if isinstance(estimator, RBMImputer) else X
    packed = pack_state(estimator.__getstate__(), always=True)
    assert set(packed) <= {"_sklearn_version", "_layerwise_torch_state"}
    assert isinstance(packed["_layerwise_torch_state"], bytes)
    copy = type(estimator).__new__(type(estimator))
    copy.__setstate__(packed)
    np.testing.assert_allclose(copy.transform(data), estimator.transform(data))


def test_generators_are_dropped_and_made_again_from_the_seed():
    rbm = BernoulliRBM(n_components=4, n_iter=1, random_state=3).fit(X)
    state = unpack_state(pack_state(rbm.__getstate__(), always=True))
    assert state["_generator"] is None
    copy = BernoulliRBM.__new__(BernoulliRBM)
    copy.__setstate__(state)
    assert isinstance(copy._gen(), torch.Generator) and copy.gibbs(X[:2]).shape == (2, 64)


def test_cpu_states_pickle_as_they_are():
    rbm = BernoulliRBM(n_components=4, n_iter=1, random_state=0).fit(X)
    assert "_layerwise_torch_state" not in rbm.__getstate__()
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(rbm)).transform(X), rbm.transform(X))
