"""A model's weight lists in Keras' order: the weights the model made itself (a subclassed model's
``add_weight``, ``add_variable`` or ``keras.Variable`` attributes, see ``layers/own_weights.py``), trainable ones
first, then its layers' weights layer by layer, each weight once (Keras' ``Layer.weights``)."""
from __future__ import annotations

import numpy as np
import torch

from layerwise.layers.own_weights import OWN
from layerwise.layers.weights import WeightView


class ModelWeights:
    """Mixin of ``Model`` (with ``OwnWeights``): ``weights``, ``trainable_weights``, ``non_trainable_weights``,
    ``get_weights``/``set_weights`` and ``weight_views``, the model's own weights before its layers'."""

    def layer_weight_views(self) -> list[tuple[int, object, WeightView]]:
        """(layer index, layer, view) for each weight once, layer by layer: a layer both called directly and held
        by a nested model lists its weights where first met, as Keras lists each variable once."""
        seen, found = {id(view.tensor) for view in self.own_weight_views()}, []
        for i, layer in enumerate(self.layers):
            for view in layer.weight_views():
                if id(view.tensor) not in seen:
                    seen.add(id(view.tensor))
                    found.append((i, layer, view))
        return found

    def _held_views(self) -> list[tuple[object, WeightView]]:
        """(holder, view) of every weight in Keras' order: the holder is the model for its own, else the layer."""
        return [(self, view) for view in self.own_weight_views()] + \
            [(layer, view) for _, layer, view in self.layer_weight_views()]

    def get_weights(self) -> list[np.ndarray]:
        """All weights in Keras' shapes and order: the model's own, then layer by layer."""
        return [view.to_keras(view.tensor.detach()).cpu().numpy().copy() for _, view in self._held_views()]

    def set_weights(self, weights: list) -> None:
        """Load weights given in Keras' shapes and order (``get_weights()``'s), e.g. from a Keras model's."""
        weights, held = list(weights), self._held_views()
        if len(weights) != len(held):
            raise ValueError(f"Model '{self.name}' expects {len(held)} weight arrays, got {len(weights)}.")
        for (holder, view), value in zip(held, weights):
            view.set_keras_value(value, holder.name)

    def weight_views(self) -> list[WeightView]:
        """Every weight: the model's own under their names (keyed ``own/<name>`` in files), then each layer's,
        named ``<layer index>/<weight>`` so that a nested model's are unique."""
        own = [WeightView(view.name, view.tensor, view.trainable and self._trainable, key=f"{OWN}/{view.key}")
               for view in self.own_weight_views()]
        return own + [WeightView(f"{i}/{view.name}", view.tensor, self._trains(layer, view), view.to_keras,
                                 view.from_keras, key=f"{i}/{view.key}")
                      for i, layer, view in self.layer_weight_views()]

    def _trains(self, holder, view: WeightView) -> bool:
        """Whether ``view`` is trainable here. As Keras asks each variable (which a layer's ``trainable`` setter sets
        in the layers it holds), a nested model's own setting does not hide a layer inside it that was unfrozen
        after it; only the layer holding the weight counts."""
        if holder is self:
            return view.trainable and self._trainable
        return view.trainable and (isinstance(holder, ModelWeights) or holder.trainable)

    @property
    def weights(self) -> list[torch.Tensor]:
        return [view.tensor for _, view in self._held_views()]

    @property
    def trainable_weights(self) -> list[torch.Tensor]:
        """The weights training updates: the model's own, then layer by layer (frozen layers have none); none while
        the model itself is frozen, as in Keras."""
        if not self._trainable:
            return []
        return [view.tensor for holder, view in self._held_views() if self._trains(holder, view)]

    @property
    def non_trainable_weights(self) -> list[torch.Tensor]:
        """The weights training leaves alone, in the same order (all of them while the model is frozen)."""
        if not self._trainable:
            return self.weights
        return [view.tensor for holder, view in self._held_views() if not self._trains(holder, view)]

    def _set_own_requires_grad(self) -> None:
        """The model's own weights follow its ``trainable`` setting (its layers follow theirs)."""
        for view in self.own_weight_views():
            view.tensor.requires_grad_(self._trainable and view.trainable)
