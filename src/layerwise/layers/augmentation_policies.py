"""Keras 3's augmentation policies built from the other augmentation layers: RandAugment and AugMix.

Both hold Keras' operations at one strength ``factor`` (a number ``f`` in [0, 1]: ``(0, f)``; a pair: sorted):
RandomShear, RandomTranslation and RandomRotation with ``factor`` as their factors, RandomBrightness,
RandomColorDegeneration, RandomContrast, RandomSharpness and Solarization (addition and threshold) likewise,
RandomPosterization keeping ``max(1, int(8 * factor[1]))`` bits at most, AutoContrast and Equalization. Every
operation draws from the policy's generator (``seed``), so one seed fixes the whole sequence of draws. Images
are channels-last ``(batch, height, width, channels)`` or ``(height, width, channels)`` with values in
``value_range``; they change only while training. See ``augmentation_base.py`` for the two-step API and dicts.
"""
from __future__ import annotations

from typing import Any

import torch

from layerwise.layers.augmentation import RandomBrightness, RandomContrast, RandomRotation, RandomTranslation
from layerwise.layers.augmentation_base import (INTERPOLATIONS, AugmentationLayer, RandomImageLayer, check_choice,
                                                is_number, keras_range, value_range_of)
from layerwise.layers.augmentation_color import (AutoContrast, Equalization, RandomColorDegeneration,
                                                 RandomPosterization, RandomSharpness, Solarization)
from layerwise.layers.augmentation_shear import RandomShear

# Keras' operation names, in Keras' order (RandAugment's indices count in it).
RAND_AUGMENT_OPS = ("random_shear", "random_translation", "random_rotation", "random_brightness",
                    "random_color_degeneration", "random_contrast", "random_sharpness", "random_posterization",
                    "solarization", "auto_contrast", "equalization")
AUG_MIX_OPS = ("random_shear", "random_translation", "random_rotation", "random_posterization", "solarization",
               "auto_contrast", "equalization")
AUG_MIX_ALL_OPS = AUG_MIX_OPS + ("random_brightness", "random_color_degeneration", "random_contrast",
                                 "random_sharpness")


def _operation(name: str, factor: tuple[float, float], value_range, interpolation: str) -> RandomImageLayer:
    """Keras' operation ``name`` at strength ``factor``."""
    if name == "random_shear":
        return RandomShear(x_factor=factor, y_factor=factor, interpolation=interpolation)
    if name == "random_translation":
        return RandomTranslation(factor, factor, interpolation=interpolation)
    if name == "random_rotation":
        return RandomRotation(factor, interpolation=interpolation)
    if name == "random_posterization":
        return RandomPosterization(max(1, int(8 * factor[1])), value_range=value_range)
    if name == "solarization":
        return Solarization(factor, factor, value_range=value_range)
    if name in ("auto_contrast", "equalization"):
        return {"auto_contrast": AutoContrast, "equalization": Equalization}[name](value_range=value_range)
    classes = {"random_brightness": RandomBrightness, "random_color_degeneration": RandomColorDegeneration,
               "random_contrast": RandomContrast, "random_sharpness": RandomSharpness}
    return classes[name](factor, value_range=value_range)


