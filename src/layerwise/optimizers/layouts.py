"""How Keras sees each parameter, for the optimizers whose rule depends on it (Adafactor, Muon).

layerwise's built-in layers keep PyTorch's layout (a Dense weight is ``(out, in)``, a Conv2D weight
``(out, in, kh, kw)``), while Keras' kernels are ``(in, out)`` and ``(kh, kw, in, out)``; each layer's
``weight_views()`` pairs a tensor with the maps between the two. An optimizer is built on bare tensors, so
``bind_model(model)`` (what ``fit`` does) hands it those maps and Keras' variable paths
(``sequential/dense/kernel``). An optimizer built without the model (``optimizer.build(model.trainable_weights)``,
or ``apply(grads, weights)`` in a custom loop) finds the model of each tensor through the module that registered
it (recorded below); a tensor no layer holds is taken as it is laid out, with the path of an ``add_weight``
variable or none.
"""
from __future__ import annotations

import weakref
from typing import Callable, NamedTuple

import torch
from torch.nn.modules import module as torch_modules
from torch.utils.weak import WeakIdKeyDictionary

from layerwise.optimizers.base import Optimizer

# Which module registered each parameter, and which module holds each module, kept by torch's global registration
# hooks (weakly: they keep nothing alive): the way from a bare weight back to its layer and model.
_HOLDER = WeakIdKeyDictionary()  # parameter or buffer -> weakref to the module that registered it
_PARENT = WeakIdKeyDictionary()  # module -> weakrefs to the modules it was registered on, latest last


def _record_parameter(module: torch.nn.Module, name: str, param) -> None:
    if param is not None:
        _HOLDER[param] = weakref.ref(module)


def _record_module(module: torch.nn.Module, name: str, submodule) -> None:
    if submodule is not None:
        # A module may also pass through a temporary container (a ModuleList built in passing): the live ones are kept.
        live = [ref for ref in _PARENT.get(submodule, ()) if ref() is not None]
        _PARENT[submodule] = [*live, weakref.ref(module)]


torch_modules.register_module_parameter_registration_hook(_record_parameter)
torch_modules.register_module_buffer_registration_hook(_record_parameter)  # Keras' statistics (LayerState)
torch_modules.register_module_module_registration_hook(_record_module)


class KerasLayout(NamedTuple):
    """One parameter as a Keras variable: its path, its shape, and the maps to and from Keras' layout
    (both None when the layouts agree)."""

    path: str
    shape: tuple[int, ...]
    to_keras: Callable[[torch.Tensor], torch.Tensor] | None = None
    from_keras: Callable[[torch.Tensor], torch.Tensor] | None = None

    def keras(self, tensor: torch.Tensor) -> torch.Tensor:
        """``tensor`` (laid out as the parameter) in Keras' layout."""
        return tensor if self.to_keras is None else self.to_keras(tensor)

    def torch(self, tensor: torch.Tensor) -> torch.Tensor:
        """``tensor`` (in Keras' layout) laid out as the parameter."""
        return tensor if self.from_keras is None else self.from_keras(tensor)


def as_is(param: torch.Tensor) -> KerasLayout:
    """The layout of a tensor no model describes: as it is, named by its ``path`` if it has one."""
    return KerasLayout(str(getattr(param, "path", "")), tuple(param.shape))


def holders(param: torch.Tensor) -> list:
    """The layerwise layers and models that hold ``param``, outermost first (from the registration records)."""
    chain, seen = [], set()
    ref = _HOLDER.get(param)
    module = ref() if ref is not None else None
    while module is not None and id(module) not in seen:
        seen.add(id(module))
        if hasattr(module, "weight_views"):
            chain.append(module)
        module = _holder_of(module)
    return chain[::-1]


def _holder_of(module: torch.nn.Module) -> torch.nn.Module | None:
    """The live module that last registered ``module`` and still holds it."""
    for ref in reversed(_PARENT.get(module, ())):
        parent = ref()
        if parent is module.__dict__.get("_cell"):
            continue  # an LSTM's `cell` (layers/cells.py) is a view of the layer, not a holder
        if parent is not None and any(child is module for child in parent._modules.values()):
            return parent
    return None


def record_registrations(module: torch.nn.Module) -> None:
    """Record again who holds ``module``'s parameters and submodules (and those of the plain torch containers
    it holds), which a copy or an unpickled module skips: layers and models call it when unpickled or copied."""
    for name, param in [*module._parameters.items(), *module._buffers.items()]:
        _record_parameter(module, name, param)
    for name, submodule in module._modules.items():
        _record_module(module, name, submodule)
        if submodule is not None and not hasattr(submodule, "weight_views"):  # layers record their own
            record_registrations(submodule)


def held_layout(param: torch.Tensor, cache: dict[int, dict[int, KerasLayout]]) -> KerasLayout | None:
    """``param``'s layout as the outermost layer or model holding it lists it (``cache``: each one's
    ``keras_layouts``, filled as needed); None for a tensor no layer lists."""
    for holder in holders(param):
        if id(holder) not in cache:
            cache[id(holder)] = keras_layouts(holder)
        layout = cache[id(holder)].get(id(param))
        if layout is not None:
            return layout
    return None


def registered_layout(param: torch.Tensor, cache: dict[int, dict[int, KerasLayout]]) -> KerasLayout:
    """``held_layout``, or ``as_is`` for a tensor no layer lists."""
    return held_layout(param, cache) or as_is(param)


