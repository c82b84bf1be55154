"""Core layers: Input, Dense, Activation, Rescaling, Lambda."""
from __future__ import annotations

import inspect
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from layerwise import activations, saving_registry
from layerwise.backend import floatx, image_data_format
from layerwise.dtype_policies.autocast import floating_input
from layerwise.layers.base import Layer, Shape
from layerwise.layers.calling import is_shape_list
from layerwise.layers.config_forms import unrecognized_keywords
from layerwise.layers.weights import new_parameter, WeightView
from layerwise.layers.symbolic import KerasTensor, Node
from layerwise.layers.keras2_paths import any_layer


def _batch_shape_and_dtype(shape, batch_size, dtype, batch_shape, input_tensor) -> tuple[Shape, Any]:
    """The input's shape with the batch axis first, and its dtype, from Keras' arguments of ``InputLayer``: a
    ``shape`` (without the batch axis) and ``batch_size``, or a ``batch_shape``, or an ``input_tensor``'s."""
    if input_tensor is not None:
        if not isinstance(input_tensor, KerasTensor):
            raise ValueError(f"InputLayer: input_tensor must be a symbolic tensor (KerasTensor); received "
                             f"{type(input_tensor).__name__}.")
        given = input_tensor.shape
        if (shape is not None and tuple(shape) != given[1:]) or (batch_size is not None and batch_size != given[0]) \
                or (batch_shape is not None and tuple(batch_shape) != given):
            raise ValueError(f"InputLayer: shape={shape!r}, batch_size={batch_size!r} and batch_shape={batch_shape!r} "
                             f"must agree with the shape {given} of input_tensor; leave them out to take its shape.")
        if dtype is not None and str(dtype).removeprefix("torch.") != input_tensor.dtype:
            raise ValueError(f"InputLayer: dtype={dtype!r} differs from input_tensor's {input_tensor.dtype!r}.")
        return given, input_tensor.dtype
    if (shape is None) == (batch_shape is None):
        raise ValueError("InputLayer needs exactly one of shape (without the batch axis, e.g. Input((28, 28, 1))) and "
                         f"batch_shape (e.g. Input(batch_shape=(32, 28, 28, 1))); got shape={shape!r}, "
                         f"batch_shape={batch_shape!r}.")
    if batch_size is not None and batch_shape is not None:
        raise ValueError(f"InputLayer: pass one of batch_size and batch_shape, not both; got "
                         f"batch_size={batch_size!r}, batch_shape={batch_shape!r}.")
    return ((batch_size, *shape) if batch_shape is None else tuple(batch_shape)), dtype


