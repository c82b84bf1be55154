"""Keras' weight initializers. Each is called with a shape in Keras' layout
(Dense kernel ``(in, out)``, Conv2D kernel ``(kh, kw, in, out)``) and returns a float32 tensor.

Random initializers take Keras' ``seed``: an int draws the same values at every call; a
``layerwise.random.SeedGenerator`` draws new values at each call; None (unseeded) draws from PyTorch's global
generator at each call (``torch.manual_seed`` and ``layerwise.utils.set_random_seed`` make it repeat). Keras
repeats an unseeded object's first draw instead; README lists the difference."""
from __future__ import annotations

import functools
import inspect
import math
import numbers
from typing import Callable

import numpy as np
import torch

from layerwise import saving_registry
from layerwise._registry import keras_form
from layerwise.backend import float_dtype


def compute_fans(shape: tuple[int, ...], input_axes=None, output_axes=None) -> tuple[int, int]:
    """Keras' fan-in and fan-out: the sizes of ``input_axes`` and ``output_axes`` when both are given (an einsum
    kernel's), otherwise the last two axes are (in, out) and the rest is the receptive field."""
    if input_axes is not None and output_axes is not None:
        return math.prod(shape[a] for a in input_axes), math.prod(shape[a] for a in output_axes)
    if len(shape) == 0:
        return 1, 1
    if len(shape) == 1:
        return shape[0], shape[0]
    receptive = math.prod(shape[:-2])
    return shape[-2] * receptive, shape[-1] * receptive


def _torch_dtype(dtype) -> torch.dtype:
    """A torch dtype from what Keras code passes: None (the float type), a name ("float32"), numpy's or torch's."""
    if dtype is None:
        return float_dtype()
    if isinstance(dtype, torch.dtype):
        return dtype
    name = dtype if isinstance(dtype, str) else np.dtype(dtype).name
    found = getattr(torch, name.removeprefix("torch."), None)
    if not isinstance(found, torch.dtype):
        raise ValueError(f"Unknown dtype {dtype!r} for an initializer: use a name such as 'float32'.")
    return found


def _checked_seed(seed, initializer: str):
    """``seed`` as an initializer keeps it: an int, a ``SeedGenerator`` (also from its config dict) or None."""
    from layerwise.random import SeedGenerator  # here: layerwise.random imports the layers, which import this
    if isinstance(seed, dict) and seed.get("class_name") == "SeedGenerator":
        return SeedGenerator.from_config(seed.get("config", {}))
    if seed is None or isinstance(seed, SeedGenerator) or (isinstance(seed, int) and not isinstance(seed, bool)):
        return seed
    raise ValueError(f"{initializer}: the `seed` argument should be an integer, a layerwise.random.SeedGenerator "
                     f"or None. Received: seed={seed!r}")


def _seed_config(seed):
    """``seed`` as Keras writes it in a config: an int or None as is, a ``SeedGenerator`` in Keras' form."""
    if seed is None or isinstance(seed, int):
        return seed
    return keras_form("keras.random", "SeedGenerator", seed.get_config())


def _generator_for(seed) -> torch.Generator | None:
    """A CPU generator seeded with an int seed (the same draw at every call), a ``SeedGenerator``'s own (a new
    draw at each call), or None: PyTorch's global generator."""
    if seed is None or isinstance(seed, int):
        return None if seed is None else torch.Generator().manual_seed(seed)
    return seed.generator(torch.device("cpu"))


class Initializer:
    """Base class: ``init(shape, dtype=None) -> tensor``. ``dtype`` is a torch dtype or, as Keras code passes it,
    a name ("float32") or None (the float type). Random initializers take a ``seed`` (see the module's doc);
    ``_generator()`` gives the ``torch.Generator`` to draw from."""

    def __init__(self, seed=None):
        self.seed = seed

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        call = cls.__dict__.get("__call__")
        if call is not None and cls.__module__ == __name__:  # a user's initializer gets dtype as passed
            @functools.wraps(call)
            def call_with_torch_dtype(self, shape, dtype=None, **kw):
                return call(self, shape, _torch_dtype(dtype), **kw)

            cls.__call__ = call_with_torch_dtype

    def _generator(self) -> torch.Generator | None:
        return _generator_for(self.seed)

    def __call__(self, shape: tuple[int, ...], dtype: torch.dtype = torch.float32) -> torch.Tensor:
        raise NotImplementedError

    def get_config(self) -> dict:
        return {"seed": self.seed}

    @classmethod
    def from_config(cls, config: dict) -> Initializer:
        return cls(**config)


