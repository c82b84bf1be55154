"""A layer's weights as Keras sees them: each ``WeightView`` pairs the torch tensor a layer stores (in
PyTorch's layout) with the maps to and from Keras' layout, so ``get_weights``/``set_weights`` speak Keras
while the hot path never transposes."""
from __future__ import annotations

from typing import Callable

import numpy as np
import torch
from torch import nn

from layerwise import initializers
from layerwise.backend import float_dtype
from layerwise.variables import TrainableByGradient


def numpy_for_torch(value) -> np.ndarray:
    """``value`` as a numpy array torch can read: the ``ml_dtypes`` floats Keras gives (``bfloat16`` under a
    bfloat16 policy), which torch cannot convert, as float32 (exact for bfloat16)."""
    array = np.asarray(value)
    return array.astype(np.float32) if array.dtype.kind == "V" else array


class WeightView:
    """One Keras weight: the torch tensor that holds it and the maps to and from Keras' layout. ``key`` names it
    in a saved file (default ``name``): a layer's own sublayers' weights are keyed by attribute path, as Keras
    saves them, so a model rebuilt with other automatic layer names still loads. ``path_tail`` is the end of its
    Keras path after the listing layer's name (default ``name``): Keras' name scopes of the sublayers in between
    and its own short name (an LSTM's ``lstm_cell/kernel``, a Bidirectional's ``forward_lstm/lstm_cell/kernel``)."""

    def __init__(self, name: str, tensor: torch.Tensor, trainable: bool = True,
                 to_keras: Callable[[torch.Tensor], torch.Tensor] = lambda t: t,
                 from_keras: Callable[[torch.Tensor], torch.Tensor] = lambda t: t, key: str | None = None,
                 path_tail: str | None = None):
        self.name, self.tensor, self.trainable = name, tensor, trainable
        self.to_keras, self.from_keras = to_keras, from_keras
        self.key = name if key is None else key
        self.path_tail = name if path_tail is None else path_tail

    def held_by(self, layer, name: str | None = None, key: str | None = None,
                scope: str | None = None) -> "WeightView":
        """This weight as listed by a layer that holds ``layer`` (a wrapper, an RNN's cell, a sublayer): renamed
        when given, under Keras' name ``scope`` of ``layer`` when given, and not trainable while ``layer`` is
        frozen, whatever the holder's own setting."""
        return WeightView(self.name if name is None else name, self.tensor, self.trainable and layer.trainable,
                          self.to_keras, self.from_keras, key=self.key if key is None else key,
                          path_tail=self.path_tail if scope is None else f"{scope}/{self.path_tail}")

    @property
    def keras_shape(self) -> tuple[int, ...]:
        return tuple(self.to_keras(self.tensor.detach()).shape)

    def set_keras_value(self, value, layer_name: str) -> None:
        """Copy ``value`` (Keras' layout) in; a ValueError naming the layer, the weight and both shapes otherwise."""
        value = torch.as_tensor(numpy_for_torch(value), dtype=self.tensor.dtype)
        if tuple(value.shape) != self.keras_shape:
            raise ValueError(f"Layer '{layer_name}' weight '{self.name}' has shape {self.keras_shape}; "
                             f"received {tuple(value.shape)}.")
        with torch.no_grad():
            self.tensor.copy_(self.from_keras(value).to(self.tensor.device))