class InputLayer(Layer):
    """Marks the model's input shape; made by ``Input(shape)``. It has no weights and does nothing.

    ``output`` is the symbolic tensor (``KerasTensor``) that stands for the model's input. ``dtype`` is
    recorded for Keras code that names one (``Input((None,), dtype="int32")`` before an Embedding); data
    is converted as the first layer needs it. It takes Keras' arguments (``batch_shape``, Keras 2's
    ``input_shape`` and ``batch_input_shape``, ``input_tensor``: a symbolic tensor whose shape and dtype it
    takes), so Keras' configs load; sparse and ragged inputs and optional ones (None passed for them) are not
    supported, as Keras' torch backend supports neither of the first two.
    """

    def __init__(self, shape: Shape | None = None, batch_size: int | None = None, dtype=None,
                 sparse: bool | None = None, ragged: bool | None = None, batch_shape: Shape | None = None,
                 input_tensor: KerasTensor | None = None, optional: bool = False, name: str | None = None,
                 **kwargs):
        shape = kwargs.pop("input_shape", shape)  # Keras 2's spellings, which Keras 3 still takes
        batch_shape = kwargs.pop("batch_input_shape", batch_shape)
        if kwargs:
            raise unrecognized_keywords(type(self), kwargs)
        for what, value in (("sparse", sparse), ("ragged", ragged)):
            if value:
                raise ValueError(f"InputLayer: {what}=True is not supported (nor by Keras' torch backend); pass "
                                 f"dense arrays and leave {what} out.")
        if optional:
            raise ValueError("InputLayer: optional=True is not supported: a layerwise model cannot pass None for an "
                             "input. Feed a placeholder array (zeros) for it, or build the model without it.")
        batch_shape, dtype = _batch_shape_and_dtype(shape, batch_size, dtype, batch_shape, input_tensor)
        super().__init__(name=name, input_shape=tuple(batch_shape[1:]), batch_size=batch_shape[0])
        self.shape = tuple(batch_shape[1:])
        self.dtype = floatx() if dtype is None else str(dtype).removeprefix("torch.")  # Keras' default: floatx
        self.optional = False
        self.built = True
        self.input_shape_built = self.batch_input_shape
        Node(self, None, {}, [self.batch_input_shape])  # its output is the symbolic tensor (``self.output``)

    def get_config(self) -> dict:
        """Keras' config: ``batch_shape`` (batch axis first), ``dtype``, ``sparse``, ``ragged``, ``name``,
        ``optional``. The constructor also takes the form earlier layerwise versions wrote (``shape``,
        ``batch_size``)."""
        return {"batch_shape": tuple(self.batch_input_shape), "dtype": self.dtype, "sparse": False, "ragged": False,
                "name": self.name, "optional": self.optional}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


def Input(shape: Shape | None = None, batch_size: int | None = None, dtype=None, sparse: bool | None = None,
          ragged: bool | None = None, batch_shape: Shape | None = None, name: str | None = None,
          tensor: KerasTensor | None = None, optional: bool = False) -> KerasTensor:
    """Keras' ``Input((28, 28, 1))``: a symbolic tensor of that sample shape (batch axis first, ``None``),
    to start a functional model (``Model(inputs, outputs)``) or a Sequential. ``batch_shape`` gives the
    batch axis too, ``(32, 28, 28, 1)``; ``tensor``, a symbolic tensor, gives its shape and dtype to a new Input.
    Keras' other arguments are taken as ``InputLayer`` takes them."""
    return InputLayer(shape, batch_size, dtype, sparse, ragged, batch_shape, input_tensor=tensor, optional=optional,
                      name=name).output


