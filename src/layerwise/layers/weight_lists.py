"""Keras' ``variables``, ``trainable_variables``, ``non_trainable_variables`` and ``count_params``, shared by
``Layer`` and ``Model`` (each lists its own ``weights``, ``trainable_weights`` and ``non_trainable_weights``)."""
from __future__ import annotations

import torch


# Keras' layers whose constructors mark them built (``_build_at_init``: no weights to make), so that their
# ``count_params`` is 0 before any call; every other layer raises until it is built.
BUILT_AT_INIT = frozenset({
    "Activation", "ActivityRegularization", "AlphaDropout", "Dropout", "ELU", "GaussianDropout", "GaussianNoise",
    "Identity", "LeakyReLU", "Masking", "ReLU", "Reshape", "Softmax", "SpatialDropout1D", "SpatialDropout2D",
    "SpatialDropout3D", "UnitNormalization",
    *(f"{kind}Pooling{rank}D" for kind in ("Max", "Average", "GlobalMax", "GlobalAverage") for rank in (1, 2, 3))})


class WeightLists:
    """Mixin: Keras' names for the weight lists, and the parameter count of a built layer or model."""

    unbuilt_hint = ""  # what count_params' error adds after Keras' advice (a model's other ways to be built)

    @property
    def variables(self) -> list[torch.Tensor]:
        """Keras' ``variables``: the ``weights``, non-trainable ones included (BatchNormalization's moving
        statistics); no optimizer or metric state. Keras adds its SeedGenerators' states, which have no
        counterpart here (random layers draw from torch's generator)."""
        return self.weights

    @property
    def trainable_variables(self) -> list[torch.Tensor]:
        """Keras' ``trainable_variables``: the ``trainable_weights`` (none while frozen)."""
        return self.trainable_weights

    @property
    def non_trainable_variables(self) -> list[torch.Tensor]:
        """Keras' ``non_trainable_variables``: the ``non_trainable_weights`` (all of them while frozen)."""
        return self.non_trainable_weights

    def count_params(self) -> int:
        """The number of scalars in the weights (each shared weight once); as in Keras, a ValueError before the
        layer or model is built, rather than a count of 0 that looks like a real one."""
        if not self.built:  # the layers in BUILT_AT_INIT are built from their construction
            raise ValueError(f"You tried to call `count_params` on layer '{self.name}', but the layer isn't built. "
                             f"You can build it manually via: `layer.build(input_shape)`.{self.unbuilt_hint}")
        return sum(int(w.numel()) for w in {id(w): w for w in self.weights}.values())
