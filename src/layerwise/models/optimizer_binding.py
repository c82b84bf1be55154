"""How training binds a compiled model's optimizer to the model's weights: built on them the first time; refused,
with Keras' error, when it was built for other weights (another model's), rather than silently updating nothing."""
from __future__ import annotations

from layerwise.optimizers.base import unknown_variable
from layerwise.optimizers.layouts import LayoutAwareOptimizer, keras_layouts

_TRAINING = ("fit", "train_on_batch")  # the methods that step the optimizer (evaluate only builds it, as Keras)


def bind_optimizer(model, what: str | None) -> None:
    """Build ``model.optimizer`` for ``model``, or check that the one already built covers every trainable weight
    when ``what`` (the method called) trains; an Adafactor or Muon built without the model (on bare weights) takes
    Keras' layouts and paths from it."""
    optimizer = model.optimizer
    if not optimizer.built:
        optimizer.build_for(model)
        return
    if what not in _TRAINING:
        return
    known = optimizer._positions  # id -> position, kept by build (and unpickling) in step with params
    missing = [weight for weight in model.trainable_weights if id(weight) not in known]
    if missing:
        layout = keras_layouts(model).get(id(missing[0]))
        raise unknown_variable(missing[0], f"{what}() of model '{model.name}': its optimizer was built for other "
                               "weights, such as another model's; compile it with a new optimizer",
                               *((layout.path, layout.shape) if layout else ()))
    inner = getattr(optimizer, "inner_optimizer", optimizer)  # a LossScaleOptimizer's
    if isinstance(inner, LayoutAwareOptimizer) and not inner._bound:
        inner.bind_model(model)