class ActivatedLayer(Layer):
    """A layer whose output is ``activation(linear(x))``; the model's plan may run the two apart."""

    def __init__(self, activation=None, **kwargs):
        super().__init__(**kwargs)
        self.activation = activations.get(activation)

    def linear(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.activation is None:  # set to None after construction, as Keras' Grad-CAM example does
            return self.linear(x)
        return self.activation(self.linear(x))


class Dense(ActivatedLayer):
    """``units`` outputs from the last axis: ``(..., in) -> (..., units)``. Kernel stored ``(units, in)``."""
    supports_masking = True  # a (batch, steps) mask passes through unchanged, as in Keras
    config_omitted = ("lora_rank", "lora_alpha")  # refused below; Keras writes them only when set

    min_ndim = 2

    def __init__(self, units: int, activation=None, use_bias: bool = True,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros", kernel_regularizer=None,
                 bias_regularizer=None, kernel_constraint=None, bias_constraint=None, lora_rank: int | None = None,
                 lora_alpha: float | None = None, quantization_config=None, **kwargs):
        super().__init__(activation=activation, **kwargs)
        if lora_rank or lora_alpha is not None:
            raise ValueError("Dense: LoRA (lora_rank, lora_alpha) is not supported by layerwise. Leave them unset: "
                             "train the full kernel, or freeze it with trainable=False.")
        if quantization_config is not None:
            raise ValueError("Dense: quantization (quantization_config) is not supported by layerwise.")
        if not isinstance(units, int) or units <= 0:
            raise ValueError(f"Dense units must be a positive integer, got {units!r}.")
        self.units, self.use_bias = units, use_bias
        self.kernel_initializer, self.bias_initializer = kernel_initializer, bias_initializer
        self.regularize_weights(kernel=kernel_regularizer, bias=bias_regularizer)
        self.constrain_weights(kernel=kernel_constraint, bias=bias_constraint)

    def check_input_shape(self, input_shape: Shape) -> None:
        super().check_input_shape(input_shape)
        if input_shape[-1] is None:
            raise ValueError(self._shape_message("a known last dimension", input_shape))

    def build(self, input_shape: Shape) -> None:
        self.kernel = new_parameter(self.kernel_initializer, (input_shape[-1], self.units), lambda t: t.T)
        self.bias = new_parameter(self.bias_initializer, (self.units,)) if self.use_bias else None

    def linear(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(floating_input(x, self.variable_dtype), self.kernel, self.bias)

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        return (*input_shape[:-1], self.units)

    def weight_views(self) -> list[WeightView]:
        if not self.built:
            return []
        views = [WeightView("kernel", self.kernel, to_keras=lambda t: t.T, from_keras=lambda t: t.T)]
        if self.use_bias:
            views.append(WeightView("bias", self.bias))
        return views


class Activation(ActivatedLayer):
    """Applies an activation by name or function; the shape is unchanged."""
    supports_masking = True  # a (batch, steps) mask passes through unchanged, as in Keras

    def __init__(self, activation, **kwargs):
        super().__init__(activation=activation, **kwargs)

    def linear(self, x: torch.Tensor) -> torch.Tensor:
        return x


class Rescaling(Layer):
    """``x * scale + offset``, e.g. ``Rescaling(1 / 255)`` to bring pixels to [0, 1]; any shape. ``scale`` and
    ``offset`` may also be arrays that broadcast against the input (e.g. one scale per channel); as in Keras, when
    ``image_data_format()`` is channels-first when called, a scale array is laid out along the images' channels."""

    supports_masking = True  # a mask passes through unchanged, as in Keras

    def __init__(self, scale, offset=0.0, **kwargs):
        super().__init__(**kwargs)
        self.scale, self.offset = (float(v) if np.ndim(v) == 0 else np.asarray(v, dtype=np.float64)
                                   for v in (scale, offset))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        scale, offset = self.scale, self.offset
        if isinstance(scale, np.ndarray):
            scale = torch.as_tensor(scale, dtype=x.dtype, device=x.device)
            if image_data_format() == "channels_first":  # (c,) -> (c, 1, 1): Keras' reshape for images
                scale = scale.reshape(*scale.shape, *(1,) * (3 - scale.ndim))
        if isinstance(offset, np.ndarray):
            offset = torch.as_tensor(offset, dtype=x.dtype, device=x.device)
        return x * scale + offset


class Lambda(Layer):
    """Wraps ``function(x, **arguments)`` (any PyTorch code) as a layer, e.g. ``Lambda(lambda x: x ** 2)``.

    The output shape is found by running the function on an empty "meta" tensor (no arithmetic), unless
    ``output_shape`` is given: a shape without the batch axis, or a function of the input shape. A
    function that takes ``training`` receives the layer's mode. A model with a Lambda saves whole when the
    function is a built-in activation or registered (``@register_keras_serializable()``): the file holds its
    name, never code; otherwise save the weights with ``get_weights``.

    As in Keras, ``mask`` gives the output's mask: a function ``mask(inputs, input_mask)`` or the mask itself (an
    array); without it the Lambda drops its input's mask. A function that takes ``mask`` receives the input's.
    """

    def __init__(self, function, output_shape=None, mask=None, arguments: dict | None = None, **kwargs):
        super().__init__(**kwargs)
        if not callable(function):
            raise ValueError(f"Lambda needs a function, got {function!r}.")
        self.function, self._output_shape, self.arguments = function, output_shape, dict(arguments or {})
        self.mask = mask
        self.supports_masking = self.produces_mask = mask is not None  # its mask reaches the next layers
        try:
            parameters = inspect.signature(function).parameters
        except (TypeError, ValueError):  # some builtins have no signature
            parameters = {}
        self._takes_training, self._takes_mask = "training" in parameters, "mask" in parameters

    def compute_mask(self, inputs, mask=None):
        """Keras' rule: ``mask(inputs, input_mask)`` for a mask function, the mask given, or none."""
        if callable(self.mask):
            return self.mask(inputs, mask)
        if self.mask is None or isinstance(self.mask, torch.Tensor):
            return self.mask
        device = inputs.device if isinstance(inputs, torch.Tensor) else None
        return torch.as_tensor(np.asarray(self.mask), device=device)

    def get_config(self) -> dict:
        """As the base's, with a mask array in Keras' form, ``{"class_name": "__numpy__", "config": {"value",
        "dtype"}}`` (a mask function is saved by name, as ``function`` is)."""
        config = super().get_config()
        if self.mask is not None and not callable(self.mask):
            array = self.mask.detach().cpu().numpy() if isinstance(self.mask, torch.Tensor) else np.asarray(self.mask)
            config["mask"] = {"class_name": "__numpy__", "config": {"value": array.tolist(),
                                                                   "dtype": array.dtype.name}}
        return config

    @classmethod
    def from_config(cls, config: dict) -> "Lambda":
        """The layer ``get_config`` described: a function (or an ``output_shape`` function) saved by name is
        looked up among the built-in activations, the registered objects and ``custom_objects``."""
        config = dict(config)
        saved_mask = config.get("mask")
        if isinstance(saved_mask, dict) and saved_mask.get("class_name") in ("__numpy__", "__tensor__"):
            config["mask"] = np.asarray(saved_mask["config"]["value"], dtype=saved_mask["config"]["dtype"])
        for key in ("function", "output_shape", "mask"):
            saved = config.get(key)
            if isinstance(saved, (str, dict)):
                try:
                    config[key] = activations.get(saved)
                except ValueError:
                    name = saved if isinstance(saved, str) else saved.get("config") \
                        if saved.get("class_name") == "function" else \
                        saved.get("registered_name") or saved.get("class_name")
                    raise ValueError(f"Layer '{config.get('name')}' (Lambda): its saved {key} {name!r} is no "
                                     "built-in activation nor a registered or custom object. "
                                     + saving_registry.how_to_load(str(name))) from None
        return cls(**config)

    def forward(self, x: torch.Tensor, mask=None) -> torch.Tensor:
        extra = {"training": self.training} if self._takes_training else {}
        if self._takes_mask:
            extra["mask"] = mask
        return self.function(x, **self.arguments, **extra)

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        """The output shape for ``input_shape`` (one shape, or a list of shapes for a Lambda over a list)."""
        several = is_shape_list(input_shape)
        if callable(self._output_shape):
            return tuple(self._output_shape([tuple(s) for s in input_shape] if several else tuple(input_shape)))
        batch = input_shape[0][0] if several else input_shape[0]
        if self._output_shape is not None:
            return (batch, *self._output_shape)
        shapes = input_shape if several else [input_shape]
        probes = [torch.empty([2 if d is None else d for d in shape], device="meta") for shape in shapes]
        try:
            out = self.forward(probes if several else probes[0])
        except Exception as err:  # the function's own error, or an op without a meta kernel
            raise ValueError(f"Layer '{self.name}' (Lambda) could not infer its output shape from input shape "
                             f"{tuple(input_shape)} ({type(err).__name__}: {err}); pass output_shape=(...) "
                             "without the batch axis.") from err
        return (batch, *out.shape[1:])


__getattr__ = any_layer(__name__)  # Keras 2's keras.layers.core held other layers too
