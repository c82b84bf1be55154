"""RandomShear, as Keras 3: a random shear of each image about its top-left pixel, resampled with Keras'
fill modes and interpolations (the affine machinery of ``augmentation.py``).

Inputs are channels-last ``(batch, height, width, channels)`` or ``(height, width, channels)``; they
change only while training.
"""
from __future__ import annotations

import torch

from layerwise.layers.augmentation import _AffineLayer, affine_transform
from layerwise.layers.augmentation_base import is_number
from layerwise.layers.augmentation_color import unit_factor


class RandomShear(_AffineLayer):
    """Shears each image: output pixel ``(x, y)`` reads the input at ``(x + sx * y, y + sy * x)``, with
    ``sx`` drawn from ``x_factor`` and ``sy`` from ``y_factor`` and both negated together by a fair coin.
    Factors are numbers in [0, 1] (``f``: ``(-f, f)``) or pairs of them."""

    resolved_config = ("x_factor", "y_factor")

    def __init__(self, x_factor=0.0, y_factor=0.0, interpolation: str = "bilinear", fill_mode: str = "reflect",
                 fill_value: float = 0.0, data_format: str | None = None, seed: int | None = None, **kwargs):
        super().__init__(fill_mode, interpolation, seed, fill_value, data_format, **kwargs)
        self.x_factor = unit_factor("RandomShear", x_factor, "x_factor", True)
        self.y_factor = unit_factor("RandomShear", y_factor, "y_factor", True)

    @classmethod
    def from_config(cls, config: dict) -> "RandomShear":
        """As the constructor, and also a config written by Keras (or by this layer): its ``x_factor=0.4`` is the
        pair ``(-0.4, 0.4)``, which Keras' own constructor rejects (a pair's numbers lie in [0, 1]); such a
        symmetric pair is read back as the number it came from, the same layer."""
        config = dict(config)
        for key in ("x_factor", "y_factor"):
            value = config.get(key)
            if isinstance(value, (tuple, list)) and len(value) == 2 and all(is_number(v) for v in value) and \
                    value[0] < 0 and value[0] == -value[1]:
                config[key] = value[1]
        return cls(**config)

    def get_random_transformation(self, images: torch.Tensor, training: bool = True):
        """``{"shear_factor": (batch, 2)}``: each image's ``(sx, sy)``."""
        if not training:
            return None
        batch = images.shape[0]
        sign = torch.where(self.uniform(batch, 0.0, 1.0, images) > 0.5, -1.0, 1.0).to(images.dtype)
        shear_y = self.uniform(batch, *self.y_factor, images)
        shear_x = self.uniform(batch, *self.x_factor, images)
        return {"shear_factor": torch.stack([shear_x, shear_y], dim=1) * sign[:, None]}

    def transform_images(self, images: torch.Tensor, transformation, training: bool = True) -> torch.Tensor:
        """The batch ``images`` sheared by ``transformation``; unchanged when not ``training``."""
        if not training or transformation is None:
            return images
        shear = transformation["shear_factor"].to(images.dtype)
        ones, zeros = torch.ones_like(shear[:, 0]), torch.zeros_like(shear[:, 0])
        matrices = torch.stack([ones, shear[:, 0], zeros, shear[:, 1], ones, zeros], dim=1).view(-1, 2, 3)
        return affine_transform(images, matrices, self.interpolation, self.fill_mode, self.fill_value)

    def augment(self, x: torch.Tensor) -> torch.Tensor:
        return self.transform_images(x, self.get_random_transformation(x))
