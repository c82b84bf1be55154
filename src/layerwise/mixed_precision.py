"""Keras' ``keras.mixed_precision``: the legacy names of the dtype-policy API, and ``LossScaleOptimizer``.

    keras.mixed_precision.set_global_policy("mixed_bfloat16")   # layers made from now on compute in bfloat16
    outputs = Dense(10, activation="softmax", dtype="float32")(x)  # the usual float32 output layer
"""
from layerwise.dtype_policies import DTypePolicy
from layerwise.dtype_policies.dtype_policy import dtype_policy, set_dtype_policy
from layerwise.optimizers.loss_scale_optimizer import LossScaleOptimizer

Policy = DTypePolicy
global_policy = dtype_policy
set_global_policy = set_dtype_policy

__all__ = ["DTypePolicy", "LossScaleOptimizer", "Policy", "dtype_policy", "global_policy", "set_dtype_policy",
           "set_global_policy"]
