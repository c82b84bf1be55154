"""An optimizer's state as Keras 3.15 keeps it in a weights file (``optimizer/vars/<i>``), written and read back.

Keras lists an optimizer's variables as it creates them: ``iterations`` (the count of apply calls), the learning
rate (unless it is a schedule), then the variables of each ``add_optimizer_variables`` call, one per trained weight
in ``model.trainable_weights`` order, the names of one call interleaved per weight (Adam: momentum and velocity of
the first weight, then of the second...). EMA averages come first, then gradient accumulators; ``velocity_hat``
(amsgrad) and RMSprop's momentum and average gradient in calls of their own, Nadam's ``u_product`` last. Adafactor
adds, weight by weight, its row and column factors (0-D placeholders for weights of fewer than 2 axes) and velocity;
Muon a momentum, and a velocity for the weights it updates with AdamW. A LossScaleOptimizer lists its own (unused)
count and rate, its step counter and scale, then its inner optimizer's variables, also kept apart under
``optimizer/inner_optimizer``. Slots are in Keras' layout (each weight
view's ``to_keras``; Adafactor keeps its factors in that layout already). ``keras_variable_plan`` is that list for a
compiled model; the writer and the reader walk it.
"""
from __future__ import annotations

import numpy as np
import torch

from layerwise.optimizers.schedules import LearningRateSchedule


def _slot_groups(optimizer) -> list[tuple[str, ...]] | None:
    """The optimizer's slot names grouped as Keras creates them; None where Keras' order is not known here."""
    from layerwise.optimizers import (SGD, Adadelta, Adafactor, Adagrad, Adam, Adamax, AdamW, Ftrl, Lamb, Lion, Muon,
                                      Nadam, RMSprop)

    if type(optimizer) not in (SGD, Adam, AdamW, Adamax, Nadam, RMSprop, Adagrad, Adadelta, Ftrl, Lion, Lamb,
                               Adafactor, Muon):
        return None
    names = list(optimizer.slot_names)
    if isinstance(optimizer, RMSprop):  # one call per slot
        groups = [(name,) for name in names]
    elif "velocity_hat" in names:  # Adam(amsgrad=True) adds velocity_hat in a second call
        groups = [tuple(n for n in names if n != "velocity_hat"), ("velocity_hat",)]
    else:
        groups = [tuple(names)] if names else []
    return [(name,) for name in ("average", "gradient_accumulator") if name in optimizer.slots] + groups


def keras_variable_plan(model) -> list[tuple[str, object]] | None:
    """Keras' variables of the model's (built) optimizer in order: ``("iterations", None)``, ``("learning_rate",
    None)``, ``(slot name, weight view)``..., ``("u_product", None)``; a MultiOptimizer's own two, then each
    sub-optimizer's. None when Keras' order is not known here or the optimizer has not taken a step."""
    parts = _plan_parts(model)
    return None if parts is None else [entry for _, plan in parts for entry in plan]


def _start_plan(optimizer) -> list[tuple[str, object]]:
    """The variables a Keras optimizer has before it is built: ``iterations`` and its learning rate."""
    schedule = isinstance(optimizer._learning_rate, LearningRateSchedule)  # Keras keeps a schedule outside them
    return [("iterations", None)] + ([] if schedule else [("learning_rate", None)])


def _plan_parts(model) -> list[tuple[object, list[tuple[str, object]]]] | None:
    """``(optimizer, its plan)`` for the model's optimizer; for a MultiOptimizer, itself with its step count and
    learning rate, then each sub-optimizer (one not built: its ``_start_plan``), as Keras lists them."""
    from layerwise.optimizers import LossScaleOptimizer, MultiOptimizer

    optimizer = model.optimizer
    if isinstance(optimizer, LossScaleOptimizer):  # its own (unused) two, its scale, then the inner optimizer's
        plan = _optimizer_plan(model, optimizer.inner_optimizer) if optimizer.built else None
        own = [("iterations", None), ("learning_rate", None), ("step_counter", None), ("dynamic_scale", None)]
        return None if plan is None else [(optimizer, own), (optimizer.inner_optimizer, plan)]
    if not isinstance(optimizer, MultiOptimizer):
        plan = _optimizer_plan(model, optimizer)
        return None if plan is None else [(optimizer, plan)]
    parts = [(optimizer, [("iterations", None), ("learning_rate", None)])]
    for inner in optimizer.optimizers:
        parts.append((inner, _optimizer_plan(model, inner) if inner.built else _start_plan(inner)))
    return None if any(plan is None for _, plan in parts) else parts


def _optimizer_plan(model, optimizer) -> list[tuple[str, object]] | None:
    """``keras_variable_plan`` of one optimizer, over the model's trainable weights it was built on."""
    from layerwise.optimizers import Muon, Nadam

    groups = None if optimizer is None or not optimizer.built else _slot_groups(optimizer)
    if groups is None:
        return None
    trained = {id(p) for p in optimizer.params}
    views = {id(v.tensor): v for v in model.weight_views()}
    weights = [views[id(p)] for p in model.trainable_weights if id(p) in trained and id(p) in views]
    plan: list[tuple[str, object]] = _start_plan(optimizer)
    plan += [(name, view) for names in groups for view in weights for name in names
             if not (isinstance(optimizer, Muon) and name == "velocity" and
                     not optimizer.uses_adamw(optimizer.layout(view.tensor)))]  # Muon's own weights have none
    if isinstance(optimizer, Nadam):
        plan.append(("u_product", None))
    return plan


