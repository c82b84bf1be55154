"""Keras 3's ContrastLimitedAdaptiveHistogramEqualization (CLAHE): histogram equalization per tile of a grid,
its histograms clipped, the tiles' lookup tables blended bilinearly between tile centres.

Images are channels-last ``(batch, height, width, channels)`` or one image ``(height, width, channels)`` (any
channel count, each equalized on its own), with values in ``value_range``. As in Keras the layer is applied at
inference too, and the result is Keras' on its torch backend step for step: pixel levels are the 0-255 values
truncated to integers, the clip limit in counts is truncated to an integer (that backend counts in integers),
images whose size is not a multiple of the grid are padded at the bottom and right by repeating the edge pixels
(that backend pads 'symmetric' as 'replicate'), and the output is cast back to the input's dtype (integer images
stay integers, truncated).
"""
from __future__ import annotations

import torch

from layerwise.layers.augmentation_base import check_value_range
from layerwise.layers.augmentation_color import ColorLayer, rescale

LEVELS = 256  # histogram bins: one per 0-255 level


def _tile_grid(tile_grid_size) -> tuple[int, int]:
    """``tile_grid_size`` as ``(rows, columns)`` of positive ints, or a ValueError naming the layer."""
    if not isinstance(tile_grid_size, (tuple, list)) or len(tile_grid_size) != 2 or not all(
            isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in tile_grid_size):
        raise ValueError(f"ContrastLimitedAdaptiveHistogramEqualization tile_grid_size must be a pair of positive "
                         f"integers (rows, columns) of tiles, got tile_grid_size={tile_grid_size!r}.")
    return int(tile_grid_size[0]), int(tile_grid_size[1])


