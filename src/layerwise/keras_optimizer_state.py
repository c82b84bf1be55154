"""An optimizer's state as Keras 3.15 keeps it in a weights file (``optimizer/vars/<i>``), written and read back.

Keras lists an optimizer's variables as it creates them: ``iterations``, the learning rate (unless it is a
schedule), then the variables of each ``add_optimizer_variables`` call, one per trained weight in
``model.trainable_weights`` order, the names of one call interleaved per weight (Adam: momentum and velocity of
the first weight, then of the second...). EMA averages come first, ``velocity_hat`` (amsgrad) and RMSprop's
momentum and average gradient in calls of their own, Nadam's ``u_product`` last. Adafactor adds, weight by weight,
its row and column factors (0-D placeholders for weights of fewer than 2 axes) and velocity; Muon a momentum, and a
velocity for the weights it updates with AdamW. Slots are in Keras' layout (each weight view's ``to_keras``; Adafactor
keeps its factors in that layout already). ``keras_variable_plan`` is that list for a compiled model; the writer and
the reader walk it.
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
    return ([("average",)] if "average" in optimizer.slots else []) + groups


def keras_variable_plan(model) -> list[tuple[str, object]] | None:
    """Keras' variables of the model's (built) optimizer in order: ``("iterations", None)``, ``("learning_rate",
    None)``, ``(slot name, weight view)``..., ``("u_product", None)``; None when Keras' order is not known here or
    the optimizer has not taken a step."""
    from layerwise.optimizers import Muon, Nadam

    optimizer = model.optimizer
    groups = None if optimizer is None or not optimizer.built else _slot_groups(optimizer)
    if groups is None:
        return None
    trained = {id(p) for p in optimizer.params}
    views = {id(v.tensor): v for v in model.weight_views()}
    weights = [views[id(p)] for p in model.trainable_weights if id(p) in trained and id(p) in views]
    plan: list[tuple[str, object]] = [("iterations", None)]
    if not isinstance(optimizer._learning_rate, LearningRateSchedule):  # Keras keeps a schedule outside its variables
        plan.append(("learning_rate", None))
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
    first step only ``iterations`` and the learning rate, the variables a Keras optimizer has from the start."""
    optimizer = model.optimizer
    plan = keras_variable_plan(model)
    if plan is None and optimizer is not None and not optimizer.built:
        plan = [("iterations", None)] + ([] if isinstance(optimizer._learning_rate, LearningRateSchedule)
                                         else [("learning_rate", None)])
    if plan is None:
        return
    index = {id(p): i for i, p in enumerate(optimizer.params)}
    target = group.create_group("optimizer").create_group("vars")
    for i, (name, view) in enumerate(plan):
        if name == "iterations":
            value = np.asarray(optimizer.iterations, dtype="int64")
        elif name == "learning_rate":
            value = np.asarray(optimizer.learning_rate, dtype="float32")
        elif name == "u_product":
            value = np.asarray(float(optimizer.slots["u_product"][0]), dtype="float32")
        else:
            slot = optimizer.slots[name][index[id(view.tensor)]].detach()
            value = (slot if _in_keras_layout(optimizer, name) else view.to_keras(slot)).cpu().numpy()
        target.create_dataset(str(i), data=value)


def read_optimizer_variables(model, group) -> bool:
    """Restore the model's (compiled) optimizer from ``group["optimizer/vars"]``; False, changing nothing, when the
    file's variables do not match the plan in number and shapes (another optimizer, or another Keras' order)."""
    if model.optimizer is None or "optimizer" not in group or "vars" not in group["optimizer"]:
        return False
    model.optimizer.build_for(model)
    plan = keras_variable_plan(model)
    stored = group["optimizer"]["vars"]
    if plan is None or len(stored) != len(plan):
        return False
    values = [np.asarray(stored[str(i)]) for i in range(len(plan))]
    optimizer = model.optimizer
    index = {id(p): i for i, p in enumerate(optimizer.params)}
    for (name, view), value in zip(plan, values):
        if view is None:
            continue
        in_keras_layout = _in_keras_layout(optimizer, name)
        expected = tuple(optimizer.slots[name][index[id(view.tensor)]].shape) if in_keras_layout else view.keras_shape
        if tuple(value.shape) != expected:
            return False
    with torch.no_grad():
        for (name, view), value in zip(plan, values):
            if name == "iterations":
                optimizer.iterations = int(value)
            elif name == "learning_rate":
                optimizer.learning_rate = float(value)
            elif name == "u_product":
                optimizer.slots["u_product"][0].fill_(float(value))
            else:
                slot = optimizer.slots[name][index[id(view.tensor)]]
                value = torch.as_tensor(value, dtype=slot.dtype)
                slot.copy_((value if _in_keras_layout(optimizer, name) else view.from_keras(value)).to(slot.device))
    return True
