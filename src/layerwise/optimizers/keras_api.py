"""Keras' optimizer API around the update rules: what a custom optimizer written as Keras documents it calls
(``build`` creating ``add_variable_from_reference`` slots, a per-variable ``update_step`` writing with
``self.assign``/``assign_add``/``assign_sub``), and what code reads of an optimizer's state (``variables``,
``set_weights``, ``save_own_variables``/``load_own_variables``, ``stateless_apply``).

Keras lists an optimizer's variables as it creates them: the step count, the learning rate (unless it is a
schedule or a callable), the EMA averages (``use_ema``), the gradient accumulators
(``gradient_accumulation_steps``), then the optimizer's own slots, each ``add_optimizer_variables`` call
interleaving its names per weight (Adam: momentum and velocity of the first weight, then of the second...).
"""
from __future__ import annotations

import warnings

import numpy as np
import torch

from layerwise import initializers


def _value_like(value, variable: torch.Tensor) -> torch.Tensor:
    """``value`` (a number, array or tensor) as a tensor of ``variable``'s dtype, on its device."""
    return torch.as_tensor(value, dtype=variable.dtype, device=variable.device)


class KerasOptimizerAPI:
    """Mixed into ``Optimizer``, whose ``params``, ``slots``, ``slot_names``, ``_iterations`` and
    ``_learning_rate`` it reads. Slots stay in PyTorch's layout (a Dense kernel's momentum is ``(out, in)``)."""

    _own_variables: list[torch.Tensor] | tuple = ()  # what add_variable* created, in creation order
    _positions: dict[int, int] | None = None  # id(parameter) -> its position in params

    # ---- variables a custom optimizer creates ---------------------------------------------------------
    def add_variable(self, shape, initializer="zeros", dtype=None, aggregation: str = "none", layout=None,
                     name: str | None = None) -> torch.Tensor:
        """Keras': a new optimizer variable of ``shape`` (a ``layerwise.Variable``, not trained) drawn by
        ``initializer``, listed in ``variables`` and saved with the optimizer. ``aggregation`` and ``layout``
        are Keras' distribution settings, accepted and unused."""
        from layerwise.variables import Variable

        variable = Variable(initializer, shape=tuple(shape), dtype=dtype, trainable=False, name=name or "variable",
                            owner=self.name)
        return self._track_variable(variable)

    def add_variable_from_reference(self, reference_variable: torch.Tensor, name: str | None = None,
                                    initializer="zeros") -> torch.Tensor:
        """Keras': an optimizer variable shaped as ``reference_variable`` (a weight), of its dtype and on its
        device, named ``<weight path>_<name>``."""
        from layerwise.variables import Variable

        prefix = str(getattr(reference_variable, "path", "") or "").replace("/", "_")
        full_name = f"{prefix}_{name or 'var'}" if prefix else (name or "var")
        shape, dtype = tuple(reference_variable.shape), reference_variable.dtype
        value = initializers.weight_initializer(initializer)(shape, dtype).to(reference_variable.device)
        return self._track_variable(Variable(value, trainable=False, name=full_name, owner=self.name))

    def add_optimizer_variables(self, trainable_variables, name, initializer="zeros"):
        """Keras': one variable per weight for ``name`` (a list for one name, a tuple of lists for a list of
        names, created interleaved per weight)."""
        names = [name] if isinstance(name, str) else list(name)
        inits = list(initializer) if isinstance(initializer, (list, tuple)) else [initializer] * len(names)
        if len(inits) != len(names):
            raise ValueError(f"The number of provided names must match the number of provided initializers. "
                             f"Received name='{name}', initializer='{initializer}'")
        created = tuple([] for _ in names)
        for variable in trainable_variables:
            for made, each_name, each_init in zip(created, names, inits):
                made.append(self.add_variable_from_reference(variable, each_name, each_init))
        return created[0] if isinstance(name, str) else created

    def _track_variable(self, variable: torch.Tensor) -> torch.Tensor:
        if not isinstance(self._own_variables, list):
            self._own_variables = []
        self._own_variables.append(variable)
        return variable

    # ---- writing inside update_step -------------------------------------------------------------------
    @torch.no_grad()
    def assign(self, variable: torch.Tensor, value) -> None:
        """Keras': ``variable = value`` in place (a weight or an optimizer variable)."""
        variable.copy_(_value_like(value, variable))

    @torch.no_grad()
    def assign_add(self, variable: torch.Tensor, value) -> None:
        """Keras': ``variable += value`` in place."""
        variable.add_(_value_like(value, variable))

    @torch.no_grad()
    def assign_sub(self, variable: torch.Tensor, value) -> None:
        """Keras': ``variable -= value`` in place."""
        variable.sub_(_value_like(value, variable))

    def update_step(self, gradient: torch.Tensor, variable: torch.Tensor, learning_rate: float) -> None:
        """Keras' per-variable rule, which a custom optimizer implements (the built-in ones implement
        ``update`` for all parameters at once instead)."""
        raise NotImplementedError(f"{type(self).__name__} implements neither update_step(gradient, variable, "
                                  "learning_rate), Keras' rule for one variable, nor update(params, grads, slots, "
                                  "step, lr) for all of them.")

    def _var_key(self, variable: torch.Tensor) -> int:
        return id(variable)

    def _get_variable_index(self, variable: torch.Tensor) -> int:
        """The position of ``variable`` among the weights the optimizer was built with (Keras' helper for
        ``update_step``)."""
        return self._positions[id(variable)]

    # ---- Keras' list of variables -------------------------------------------------------------------------
    def slot_groups(self) -> list[tuple[str, ...]]:
        """The slot names grouped as Keras creates them, one ``add_optimizer_variables`` call per group."""
        return [tuple(self.slot_names)] if self.slot_names else []

    def _keras_variables(self) -> list[tuple[str, torch.Tensor]]:
        """``(kind, tensor)`` in Keras' order; kind ``"iterations"`` and ``"learning_rate"`` are copies of the
        counters, ``"state"`` the optimizer's own tensors."""
        entries = [("iterations", torch.tensor(self._iterations, dtype=torch.int32))]  # Keras keeps an int32
        rate = self._learning_rate
        if not callable(rate):  # Keras keeps a schedule or a callable outside its variables
            entries.append(("learning_rate", torch.tensor(rate, dtype=torch.float32)))
        if not self.built:
            return entries
        groups = [(name,) for name in ("average", "gradient_accumulator") if name in self.slots]
        groups += self.slot_groups()
        for names in groups:
            for i in range(len(self.params)):
                # Muon's empty placeholders (a velocity for the weights it does not give AdamW) are not Keras'
                entries += [("state", self.slots[name][i]) for name in names if self.slots[name][i].numel()]
        entries += [("state", variable) for variable in self._own_variables]
        known = {"average", "gradient_accumulator", *self.slot_names}
        # Nadam's u_product, kept in float64 here, is a float32 variable in Keras
        entries += [("u_product", values[0].float()) for name, values in self.slots.items() if name not in known]
        return entries

    @property
    def variables(self) -> list[torch.Tensor]:
        """Keras' ``optimizer.variables``, in Keras' order (see the module's docstring). The step count and the
        learning rate are copies; the others are the optimizer's tensors, in PyTorch's layout."""
        return [tensor for _, tensor in self._keras_variables()]

    def set_weights(self, weights) -> None:
        """Keras': set ``variables`` from ``weights`` (arrays, in the same order)."""
        if not self.built:
            raise ValueError("You are calling `set_weights()` on an optimizer that has not yet been built. Please "
                             "call `optimizer.build(trainable_variables)` to create the optimizer weights before "
                             "calling `set_weights()`.")
        for i, ((kind, tensor), weight) in enumerate(zip(self._keras_variables(), weights)):
            value = torch.as_tensor(np.asarray(weight))
            if tuple(value.shape) != tuple(tensor.shape):
                raise ValueError(f"Optimizer variable {i} has shape {tuple(tensor.shape)} not compatible with "
                                 f"provided weight shape {tuple(value.shape)}.")
            self._set_variable(kind, tensor, value)

    @torch.no_grad()
    def _set_variable(self, kind: str, tensor: torch.Tensor, value: torch.Tensor) -> None:
        if kind == "iterations":
            self._iterations = int(value)
        elif kind == "learning_rate":
            self.learning_rate = float(value)
        elif kind == "u_product":
            self.slots["u_product"][0].fill_(float(value))
        else:
            tensor.copy_(value.to(device=tensor.device, dtype=tensor.dtype))

    def save_own_variables(self, store) -> None:
        """Keras': ``store["0"]``, ``store["1"]``... the values of ``variables``."""
        for i, tensor in enumerate(self.variables):
            store[str(i)] = tensor.detach().cpu().numpy()

    def load_own_variables(self, store) -> None:
        """Keras': ``variables`` from what ``save_own_variables`` stored; with Keras' warning, and nothing
        loaded, when the counts differ."""
        entries = self._keras_variables()
        if len(store.keys()) != len(entries):
            message = (f"Skipping variable loading for optimizer '{self.name}', because it has {len(entries)} "
                       f"variables whereas the saved optimizer has {len(store.keys())} variables. ")
            if not self.built:
                message += "This is likely because the optimizer has not been called/built yet."
            warnings.warn(message, stacklevel=2)
            return
        for i, (kind, tensor) in enumerate(entries):
            self._set_variable(kind, tensor, torch.as_tensor(np.asarray(store[str(i)])))

    def stateless_apply(self, optimizer_variables: list, grads: list, trainable_variables: list):
        """Keras': the weights and optimizer variables one ``apply(grads)`` would give, starting from the values
        given (``trainable_variables`` one per weight the optimizer was built with, ``optimizer_variables`` one
        per ``variables``), leaving the optimizer and the weights as they were. Returns the two new lists."""
        name = type(self).__name__
        if not self.built:
            raise ValueError(f"To call `stateless_apply`, {name} must be built (i.e. its variables must have been "
                             "created). You can build it via `optimizer.build(trainable_variables)`.")
        entries = self._keras_variables()
        if len(optimizer_variables) != len(entries):
            raise ValueError(f"Argument `optimizer_variables` must be a list of tensors corresponding 1:1 to "
                             f"{name}().variables. Received list with length {len(optimizer_variables)}, but "
                             f"expected {len(entries)} variables.")
        if len(trainable_variables) != len(self.params):
            raise ValueError(f"Argument `trainable_variables` must be a list of tensors corresponding 1:1 to the "
                             "trainable variables list that the optimizer was built with. Received "
                             f"len(trainable_variables) == {len(trainable_variables)} whereas the optimizer was "
                             f"built with {len(self.params)} variables.")
        held_weights = [p.detach().clone() for p in self.params]
        held_state = [tensor.detach().clone() for _, tensor in entries]
        try:
            self._load_values(entries, optimizer_variables, trainable_variables)
            self.apply(grads)
            return [p.detach().clone() for p in self.params], [t.detach().clone() for t in self.variables]
        finally:
            self._load_values(entries, held_state, held_weights)

    @torch.no_grad()
    def _load_values(self, entries, state_values: list, weight_values: list) -> None:
        for param, value in zip(self.params, weight_values):
            param.copy_(_value_like(value, param))
        for (kind, tensor), value in zip(entries, state_values):
            self._set_variable(kind, tensor, torch.as_tensor(value))
