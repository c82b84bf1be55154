"""SpectralNormalization: keeps the spectral norm (largest singular value) of a layer's kernel near 1, as
Keras' ``keras.layers.SpectralNormalization`` (Miyato et al. 2018, for GAN discriminators)."""
from __future__ import annotations

import torch

from layerwise import initializers
from layerwise.backend import epsilon, float_dtype
from layerwise.layers.base import Layer, Shape
from layerwise.layers.input_spec import InputSpec
from layerwise.layers.weights import LayerState, WeightView
from layerwise.layers.wrappers import Wrapper


def _normalize(x: torch.Tensor) -> torch.Tensor:
    """``x`` over its L2 norm, as ``keras.ops.normalize(x, axis=None)``: the reciprocal norm is capped at
    ``1 / epsilon`` so that zeros stay zeros."""
    return x * torch.rsqrt(x.square().sum()).clamp(max=1.0 / epsilon())


class SpectralNormalization(Wrapper):
    """Wraps a layer with a ``kernel`` (Dense, Conv...) or ``embeddings`` (Embedding). In training, each call
    first divides that weight, in place, by its spectral norm ``sigma`` estimated by ``power_iterations``
    steps of power iteration from the kept vector ``vector_u`` (``(1, kernel.shape[-1])``, not trainable),
    then calls the layer; at inference it only calls the layer. Keras' weight order: the kernel,
    ``vector_u``, then the layer's other weights.
    """

    def __init__(self, layer: Layer, power_iterations: int = 1, **kwargs):
        super().__init__(layer, **kwargs)
        if power_iterations <= 0:
            raise ValueError("SpectralNormalization power_iterations should be greater than zero. Received: "
                             f"power_iterations={power_iterations}")
        self.power_iterations = power_iterations

    def build(self, input_shape: Shape) -> None:
        # What Wrapper.build does, inline: calling it (a build itself) would mark this layer built too early.
        self.layer.build_from(input_shape)
        self.input_spec = InputSpec(min_ndim=1, axes={-1: input_shape[-1]})
        views = {view.name: view for view in self.layer.weight_views()}
        self._kernel_name = "kernel" if "kernel" in views else "embeddings" if "embeddings" in views else None
        if self._kernel_name is None:
            raise ValueError(f"{type(self.layer).__name__} object has no attribute 'kernel' nor 'embeddings'")
        columns = views[self._kernel_name].keras_shape[-1]
        self.register_buffer("vector_u", LayerState(initializers.TruncatedNormal(stddev=0.02)((1, columns),
                                                                                           float_dtype())))

    def _kernel_view(self) -> WeightView:
        return next(view for view in self.layer.weight_views() if view.name == self._kernel_name)

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        return self.layer.compute_output_shape(input_shape)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The wrapped layer's output, after normalising its kernel when training."""
        if self.training:
            self._normalize_kernel()
        return self.layer(x).to(x.dtype)

    @torch.no_grad()
    def _normalize_kernel(self) -> None:
        view = self._kernel_view()
        new_u, new_kernel = self.normalized_weights()
        # Keras leaves an all-zero kernel (and vector_u) as they are; chosen on the device, without a sync.
        zero = ~view.tensor.any()
        self.vector_u.copy_(torch.where(zero, self.vector_u, new_u))
        view.tensor.copy_(torch.where(zero, view.tensor, view.from_keras(new_kernel)))

    @torch.no_grad()
    def normalized_weights(self) -> tuple[torch.Tensor, torch.Tensor]:
        """``(vector_u, kernel / sigma)``, the kernel in Keras' layout, without changing either weight."""
        view = self._kernel_view()
        kernel = view.to_keras(view.tensor)
        weights = kernel.reshape(-1, kernel.shape[-1])
        vector_u = self.vector_u
        for _ in range(self.power_iterations):
            vector_v = _normalize(vector_u @ weights.T)
            vector_u = _normalize(vector_v @ weights)
        sigma = vector_v @ weights @ vector_u.T
        return vector_u, kernel / sigma

    def weight_views(self) -> list[WeightView]:
        views = [WeightView(v.name, v.tensor, v.trainable and self.layer.trainable, v.to_keras, v.from_keras,
                            path_tail=f"{self.layer.name}/{v.path_tail}") for v in self.layer.weight_views()]
        if not self.built:
            return views
        kernel = next(v for v in views if v.name == self._kernel_name)
        rest = [v for v in views if v is not kernel]
        return [kernel, WeightView("vector_u", self.vector_u, trainable=False), *rest]