def _pad_edges(levels: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """``levels`` ``(batch, h, w, channels)`` grown to ``height`` x ``width`` by repeating the last row and column."""
    rows = torch.arange(height, device=levels.device).clamp_max(levels.shape[1] - 1)
    columns = torch.arange(width, device=levels.device).clamp_max(levels.shape[2] - 1)
    return levels[:, rows][:, :, columns]


def tile_tables(levels: torch.Tensor, grid: tuple[int, int], clip_limit: float) -> torch.Tensor:
    """The equalization table of each tile: ``levels`` ``(batch, grid_h * tile_h, grid_w * tile_w, channels)``
    (integers in [0, 255]) -> float32 ``(batch, grid_h, grid_w, channels, 256)``, the new value of each level."""
    batch, height, width, channels = levels.shape
    grid_h, grid_w = grid
    tile_h, tile_w = height // grid_h, width // grid_w
    tiles = levels.reshape(batch, grid_h, tile_h, grid_w, tile_w, channels).permute(0, 1, 3, 5, 2, 4)
    # All histograms in one bincount: tile t counts its levels in bins [t * 256, (t + 1) * 256).
    count = batch * grid_h * grid_w * channels
    offsets = torch.arange(count, device=levels.device).view(batch, grid_h, grid_w, channels, 1, 1) * LEVELS
    hists = torch.bincount((tiles + offsets).reshape(-1), minlength=count * LEVELS)
    hists = hists.view(batch, grid_h, grid_w, channels, LEVELS).to(torch.float32)
    if clip_limit > 0:
        # Counts above the limit are spread evenly over all the levels. Keras' torch backend counts in integers,
        # so the limit is truncated to one (a limit under 1 spreads every count).
        limit = float(int(clip_limit * (tile_h * tile_w) / 256.0))
        clipped = torch.clip(hists, 0, limit)
        hists = clipped + (hists - clipped).sum(-1, keepdim=True) / 256.0
    cdf = hists.cumsum(-1)
    cdf_min = cdf.amin(-1, keepdim=True)
    denominator = torch.tensor(float(tile_h * tile_w), device=cdf.device) - cdf_min
    denominator = torch.where(denominator == 0, torch.ones_like(denominator), denominator)
    return torch.clip((cdf - cdf_min) * 255.0 / denominator, 0, 255)


def _grid_positions(size: int, tile: int, tiles: int, device: torch.device) -> tuple[torch.Tensor, ...]:
    """For each pixel along one side: the two neighbouring tile centres' indices in the edge-padded table
    (``0 .. tiles + 1``) and the weight of the second, as Keras computes them."""
    position = (torch.arange(size, dtype=torch.float32, device=device) - tile / 2.0) / tile + 1.0
    first = torch.floor(position)
    weight = position - first
    return first.clip(0, tiles + 1).long(), (first + 1.0).clip(0, tiles + 1).long(), weight


def equalize(images: torch.Tensor, grid: tuple[int, int], clip_limit: float) -> torch.Tensor:
    """CLAHE of ``images`` ``(batch, height, width, channels)`` on the 0-255 scale -> float32, same shape."""
    batch, height, width, channels = images.shape
    grid_h, grid_w = grid
    tile_h, tile_w = -(-height // grid_h), -(-width // grid_w)
    levels = _pad_edges(images.clip(0, 255).to(torch.int64), tile_h * grid_h, tile_w * grid_w)
    tables = tile_tables(levels, grid, clip_limit)
    # Edge tiles repeated once around the grid, so that border pixels blend a tile with itself.
    tables = torch.cat([tables[:, :1], tables, tables[:, -1:]], dim=1)
    tables = torch.cat([tables[:, :, :1], tables, tables[:, :, -1:]], dim=2)
    top, bottom, wy = _grid_positions(tile_h * grid_h, tile_h, grid_h, images.device)
    left, right, wx = _grid_positions(tile_w * grid_w, tile_w, grid_w, images.device)
    b = torch.arange(batch, device=images.device).view(-1, 1, 1, 1)
    c = torch.arange(channels, device=images.device).view(1, 1, 1, -1)

    def at(rows: torch.Tensor, columns: torch.Tensor) -> torch.Tensor:
        """Each pixel's level looked up in the table of the tile at (``rows``, ``columns``)."""
        return tables[b, rows.view(1, -1, 1, 1), columns.view(1, 1, -1, 1), c, levels]

    wx, wy = wx.view(1, 1, -1, 1), wy.view(1, -1, 1, 1)
    upper = at(top, left) * (1.0 - wx) + at(top, right) * wx
    lower = at(bottom, left) * (1.0 - wx) + at(bottom, right) * wx
    return (upper * (1.0 - wy) + lower * wy)[:, :height, :width]


class ContrastLimitedAdaptiveHistogramEqualization(ColorLayer):
    """Contrast Limited Adaptive Histogram Equalization, as Keras: each image is cut into a ``tile_grid_size``
    grid of tiles; each tile's histogram of 0-255 levels is clipped at ``clip_limit`` times the mean count (the
    excess spread over all levels; ``clip_limit <= 0``: no clipping) and equalized, and each pixel blends the
    tables of its four nearest tile centres bilinearly. Values are in ``value_range``; shape and dtype are kept.
    Applied at inference too."""

    keeps_dtype = True  # integer images come back as integers, as in Keras

    def __init__(self, value_range=(0, 255), clip_limit: float = 4.0, tile_grid_size=(8, 8),
                 data_format: str | None = None, **kwargs):
        super().__init__(data_format=data_format, **kwargs)
        check_value_range("ContrastLimitedAdaptiveHistogramEqualization", value_range)
        if not isinstance(clip_limit, (int, float)) or isinstance(clip_limit, bool):
            raise ValueError(f"ContrastLimitedAdaptiveHistogramEqualization clip_limit must be a number, got "
                             f"clip_limit={clip_limit!r}.")
        self.value_range, self.clip_limit = value_range, clip_limit  # as given, as Keras' config keeps them
        self.tile_grid_size = tile_grid_size
        self._grid = _tile_grid(tile_grid_size)

    def transform(self, x: torch.Tensor) -> torch.Tensor:
        return self.transform_images(x, None)

    def transform_images(self, images, transformation=None, training=True):
        """The batch ``images`` equalized (whatever ``training``: the layer is deterministic)."""
        low, high = (float(v) for v in self.value_range)
        # Keras rescales in float32, and leaves images already on the 0-255 scale as they are.
        scaled = images if (low, high) == (0.0, 255.0) else rescale(images.to(torch.float32), (low, high), (0, 255))
        out = equalize(scaled, self._grid, float(self.clip_limit))
        return rescale(out, (0, 255), (low, high)).to(images.dtype)
