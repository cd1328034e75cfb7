"""The layouts that hand every layer's activation on as (B, C, H, W) (`hooks`): patch tokens
(`TokenGrid`), channels-last maps (`ChannelsLast`) and tokens grouped in blocks of the picture
(`TokenBlocks`); `lay_out` applies one to a layer's raw output or to a gradient of its shape.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

# The most register tokens a network without a declared count is guessed to have
REGISTERS = 16


@dataclass(frozen=True)
class TokenGrid:
    """(B, prefix + height*width, D) tokens -> (B, D, height, width) patch maps; tokens of
    another count (a network that takes pictures of any size, PVTv2's and Twins', run at
    another size than the catalog's probe) on the grid of that count in the same proportions."""

    prefix: int
    height: int
    width: int

    def __call__(self, tokens: torch.Tensor) -> torch.Tensor:
        b, n, d = tokens.shape
        patches = tokens[:, self.prefix :, :]
        height, width = self.height, self.width
        if height * width != n - self.prefix:
            height, width = self.grid_of(n - self.prefix)
        return patches.transpose(1, 2).reshape(b, d, height, width)

    def fits(self, tensor: torch.Tensor) -> bool:
        """Whether `tensor` has this layout's raw shape (B, prefix + height*width, D)."""
        return tensor.dim() == 3 and tensor.shape[1] == self.prefix + self.height * self.width

    def grid_of(self, count: int) -> tuple[int, int]:
        """(height, width) of `count` patches in this grid's proportions (of the grids whose
        sides multiply to `count`, the nearest)."""
        grids = _grids(count)
        if not grids:
            return self.height, self.width  # no patches: the reshape says what it got
        return min(grids, key=lambda g: abs(g[0] * self.width - g[1] * self.height))

    @classmethod
    def guess(
        cls, tokens: int, prefix: int | None = None, picture: tuple[int, int] = (1, 1)
    ) -> TokenGrid | None:
        """The grid `tokens` hold after `prefix` tokens, in the proportions of the `picture`
        (height, width) they came from: a square one's square grid, a 32 x 48 px one's 2 x 3 (of
        the grids whose sides multiply to the count, the nearest to its proportions, within a
        quarter). `prefix` is tried first; then, or when not given, the fewest prefix tokens that
        leave such a grid, up to a class token, a distillation token and `REGISTERS` registers,
        and fewer than the grid's patches (a guess: at 16 px, five prefix tokens and a 2 x 2
        grid are nine tokens, as a 3 x 3 grid is; CaiT's and XCiT's blocks run before their
        class token joins; a ViT with a class token and four registers has five)."""
        tried = (() if prefix is None else (prefix,)) + tuple(range(3 + REGISTERS))
        for p in dict.fromkeys(tried):
            count = tokens - p
            if count < 2 or (count <= p and p != prefix):  # a guess: fewer prefix than patches
                continue
            grid = _proportioned(count, picture)
            if grid is not None and grid != (1, 1):
                return cls(p, *grid)
        return None


@dataclass(frozen=True)
class ChannelsLast:
    """(B, H, W, C) -> (B, C, H, W)."""

    def __call__(self, maps: torch.Tensor) -> torch.Tensor:
        return maps.permute(0, 3, 1, 2)


@dataclass(frozen=True)
class TokenBlocks:
    """(B, blocks, tokens per block, D) -> (B, D, height, width): tokens a network groups into
    blocks of the picture (NesT's levels: `rows` x `cols` blocks of `tall` x `wide` tokens,
    each block's tokens row by row, the blocks row by row) laid out as the picture they tile;
    tokens of other counts on the grids of those counts in the same proportions."""

    rows: int
    cols: int
    tall: int
    wide: int

    def __call__(self, tokens: torch.Tensor) -> torch.Tensor:
        b, t, n, d = tokens.shape
        rows, cols, tall, wide = self.rows, self.cols, self.tall, self.wide
        if rows * cols != t:
            rows, cols = TokenGrid(0, rows, cols).grid_of(t)
        if tall * wide != n:
            tall, wide = TokenGrid(0, tall, wide).grid_of(n)
        cells = tokens.reshape(b, rows, cols, tall, wide, d).permute(0, 5, 1, 3, 2, 4)
        return cells.reshape(b, d, rows * tall, cols * wide)

    def fits(self, tensor: torch.Tensor) -> bool:
        """Whether `tensor` has this layout's raw shape (B, blocks, tokens per block, D)."""
        return tensor.dim() == 4 and tuple(tensor.shape[1:3]) == (
            self.rows * self.cols, self.tall * self.wide)

    @classmethod
    def guess(cls, blocks: int, tokens: int, picture: tuple[int, int]) -> TokenBlocks | None:
        """`blocks` blocks of `tokens` tokens that tile a picture of `picture`'s proportions
        (height, width): the blocks on a grid in those proportions (within a quarter; one block
        is the whole picture), each block's tokens on the grid that keeps the whole map nearest
        to them (the squarer block where two do); None where none does."""
        tall_p, wide_p = picture
        grid = _proportioned(blocks, picture)
        if grid is None or tokens < 2:
            return None
        rows, cols = grid
        tall, wide = min(_grids(tokens), key=lambda c: (
            abs(rows * c[0] * wide_p - cols * c[1] * tall_p), abs(c[0] - c[1])))
        if abs(rows * tall * wide_p - cols * wide * tall_p) > 0.25 * cols * wide * tall_p:
            return None
        return cls(rows, cols, tall, wide)


def _proportioned(count: int, picture: tuple[int, int]) -> tuple[int, int] | None:
    """The (height, width) grid of `count` cells nearest to `picture`'s proportions, within a
    quarter (a square picture's: a square); None where none is (1 x 1 for one cell)."""
    tall, wide = picture
    if tall == wide:
        side = math.isqrt(count)
        return (side, side) if side * side == count else None
    grids = _grids(count)
    if not grids:
        return None
    h, w = min(grids, key=lambda g: abs(g[0] * wide - g[1] * tall))
    return (h, w) if abs(h * wide - w * tall) <= 0.25 * w * tall else None


def _grids(count: int) -> list[tuple[int, int]]:
    """Every (height, width) whose sides multiply to `count`, shortest height first."""
    return [(h, count // h) for h in range(1, count + 1) if count % h == 0]


Layout = TokenGrid | ChannelsLast | TokenBlocks


def lay_out(raw: torch.Tensor, layout: Layout | None) -> torch.Tensor:
    """`raw` (a layer's output, or a gradient of that shape) as (B, C, H, W)."""
    return raw if layout is None else layout(raw)