class Zeros(Initializer):
    def __call__(self, shape, dtype=torch.float32):
        return torch.zeros(shape, dtype=dtype)

    def get_config(self) -> dict:
        return {}  # deterministic: no seed, as Keras writes it


class Ones(Zeros):
    def __call__(self, shape, dtype=torch.float32):
        return torch.ones(shape, dtype=dtype)


class Constant(Initializer):
    """Every element ``value``: a scalar, or an array that broadcasts to the weight's shape (as Keras' code
    allows: ``Embedding(..., embeddings_initializer=Constant(matrix))``); deterministic, so it takes no seed."""

    def __init__(self, value=0.0):
        super().__init__()
        if isinstance(value, (np.ndarray, torch.Tensor)) and np.ndim(value) == 0:  # a 0-d array is its number
            value = value.item()
        if isinstance(value, bool) or not (isinstance(value, numbers.Real) or np.ndim(value) > 0):
            raise ValueError(f"Constant initializer value must be a number or an array of numbers, got {value!r}.")
        self.value = value

    def __call__(self, shape, dtype=torch.float32):
        if isinstance(self.value, numbers.Real):
            return torch.full(shape, self.value, dtype=dtype)
        value = torch.as_tensor(np.asarray(self.value), dtype=dtype)
        try:
            return value * torch.ones(shape, dtype=dtype)
        except RuntimeError:
            raise ValueError(f"Constant initializer: a value of shape {tuple(value.shape)} does not fit a weight "
                             f"of shape {tuple(shape)}.") from None

    def get_config(self):
        return {"value": self.value if isinstance(self.value, numbers.Real) else np.asarray(self.value).tolist()}


class Identity(Initializer):
    """``gain`` times the identity matrix, for 2-D shapes ``(in, out)`` only (ones on the main diagonal
    when not square); deterministic, so it takes no seed."""

    def __init__(self, gain: float = 1.0):
        super().__init__()
        self.gain = gain

    def __call__(self, shape, dtype=torch.float32):
        if len(shape) != 2:
            raise ValueError(f"Identity initializer needs a 2-D shape (in, out), e.g. a Dense kernel; got shape "
                             f"{tuple(shape)} of rank {len(shape)}.")
        return self.gain * torch.eye(*shape, dtype=dtype)

    def get_config(self):
        # Keras 3 writes {} here and loses the gain; keeping it makes the round trip exact.
        return {"gain": self.gain}


class RandomInitializer(Initializer):
    """Base class of the random initializers: ``seed`` is an int, a ``SeedGenerator`` or None (see the module's
    doc), kept as given in the config."""

    def __init__(self, seed=None):
        super().__init__(_checked_seed(seed, type(self).__name__))

    def _generator(self) -> torch.Generator | None:
        return _generator_for(self.seed)

    def get_config(self) -> dict:
        return {"seed": _seed_config(self.seed)}


class RandomUniform(RandomInitializer):
    def __init__(self, minval: float = -0.05, maxval: float = 0.05, seed=None):
        super().__init__(seed)
        self.minval, self.maxval = minval, maxval

    def __call__(self, shape, dtype=torch.float32):
        # Keras draws minval + (maxval - minval) * u: uniform between the bounds whichever is larger.
        low, high = sorted((self.minval, self.maxval))
        return torch.empty(shape, dtype=dtype).uniform_(low, high, generator=self._generator())

    def get_config(self):
        return {"minval": self.minval, "maxval": self.maxval, **super().get_config()}


class RandomNormal(RandomInitializer):
    def __init__(self, mean: float = 0.0, stddev: float = 0.05, seed=None):
        super().__init__(seed)
        self.mean, self.stddev = mean, stddev

    def __call__(self, shape, dtype=torch.float32):
        return torch.empty(shape, dtype=dtype).normal_(self.mean, self.stddev, generator=self._generator())

    def get_config(self):
        return {"mean": self.mean, "stddev": self.stddev, **super().get_config()}


class TruncatedNormal(RandomNormal):
    """Normal draws cut at two standard deviations (redrawn, as Keras does, not clipped)."""

    def __call__(self, shape, dtype=torch.float32):
        # Draw, then redraw the ~4.6% beyond two standard deviations until none is left: the same distribution
        # as torch.nn.init.trunc_normal_ (inverse-CDF sampling), about five times faster on the CPU, where its
        # erfinv dominates the time to build a large model.
        generator = self._generator()
        t = torch.empty(shape, dtype=dtype).normal_(generator=generator)
        outside = t.abs() > 2
        while (count := int(outside.sum())) > 0:
            t[outside] = torch.empty(count, dtype=dtype).normal_(generator=generator)
            outside = t.abs() > 2
        return t.mul_(self.stddev).add_(self.mean)