def keras_layouts(model) -> dict[int, KerasLayout]:
    """``id(tensor) -> KerasLayout`` for every weight of ``model`` (a model or a layer).

    Paths follow Keras' name scopes: a Sequential or subclassed model prefixes its layers' variables with its
    name, a functional model does not (Keras builds those layers outside the model), a nested Sequential or
    functional model starts again from its own name, and a nested subclassed model, built inside its holder,
    adds its name to its holder's prefix. A subclassed model's own weights are ``<prefix><name>`` (a bare name
    for a Variable made in ``__init__``, as Keras names it)."""
    # The models import the optimizers, so they are looked up on use.
    from layerwise.models.functional import Functional
    from layerwise.models.model import Model
    from layerwise.models.sequential import Sequential

    layouts: dict[int, KerasLayout] = {}

    def add(view, path: str) -> None:
        with torch.no_grad():
            keras_view = view.to_keras(view.tensor)
        same = keras_view is view.tensor
        layouts.setdefault(id(view.tensor), KerasLayout(path, tuple(keras_view.shape),
                                                        None if same else view.to_keras,
                                                        None if same else view.from_keras))

    def visit(owner: Model, prefix: str) -> None:
        for view in owner.own_weight_views():  # a subclassed model's add_weight and Variable attributes
            name, made_by = getattr(view.tensor, "name", view.name), getattr(view.tensor, "owner", "")
            add(view, name if not made_by else f"{prefix}{name}" if prefix else f"{made_by}/{name}")
        for layer in owner.layers:
            if isinstance(layer, Model):
                # A subclassed model builds in its holder's scope; Sequential and functional ones start again.
                subclassed = not isinstance(layer, (Functional, Sequential))
                visit(layer, f"{prefix}{layer.name}/" if subclassed else scope(layer))
                continue
            for view in layer.weight_views():
                add(view, f"{prefix}{layer.name}/{view.path_tail}")

    def scope(owner: Model) -> str:
        return "" if isinstance(owner, Functional) else f"{owner.name}/"

    if isinstance(model, Model):
        visit(model, scope(model))
    else:
        for view in model.weight_views():
            add(view, f"{model.name}/{view.path_tail}")
    return layouts


class LayoutAwareOptimizer(Optimizer):
    """An optimizer whose rule depends on Keras' layout or path of a parameter.

    ``bind_model(model)`` before training (or after building, before the first step) makes it act on each
    weight as Keras does; ``layout(param)`` gives the layout the rule uses. Saved state loads whatever its
    shapes, so a model's state can be read before the model is bound."""

    def __init__(self, learning_rate=0.001, **kwargs):
        super().__init__(learning_rate, **kwargs)
        self._bound: dict[int, KerasLayout] = {}
        self._layouts: dict[int, KerasLayout] = {}

    def bind_model(self, model) -> None:
        """Take each parameter's Keras layout and path from ``model``'s weights (see ``keras_layouts``)."""
        self._bound = keras_layouts(model)
        if not self.built:
            return
        if self._iterations == 0:  # nothing learnt (nor accumulated) yet: start the state again in the bound layouts
            self.build(self.params)
            return
        layouts = self._resolve(self.params)
        for name in self.slot_names:
            for i, (param, slot) in enumerate(zip(self.params, self.slots[name])):
                expected = self.slot_shape(name, param, layouts[id(param)])
                if tuple(slot.shape) != expected:
                    raise ValueError(f"{type(self).__name__}.bind_model: after {self.iterations} steps, slot "
                                     f"'{name}' of parameter {i} has shape {tuple(slot.shape)}, but the model lays "
                                     f"that parameter out as Keras' {layouts[id(param)].shape}, which needs "
                                     f"{expected}. Bind the model before the first step.")
        self._layouts = layouts

    def build_for(self, model, params: list[torch.Tensor] | None = None) -> None:
        self._bound = keras_layouts(model)
        super().build_for(model, params)

    def _resolve(self, params: list[torch.Tensor]) -> dict[int, KerasLayout]:
        cache: dict[int, dict[int, KerasLayout]] = {}
        return {id(p): self._bound.get(id(p)) or registered_layout(p, cache) for p in params}

    def build(self, params: list[torch.Tensor]) -> None:
        self._layouts = self._resolve(params)
        super().build(params)

    def layout(self, param: torch.Tensor) -> KerasLayout:
        return self._layouts[id(param)]

    def slot_shape(self, name: str, param: torch.Tensor, layout: KerasLayout) -> tuple[int, ...]:
        """The shape of slot ``name`` for ``param`` laid out as ``layout`` (by default the parameter's)."""
        return tuple(param.shape)

    def initial_slot(self, name: str, param: torch.Tensor) -> torch.Tensor:
        shape = self.slot_shape(name, param, self.layout(param))
        return torch.zeros(shape, dtype=param.dtype, device=param.device)

    def load_state_tensors(self, tensors: dict[str, torch.Tensor]) -> None:
        """Saved state in whatever layout it was saved in (``bind_model`` then checks it against the model's)."""
        self.iterations = int(tensors["iterations"])
        for name, values in self.slots.items():
            for i, value in enumerate(values):
                saved = tensors[f"{name}/{i}"]
                if saved.shape == value.shape:
                    value.copy_(saved)
                else:
                    values[i] = saved.to(device=value.device, dtype=value.dtype).clone()
