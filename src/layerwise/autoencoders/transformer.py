"""``Autoencoder``: a scikit-learn transformer that reduces dimensions with a trained autoencoder.

It drops in wherever ``PCA`` does: ``transform`` gives the codes, ``inverse_transform`` decodes them,
``score`` is the negative reconstruction error (higher is better, as scorers expect). Training is
``autoencoder.fit(X, X)`` on a layerwise ``Sequential`` with Adam and a mean squared error loss.
"""
from __future__ import annotations

import math
import warnings
from contextlib import contextmanager
from numbers import Integral, Real

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClassNamePrefixFeaturesOutMixin, TransformerMixin
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_array, check_is_fitted, validate_data

from layerwise.autoencoders import _input
from layerwise.autoencoders.builders import conv_autoencoder, dense_autoencoder
from layerwise.autoencoders.noise import NOISE_KINDS
from layerwise.backend import floatx, get_device, set_floatx
from layerwise.dtype_policies import DTypePolicy
from layerwise.dtype_policies.dtype_policy import dtype_policy, set_dtype_policy
from layerwise.pickling import PortablePickle
from layerwise.callbacks import EarlyStopping
from layerwise.optimizers import Adam

KINDS = ("dense", "conv")


@contextmanager
def _float32_settings():
    """Pin ``floatx`` and the global dtype policy to float32 while the estimator builds, trains or predicts.

    Its codes must depend on its parameters and data only, not on settings meant for Keras-style model
    building (``set_floatx("float64")``, ``set_dtype_policy("mixed_bfloat16")``); both are restored after.
    """
    # Global state: threads that change these settings while an estimator fits would see each other's values.
    saved_floatx = floatx()
    set_floatx("float32")
    # With floatx pinned, a policy other than float32 was set explicitly, so set_dtype_policy restores it exactly
    # (an unset policy must stay unset: it follows floatx).
    policy = dtype_policy()
    explicit = policy if policy != DTypePolicy("float32") else None
    try:
        if explicit is not None:
            set_dtype_policy("float32")
        yield
    finally:
        if explicit is not None:
            set_dtype_policy(explicit)
        set_floatx(saved_floatx)


def _forked_torch_rng():
    """A fork of torch's global RNG (and the GPU's): weights drawn inside leave the caller's RNG state as it was."""
    device = get_device()
    return torch.random.fork_rng(devices=[device] if device.type == "cuda" else [])


