"""Keras' TorchModuleWrapper: any ``torch.nn.Module`` as a layer, its parameters the layer's weights.

Every layerwise layer already is a Module, so the wrapper only holds the module, runs it on the layer's
inputs as they come (a wrapped ``nn.Conv2d`` sees channels-first data, as in Keras), lists its parameters as
weights in ``module.parameters()`` order (trainable ones first) and saves its ``state_dict`` (buffers such as
BatchNorm statistics included) with ``save_own_variables``. The module follows the layer's training mode.

The config holds the module as Keras writes it: ``torch.save`` bytes in base64. Loading them never runs
arbitrary code: they are read with ``torch.load(weights_only=True)`` and only ``torch.nn`` classes, and module
classes registered with ``register_keras_serializable`` or given in ``custom_objects``, may be rebuilt.
"""
from __future__ import annotations

import base64
import importlib
import io

import numpy as np
import torch
from torch import nn

from layerwise.backend import float_dtype, get_device
from layerwise.layers.base import Layer, Shape
from layerwise.layers.calling import is_shape_list
from layerwise.layers.weights import WeightView
from layerwise.saving_registry import find_custom_object


def _allowed_class(qualified: str):
    """The class a pickled module names, when it may be rebuilt: a ``torch.nn`` class, or a Module subclass
    registered with ``register_keras_serializable`` (or in ``custom_objects``) under its class name."""
    module_name, _, name = qualified.rpartition(".")
    if module_name == "torch.nn" or module_name.startswith("torch.nn."):
        found = getattr(importlib.import_module(module_name), name, None)
        if isinstance(found, type):
            return found
    found = find_custom_object(name)
    if isinstance(found, type) and issubclass(found, nn.Module) and \
            f"{found.__module__}.{found.__qualname__}" == qualified:
        return found
    return None


def load_module(encoded: str) -> nn.Module:
    """The module ``encode_module`` wrote, read without running code from the bytes."""
    data = base64.b64decode(encoded.encode("ascii"))
    needed = torch.serialization.get_unsafe_globals_in_checkpoint(io.BytesIO(data))
    allowed = {name: _allowed_class(name) for name in needed}
    refused = sorted(name for name, cls in allowed.items() if cls is None)
    if refused:
        raise ValueError(f"TorchModuleWrapper: the saved module uses {refused}, which layerwise does not rebuild "
                         "unasked: register the module's class with register_keras_serializable(), or pass it in "
                         "custom_objects={'ClassName': ClassName} when loading.")
    with torch.serialization.safe_globals(list(allowed.values())):
        module = torch.load(io.BytesIO(data), weights_only=True, map_location="cpu")
    if not isinstance(module, nn.Module):
        raise ValueError(f"TorchModuleWrapper: the saved module is a {type(module).__name__}, not a torch.nn.Module.")
    return module


def encode_module(module: nn.Module) -> str:
    """``torch.save`` bytes of ``module`` in base64, as Keras writes them into the config."""
    buffer = io.BytesIO()
    torch.save(module, buffer)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


class TorchModuleWrapper(Layer):
    """``TorchModuleWrapper(nn.Linear(4, 8))``: the module's output for the layer's input(s). ``output_shape``
    (batch axis included, as Keras returns it) spares running the module once on zeros to find it."""

    def __init__(self, module: nn.Module, name: str | None = None, output_shape: Shape | None = None, **kwargs):
        super().__init__(name=name, **kwargs)
        if not isinstance(module, nn.Module):
            raise ValueError(f"TorchModuleWrapper: module must be a torch.nn.Module, got {type(module).__name__}.")
        if isinstance(module, nn.modules.lazy.LazyModuleMixin) and module.has_uninitialized_params():
            raise ValueError("TorchModuleWrapper: LazyModules are not supported unless they are already "
                             f"initialized (call the module once first). Received uninitialized LazyModule: {module}")
        object.__setattr__(self, "_config", {k: v for k, v in self._config.items() if k != "module"})
        self.module = module.to(get_device())
        self.output_shape = None if output_shape is None else tuple(output_shape)
        # Keras' variables: the parameters, each trainable as its requires_grad says now.
        self._frozen = {name for name, p in self.module.named_parameters() if not p.requires_grad}
        self.built = True
        self.trainable = self._trainable

    def forward(self, *args, **kwargs):
        return self.module(*args, **kwargs)

    def compute_output_shape(self, input_shape):
        if self.output_shape is not None:
            return self.output_shape
        several = is_shape_list(input_shape)
        shapes = [tuple(s) for s in input_shape] if several else [tuple(input_shape)]
        device = next(self.module.parameters(), torch.empty(0, device=get_device())).device
        zeros = [torch.zeros([1 if d is None else d for d in s], dtype=float_dtype(), device=device) for s in shapes]
        was = self.module.training
        self.module.eval()  # a probe: no BatchNorm statistics change, no dropout
        try:
            with torch.no_grad():
                out = self.module(zeros if several else zeros[0])
        except Exception as err:
            raise ValueError(f"Layer '{self.name}' (TorchModuleWrapper) could not run its module on an input of "
                             f"shape {tuple(input_shape)} ({type(err).__name__}: {err}); check the input shape, or "
                             "pass output_shape=(...).") from err
        finally:
            self.module.train(was)
        batch = shapes[0][0] if shapes[0] else None
        outs = out if isinstance(out, (list, tuple)) else [out]
        found = [(batch, *t.shape[1:]) if t.dim() else () for t in outs]
        return found if isinstance(out, (list, tuple)) else found[0]

    def weight_views(self) -> list[WeightView]:
        views = [WeightView(name, p, name not in self._frozen) for name, p in self.module.named_parameters()]
        return [v for v in views if v.trainable] + [v for v in views if not v.trainable]

    def save_own_variables(self, store) -> None:
        """The module's whole ``state_dict`` (parameters and buffers), as Keras saves it."""
        for key, value in self.module.state_dict().items():
            store[key] = value.detach().cpu().numpy().copy()

    def load_own_variables(self, store) -> None:
        device = next(self.module.parameters(), torch.empty(0)).device
        state = {(k.decode() if isinstance(k, bytes) else k): torch.as_tensor(np.asarray(v), device=device)
                 for k, v in store.items()}
        self.module.load_state_dict(state)

    def get_config(self) -> dict:
        config = super().get_config()
        config["module"] = encode_module(self.module)
        config["output_shape"] = None if self.output_shape is None else list(self.output_shape)
        return config

    @classmethod
    def from_config(cls, config: dict) -> "TorchModuleWrapper":
        config = dict(config)
        if isinstance(config.get("module"), str):
            config["module"] = load_module(config["module"])
        return cls(**config)