def _in_keras_layout(optimizer, name: str) -> bool:
    """Whether the slot ``name`` is kept in Keras' layout already (Adafactor's row and column factors)."""
    from layerwise.optimizers import Adafactor

    return isinstance(optimizer, Adafactor) and name in ("r", "c")


def write_optimizer_variables(model, group) -> None:
    """``optimizer/vars`` in ``group`` (an h5py group), when Keras' order for the optimizer is known; before the
    first step only ``iterations`` and the learning rate, the variables a Keras optimizer has from the start. A
    MultiOptimizer's sub-optimizers are also written under ``optimizer/optimizers/<class name>``, as Keras does."""
    from layerwise.layers.base import to_snake_case
    from layerwise.optimizers import LossScaleOptimizer

    optimizer = model.optimizer
    parts = _plan_parts(model)
    if parts is None and isinstance(optimizer, LossScaleOptimizer) and not optimizer.built:
        inner = optimizer.inner_optimizer
        parts = [(optimizer, [("iterations", None), ("learning_rate", None)]), (inner, _start_plan(inner))]
    elif parts is None and optimizer is not None and not optimizer.built:
        parts = [(optimizer, _start_plan(optimizer))]
    if parts is None:
        return

    values = [[_plan_value(owner, name, view) for name, view in plan] for owner, plan in parts]
    target = group.create_group("optimizer")
    target.create_group("vars").attrs["name"] = optimizer.name  # Keras' name attribute, as on the layers' groups
    for i, value in enumerate(v for each in values for v in each):
        target.create_dataset(f"vars/{i}", data=value)
    if isinstance(optimizer, LossScaleOptimizer):
        own = target.create_group("inner_optimizer/vars")
        own.attrs["name"] = optimizer.inner_optimizer.name
        for i, value in enumerate(values[1]):
            own.create_dataset(str(i), data=value)
        return
    used: dict[str, int] = {}
    for (owner, _), each in zip(parts[1:], values[1:]):  # Keras names them by class, then "_1", "_2"...
        name = to_snake_case(type(owner).__name__)
        used[name] = used.get(name, -1) + 1
        own = target.create_group(f"optimizers/{name}{f'_{used[name]}' if used[name] else ''}/vars")
        own.attrs["name"] = owner.name
        for i, value in enumerate(each):
            own.create_dataset(str(i), data=value)


def _plan_value(optimizer, name: str, view) -> np.ndarray:
    """The value of one plan entry of ``optimizer``, in Keras' layout."""
    from layerwise.optimizers import LossScaleOptimizer, MultiOptimizer

    if name == "iterations":
        # Keras keeps the count of apply calls (its `iterations` divides it by gradient_accumulation_steps); a
        # LossScaleOptimizer's own count stays 0, its inner optimizer's counts
        return np.asarray(0 if isinstance(optimizer, LossScaleOptimizer) else optimizer._iterations, dtype="int32")
    if name == "learning_rate":  # a MultiOptimizer's and a LossScaleOptimizer's are Keras' unused 0
        unused = isinstance(optimizer, (MultiOptimizer, LossScaleOptimizer))
        return np.asarray(0.0 if unused else optimizer.learning_rate, dtype="float32")
    if name in ("step_counter", "dynamic_scale"):
        return np.asarray(getattr(optimizer, name).item(), dtype="int32" if name == "step_counter" else "float32")
    if name == "u_product":
        return np.asarray(float(optimizer.slots["u_product"][0]), dtype="float32")
    slot = optimizer.slots[name][optimizer._positions[id(view.tensor)]].detach()
    return (slot if _in_keras_layout(optimizer, name) else view.to_keras(slot)).cpu().numpy()


def read_optimizer_variables(model, group) -> bool:
    """Restore the model's (compiled) optimizer from ``group["optimizer/vars"]``; False, changing nothing, when the
    file's variables do not match the plan in number and shapes (another optimizer, or another Keras' order)."""
    if model.optimizer is None or "optimizer" not in group or "vars" not in group["optimizer"]:
        return False
    model.optimizer.build_for(model)
    parts = _plan_parts(model)
    stored = group["optimizer"]["vars"]
    entries = [(owner, name, view) for owner, plan in parts or [] for name, view in plan]
    if parts is None or len(stored) != len(entries):
        return False
    values = [np.asarray(stored[str(i)]) for i in range(len(entries))]
    for (optimizer, name, view), value in zip(entries, values):
        if view is None:
            continue
        slot = optimizer.slots[name][optimizer._positions[id(view.tensor)]]
        expected = tuple(slot.shape) if _in_keras_layout(optimizer, name) else view.keras_shape
        if tuple(value.shape) != expected:
            return False
    from layerwise.optimizers import LossScaleOptimizer, MultiOptimizer

    with torch.no_grad():
        for (optimizer, name, view), value in zip(entries, values):
            if isinstance(optimizer, LossScaleOptimizer) and name in ("iterations", "learning_rate"):
                continue  # unused: its inner optimizer's follow
            if name == "iterations":
                optimizer.iterations = int(value)
            elif name == "learning_rate":
                if not isinstance(optimizer, MultiOptimizer):
                    optimizer.learning_rate = float(value)
            elif name in ("step_counter", "dynamic_scale"):
                getattr(optimizer, name).fill_(value.item())
            elif name == "u_product":
                optimizer.slots["u_product"][0].fill_(float(value))
            else:
                slot = optimizer.slots[name][optimizer._positions[id(view.tensor)]]
                value = torch.as_tensor(value, dtype=slot.dtype)
                slot.copy_((value if _in_keras_layout(optimizer, name) else view.from_keras(value)).to(slot.device))
    return True