class Autoencoder(PortablePickle, ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseEstimator):
    """Dimensionality reduction with an autoencoder, as a scikit-learn transformer.

    Its results depend on its parameters and data only: the networks are channels-last and float32 whatever
    ``image_data_format()``, ``floatx()`` or the global dtype policy say. Being float32, a row's code can differ
    in the last bit with the batch it is transformed in (scikit-learn's ``check_methods_subset_invariance``).
    ``save``/``load`` keep an integer ``random_state``; a ``RandomState`` object comes back as None (pickle
    keeps it).

    Parameters
    ----------
    code_size : int or None, default 2
        Units in the code: the number of output features of ``transform``. ``None`` (``kind='conv'``
        only) makes the code the encoder's smallest feature map, flattened by ``transform``: a fully
        convolutional autoencoder, the better denoiser of images.
    hidden_layers : tuple of int, default (256, 64)
        Encoder layer sizes for ``kind='dense'``; the decoder mirrors them.
    kind : {'dense', 'conv'}, default 'dense'
        Fully connected, or convolutional (images; see ``filters`` and ``image_shape``).
    noise : {None, 'gaussian', 'masking', 'salt_pepper'}, default None
        Corrupt inputs while training (a denoising autoencoder); the target stays the clean input.
    noise_level : float, default 0.1
        Standard deviation (gaussian, in scaled units) or fraction of values hit (masking, salt_pepper).
    activation : str, default 'relu'
        Activation of the hidden layers. The code is linear.
    epochs, batch_size : int, default 50, 128
        Training length and minibatch size (Adam, mean squared error).
    validation_fraction : float, default 0.1
        Share of the rows held out (at random) to monitor for early stopping; with ``early_stopping=False``
        every row trains, as in scikit-learn's MLP.
    early_stopping : bool, default True
        Stop after ``patience`` epochs without improvement and keep the best weights.
    random_state : int, RandomState or None
        Seeds weights, shuffling, noise and the validation split; training runs in a forked torch RNG.
    verbose : int, default 0
        Keras' progress output: 0 silent, 1 progress bar, 2 one line per epoch.
    scale : {None, 'minmax', 'standard'}, default None
        Scale each feature before training; ``inverse_transform`` and ``score`` undo it. Tables whose columns
        have other units (breast_cancer's run from 1e-3 to 4e3) need it: unscaled, such data trains poorly (a
        held-out error 20 times PCA's at 2 components); pixels in [0, 1] do not.
    image_shape : tuple or None
        ``(height, width[, channels])`` of flat rows for ``kind='conv'``; image arrays
        ``(n, h, w[, c])`` bring their own, which a given ``image_shape`` must match.
    filters : tuple of int, default (32, 64)
        Filters per downsampling level for ``kind='conv'``.
    upsampling : {'transpose', 'upsampling'}, default 'transpose'
        How the conv decoder doubles its maps: stride-2 ``Conv2DTranspose`` (any image size), or
        ``UpSampling2D`` then ``Conv2D`` (sizes must halve evenly; no checkerboard artefacts).
    learning_rate : float, default 1e-3
        Adam's step size.
    patience : int, default 10
        Early stopping patience in epochs.
    output_activation : {'auto', None, 'sigmoid', ...}, default 'auto'
        The decoder's last activation; 'auto' is 'sigmoid' with ``scale='minmax'`` (outputs in [0, 1])
        and linear otherwise.

    Attributes
    ----------
    encoder_, decoder_, autoencoder_ : layerwise.Sequential
        The trained models; the autoencoder shares the encoder's and decoder's layers.
    history_ : dict
        Keras' ``History.history``: per-epoch ``loss`` (and ``val_loss``).
    n_features_in_, feature_names_in_, image_shape_, input_shape_
        Input features, their names (from a DataFrame), the images the conv model sees, and the
        per-sample shape of ``fit``'s input (returned by ``inverse_transform``).
    """

    # scikit-learn's checks of the arguments (InvalidParameterError names the wrong one); _check_params adds
    # the ones that tie two arguments together.
    _parameter_constraints: dict = {
        "code_size": [None, Interval(Integral, 1, None, closed="left")],
        "hidden_layers": ["array-like"],
        "kind": [StrOptions(set(KINDS))],
        "noise": [None, StrOptions(set(NOISE_KINDS))],
        "noise_level": [Interval(Real, 0, None, closed="left")],
        "activation": [str, callable],
        "epochs": [Interval(Integral, 1, None, closed="left")],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "validation_fraction": [Interval(Real, 0, 1, closed="left")],
        "early_stopping": ["boolean"],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
        "scale": [None, StrOptions({s for s in _input.SCALES if s})],
        "image_shape": [None, "array-like"],
        "filters": ["array-like"],
        "learning_rate": [Interval(Real, 0, None, closed="neither")],
        "patience": [Interval(Integral, 0, None, closed="left")],
        "output_activation": [None, str, callable],
        "upsampling": [StrOptions({"transpose", "upsampling"})],
    }

    def __init__(self, code_size: int = 2, hidden_layers: tuple[int, ...] = (256, 64), kind: str = "dense",
                 noise: str | None = None, noise_level: float = 0.1, activation: str = "relu", epochs: int = 50,
                 batch_size: int = 128, validation_fraction: float = 0.1, early_stopping: bool = True,
                 random_state=None, verbose: int = 0, scale: str | None = None, image_shape=None,
                 filters: tuple[int, ...] = (32, 64), learning_rate: float = 1e-3, patience: int = 10,
                 output_activation="auto", upsampling: str = "transpose"):
        self.code_size, self.hidden_layers, self.kind = code_size, hidden_layers, kind
        self.noise, self.noise_level, self.activation = noise, noise_level, activation
        self.epochs, self.batch_size, self.validation_fraction = epochs, batch_size, validation_fraction
        self.early_stopping, self.random_state, self.verbose = early_stopping, random_state, verbose
        self.scale, self.image_shape, self.filters = scale, image_shape, filters
        self.learning_rate, self.patience, self.output_activation = learning_rate, patience, output_activation
        self.upsampling = upsampling

    # ---- checks -------------------------------------------------------------------------------
    def _check_params(self) -> None:
        self._validate_params()
        if self.code_size is None and self.kind != "conv":
            raise ValueError("code_size=None (the feature map as the code) needs kind='conv'.")
        if self.noise in ("masking", "salt_pepper") and not self.noise_level < 1:
            raise ValueError(f"noise_level is the fraction of values {self.noise} hits: it must be below 1, got "
                             f"{self.noise_level!r}.")

    def _validate(self, X, reset: bool) -> tuple[np.ndarray, tuple[int, ...] | None]:
        """X as float rows ``(n, n_features_in_)`` (float32 kept, else float64) and its image shape or None."""
        X, sample_shape = _input.split_images(X)
        if not reset:
            self._check_sample_shape(sample_shape)
        X = validate_data(self, X, reset=reset, dtype=[np.float64, np.float32], ensure_all_finite=False)
        _input.check_finite(X, type(self).__name__)
        return X, sample_shape

    def _check_sample_shape(self, sample_shape: tuple[int, ...] | None) -> None:
        """Images must have ``fit``'s shape (or the conv model's ``image_shape_``); a trailing channel of 1 may
        come or go. Flat rows are checked by their number of features."""
        if sample_shape is None:
            return
        def core(shape):
            return tuple(shape[:-1]) if len(shape) == 3 and shape[-1] == 1 else tuple(shape)
        allowed = {core(self.input_shape_)} | ({core(self.image_shape_)} if self.image_shape_ is not None else set())
        if len(self.input_shape_) == 1 and self.image_shape_ is None or core(sample_shape) not in allowed:
            raise ValueError(f"{type(self).__name__} was fitted on samples of shape {tuple(self.input_shape_)}; "
                             f"got samples of shape {tuple(sample_shape)}.")

    def _model_input(self, X: np.ndarray) -> np.ndarray:
        """Scaled float32 rows, reshaped to images for the conv model: ``(n, d)`` or ``(n, h, w, c)``."""
        with np.errstate(over="ignore"):  # values beyond float32 become inf, refused just below with a clear message
            X = _input.apply_scaling(X, self.shift_, self.scale_).astype(np.float32)  # a fresh, writable copy
        if not np.isfinite(X).all():
            raise ValueError(f"{type(self).__name__}: X holds values beyond float32's range (about 3.4e38) after "
                             "scaling; the networks compute in float32: rescale the data (e.g. scale='standard').")
        return X if self.image_shape_ is None else X.reshape(len(X), *self.image_shape_)

    # ---- building -----------------------------------------------------------------------------
    def _output_activation(self):
        if self.output_activation == "auto":
            return "sigmoid" if self.scale == "minmax" else None
        return self.output_activation

    def _build_models(self, noise_seed: int | None = None) -> None:
        """Create ``encoder_``, ``decoder_`` and ``autoencoder_`` (float32) for the fitted input shape;
        ``noise_seed`` seeds the corruption layer's own generator."""
        common = dict(activation=self.activation, output_activation=self._output_activation(),
                      noise=self.noise, noise_level=self.noise_level, noise_range=self.noise_range_, seed=noise_seed)
        with _float32_settings():
            if self.image_shape_ is None:
                models = dense_autoencoder(self.n_features_in_, int(self.code_size), tuple(self.hidden_layers),
                                           **common)
            else:
                code_size = None if self.code_size is None else int(self.code_size)
                models = conv_autoencoder(self.image_shape_, code_size, tuple(self.filters),
                                          upsampling=self.upsampling, **common)
            self.encoder_, self.decoder_, self.autoencoder_ = models
            self._n_features_out = math.prod(self.encoder_.output_shape[1:])
            self.autoencoder_.compile(optimizer=Adam(learning_rate=float(self.learning_rate)), loss="mse")

    # ---- fitting ------------------------------------------------------------------------------
    def fit(self, X, y=None):
        """Train on ``X`` of shape ``(n, features)`` or images ``(n, h, w[, c])``; ``y`` is ignored.

        A fit that fails (bad input, diverged training) leaves the estimator as it was: its previous fit stays.
        """
        params = self.get_params(deep=False)
        # A fresh estimator with the same parameter objects (a RandomState advances as before) trains; its fitted
        # state replaces this one's only once it succeeded, so a failed refit cannot leave NaN or mixed state.
        trained = type(self)(**params)._fit(X)
        fitted = {k: v for k, v in vars(trained).items() if k not in params}
        for stale in [k for k in vars(self) if k.endswith("_") and not k.startswith("__") and k not in fitted]:
            delattr(self, stale)  # e.g. feature_names_in_ of an earlier fit on a DataFrame
        vars(self).update(fitted)
        return self

    def _fit(self, X) -> "Autoencoder":
        """``fit``'s work, on an unfitted estimator."""
        self._check_params()
        X, sample_shape = self._validate(X, reset=True)
        self.input_shape_ = sample_shape or (X.shape[1],)
        self.image_shape_ = _input.resolve_image_shape(self.kind, X.shape[1], sample_shape, self.image_shape)
        self.shift_, self.scale_ = _input.scaling_stats(X, self.scale)
        Xm = self._model_input(X)
        self.noise_range_ = (float(Xm.min()), float(Xm.max()))  # salt-and-pepper's pepper and salt values

        seed = int(check_random_state(self.random_state).randint(np.iinfo(np.int32).max))
        # A forked RNG: the seed makes fits repeat exactly without touching the caller's torch RNG state.
        with _forked_torch_rng(), _float32_settings():
            torch.manual_seed(seed)
            # The noise's own stream, apart from the weights' (a generator seeded alike would repeat their draws).
            self._build_models(noise_seed=int(np.random.default_rng(seed).integers(np.iinfo(np.int32).max)))
            # A denoiser may be overcomplete (Vincent et al. 2008): the noise, not the size, stops a copy.
            if self._n_features_out >= X.shape[1] and self.noise is None:
                warnings.warn(f"The code's {self._n_features_out} features are not fewer than the {X.shape[1]} "
                              "input features: the code is not a compression, and the autoencoder may learn a "
                              "near-identity map.", UserWarning, stacklevel=3)
            train, val = self._split(len(Xm), seed) if self.early_stopping else (np.arange(len(Xm)), None)
            callbacks = []
            if self.early_stopping:
                monitor = "val_loss" if val is not None else "loss"
                callbacks.append(EarlyStopping(monitor=monitor, patience=self.patience, restore_best_weights=True))
            validation = None if val is None else (Xm[val], Xm[val])
            history = self.autoencoder_.fit(Xm[train], Xm[train], epochs=int(self.epochs),
                                            batch_size=int(min(self.batch_size, len(train))),
                                            validation_data=validation, callbacks=callbacks, verbose=self.verbose)
        self.history_ = history.history
        if not all(bool(torch.isfinite(w).all()) for w in self.autoencoder_.parameters()):
            raise ValueError(f"Training diverged: the weights are no longer finite (loss per epoch: "
                             f"{[round(v, 4) for v in self.history_['loss']]}). Lower learning_rate (now "
                             f"{self.learning_rate}) or scale the data (scale='standard').")
        return self

    def _split(self, n: int, seed: int) -> tuple[np.ndarray, np.ndarray | None]:
        """Random train / validation row indices; no validation rows when too few samples for both."""
        order = np.random.default_rng(seed).permutation(n)
        n_val = int(math.floor(n * self.validation_fraction))
        if n_val < 1 or n - n_val < 1:
            return order, None
        return order[n_val:], order[:n_val]

    # ---- transforming -------------------------------------------------------------------------
    @staticmethod
    def _predict(model, X: np.ndarray) -> np.ndarray:
        """``model``'s output for float32 ``X`` (rows or images), computed in float32 whatever the global settings."""
        with _float32_settings():
            return model.predict(X, batch_size=1024, verbose=0)

    def transform(self, X) -> np.ndarray:
        """The codes ``(n, code features)`` of ``X`` (rows or images, as in ``fit``), in X's float dtype."""
        check_is_fitted(self)
        X, _ = self._validate(X, reset=False)
        codes = self._predict(self.encoder_, self._model_input(X))
        return codes.reshape(len(codes), -1).astype(X.dtype, copy=False)

    def inverse_transform(self, X) -> np.ndarray:
        """Decode codes ``(n, code features)`` to inputs of ``fit``'s per-sample shape, scaling undone."""
        check_is_fitted(self)
        Z = check_array(X, dtype=[np.float64, np.float32], ensure_all_finite=False)
        _input.check_finite(Z, type(self).__name__)
        if Z.shape[1] != self._n_features_out:
            raise ValueError(f"X has {Z.shape[1]} features, but {type(self).__name__} is expecting "
                             f"{self._n_features_out} features as input (its code).")
        with np.errstate(over="ignore"):  # codes beyond float32 become inf, refused just below
            Z_model = Z.astype(np.float32).reshape(len(Z), *self.decoder_.input_shape[1:])
        if not np.isfinite(Z_model).all():
            raise ValueError(f"{type(self).__name__}: the codes hold values beyond float32's range (about 3.4e38); "
                             "the decoder computes in float32.")
        out = self._predict(self.decoder_, Z_model).reshape(len(Z), -1)
        out = _input.undo_scaling(out.astype(Z.dtype), self.shift_, self.scale_)
        return out.reshape(len(Z), *self.input_shape_)

    def reconstruct(self, X) -> np.ndarray:
        """``inverse_transform(transform(X))``: X encoded and decoded, in ``fit``'s per-sample shape."""
        return self.inverse_transform(self.transform(X))

    def score(self, X, y=None) -> float:
        """Negative mean squared reconstruction error per value, in X's units (higher is better)."""
        check_is_fitted(self)
        X_rows, _ = self._validate(X, reset=False)
        codes = self._predict(self.encoder_, self._model_input(X_rows))
        reconstruction = self.inverse_transform(codes.reshape(len(codes), -1)).reshape(len(X_rows), -1)
        return -float(np.mean((X_rows.astype(np.float64) - reconstruction) ** 2))

    # ---- saving -------------------------------------------------------------------------------
    def save(self, path) -> None:
        """Write the fitted transformer to one safetensors file (parameters as JSON, no pickle)."""
        from layerwise.autoencoders.persistence import save_autoencoder
        save_autoencoder(self, path)

    @classmethod
    def load(cls, path) -> "Autoencoder":
        """A fitted transformer from a file written by ``save``; it transforms exactly as the saved one."""
        from layerwise.autoencoders.persistence import load_autoencoder
        return load_autoencoder(cls, path)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        return tags
