"""How a layer's raw output reads as a picture's map: its channels, height, width and the
`Layout` that lays it out as (B, C, H, W) (`shape_of`), told by the proportions of the picture
the catalog's probe ran on; `models.catalog` keeps the layers whose output reads so.
"""

from __future__ import annotations

import torch

from generator.models.base import Size, sides
from generator.models.layouts import ChannelsLast, Layout, TokenBlocks, TokenGrid

Shape = tuple[int, int, int, Layout | None]


def shape_of(raw: torch.Tensor, prefix_tokens: int | None, size: Size) -> Shape | None:
    """(channels, height, width, layout) of a feature map, a channels-last map, patch tokens or
    tokens in blocks of the picture (`blocked`), else None; one whose first dimension is not
    the probe's batch of one (TNT's pixel tokens, a batch per patch; an attention's heads) is
    none. A map is told by the probe picture's proportions (`size`): channels last when its two
    middle sizes keep them more closely than its last two do (at a square size: the two middle
    agree, the last differs; one as wide as it has channels reads as (B, C, H, W)); a
    channels-last map may also read as blocks (16 blocks of 16 tokens: the catalog tells which)."""
    if raw.dim() < 3 or raw.shape[0] != 1:
        return None
    if raw.dim() == 4:
        _, a, b, c = (int(n) for n in raw.shape)
        if _off(a, b, size) < _off(b, c, size):  # a 1 x 1 map is pooled: none, either way
            if a * b > 1 and _fits(a, b, size):
                return c, a, b, ChannelsLast()
            return blocked(raw, size)
        if c > 1 and _fits(b, c, size):
            return a, b, c, None
        return blocked(raw, size)
    if raw.dim() == 3:
        grid = TokenGrid.guess(int(raw.shape[1]), prefix_tokens, sides(size))
        if grid is not None:
            return int(raw.shape[2]), grid.height, grid.width, grid
    return None


def blocked(raw: torch.Tensor, size: Size) -> Shape | None:
    """The shape of a (B, blocks, tokens per block, D) tensor read as blocks that tile a `size`
    picture (`TokenBlocks`: NesT's levels), where it reads so; else None."""
    if raw.dim() != 4:
        return None
    _, blocks, tokens, channels = (int(n) for n in raw.shape)
    tiles = TokenBlocks.guess(blocks, tokens, sides(size))
    if tiles is None:
        return None
    height, width = tiles.rows * tiles.tall, tiles.cols * tiles.wide
    return (channels, height, width, tiles) if _fits(height, width, size) else None


def from_corner(change: torch.Tensor) -> float:
    """How far an (H, W) map of changes lies from its top-left corner, on average (0: all in
    the corner, 2: all in the opposite one; infinite where nothing changed)."""
    total = float(change.sum())
    if not total > 0:
        return float("inf")
    height, width = change.shape
    ys = (torch.arange(height, dtype=change.dtype) + 0.5) / height
    xs = (torch.arange(width, dtype=change.dtype) + 0.5) / width
    return float((change * (ys[:, None] + xs[None, :])).sum()) / total


def _fits(height: int, width: int, size: Size) -> bool:
    """Whether a height x width map keeps the proportions of a `size` picture to within the
    rounding of its strides (two of its pixels): an attention's (B, heads, tokens, D) tensor
    (CoaT's relative position encodings: 8 x 3137, 50 x 40 at 224 px) is no map."""
    tall, wide = sides(size)
    return abs(height * wide - width * tall) <= 2 * max(tall, wide)


def _off(height: int, width: int, size: Size) -> float:
    """How far a height x width map is from the proportions of a `size` picture (0: the same)."""
    tall, wide = sides(size)
    return abs(height * wide - width * tall) / (width * tall)