class _HeldByLayer:
    """Keras' variable methods for a tensor a built-in layer holds in PyTorch's layout, found through the layer's
    ``weight_views()``: ``numpy()`` gives Keras' array (a Dense kernel's ``(input_dim, units)``), ``assign``/
    ``assign_add``/``assign_sub`` take one; ``path`` and ``name`` are Keras' (``sequential/dense/kernel``,
    ``kernel``), and ``value`` is the tensor itself."""

    def _keras_weight(self) -> tuple[str, str, WeightView | None]:
        """(Keras path, name of the layer that lists it, its view there); ``("", "", None)`` while no layer holds it."""
        from layerwise.optimizers import layouts  # the optimizers import the layers
        layout = layouts.held_layout(self, {})
        path = "" if layout is None else layout.path
        for layer in reversed(layouts.holders(self)):  # innermost first: the layer whose view maps this tensor
            for view in layer.weight_views():
                if view.tensor is self:
                    return path, layer.name, view
        return path, "", None

    @property
    def path(self) -> str:
        return self._keras_weight()[0]

    @property
    def name(self) -> str:
        return self.path.rsplit("/", 1)[-1]

    @property
    def value(self):
        return self

    def _to_keras(self) -> torch.Tensor:
        view = self._keras_weight()[2]
        value = self.detach()
        return value if view is None else view.to_keras(value)

    def numpy(self) -> np.ndarray:
        """The value in Keras' layout."""
        from layerwise.dtype_policies.autocast import numpy_of
        return numpy_of(self._to_keras().cpu()).copy()

    def assign(self, value):
        """Set the value from ``value`` in Keras' layout (of the weight's exact Keras shape, as Keras requires)."""
        _, layer_name, view = self._keras_weight()
        if view is None:
            view = WeightView("weight", self)
        view.set_keras_value(_array(value), layer_name or "(no layer)")
        return self

    def assign_add(self, value):
        return self.assign(self._to_keras().cpu() + torch.as_tensor(_array(value)))

    def assign_sub(self, value):
        return self.assign(self._to_keras().cpu() - torch.as_tensor(_array(value)))

    def __repr__(self) -> str:
        return f"<{type(self).__name__} path={self.path}, shape={tuple(self.shape)}, dtype={self.dtype}>\n" \
               f"{self.detach()}"


class LayerWeight(TrainableByGradient, _HeldByLayer, nn.Parameter):
    """A built-in layer's weight: an ``nn.Parameter`` in PyTorch's layout (``shape`` is the tensor's: a Dense
    kernel is ``(units, input_dim)``) with Keras' variable methods in Keras' layout (``_HeldByLayer``); ``value``
    is the parameter itself, so ``v.value.grad`` is its gradient. No ``__torch_function__`` override: torch
    functions and optimizers treat it as the ``nn.Parameter`` it is."""

    def __reduce_ex__(self, protocol):
        return LayerWeight, (self.detach(), self.requires_grad)


class LayerState(_HeldByLayer, nn.Parameter):
    """A built-in layer's statistics, registered as a buffer (BatchNormalization's ``moving_mean``): Keras'
    non-trainable variable, with the methods of ``_HeldByLayer``. An ``nn.Parameter`` that never requires a gradient
    (so ``torch.compile`` takes its in-place updates as a parameter's) but a buffer of its layer: ``parameters()``,
    optimizers and ``state_dict`` see it as PyTorch's BatchNorm buffers. Layers wrap it again after ``.to(device)``
    (``Layer._apply``), which returns a plain tensor."""

    trainable = False

    def __new__(cls, data: torch.Tensor, requires_grad: bool = False) -> "LayerState":
        return nn.Parameter.__new__(cls, data.detach(), False)

    def __deepcopy__(self, memo: dict) -> "LayerState":
        copied = LayerState(self.detach().clone())
        memo[id(self)] = copied
        return copied

    def __reduce_ex__(self, protocol):
        return LayerState, (self.detach(),)


def _array(value) -> np.ndarray:
    """``value`` (an array, a tensor on any device, a Keras or layerwise variable) as a numpy array torch reads;
    a ``LayerWeight`` in Keras' layout."""
    if isinstance(value, torch.Tensor) and not isinstance(value, LayerWeight):
        value = value.detach().cpu()
        value = value.float() if value.dtype == torch.bfloat16 else value
    return numpy_for_torch(value)


def new_parameter(initializer, keras_shape: tuple[int, ...], to_torch: Callable = lambda t: t) -> LayerWeight:
    """A parameter drawn by a Keras initializer in Keras' layout, stored in PyTorch's."""
    value = initializers.weight_initializer(initializer)(keras_shape, float_dtype())
    return LayerWeight(to_torch(value).contiguous())