class VarianceScaling(RandomInitializer):
    """Keras' VarianceScaling: variance ``scale / fan`` with a uniform, normal or truncated draw
    (``distribution="normal"`` is ``"truncated_normal"``, as in Keras). ``input_axes`` and ``output_axes`` say
    which axes of the shape count for the fans (see ``compute_fans``)."""

    def __init__(self, scale: float = 1.0, mode: str = "fan_in", distribution: str = "truncated_normal",
                 seed=None, input_axes=None, output_axes=None):
        if scale <= 0.0:
            raise ValueError(f"VarianceScaling: the argument `scale` must be a positive float. Received: "
                             f"scale={scale!r}")
        if mode not in ("fan_in", "fan_out", "fan_avg"):
            raise ValueError(f"VarianceScaling mode must be fan_in, fan_out or fan_avg, got {mode!r}")
        distribution = distribution.lower()
        distribution = "truncated_normal" if distribution == "normal" else distribution
        if distribution not in ("truncated_normal", "untruncated_normal", "uniform"):
            raise ValueError("VarianceScaling distribution must be truncated_normal (or normal), "
                             f"untruncated_normal or uniform, got {distribution!r}")
        super().__init__(seed)
        self.input_axes, self.output_axes = input_axes, output_axes
        self.scale, self.mode, self.distribution = scale, mode, distribution

    def __call__(self, shape, dtype=torch.float32):
        fan_in, fan_out = compute_fans(tuple(shape), self.input_axes, self.output_axes)
        fan = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2}[self.mode]
        variance = self.scale / max(1.0, fan)
        if self.distribution == "uniform":
            limit = math.sqrt(3.0 * variance)
            return RandomUniform(-limit, limit, self.seed)(shape, dtype)
        if self.distribution == "untruncated_normal":
            return RandomNormal(0.0, math.sqrt(variance), self.seed)(shape, dtype)
        # 0.8796... is the std of a unit normal truncated at +-2: it restores the wanted variance.
        return TruncatedNormal(0.0, math.sqrt(variance) / 0.87962566103423978, self.seed)(shape, dtype)

    def get_config(self):
        return {"scale": self.scale, "mode": self.mode, "distribution": self.distribution, **super().get_config(),
                "input_axes": self.input_axes, "output_axes": self.output_axes}

    def with_fan_axes(self, input_axes, output_axes) -> "VarianceScaling":
        """A copy of this initializer (made from its config) counting its fans over the given axes (Keras' einsum
        kernels: attention, EinsumDense), unless it was made with its own."""
        own = self.input_axes is not None and self.output_axes is not None
        axes = {} if own else {"input_axes": list(input_axes), "output_axes": list(output_axes)}
        return type(self).from_config({**self.get_config(), **axes})


def _scaled(name: str, scale: float, mode: str, distribution: str) -> type:
    def __init__(self, seed=None, input_axes=None, output_axes=None):
        VarianceScaling.__init__(self, scale, mode, distribution, seed, input_axes, output_axes)

    def get_config(self):
        return {**RandomInitializer.get_config(self), "input_axes": self.input_axes, "output_axes": self.output_axes}

    return type(name, (VarianceScaling,), {"__init__": __init__, "get_config": get_config,
                                           "__doc__": f"Keras' {name}: {mode}, {distribution}, scale {scale}."})


GlorotUniform = _scaled("GlorotUniform", 1.0, "fan_avg", "uniform")
GlorotNormal = _scaled("GlorotNormal", 1.0, "fan_avg", "truncated_normal")
HeUniform = _scaled("HeUniform", 2.0, "fan_in", "uniform")
HeNormal = _scaled("HeNormal", 2.0, "fan_in", "truncated_normal")
LecunUniform = _scaled("LecunUniform", 1.0, "fan_in", "uniform")
LecunNormal = _scaled("LecunNormal", 1.0, "fan_in", "truncated_normal")


def for_einsum_kernel(identifier, input_axes, output_axes) -> Initializer:
    """``identifier`` as Keras initialises an einsum kernel (EinsumDense, the attention projections): a
    variance-scaling initializer counts its fans over the kernel's input and output axes, and a random one is a
    copy made from its config, as Keras' attention layers clone theirs for each projection (an unseeded one
    draws its own seed, so the query, key and value kernels differ)."""
    init = get(identifier)
    if isinstance(init, VarianceScaling):
        return init.with_fan_axes(input_axes, output_axes)
    return type(init).from_config(init.get_config()) if isinstance(init, RandomInitializer) else init