def _count(layer: str, name: str, value, minimum: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise ValueError(f"{layer} {name} must be an integer of at least {minimum}, got {name}={value!r}.")
    return value


class _Policy(AugmentationLayer):
    """A layer applying Keras' operations ``names``, kept out of the module tree (no weights; they follow
    this layer's mode) and drawing from this layer's generator."""

    resolved_config = ("factor",)

    def __init__(self, names: tuple[str, ...], value_range, factor, interpolation: str, seed: int | None,
                 data_format: str | None, **kwargs):
        super().__init__(seed=seed, data_format=data_format, **kwargs)
        layer = type(self).__name__
        self.value_range = value_range_of(layer, value_range)
        self.factor = keras_range(layer, factor, "factor")
        check_choice(layer, "interpolation", interpolation, INTERPOLATIONS)
        self.interpolation = interpolation
        self._ops: dict[str, RandomImageLayer] = {}
        for name in names:
            op = _operation(name, self.factor, value_range, interpolation)
            op.generator = self.generator  # one sequence of draws for the policy, as Keras' shared seed
            self._ops[name] = op

    def check_channels(self, images: torch.Tensor) -> None:
        """RandomColorDegeneration works on RGB (or grey) images only."""
        if "random_color_degeneration" in self._ops and images.shape[-1] not in (1, 3):
            raise ValueError(f"{type(self).__name__} with RandomColorDegeneration among its operations expects RGB "
                             f"images (3 channels, or 1), got images of shape {tuple(images.shape)}.")

    def run(self, x: torch.Tensor, steps, masks: bool = False) -> torch.Tensor:
        """``x`` through the operations ``steps`` (pairs of a name and its transformation) in order; the
        segmentation-mask rules of each when ``masks``."""
        for name, transformation in steps:
            op = self._ops[name]
            x = op.transform_segmentation_masks(x, transformation) if masks else op.transform_images(x, transformation)
        return x


class RandAugment(_Policy):
    """RandAugment: applies ``num_ops`` operations in turn, each picked uniformly (with repeats) among Keras'
    eleven, the same picks for the whole batch and each operation's own draw per image. Labels pass
    through; segmentation masks follow the geometric operations (nearest pixel)."""

    def __init__(self, value_range=(0, 255), num_ops: int = 2, factor=0.5, interpolation: str = "bilinear",
                 seed: int | None = None, data_format: str | None = None, **kwargs):
        super().__init__(RAND_AUGMENT_OPS, value_range, factor, interpolation, seed, data_format, **kwargs)
        self.num_ops = _count("RandAugment", "num_ops", num_ops, 0)

    def draw(self, images: torch.Tensor) -> dict[str, Any]:
        """Keras' ``{"layer_idxes": (num_ops,), "transforms": {name: that operation's transformation}}``."""
        self.check_channels(images)
        indices = self.randint(len(self._ops), (self.num_ops,), images)
        return {"transforms": {name: op.get_random_transformation(images) for name, op in self._ops.items()},
                "layer_idxes": indices}

    def steps(self, transformation: dict) -> list[tuple[str, Any]]:
        transforms = transformation["transforms"]
        names = list(transforms)  # Keras' indices count in the transformation's order
        return [(names[i], transforms[names[i]]) for i in torch.as_tensor(transformation["layer_idxes"]).tolist()]

    def apply(self, images: torch.Tensor, transformation: dict) -> torch.Tensor:
        return self.run(images, self.steps(transformation))

    def transform_segmentation_masks(self, masks, transformation, training: bool = True):
        if not training or transformation is None:
            return masks
        return self.run(self.images_of(masks), self.steps(transformation), masks=True)


class AugMix(_Policy):
    """AugMix: ``num_chains`` chains of up to ``chain_depth`` operations (each step picks uniformly among the
    operations and "none", as Keras) run on the images; their results are mixed with Dirichlet(``alpha``)
    weights, and that mix with the images by ``w ~ Beta(alpha, alpha)``: ``w * images + (1 - w) * mix``,
    clipped to ``value_range``. The picks and weights are per batch, each operation's draws per image.
    ``all_ops=False`` leaves out the brightness, colour, contrast and sharpness operations. Labels pass
    through; segmentation masks are mixed the same way (no clipping), as Keras does."""

    def __init__(self, value_range=(0, 255), num_chains: int = 3, chain_depth: int = 3, factor=0.3,
                 alpha: float = 1.0, all_ops: bool = True, interpolation: str = "bilinear", seed: int | None = None,
                 data_format: str | None = None, **kwargs):
        if not isinstance(all_ops, bool):
            raise ValueError(f"AugMix all_ops must be True or False, got all_ops={all_ops!r}.")
        super().__init__(AUG_MIX_ALL_OPS if all_ops else AUG_MIX_OPS, value_range, factor, interpolation, seed,
                         data_format, **kwargs)
        self.num_chains = _count("AugMix", "num_chains", num_chains, 1)
        self.chain_depth = _count("AugMix", "chain_depth", chain_depth, 0)
        if not is_number(alpha) or alpha <= 0:
            raise ValueError(f"AugMix alpha must be a positive number, got alpha={alpha!r}.")
        self.alpha, self.all_ops = alpha, all_ops

    def draw(self, images: torch.Tensor) -> dict[str, Any]:
        """Keras' ``{"chain_mixing_weights": (num_chains,), "weight_sample": (), "chain_transforms": one list
        per chain of {"layer_name", "transformation"}}``."""
        self.check_channels(images)
        names = list(self._ops)
        weights = self.dirichlet((self.num_chains,), self.alpha, images)
        weight_sample = self.beta(1, self.alpha, images)[0]
        picks = self.randint(len(names) + 1, (self.num_chains, self.chain_depth), images).tolist()
        chains = [[{"layer_name": names[p], "transformation": self._ops[names[p]].get_random_transformation(images)}
                   for p in chain if p < len(names)] for chain in picks]  # index len(names): no operation
        return {"chain_mixing_weights": weights, "weight_sample": weight_sample, "chain_transforms": chains}

    def mix(self, x: torch.Tensor, transformation: dict, masks: bool) -> torch.Tensor:
        weights = torch.as_tensor(transformation["chain_mixing_weights"], device=x.device).to(x.dtype)
        w = torch.as_tensor(transformation["weight_sample"], device=x.device).to(x.dtype)
        mixed = torch.zeros_like(x)
        for weight, chain in zip(weights, transformation["chain_transforms"]):
            steps = [(step["layer_name"], step["transformation"]) for step in chain]
            mixed = mixed + self.run(x, steps, masks) * weight
        return w * x + (1 - w) * mixed

    def apply(self, images: torch.Tensor, transformation: dict) -> torch.Tensor:
        return self.mix(images, transformation, masks=False).clamp(*self.value_range)

    def transform_segmentation_masks(self, masks, transformation, training: bool = True):
        if not training or transformation is None:
            return masks
        return self.mix(self.images_of(masks), transformation, masks=True)
