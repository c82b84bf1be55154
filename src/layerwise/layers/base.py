"""The Layer base class: a ``torch.nn.Module`` that builds its parameters lazily, as Keras layers do.

A layer knows its hyper-parameters at construction (``Dense(100)``) and creates its weights the
first time an input shape is known (``build``). Shapes are tuples with the batch axis first and
``None`` for unknown sizes, e.g. ``(None, 28, 28, 1)``.
"""
from __future__ import annotations

import functools
import inspect
from typing import Any, Callable

import numpy as np
import torch
from torch import nn

from layerwise import dtype_policies, regularizers
from layerwise.backend import get_device, to_snake_case, unique_name
from layerwise.dtype_policies.autocast import HALF, cast_floats, numpy_of, region
from layerwise.layers.config_forms import (built_in, in_keras_forms, in_keras_order, jsonable, takes_trainable,
                                          unrecognized_keywords)
from layerwise.layers.containers import track_layers_in_containers, tracked_container
from layerwise.layers.calling import (array_tensor, attach_mask, call_in_mode, dict_value, first_parameter,
                                      is_shape_list, mask_of, takes_argument)
from layerwise.layers.dtype_hooks import LayerDTypes
from layerwise.layers.input_spec import RankChecks, assert_input_compatibility
from layerwise.layers.saving_hooks import LayerSavingHooks
from layerwise.layers.shape_inference import output_shape_by_calling
from layerwise.layers.symbolic import is_symbolic, symbolic_call
from layerwise.layers.own_weights import OwnWeights
from layerwise.layers.penalties import LayerPenalties, begin_outermost_call, call_depth
from layerwise.layers.weight_lists import BUILT_AT_INIT, WeightLists
from layerwise.layers.weights import WeightView
from layerwise.tree import map_structure
from layerwise.variables import owning_variables

Shape = tuple  # (None, d1, d2, ...): batch axis first, None where unknown

# Every Layer subclass by class name, so that a saved model can name its layers' classes.
LAYER_CLASSES: dict[str, type] = {}
CAST_INPUTS = (*HALF, torch.float64)  # floating inputs a float32 layer casts to float32, as Keras' autocast


@functools.lru_cache(maxsize=None)
def _defines_own_config(cls: type) -> bool:
    """Whether a class written outside layerwise defines ``get_config`` and derives from ``Layer`` directly (no
    built-in layer between, whose config the base records)."""
    layers = [k for k in cls.__mro__ if issubclass(k, Layer) and k is not Layer]
    ours = [k for k in layers if k.__module__.startswith("layerwise.")]
    return not ours and any("get_config" in k.__dict__ for k in layers)


@functools.lru_cache(maxsize=None)
def _constructor_takes(cls: type, name: str) -> bool:
    """Whether ``cls(...)`` accepts the keyword ``name`` (an InputLayer takes no ``trainable``)."""
    parameters = inspect.signature(cls.__init__).parameters.values()
    return any(p.name == name or p.kind == p.VAR_KEYWORD for p in parameters)


def _finishing_build(build: Callable) -> Callable:
    """``build`` that leaves the layer built, whoever calls it: Keras code calls ``layer.build((None, 4))``
    itself to create the weights before any data."""

    @functools.wraps(build)
    def building(self, input_shape, *args, **kwargs):
        user_layer = not built_in(type(self))
        if user_layer:
            track_layers_in_containers(self)  # layers appended to a list attribute since it was set
        with owning_variables(self.name):  # the Variables build creates are this layer's (their path)
            build(self, input_shape, *args, **kwargs)
        if user_layer:
            track_layers_in_containers(self)  # and those build made
        self.to(get_device())
        self._cast_weights_to_policy()
        several = isinstance(input_shape, dict) or is_shape_list(input_shape)
        self.input_shape_built = None if several else (None, *tuple(input_shape)[1:])
        self.built = True
        self._set_requires_grad()  # the new weights follow the layer's setting

    return building


