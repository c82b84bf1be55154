"""Layers that wrap a layer: the ``Wrapper`` base class, TimeDistributed (a Wrapper, as in Keras) and
Bidirectional (a recurrent layer both ways; a plain Layer in Keras 3)."""
from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING

import torch

from layerwise.layers.base import Layer, Shape
from layerwise.layers.calling import takes_argument
from layerwise.layers.config_forms import built_in, jsonable
from layerwise.layers.normalization import BatchNormalization
from layerwise.layers.rnn_states import flatten_states, outputs_with_nested_states
from layerwise.layers.weights import WeightView

if TYPE_CHECKING:
    from layerwise.models.model import Model


def _is_graph_model(layer: Layer | Model) -> bool:
    """Whether ``layer`` is a Sequential or functional model, which a wrapper can hold as Keras' wrappers hold a
    model: both build from an input shape (``build_from``) and have a config."""
    from layerwise.models.functional import Functional  # the models import the layers: resolve at call time
    from layerwise.models.sequential import Sequential
    return isinstance(layer, (Sequential, Functional))


def _serialize(layer: Layer | Model) -> dict:
    """``layer`` as ``{"class_name", "config"}``; a Sequential or functional model as Keras serializes one
    (``module``, ``build_config``...), so that Keras reads the wrapper's config too, or in layerwise's own form
    when Keras' form cannot describe it."""
    if not _is_graph_model(layer):
        if built_in(type(layer)):  # Keras' keys, so that Keras' from_config finds the class
            return {"module": "keras.layers", "class_name": type(layer).__name__, "config": layer.get_config(),
                    "registered_name": None}
        return {"class_name": type(layer).__name__, "config": layer.get_config()}
    from layerwise.keras_export import keras_model_config

    return keras_model_config(layer, strict=False)


def _deserialize(spec: dict) -> Layer | Model:
    """The layer, or the Sequential or functional model, ``spec`` describes: in layerwise's form or in Keras'
    (a wrapper read from a Keras file), found as the layers of a model's config are."""
    from layerwise import layers  # the registry imports this module: resolve names at call time
    from layerwise.keras_models import is_keras_config, model_from_keras_config
    from layerwise.models.model import deserialize_layer
    if is_keras_config(spec):
        return model_from_keras_config(spec)
    if spec["class_name"] in ("Sequential", "Functional"):
        return deserialize_layer(spec)
    return layers.get(spec["class_name"]).from_config(spec["config"])


def _copy(layer: Layer, **changes) -> Layer:
    return type(layer).from_config({**layer.get_config(), **changes})


class Wrapper(Layer):
    """Base class of the layers that wrap one ``layer`` (held as ``self.layer``) and change how it runs, as
    ``keras.layers.Wrapper``; subclasses define ``call`` (or ``forward``). ``layer`` is a layer or, as a Keras
    model is a layer, a Sequential or functional model. Building builds the wrapped layer for the same input
    shape; the weights are the wrapper's own (``add_weight``), then the wrapped layer's; the config holds the
    wrapped layer's class name and config under ``"layer"``.

    A wrapper that sets ``self.input_spec`` (an ``InputSpec``) has its inputs checked against it on each new
    input shape, as Keras checks them on each call.
    """

    def __init__(self, layer: Layer | Model, **kwargs):
        if not isinstance(layer, Layer) and not _is_graph_model(layer):
            raise ValueError(f"Layer {layer!r} supplied to Wrapper isn't a supported layer type: wrap a layerwise "
                             "layer, or a Sequential or functional model.")
        super().__init__(**kwargs)
        self.layer = layer

    def build(self, input_shape: Shape) -> None:
        self.layer.build_from(input_shape)

    def get_config(self) -> dict:
        config = {k: jsonable(v) for k, v in self._config.items() if k not in ("layer", "name", "trainable", "dtype")}
        return {**self._base_config(), "layer": _serialize(self.layer), **config}  # Keras' keys, in its order

    @classmethod
    def from_config(cls, config: dict) -> "Wrapper":
        return cls(**{**config, "layer": _deserialize(config["layer"])})


