"""Forward hooks, and the layout adapter that hands token activations on as feature maps.

`capture(net, paths)` records the outputs of the modules at `paths` for as long as the context is
open; the hooks are removed on exit, on success and on error. A vision transformer's block emits
tokens, (B, prefix + H*W, D); a `TokenGrid` registered for that path (by the model's family, when
its catalog is built) hands them on as (B, D, H, W): the prefix tokens (the class token, a
distillation token, registers) are dropped and the patch tokens laid out on the patch grid. So a
"channel" of a transformer layer is one dimension averaged over the patches and a "neuron" is that
dimension at one patch, and every objective, scan and check reads them like convolutional maps.
The grid is a view of the tokens, not a copy, and gradients flow back through it.
"""

from __future__ import annotations

import math
import weakref
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass

import torch
from torch import nn


@dataclass(frozen=True)
class TokenGrid:
    """(B, prefix + height*width, D) tokens -> (B, D, height, width) patch maps."""

    prefix: int
    height: int
    width: int

    def __call__(self, tokens: torch.Tensor) -> torch.Tensor:
        b, _, d = tokens.shape
        patches = tokens[:, self.prefix :, :]
        return patches.transpose(1, 2).reshape(b, d, self.height, self.width)

    @classmethod
    def guess(cls, tokens: int, prefix: int | None = None) -> TokenGrid | None:
        """The square grid `tokens` hold after `prefix` tokens (tried 0..2 when not given)."""
        for p in (prefix,) if prefix is not None else (0, 1, 2):
            side = math.isqrt(max(tokens - p, 0))
            if side > 1 and side * side == tokens - p:
                return cls(p, side, side)
        return None


# The token layouts of each network, by module path; kept beside (not inside) the network.
_LAYOUTS: weakref.WeakKeyDictionary[nn.Module, dict[str, TokenGrid]] = (
    weakref.WeakKeyDictionary()
)


def set_layouts(net: nn.Module, layouts: Mapping[str, TokenGrid]) -> None:
    _LAYOUTS[net] = dict(layouts)


def layouts_of(net: nn.Module) -> Mapping[str, TokenGrid]:
    return _LAYOUTS.get(net, {})


@contextmanager
def capture(
    net: nn.Module, paths: list[str], layouts: Mapping[str, TokenGrid] | None = None
) -> Iterator[dict[str, torch.Tensor]]:
    """Forward hooks that record the outputs of `paths` (token outputs laid out by `layouts`,
    by default the ones registered for `net`); always removed on exit."""
    modules = dict(net.named_modules())
    grids = layouts_of(net) if layouts is None else layouts
    store: dict[str, torch.Tensor] = {}
    handles = []
    try:
        for path in paths:
            grid = grids.get(path)

            def hook(
                _m: nn.Module, _i: object, out: object, path: str = path, grid: object = grid
            ) -> None:
                if isinstance(out, torch.Tensor):
                    store[path] = grid(out) if isinstance(grid, TokenGrid) else out

            handles.append(modules[path].register_forward_hook(hook))
        yield store
    finally:
        for h in handles:
            h.remove()
