"""A module's output as the pre-activation probe (`models.preact`) records it (`Call`), and how
outputs made inside a layer make the layer's: one clamped to the layer's range (`clamps_to`), or
several side by side (`side_by_side`: an Inception block's branches, each after its own ReLU).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn


@dataclass(frozen=True)
class Call:
    """One module's output as it was made (a copy: a tensor changed in place after a module
    made it, `out += identity` or an in-place ReLU, is no longer that module's output)."""

    path: str
    module: nn.Module
    output: torch.Tensor
    low: float
    high: float
    floors: int = 0  # how many floors (`floors.Floors`) were made when it was


def clamps_to(made: Call, before: Call) -> bool:
    """Whether `made` is `before` clamped to `made`'s range, with something cut off below."""
    if before.output.shape != made.output.shape or not before.low < made.low:
        return False
    return torch.equal(made.output, before.output.clamp(min=made.low, max=made.high))


def side_by_side(made: Call, calls: list[Call], within: str) -> list[Call] | None:
    """The modules inside the layer (paths under `within`) whose outputs, clamped to the layer's
    range, are its channels side by side, called in that order (the branches of an Inception
    block or a SqueezeNet Fire module, each floored by its own ReLU before `forward`
    concatenates them); None where no such modules make every channel, or where one of them
    never goes below the floor (a pooled branch)."""
    if made.output.dim() != 4:
        return None
    width, start = made.output.shape[1], 0
    found: list[Call] = []
    while (off := sum(c.output.shape[1] for c in found)) < width:
        part = next((
            k for k in range(start, len(calls))
            if calls[k].path.startswith(within) and makes_part(made, calls[k], off)
        ), None)
        if part is None:
            return None
        found.append(calls[part])
        start = part + 1
    # every part below the floor somewhere: a part that is not (a pooling module after a
    # branch's ReLU, or of the block's floored input) is floored itself, so its channels
    # could not go below 0 there either
    cut = all(c.low < made.low for c in found)
    return found if len(found) > 1 and cut else None


def makes_part(made: Call, before: Call, off: int) -> bool:
    out = before.output
    n = out.shape[1] if out.dim() == 4 else 0
    if not n or off + n > made.output.shape[1] or before.low > made.low:
        return False
    if out.shape[0] != made.output.shape[0] or out.shape[2:] != made.output.shape[2:]:
        return False
    piece = made.output[:, off : off + n]
    return torch.equal(piece, out.clamp(min=made.low, max=made.high))