class Bidirectional(Layer):
    """Runs a recurrent layer forwards and a copy backwards over ``(batch, timesteps, features)`` and
    merges them: ``merge_mode`` 'concat' (Keras' default: ``2 * units`` features), 'sum', 'ave', 'mul',
    or None (a tuple of both). Weights: the forward layer's, then the backward layer's.

    As Keras, the layers that run are copies made from ``layer``'s config: ``forward_layer``, named
    ``forward_<name>``, and unless ``backward_layer`` is given, ``backward_layer``, named ``backward_<name>`` and
    going backwards (a prefix already there is not repeated, so configs round-trip)."""

    supports_masking = True
    input_ndim = 3
    MERGE_MODES = ("concat", "sum", "ave", "mul", None)

    def __init__(self, layer: Layer, merge_mode: str | None = "concat", weights=None,
                 backward_layer: Layer | None = None, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(layer, Layer) or not hasattr(layer, "go_backwards"):
            raise ValueError(f"Bidirectional wraps a recurrent layer (SimpleRNN, LSTM, GRU), got {layer!r}.")
        if merge_mode not in self.MERGE_MODES:
            raise ValueError(f"Invalid merge mode {merge_mode!r}; use one of {self.MERGE_MODES}.")
        self.merge_mode = merge_mode
        # Fresh copies, as Keras makes: the wrapped layer's state and weights are not shared.
        self.forward_layer = _copy(layer, name=f"forward_{layer.name.removeprefix('forward_')}")
        # Keras' default backward copy always goes backwards: a layer given with go_backwards=True is refused
        # below rather than run reversed in both directions.
        self.backward_layer = backward_layer if backward_layer is not None else _copy(
            layer, name=f"backward_{layer.name.removeprefix('backward_')}", go_backwards=True)
        if self.forward_layer.go_backwards == self.backward_layer.go_backwards:
            raise ValueError(
                f"Bidirectional '{self.name}': forward layer and backward layer should have different "
                f"`go_backwards` value. Received: forward_layer.go_backwards={self.forward_layer.go_backwards}, "
                f"backward_layer.go_backwards={self.backward_layer.go_backwards}. Wrap a layer with "
                "go_backwards=False: Bidirectional runs its backward copy in reverse.")
        for attr in ("stateful", "return_sequences", "return_state"):
            if getattr(self.forward_layer, attr) != getattr(self.backward_layer, attr):
                raise ValueError(f"Bidirectional: forward and backward layers differ in {attr}.")
        self.return_sequences = layer.return_sequences
        self.return_state, self.stateful = layer.return_state, layer.stateful
        for sub in (self.forward_layer, self.backward_layer):
            # Keras zeroes masked outputs here, so that the two directions line up at padded steps.
            sub.zero_output_for_mask = sub.return_sequences
        self._initial_weights = weights

    def check_input_shape(self, input_shape: Shape) -> None:
        """The wrapped layers' checks, their errors naming this layer: the user wrote the Bidirectional, not
        its hidden copies (``forward_lstm``)."""
        for sub in (self.forward_layer, self.backward_layer):
            try:
                sub.check_input_shape(input_shape)
            except ValueError as error:
                message = str(error).replace(f"Layer '{sub.name}' ({type(sub).__name__})",
                                             f"Layer '{self.name}' ({type(self).__name__})")
                raise ValueError(message) from None

    def build(self, input_shape: Shape) -> None:
        self.forward_layer.build_from(input_shape)
        self.backward_layer.build_from(input_shape)
        if self._initial_weights is not None:
            self.built = True  # set_weights needs the views of the built sublayers
            self.set_weights(self._initial_weights)

    def compute_output_shape(self, input_shape: Shape):
        shape = self.forward_layer.compute_output_shape(input_shape)
        back = self.backward_layer.compute_output_shape(input_shape)  # a backward_layer may have other units
        states, back_states = [], []
        if self.return_state:
            (shape, *states), (back, *back_states) = shape, back
        if self.merge_mode == "concat":
            shape = (*shape[:-1], shape[-1] + back[-1])
        elif self.merge_mode is None:
            shape = [shape, back]
        if self.return_state:
            return [*(shape if self.merge_mode is None else [shape]), *states, *back_states]
        return shape

    def compute_mask(self, x: torch.Tensor, mask: torch.Tensor | None):
        """As Keras: the input's mask for each sequence output (two of them with ``merge_mode=None``), None for
        the states."""
        out = mask if self.return_sequences else None
        masks = [out, out] if self.merge_mode is None else [out]
        if self.return_state:
            masks += [None] * (self.forward_layer.state_count + self.backward_layer.state_count)
        return masks if len(masks) > 1 else masks[0]

    @property
    def outputs_container(self):
        """How a symbolic call with several outputs (merge_mode=None, return_state) returns them: as the eager call,
        a tuple, with an RNN's stack states nested per cell."""
        sides = (self.forward_layer, self.backward_layer)
        if all(getattr(side, "stack_state_size", None) is None for side in sides):
            return tuple
        leading = 2 if self.merge_mode is None else 1
        return partial(outputs_with_nested_states, leading,
                       tuple((side.state_count, side.stack_state_size) for side in sides))

    def _split_states(self, states, what: str) -> tuple[list, list]:
        """``states``, the forward layer's then the backward layer's, as (forward, backward); a clear error
        for a wrong count (Keras fails with an IndexError or drops the extra tensors)."""
        states = flatten_states(states)  # flat, or nested per cell for an RNN over a stack of cells
        counts = self.forward_layer.state_count, self.backward_layer.state_count
        if len(states) != sum(counts):
            names = {1: ["h"], 2: ["h", "c"]}  # else s0, s1... (an RNN over a stack of cells)
            listed = ", ".join(f"{name}_{side}" for count, side in zip(counts, "fb")
                               for name in names.get(count, [f"s{i}" for i in range(count)]))
            raise ValueError(f"Bidirectional '{self.name}' takes {sum(counts)} {what} tensors [{listed}]: the "
                             f"forward {type(self.forward_layer).__name__}'s states, then the backward "
                             f"{type(self.backward_layer).__name__}'s; got {len(states)}.")
        return states[:counts[0]], states[counts[0]:]

    @property
    def states(self) -> tuple | None:
        """A stateful Bidirectional's states: the forward layer's, then the backward layer's (as Keras, a tuple);
        None when the layers carry none."""
        if self.forward_layer.states and self.backward_layer.states:
            return (*self.forward_layer.states, *self.backward_layer.states)
        return None

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None, initial_state=None):
        """``(batch, timesteps, features)`` -> merged outputs (and the states of both directions).
        ``initial_state``: the forward layer's states, then the backward layer's (``[h_f, c_f, h_b, c_b]``
        for LSTM)."""
        forward_state = backward_state = None
        if initial_state is not None:
            forward_state, backward_state = self._split_states(initial_state, "initial state")
        y = self.forward_layer.forward(x, mask, forward_state)
        y_rev = self.backward_layer.forward(x, mask, backward_state)
        # Keras calls the two layers, so their own activity regularizers apply (TimeDistributed's does not).
        self.forward_layer.record_activity(y)
        self.backward_layer.record_activity(y_rev)
        states = []
        if self.return_state:
            states = [*y[1:], *y_rev[1:]]
            y, y_rev = y[0], y_rev[0]
        if self.return_sequences:
            y_rev = y_rev.flip(1)  # the backward layer's outputs come in reversed time order
        if self.merge_mode == "concat":
            out = torch.cat([y, y_rev], dim=-1)
        elif self.merge_mode == "sum":
            out = y + y_rev
        elif self.merge_mode == "ave":
            out = (y + y_rev) / 2
        elif self.merge_mode == "mul":
            out = y * y_rev
        else:
            out = (y, y_rev)
        if not self.return_state:
            return out
        return (*(out if self.merge_mode is None else [out]), *states)

    def reset_states(self, states: list | None = None) -> None:
        """Zero both layers' states, or set them: the forward layer's, then the backward layer's."""
        if not self.stateful:  # as Keras: a model-wide reset loop must skip this layer, not rely on a no-op
            raise AttributeError(f"Bidirectional '{self.name}' is not stateful: it carries no states to reset. "
                                 "Give its layer stateful=True to carry them between batches.")
        forward_states, backward_states = (None, None) if states is None else self._split_states(states, "state")
        self.forward_layer.reset_states(forward_states)
        self.backward_layer.reset_states(backward_states)

    reset_state = reset_states

    def weight_views(self) -> list[WeightView]:
        views = []
        for prefix, sub in (("forward_", self.forward_layer), ("backward_", self.backward_layer)):
            views += [v.held_by(sub, prefix + v.name, key=prefix + v.name, scope=sub.name) for v in sub.weight_views()]
        return views

    def get_config(self) -> dict:
        """As Keras: the forward layer under ``"layer"`` and the backward one under ``"backward_layer"``, each
        with its own name (``forward_lstm``, ``backward_lstm``)."""
        return {**self._base_config(), "merge_mode": self.merge_mode,
                "layer": _serialize(self.forward_layer), "backward_layer": _serialize(self.backward_layer)}

    @classmethod
    def from_config(cls, config: dict) -> "Bidirectional":
        config = dict(config)
        config["layer"] = _deserialize(config["layer"])
        if config.get("backward_layer") is not None:
            config["backward_layer"] = _deserialize(config["backward_layer"])
        return cls(**config)


