"""The hooks a Keras layer overrides to take part in saving, with Keras' defaults.

``model.save`` calls a layer's ``save_own_variables(store)`` and ``save_assets(directory)``, and
``load_model`` its ``load_own_variables(store)`` and ``load_assets(directory)``, when its class overrides
them (the others are saved by their weights alone). A class that overrides ``get_build_config`` has the
dict it returns saved, and ``build_from_config`` builds the layer from it when the model is loaded,
before any input reaches it (Keras' customizing-saving guide: a ``build`` that takes more than the shape).
"""
from __future__ import annotations


class LayerSavingHooks:
    """Keras' saving hooks of a layer: its weights in Keras' layout as ``store["0"]``, ``store["1"]``... and
    its input shape as the build config."""

    def save_own_variables(self, store) -> None:
        """Put this layer's weights into ``store`` (a dict-like), keyed ``"0"``, ``"1"``... in Keras' order."""
        for i, value in enumerate(self.get_weights()):
            store[str(i)] = value

    def load_own_variables(self, store) -> None:
        """Set this layer's weights from what ``save_own_variables`` stored."""
        self.set_weights([store[str(i)] for i in range(len(self.weight_views()))])

    def save_assets(self, dir_path: str) -> None:
        """Write files this layer needs besides its weights (a vocabulary...) into ``dir_path``."""

    def load_assets(self, dir_path: str) -> None:
        """Read back what ``save_assets`` wrote into ``dir_path``."""

    def get_build_config(self) -> dict | None:
        """``{"input_shape": ...}`` of the last build, or None before one."""
        return {"input_shape": self.input_shape_built} if self.built else None

    def build_from_config(self, config: dict | None) -> None:
        """Build as ``get_build_config`` recorded."""
        if config and config.get("input_shape") is not None:
            self.build(tuple(config["input_shape"]))


def overrides(layer, method: str) -> bool:
    """Whether ``layer``'s class replaces the default ``method`` of ``LayerSavingHooks``."""
    own = getattr(type(layer), method, None)
    return own is not None and own is not getattr(LayerSavingHooks, method)