class Orthogonal(RandomInitializer):
    """A (semi-)orthogonal matrix over ``(prod(shape[:-1]), shape[-1])``, times ``gain``."""

    def __init__(self, gain: float = 1.0, seed=None):
        super().__init__(seed)
        self.gain = gain

    def __call__(self, shape, dtype=torch.float32):
        if len(shape) < 2:
            raise ValueError(f"Orthogonal initializer needs a shape of at least two dimensions; got shape "
                             f"{tuple(shape)} of rank {len(shape)}.")
        rows, cols = math.prod(shape[:-1]), shape[-1]
        a = torch.randn((max(rows, cols), min(rows, cols)), generator=self._generator(), dtype=torch.float64)
        q, r = torch.linalg.qr(a)
        q = q * torch.sign(torch.diagonal(r))  # make the decomposition unique, as Keras does
        if rows < cols:
            q = q.T
        return (self.gain * q).reshape(shape).to(dtype)

    def get_config(self):
        return {"gain": self.gain, **super().get_config()}


IdentityInitializer = Identity
OrthogonalInitializer = Orthogonal

class STFT(Initializer):
    """Keras' STFT kernels (for ``STFTSpectrogram``): the ``side`` ('real' or 'imag') of the Fourier basis times
    the ``window`` (a ``scipy.signal.get_window`` name, its values or None), divided by its L2 (``scaling=
    'density'``) or L1 (``'spectrum'``) norm. Called with ``(frame_length, channels, bins)``, it returns
    ``(frame_length, 1, bins)`` as Keras does."""

    def __init__(self, side: str = "real", window="hann", scaling: str | None = "density", periodic: bool = False):
        super().__init__()
        if side not in ("real", "imag"):
            raise ValueError(f"STFT initializer side must be 'real' or 'imag'; got {side!r}.")
        if scaling not in (None, "density", "spectrum"):
            raise ValueError(f"STFT initializer scaling must be None, 'density' or 'spectrum'; got {scaling!r}.")
        if isinstance(window, str):
            from layerwise.layers.audio import stft_window  # layers import this module: resolved at first use

            stft_window(window, 1, periodic, "STFT initializer")  # an unknown name fails here, as in Keras
        self.side, self.window, self.scaling, self.periodic = side, window, scaling, periodic

    def __call__(self, shape, dtype=torch.float32):
        from layerwise.layers.audio import stft_kernel, stft_window

        if len(shape) != 3:
            raise ValueError(f"STFT initializer expects a shape (frame_length, channels, bins); got {tuple(shape)}.")
        frame_length, bins = int(shape[0]), int(shape[2])
        window = stft_window(self.window, frame_length, self.periodic, "STFT initializer")
        return stft_kernel(self.side, window, self.scaling, frame_length, bins).permute(2, 1, 0).to(dtype)

    def get_config(self) -> dict:
        window = self.window
        if window is not None and not isinstance(window, str):
            window = np.asarray(window.detach().cpu() if isinstance(window, torch.Tensor) else window).tolist()
        return {"side": self.side, "window": window, "periodic": self.periodic, "scaling": self.scaling}


# Keras 3's snake_case aliases are the classes themselves: glorot_uniform(seed=1) is GlorotUniform(seed=1).
zeros, ones, constant, identity = Zeros, Ones, Constant, Identity
random_uniform, random_normal, truncated_normal = RandomUniform, RandomNormal, TruncatedNormal
variance_scaling, orthogonal, stft, STFTInitializer = VarianceScaling, Orthogonal, STFT, STFT
glorot_uniform, glorot_normal, he_uniform, he_normal = GlorotUniform, GlorotNormal, HeUniform, HeNormal
lecun_uniform, lecun_normal = LecunUniform, LecunNormal

# The snake_case names are the ones saving writes (the first name of each class).
_BY_NAME: dict[str, type] = {
    "zeros": Zeros, "ones": Ones, "constant": Constant, "identity": Identity, "random_uniform": RandomUniform,
    "random_normal": RandomNormal, "truncated_normal": TruncatedNormal, "glorot_uniform": GlorotUniform,
    "glorot_normal": GlorotNormal, "he_uniform": HeUniform, "he_normal": HeNormal, "lecun_uniform": LecunUniform,
    "lecun_normal": LecunNormal, "orthogonal": Orthogonal, "variance_scaling": VarianceScaling, "stft": STFT,
}
# Keras also resolves the class names and a few older aliases.
_ALIASES: dict[str, type] = {
    **{cls.__name__: cls for cls in _BY_NAME.values()}, "IdentityInitializer": Identity,
    "OrthogonalInitializer": Orthogonal, "STFTInitializer": STFT, "normal": RandomNormal, "uniform": RandomUniform,
    "one": Ones, "zero": Zeros,
}


