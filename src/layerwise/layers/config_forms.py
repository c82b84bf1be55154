"""How a layer's constructor arguments become its config: JSON-able values, and Keras' forms of them for
layerwise's own layers (no activation is "linear", an initializer given by name is its serialized dict); and
Keras' error for keyword arguments no constructor takes."""
from __future__ import annotations

import difflib
import functools
import inspect
from typing import Any

from layerwise import activations, constraints, initializers, regularizers


def jsonable(value: Any) -> Any:
    if inspect.isclass(value) and issubclass(value, (initializers.Initializer, regularizers.Regularizer,
                                                     constraints.Constraint)):
        value = value()  # kernel_initializer=initializers.he_uniform, as Keras allows
    if isinstance(value, initializers.Initializer):
        return initializers.serialize(value)
    if isinstance(value, regularizers.Regularizer):
        return regularizers.serialize(value)
    if isinstance(value, constraints.Constraint):
        return constraints.serialize(value)
    if callable(value):
        # A built-in activation's name, or a registered function or class by its registered name; the
        # error for anything else names register_keras_serializable and custom_objects as the fixes.
        return activations.serialize(value)
    if isinstance(value, tuple):
        return list(value)
    return value


SERIALIZED = (("_initializer", initializers), ("_regularizer", regularizers), ("_constraint", constraints))


def in_keras_forms(config: dict, cls: type) -> None:
    """Keras' forms of the values a built-in layer's config holds as given: no activation is "linear", and an
    initializer, regularizer or constraint given by name (``"glorot_uniform"``) is its serialized dict. Also the
    keys Keras writes or leaves out: ``activity_regularizer`` (None where Keras' layer writes it, only when set
    where ``Layer.get_config`` does) and the class's ``config_omitted``."""
    for key, value in config.items():
        if value is None and key in ("activation", "recurrent_activation"):
            config[key] = "linear"
        elif isinstance(value, str):
            module = next((module for suffix, module in SERIALIZED if key.endswith(suffix)), None)
            if module is not None:
                config[key] = module.serialize(module.get(value))
    if cls.config_activity_regularizer:
        config.setdefault("activity_regularizer", None)
    elif config.get("activity_regularizer", 0) is None and \
            "activity_regularizer" not in inspect.signature(cls.__init__).parameters:  # given through **kwargs
        del config["activity_regularizer"]
    for key in cls.config_omitted:
        config.pop(key, None)


def built_in(cls: type) -> bool:
    """Whether ``cls`` is one of layerwise's layers (their configs take Keras' forms; a user's stay as given)."""
    return cls.__module__.startswith("layerwise.")


@functools.lru_cache(maxsize=None)
def takes_trainable(cls: type) -> bool:
    """Whether a built-in layer's constructor takes ``trainable`` (as Keras writes it in every config); a user's
    layer records it only when frozen, so that a constructor without ``**kwargs`` still rebuilds from its config."""
    parameters = inspect.signature(cls.__init__).parameters.values()
    return built_in(cls) and any(p.name == "trainable" or p.kind == p.VAR_KEYWORD for p in parameters)


def unrecognized_keywords(cls: type, kwargs: dict) -> ValueError:
    """Keras' error for keywords that no constructor of ``cls`` takes (``Dense(4, activaton="relu")``), with the
    closest name each may have meant."""
    known = sorted({name for klass in cls.__mro__ if "__init__" in klass.__dict__
                    for name, p in inspect.signature(klass.__init__).parameters.items()
                    if name != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)})
    guesses = [f"'{match[0]}' for '{key}'" for key in kwargs
               for match in [difflib.get_close_matches(key, known, n=1)] if match]
    hint = f" (did you mean {', '.join(guesses)}?)" if guesses else ""
    return ValueError(f"Unrecognized keyword arguments passed to {cls.__name__}: {kwargs}{hint}")


_RNN_KEYS = ("return_sequences", "return_state", "go_backwards", "stateful", "unroll", "zero_output_for_mask")
# The keys Keras' get_config writes before the others, by the class (or base class) whose config it is, where the
# constructor's order differs; a list that holds "name" is the whole order (Keras' own short configs).
KERAS_ORDER: dict[str, tuple[str, ...]] = {
    "_Pooling": ("pool_size", "padding", "strides"),
    "Dropout": ("rate", "seed"),
    "_SpatialDropout": ("rate", "seed", "name", "dtype"),
    "ELU": ("name", "alpha", "trainable", "dtype"),
    "LayerNormalization": ("axis", "epsilon", "center", "scale", "rms_scaling"),
    "ReversibleEmbedding": ("input_dim", "output_dim", "embeddings_initializer", "embeddings_regularizer",
                            "embeddings_constraint", "mask_zero", "quantization_config"),
    "Recurrent": _RNN_KEYS,
    "GRU": (*_RNN_KEYS, "units", "activation", "recurrent_activation", "use_bias", "kernel_initializer",
            "recurrent_initializer", "bias_initializer", "kernel_regularizer", "recurrent_regularizer",
            "bias_regularizer", "kernel_constraint", "recurrent_constraint", "bias_constraint",
            "dropout", "recurrent_dropout", "reset_after"),
    "LSTMCell": ("units", "activation", "recurrent_activation", "use_bias", "unit_forget_bias"),
    "MultiHeadAttention": ("num_heads", "key_dim", "value_dim", "dropout", "use_bias", "use_gate"),
    "GroupedQueryAttention": ("head_dim", "num_query_heads", "num_key_value_heads", "use_bias", "use_gate",
                              "sliding_window", "dropout"),
    "EinsumDense": ("output_shape",),
    "_DepthwiseBase": ("depth_multiplier",),
    "Normalization": ("axis", "invert"),
    "RandomFlip": ("data_format", "seed"),
    "RandomRotation": ("data_format", "factor", "fill_mode", "fill_value"),
    "MixUp": ("data_format", "alpha"),
    "Equalization": ("data_format", "bins"),
    "RandomShear": ("data_format", "x_factor", "y_factor", "fill_mode", "interpolation", "seed"),
    "Solarization": ("data_format", "value_range"),
    "ImageLayer": ("data_format",),
}
_BASE_KEYS = ("name", "trainable", "dtype")


def in_keras_order(cls: type, config: dict, base_first: bool = True) -> dict:
    """``config`` in the order Keras writes it: the base keys (not for Keras' own short configs, ``base_first=False``),
    the keys ``KERAS_ORDER`` lists for ``cls``, then the rest as given. An ``activity_regularizer`` that is set
    follows the base keys (Keras' ``Layer.get_config`` writes it); an unset one (None) follows the last other
    regularizer (a convolution's, recurrent layer's... own key)."""
    order = next((KERAS_ORDER[k.__name__] for k in cls.__mro__ if k.__name__ in KERAS_ORDER), ())
    lead = [k for k in (_BASE_KEYS if base_first and "name" not in order else ()) + order if k in config]
    keys = [k for k in dict.fromkeys(lead + list(config)) if k != "activity_regularizer"]
    if "activity_regularizer" in config:
        after = [i for i, k in enumerate(keys) if k.endswith("_regularizer") or k in _BASE_KEYS]
        if config["activity_regularizer"] is not None:
            after = [i for i, k in enumerate(keys) if k in _BASE_KEYS]
        keys.insert(after[-1] + 1 if after else len(keys), "activity_regularizer")
    return {k: config[k] for k in keys}
