from layerwise.rbm.bernoulli import BernoulliRBM