class Layer(OwnWeights, WeightLists, LayerPenalties, LayerSavingHooks, LayerDTypes, RankChecks, nn.Module):
    """Base of every layer. Subclasses implement ``build``, ``forward`` and ``compute_output_shape``.

    ``input_ndim`` (rank including the batch axis) lets the layer name a wrong input clearly.
    Layers written as in Keras' guide also work: ``build`` creates weights with ``add_weight``,
    ``call(inputs[, training])`` computes the output with torch operations, and without a
    ``compute_output_shape`` the output shape is found by calling the layer once on zeros.
    ``dtype`` is Keras' dtype policy (``"mixed_bfloat16"``...; ``layers/dtype_hooks.py``).
    """

    input_ndim: int | None = None  # with min_ndim: a built-in layer that declares a rank takes one tensor...
    takes_input_list = False  # ...unless it says it takes a list (attention: [query, value])
    channel_axis = -1  # the axis the weights are built for (layers with a data_format or an axis say theirs)
    min_ndim: int | None = None
    supports_masking = False  # True: a (batch, steps) mask on the input is passed on (or used), as in Keras
    # Config keys reported as the layer resolved them, as Keras reports them: kernel_size=3 as (3, 3); also keys
    # Keras writes that a built-in layer takes through **kwargs (a recurrent layer's zero_output_for_mask).
    resolved_config: tuple[str, ...] = ()
    config_trainable = True  # Keras writes "trainable" in the layer's config (all but a few layers)
    # Keras writes "activity_regularizer" (None when unset) in the configs of convolutions, recurrent layers,
    # Embedding and EinsumDense; other layers write it only when one is set.
    config_activity_regularizer = False
    config_omitted: tuple[str, ...] = ()  # constructor arguments Keras takes but leaves out of the config
    takes_ids = False  # looks integer ids up: first in a Sequential without Input, it gets integer data as it comes

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if not cls.__name__.startswith("_"):
            LAYER_CLASSES[cls.__name__] = cls
        build = cls.__dict__.get("build")
        if build is not None:
            cls.build = _finishing_build(build)
        if "call" in cls.__dict__ and "forward" not in cls.__dict__:
            cls.forward = Layer.forward  # a subclass of a built-in layer that overrides call: its call computes
        init = cls.__dict__.get("__init__")
        if init is None:
            return
        signature = inspect.signature(init)

        @functools.wraps(init)
        def recording_init(self, *args, **kw):
            # The outermost constructor records its arguments: they are the layer's config.
            if "_config" not in self.__dict__:
                try:
                    bound = signature.bind(self, *args, **kw)
                except TypeError as error:  # as Python words it: "Dense.__init__() missing ... 'units'"
                    raise TypeError(f"{init.__qualname__}() {error}") from None
                bound.apply_defaults()
                config = {}
                for key, value in list(bound.arguments.items())[1:]:
                    kind = signature.parameters[key].kind
                    if kind is inspect.Parameter.VAR_KEYWORD:
                        config.update(value)
                    elif kind is not inspect.Parameter.VAR_POSITIONAL:
                        config[key] = value
                object.__setattr__(self, "_config", config)
            init(self, *args, **kw)

        cls.__init__ = recording_init

    def __init__(self, *, name: str | None = None, input_shape: Shape | None = None,
                 input_dim: int | None = None, trainable: bool = True, dtype: Any = None,
                 batch_size: int | None = None, activity_regularizer=None, batch_input_shape: Shape | None = None,
                 autocast: bool = True, **kwargs):
        if kwargs:  # a misspelt argument of a subclass's constructor, which passes the rest on (Keras' ValueError)
            raise unrecognized_keywords(type(self), kwargs)
        super().__init__()
        if batch_input_shape is not None:  # Keras 2's spelling, still in the courses' stateful LSTMs
            batch_size, input_shape = batch_input_shape[0], tuple(batch_input_shape[1:])
        if "_config" not in self.__dict__:  # a subclass without its own __init__ records the base arguments...
            given = {"input_shape": input_shape, "input_dim": input_dim, "batch_size": batch_size}
            keras_base = {"activity_regularizer": activity_regularizer, "trainable": trainable, "dtype": dtype,
                          "autocast": autocast}  # ...all of Keras' for a user's layer (its automatic config)
            object.__setattr__(self, "_config", {**({} if built_in(type(self)) else keras_base),
                                                 **{k: v for k, v in given.items() if v is not None}})
        self.name = name or unique_name(to_snake_case(type(self).__name__))
        self.autocast = autocast  # Keras' flag, kept so Keras configs load; mixed policies cast as dtype_hooks says
        self._init_dtype_policy(dtype)
        self.activity_regularizer = regularizers.get(activity_regularizer)
        self._init_own_weights()  # add_weight, and its regularizers and constraints
        self._added_losses: list[torch.Tensor] = []  # from add_loss since the outermost call began
        self._last_input_shape = None  # the shape the last call was checked for
        self._inferred_shapes: dict[tuple, tuple[list, bool]] = {}  # input shapes -> (output shapes, a list?)
        self._activity_losses: list[torch.Tensor] = []  # one per call in the current outermost call
        self._activity_call = -1  # which outermost call they belong to
        if input_dim is not None and input_shape is None:
            input_shape = (input_dim,)
        self.batch_input_shape: Shape | None = (batch_size, *input_shape) if input_shape is not None else None
        self.built = type(self).build is Layer.build and any(  # as Keras' weightless layers unless build is overridden
            k.__name__ in BUILT_AT_INIT and built_in(k) for k in type(self).__mro__)
        self.training = False  # a layer called on its own runs in inference mode, as Keras' training=None does
        self._trainable = trainable
        self.input_shape_built: Shape | None = None

    # ---- building -------------------------------------------------------------------------
    def build(self, input_shape: Shape) -> None:
        """Create weights for inputs of ``input_shape``. Layers without weights keep this."""

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        return tuple(input_shape)

    def __setattr__(self, name: str, value) -> None:
        if not built_in(type(self)):  # a user's layer keeps sublayers in lists and dicts, as Keras tracks them
            value = tracked_container(value)
        super().__setattr__(name, value)
        self._track_variable_attribute(name, value)

    def compute_mask(self, inputs, mask=None):
        """The output's mask: the input's for a layer that supports masking, else none (Keras' default)."""
        return mask if self.supports_masking else None

    def call(self, *args, **kwargs):
        """Keras' ``layer.call(inputs)``: a built-in layer computes in its ``forward`` (the nearest one above a
        subclass that overrides ``call`` and then calls ``super().call(...)``)."""
        for klass in type(self).__mro__[:type(self).__mro__.index(Layer)]:
            forward = klass.__dict__.get("forward")
            if forward is not None and forward is not Layer.forward:
                return forward(self, *args, **kwargs)
        raise NotImplementedError(f"Layer '{self.name}' ({type(self).__name__}) defines neither forward nor call.")

    def forward(self, *args, **kwargs):
        """A Keras-style layer's ``call``, given ``training`` when its signature takes it."""
        if takes_argument(type(self).call, "training"):
            kwargs.setdefault("training", self.training)
        return self.call(*args, **kwargs)

    def check_input_shape(self, input_shape: Shape) -> None:
        """Raise a ValueError naming this layer when ``input_shape`` cannot feed it."""
        self.check_rank(input_shape)
        keras_style = type(self).forward is Layer.forward  # a user's call: its weights may be its sublayers'
        if self.built and self.input_shape_built is not None and not keras_style and self.weight_views():
            # As Keras' input specs: the channel axis (what the weights were built for) must match; other sizes
            # may change from call to call (sequence lengths, image sizes), ranks are checked above. A layer
            # without weights (pooling, reshaping) takes any channel count.
            expected, axis = self.input_shape_built, self.channel_axis
            if expected[axis] is not None and input_shape[axis] is not None and expected[axis] != input_shape[axis]:
                which = "last axis" if axis == -1 else f"axis {axis}"
                raise ValueError(self._shape_message(f"input shape {expected} (its {which}, {expected[axis]}, is "
                                                     "what its weights were built for)", (None, *input_shape[1:])))
        spec = self.__dict__.get("input_spec")
        if spec is not None:  # a Keras-style layer's own InputSpec (or list of them)
            assert_input_compatibility(spec, tuple(input_shape), self.name)

    def _takes_one_tensor(self) -> bool:
        return (built_in(type(self)) and not self.takes_input_list
                and (self.input_ndim is not None or self.min_ndim is not None))

    def _check_and_build(self, input_shape: Shape, device: torch.device | None) -> Shape:
        """``input_shape`` as tuples, checked (naming the layer), and the layer built for it once."""
        if isinstance(input_shape, dict):  # a Keras-style layer called on a dict builds from a dict of shapes
            input_shape = {k: None if v is None else tuple(v) for k, v in input_shape.items()}
        else:
            input_shape = [tuple(s) for s in input_shape] if is_shape_list(input_shape) else tuple(input_shape)
        if not isinstance(input_shape, (list, dict)):
            self.check_input_shape(input_shape)
        elif isinstance(input_shape, list) and self._takes_one_tensor():
            raise ValueError(
                f"Layer '{self.name}' ({type(self).__name__}) expects 1 input, but it received {len(input_shape)} "
                f"input tensors with shapes {input_shape}. A recurrent layer with return_state=True (or "
                "Bidirectional with merge_mode=None) returns a list: unpack it, e.g. "
                "`outputs, state_h, state_c = LSTM(units, return_state=True)(x)`, and pass on one tensor.")
        if not self.built:
            self.build(input_shape)  # marks the layer built (see _finishing_build)
            self.to(device or get_device())
        return input_shape

    def build_from(self, input_shape: Shape, device: torch.device | None = None, more_args: tuple = (),
                   more_kwargs: dict | None = None) -> Shape:
        """Check, build once and return the output shape. ``device`` is where weights go. A layer called on
        a list (Keras-style layers only) gets the list of shapes; ``more_args`` are the positional arguments
        after the first (tensors, symbolic or not) and ``more_kwargs`` the keyword arguments (``source_mask=``,
        ``reverse=True``), which a Keras-style ``call`` needs to find its output shape."""
        input_shape = self._check_and_build(input_shape, device)
        if type(self).compute_output_shape is Layer.compute_output_shape and type(self).call is not Layer.call:
            return output_shape_by_calling(self, input_shape, device, more_args, more_kwargs)
        return self.compute_output_shape(input_shape)

    def __call__(self, *args, **kwargs):
        keyword = None
        if not args:  # the inputs by keyword, as Keras allows: layer(inputs=x), endpoint(logits=z, targets=y)
            keyword, first = self._inputs_from_keywords(kwargs)
            args = (first,)
        x, *args = args
        if is_symbolic(x) or (args and is_symbolic(args)) or is_symbolic(kwargs):  # a functional model: symbolic.py
            return symbolic_call(self, x, kwargs, args, first_keyword=keyword)
        if isinstance(x, dict):  # a Keras-style layer called on a dict of tensors
            x = {k: dict_value(v) for k, v in x.items()}
            shape = {k: tuple(v.shape) if isinstance(v, torch.Tensor) else None for k, v in x.items()}
        elif isinstance(x, (list, tuple)) and x and all(isinstance(v, (np.ndarray, torch.Tensor)) for v in x):
            x = [v if isinstance(v, torch.Tensor) else array_tensor(v, get_device()) for v in x]
            shape = [tuple(v.shape) for v in x]  # a Keras-style layer called on a list, e.g. Sampling()([m, s])
        else:
            if not isinstance(x, torch.Tensor):
                # a copy (call may work in place), on the default device as Keras converts arrays
                x = array_tensor(x, get_device())
            shape = tuple(x.shape)
        if shape != self._last_input_shape:  # checks (naming the layer) and output shape, once per new shape
            if isinstance(x, dict):
                first = next((v for v in x.values() if isinstance(v, torch.Tensor)), torch.empty(0))
            else:
                first = x[0] if isinstance(x, list) else x
            device = first.device
            if type(self).compute_output_shape is Layer.compute_output_shape and \
                    type(self).build_from is Layer.build_from:
                self._check_and_build(shape, device)  # the call itself gives the output: no shape to infer
            elif args:  # a Keras-style call(targets, logits, ...) needs them all to find its output shape
                self.build_from(shape, device, args)
            else:
                self.build_from(shape, device)
            self._last_input_shape = shape
        training = kwargs.pop("training", None)
        if "mask" in kwargs:  # as Keras converts array arguments: a numpy mask becomes a tensor beside the inputs
            device = x.device if isinstance(x, torch.Tensor) else get_device()
            kwargs["mask"] = map_structure(
                lambda m: torch.as_tensor(m, device=device) if isinstance(m, np.ndarray) else m, kwargs["mask"])
        mask = kwargs["mask"] if "mask" in kwargs else mask_of(x)
        if mask is not None and "mask" not in kwargs and takes_argument(self._call_function(), "mask"):
            kwargs["mask"] = mask  # as Keras: the mask the tensor carries, when call takes one
        if call_depth[0] == 0:  # outermost_call, inlined: layers are called far more often than models
            begin_outermost_call(self)
        call_depth[0] += 1
        try:
            if self._plain_policy and region.dtype is None and getattr(x, "dtype", None) not in CAST_INPUTS:
                # float32 outside autocast, on a float32 (or integer) input: nothing to arrange
                out = super().__call__(x, *args, **kwargs) if training is None else \
                    call_in_mode(self, training, super().__call__, x, *args, **kwargs)
            else:
                call_args, kwargs = self._cast_float64((x, *args), kwargs)
                out = self._call_in_policy(functools.partial(call_in_mode, self, training, super().__call__),
                                           call_args, kwargs)
        finally:
            call_depth[0] -= 1
        self.record_activity(out)
        attach_mask(self, x, mask, out, kwargs)
        return out

    def _cast_float64(self, args: tuple, kwargs: dict) -> tuple[tuple, dict]:
        """float64 tensors among the inputs in the compute dtype, as Keras' autocast casts every floating input
        (the policy's run casts the others; torch.autocast leaves float64 alone). Integers stay as they are."""
        if self.compute_dtype not in ("float16", "bfloat16", "float32"):  # float64, or not a float: nothing to cast
            return args, kwargs
        dtype = getattr(torch, self.compute_dtype)
        return cast_floats(args, dtype, (torch.float64,)), cast_floats(kwargs, dtype, (torch.float64,))

    def _inputs_from_keywords(self, kwargs: dict) -> tuple[str, Any]:
        """(keyword, value) of ``call``'s (or ``forward``'s) first argument, popped from ``kwargs`` (or ``inputs``)."""
        first = first_parameter(self._call_function())
        for name in (first, "inputs"):
            if name in kwargs:
                return name, kwargs.pop(name)
        raise TypeError(f"Layer '{self.name}' ({type(self).__name__}) was called without inputs: give them "
                        f"first, or as {first}=...")

    def _call_function(self) -> Callable:
        """What computes this layer: its ``forward``, or a Keras-style layer's ``call``."""
        cls = type(self)
        return cls.call if cls.forward is Layer.forward else cls.forward

    @property
    def output(self):
        """The symbolic tensor(s) this layer's first call in a functional model returned: ``Model(inputs,
        [layer.output for layer in model.layers])`` extracts every layer's features, as in Keras."""
        nodes = self.__dict__.get("_inbound_nodes")
        if not nodes:
            raise AttributeError(f"Layer '{self.name}' has never been called on symbolic tensors (Input), so it "
                                 "has no output yet.")
        return nodes[0].returned()

    @property
    def input(self):
        """The symbolic tensor(s) this layer's first call in a functional model read: one tensor, or the list
        of them for a call on several (an Input's layer gives its own tensor), as in Keras."""
        nodes = self.__dict__.get("_inbound_nodes")
        if not nodes:
            raise AttributeError(f"Layer '{self.name}' has never been called on symbolic tensors (Input), so it "
                                 "has no input yet.")
        tensors = nodes[0].inputs or nodes[0].outputs
        return tensors[0] if len(tensors) == 1 else tensors

    # ---- weights in Keras' layout ---------------------------------------------------------------
    def weight_views(self) -> list[WeightView]:
        """This layer's Keras weights in Keras' order: built-in layers with weights override this; layers
        written with ``add_weight`` list theirs, trainable ones first, then the weights of the layers they hold
        as attributes (Keras' ``weights`` order), named ``<layer name>/<weight>``."""
        views = self.own_weight_views()
        seen = {id(v.tensor) for v in views}
        for path, layer in self._nested_layers():
            for view in layer.weight_views():
                if id(view.tensor) not in seen:
                    seen.add(id(view.tensor))
                    views.append(view.held_by(layer, f"{layer.name}/{view.name}", key=f"{path}/{view.key}",
                                              scope=layer.name))
        return views

    def _nested_layers(self) -> list[tuple[str, nn.Module]]:
        """(attribute path, layer) of the layers and models set as attributes (also in a ModuleList or
        ModuleDict: ``blocks/0``), in the order set."""
        found, seen = [], set()
        for attribute, module in self._modules.items():
            items = module.items() if isinstance(module, nn.ModuleDict) else \
                enumerate(module) if isinstance(module, nn.ModuleList) else [(None, module)]
            for key, m in items:
                if hasattr(m, "weight_views") and id(m) not in seen:
                    seen.add(id(m))
                    found.append((attribute if key is None else f"{attribute}/{key}", m))
        return found

    @property
    def weights(self) -> list[torch.Tensor]:
        return [w.tensor for w in self.weight_views()]

    @property
    def trainable_weights(self) -> list[torch.Tensor]:
        """The weights training updates: none while the layer is frozen (``trainable = False``)."""
        return [w.tensor for w in self.weight_views() if w.trainable and self.trainable]

    @property
    def non_trainable_weights(self) -> list[torch.Tensor]:
        """The weights training leaves alone: statistics such as BatchNormalization's moving mean, or
        every weight of a frozen layer."""
        return [w.tensor for w in self.weight_views() if not (w.trainable and self.trainable)]

    def get_weights(self) -> list[np.ndarray]:
        """The weights as numpy arrays in Keras' shapes and order (Dense kernel ``(in, out)``, bfloat16 as Keras')."""
        return [numpy_of(w.to_keras(w.tensor.detach())).copy() for w in self.weight_views()]

    def set_weights(self, weights: list) -> None:
        """Load weights given in Keras' shapes and order, e.g. from a Keras model's ``get_weights()``."""
        views = self.weight_views()
        if len(weights) != len(views):
            raise ValueError(f"Layer '{self.name}' expects {len(views)} weight arrays "
                             f"({[v.name for v in views]}), got {len(weights)}.")
        for view, value in zip(views, weights):
            view.set_keras_value(value, self.name)

    @property
    def trainable(self) -> bool:
        return self._trainable

    @trainable.setter
    def trainable(self, value: bool) -> None:
        self._trainable = bool(value)
        for _, layer in self._nested_layers():  # as Keras: the setting reaches the layers this one holds
            layer.trainable = value
        self._set_requires_grad()

    def _set_requires_grad(self) -> None:
        for view in self.weight_views():
            if isinstance(view.tensor, nn.Parameter):
                view.tensor.requires_grad_(self._trainable and view.trainable)

    # ---- config -------------------------------------------------------------------------------
    def get_config(self) -> dict:
        """Constructor arguments as JSON-able values; ``cls.from_config(config)`` rebuilds the layer.

        As Keras: ``name``, ``trainable`` and ``dtype`` (the serialized policy) first, then a built-in layer's own
        keys. A layer written as in Keras' guide gets only those base keys when it defines its own ``get_config``
        (which adds the rest); without one, its constructor's arguments after ``name``, then ``trainable`` and
        ``dtype`` (Keras' automatic config).
        """
        cls = type(self)
        base = self._base_config()
        if _defines_own_config(cls):
            return self._with_activity_regularizer(base)
        config = {k: jsonable(v) for k, v in self._config.items() if k not in ("name", "trainable", "dtype")}
        ours = built_in(cls)  # a user's subclass keeps only the resolved keys its constructor takes
        config.update({key: getattr(self, key) for key in self.resolved_config if ours or key in config})
        if not any(built_in(k) for k in cls.__mro__[:cls.__mro__.index(Layer)]):
            # Keras' automatic config: the arguments in order (trainable and dtype where given), no name when the
            # constructor cannot take it back
            config = {"name": None, **{k: config.get(k) for k in self._config if k != "name"}, **base}
            if not _constructor_takes(cls, "name"):
                del config["name"]
            return self._with_activity_regularizer(config)
        in_keras_forms(config, cls)
        if not self.config_trainable:  # Keras' own short config: no "trainable", the dtype by name, last
            return in_keras_order(cls, {**config, "name": self.name, "dtype": self.dtype}, base_first=False)
        if not ((not self.trainable and _constructor_takes(cls, "trainable")) or "trainable" in self._config or
                takes_trainable(cls)):
            del base["trainable"]
        return in_keras_order(cls, {**base, **config})

    def _base_config(self) -> dict:
        """The keys Keras' ``Layer.get_config`` writes first: ``name``, ``trainable`` and the serialized policy."""
        return {"name": self.name, "trainable": self.trainable, "dtype": dtype_policies.serialize(self.dtype_policy)}

    def _with_activity_regularizer(self, config: dict) -> dict:
        """Keras' ``Layer.get_config`` writes the activity regularizer when one is set."""
        if self.activity_regularizer is not None:
            config["activity_regularizer"] = regularizers.serialize(self.activity_regularizer)
        return config

    @classmethod
    def from_config(cls, config: dict) -> "Layer":
        return cls(**config)

    def extra_repr(self) -> str:
        return f"name={self.name!r}"


Layer.build = _finishing_build(Layer.build)