def _lookup(name: str) -> type:
    cls = _BY_NAME.get(name) or _ALIASES.get(name)
    if cls is None:
        raise ValueError(f"Unknown initializer {name!r}. Valid names: {', '.join(sorted(_BY_NAME))} "
                         f"(or their class names, e.g. 'GlorotUniform'). {saving_registry.how_to_load(name)}")
    return cls


def get(identifier: str | Initializer | dict | type | Callable | None) -> Initializer | Callable | None:
    """Resolve a name (``"glorot_uniform"``, or a registered or custom object's name), a config dict, an
    Initializer or an Initializer class, or pass a function ``fn(shape, dtype=None) -> tensor`` through; a tensor
    or array becomes a function that returns its values for a weight of its shape, as in Keras. None stays None
    (a weight then takes ``weight_initializer``'s default)."""
    if identifier is None:
        return None
    if isinstance(identifier, Initializer):
        return identifier
    if isinstance(identifier, dict):
        name = identifier.get("class_name", "")
        if not identifier.get("registered_name") and (name in _BY_NAME or name in _ALIASES):
            return _lookup(name).from_config(identifier.get("config", {}))
        found = saving_registry.deserialize_custom(identifier)
        return found if found is not None else _lookup(identifier.get("registered_name") or name)()
    if isinstance(identifier, str):
        built_in = identifier in _BY_NAME or identifier in _ALIASES
        found = saving_registry.find_custom_object(identifier, built_in=built_in)
        return saving_registry.instance_of(found) if found is not None else _lookup(identifier)()
    if inspect.isclass(identifier) and issubclass(identifier, Initializer):
        return identifier()
    if isinstance(identifier, (torch.Tensor, np.ndarray, np.generic)):
        return _values_initializer(identifier)
    if callable(identifier) and not inspect.isclass(identifier):
        return identifier
    raise ValueError(f"Could not interpret initializer {identifier!r}: pass a name such as 'glorot_uniform', "
                     "a config dict, an initializer such as layerwise.initializers.HeNormal(seed=1), or a "
                     "function fn(shape, dtype=None) -> tensor.")


def _values_initializer(values) -> Callable:
    """``fn(shape, dtype=None)`` returning ``values`` cast to ``dtype``; a weight of another shape is refused."""
    values = torch.as_tensor(values)

    def initialize_fn(shape, dtype=None):
        if tuple(int(d) for d in shape) != tuple(values.shape):
            raise ValueError(f"initializers.get(tensor): the tensor has shape {tuple(values.shape)}, but the weight "
                             f"asks for shape {tuple(shape)}.")
        return values.to(_torch_dtype(dtype))

    return initialize_fn


def serialize(initializer: Initializer) -> dict:
    """Keras' ``{"module": "keras.initializers", "class_name": "GlorotUniform", "config": {...},
    "registered_name": None}`` for a built-in initializer; a registered class is saved with its
    ``"registered_name"``; a TypeError naming ``init`` and the fixes for any other."""
    if not any(type(initializer) is cls for cls in _BY_NAME.values()):
        return saving_registry.serialize_custom(initializer, "initializer")
    return keras_form("keras.initializers", type(initializer).__name__, initializer.get_config())


def deserialize(config: dict | str, custom_objects: dict | None = None) -> Initializer:
    """The initializer ``serialize`` (Keras' or layerwise's) described, or one named as ``get`` takes it;
    ``custom_objects`` names your own classes, as in Keras."""
    if not isinstance(config, (dict, str)):
        raise ValueError(f"initializers.deserialize takes a dict from initializers.serialize or a name, got "
                         f"{config!r}.")
    with saving_registry.loading_scope(custom_objects, "initializers.deserialize"):
        return get(config)


def weight_initializer(identifier) -> Initializer | Callable:
    """``get(identifier)``, with None as ``GlorotUniform()``: what Keras' ``add_weight`` draws a float weight with
    when given no initializer (``Dense(kernel_initializer=None)``)."""
    return GlorotUniform() if identifier is None else get(identifier)