class TimeDistributed(Wrapper):
    """Applies ``layer`` to every time step: ``(batch, timesteps, ...) -> (batch, timesteps, ...out)``,
    sharing its weights across steps (they are the wrapped layer's weights). ``layer`` may also be a Sequential
    or functional model of one input and one output, as in Keras: a CNN applied to each frame of a video
    ``(batch, frames, rows, cols, channels)`` before an LSTM."""

    supports_masking = True
    min_ndim = 3

    def __init__(self, layer: Layer | Model, **kwargs):
        super().__init__(layer, **kwargs)
        self._wraps_model = _is_graph_model(layer)
        if self._wraps_model and (len(layer.input_names) != 1 or len(layer.output_names) != 1):
            raise ValueError(f"Layer '{self.name}' (TimeDistributed) applies a model of one input and one output to "
                             f"each time step; model '{layer.name}' has {len(layer.input_names)} inputs and "
                             f"{len(layer.output_names)} outputs.")

    def inner_shape(self, input_shape: Shape) -> Shape:
        """The shape of one time step, ``(batch, timesteps, ...) -> (None, ...)``."""
        return (None, *input_shape[2:])

    def check_input_shape(self, input_shape: Shape) -> None:
        super().check_input_shape(input_shape)
        if self._wraps_model:
            self.layer.check_input(self.inner_shape(input_shape))
        else:
            self.layer.check_input_shape(self.inner_shape(input_shape))

    def build(self, input_shape: Shape) -> None:
        self.layer.build_from(self.inner_shape(input_shape))

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        step = self.inner_shape(input_shape)
        # A model has no compute_output_shape: it checks the shape and returns its output shape.
        inner = self.layer.build_from(step) if self._wraps_model else self.layer.compute_output_shape(step)
        return (input_shape[0], input_shape[1], *inner[1:])

    def compute_mask(self, x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor | None:
        return mask

    def _check_mask(self, x: torch.Tensor, mask: torch.Tensor) -> None:
        """As Keras: a mask is ``(batch_size, timesteps, ...)`` for inputs ``(batch_size, timesteps, ...)``."""
        if mask.dim() < 2 or tuple(mask.shape[:2]) != tuple(x.shape[:2]):
            raise ValueError(f"Layer '{self.name}' (TimeDistributed) received a mask of shape {tuple(mask.shape)} "
                             f"for inputs of shape {tuple(x.shape)}: the mask must be (batch_size, timesteps) = "
                             f"{tuple(x.shape[:2])}, the inputs' first two axes.")

    def _call_layer(self, x: torch.Tensor, **kwargs) -> torch.Tensor:
        """The wrapped layer on ``(n, ...)`` steps: a layer's own computation, or a model called whole (it runs
        its layers as in any call)."""
        return self.layer(x) if self._wraps_model else self.layer.forward(x, **kwargs)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """Every step in one call of the wrapped layer on ``(batch * timesteps, ...)``; a mask ``(batch,
        timesteps, ...)`` goes to the wrapped layer as ``(batch * timesteps, ...)`` when its call takes one (a
        model makes its own masks)."""
        kwargs = {}
        if mask is not None:
            self._check_mask(x, mask)
            if not self._wraps_model and takes_argument(self.layer._call_function(), "mask"):
                kwargs["mask"] = mask
        if self.training and any(isinstance(m, BatchNormalization) and m.trainable for m in self.layer.modules()):
            # Keras calls the layer (or model) once per step: per-step batch statistics, one moving-average
            # update each.
            per_step = [self._call_layer(x_t, **{k: m[:, t] for k, m in kwargs.items()})
                        for t, x_t in enumerate(x.unbind(1))]
            return torch.stack(per_step, 1)
        batch, steps = x.shape[:2]
        kwargs = {k: m.reshape(batch * steps, *m.shape[2:]) for k, m in kwargs.items()}
        y = self._call_layer(x.reshape(batch * steps, *x.shape[2:]), **kwargs)
        return y.reshape(batch, steps, *y.shape[1:])

    def weight_views(self) -> list[WeightView]:
        return [v.held_by(self.layer, scope=self.layer.name) for v in self.layer.weight_views()]
