"""Receptive fields, measured from input gradients rather than read from architecture tables.

The input gradient of the centre unit's summed channels over a few seeded noise images: its support
is the theoretical field, the smallest square around its centre of mass holding
`EFFECTIVE_RF_SHARE` of the gradient mass is the effective one. Where the sum does not depend on
the image (a layer norm over channels makes it a constant), the channels are summed with seeded
random signs instead; a centre unit blind to every probe is given the whole input as its field.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from generator.models.base import LayerInfo, LoadedModel
from generator.optvis.render import truncated_forward

EFFECTIVE_RF_SHARE = 0.9
RF_PROBES = 2
WHOLE_PHOTO_SHARE = 0.75  # a field this share of the input or more: show the whole photo


@dataclass(frozen=True)
class ReceptiveField:
    """Where a unit looks, in the model's input pixels: centre of unit (y, x) is
    (y * stride + offset_y, x * stride_x + offset_x); `size` is the effective field's side,
    `support` the theoretical one (clipped to the input). `stride_x` differs from `stride` for a
    network that stretches the square input to a non-square size (0: the same)."""

    stride: float
    size: int
    support: int
    offset_y: float
    offset_x: float
    whole: bool
    stride_x: float = 0.0

    def centre(self, y: int, x: int) -> tuple[float, float]:
        return y * self.stride + self.offset_y, x * (self.stride_x or self.stride) + self.offset_x


def _other(stride_x: float, stride: float) -> float:
    """`stride_x` where it differs from `stride`, else 0 (a square map: one stride)."""
    return 0.0 if stride_x == stride else stride_x


def _whole_input(info: LayerInfo, size: int) -> ReceptiveField:
    stride, stride_x = size / info.height, size / info.width
    centre = (size - 1) / 2
    return ReceptiveField(
        stride=stride,
        size=size,
        support=size,
        offset_y=centre - (info.height // 2) * stride,
        offset_x=centre - (info.width // 2) * stride_x,
        whole=True,
        stride_x=_other(stride_x, stride),
    )


def _field_from_gradient(weight: torch.Tensor, info: LayerInfo, size: int) -> ReceptiveField:
    if not bool((weight > 0).any()):
        return _whole_input(info, size)
    total = weight.sum().clamp(min=1e-30)
    axis = torch.arange(size, dtype=torch.float64)
    com_y = float((weight.sum(1) * axis).sum() / total)
    com_x = float((weight.sum(0) * axis).sum() / total)
    nz = (weight > 0).nonzero()
    support = int(max(nz[:, 0].max() - nz[:, 0].min(), nz[:, 1].max() - nz[:, 1].min()) + 1)
    cy, cx = round(com_y), round(com_x)
    side = size
    for r in range(size):
        box = weight[max(0, cy - r): cy + r + 1, max(0, cx - r): cx + r + 1]
        if box.sum() >= EFFECTIVE_RF_SHARE * total:
            side = 2 * r + 1
            break
    stride, stride_x = size / info.height, size / info.width
    return ReceptiveField(
        stride=stride,
        size=min(side, size),
        support=support,
        offset_y=com_y - (info.height // 2) * stride,
        offset_x=com_x - (info.width // 2) * stride_x,
        whole=side >= WHOLE_PHOTO_SHARE * size,
        stride_x=_other(stride_x, stride),
    )


def _input_weight(unit: torch.Tensor, probe: torch.Tensor) -> torch.Tensor:
    """How much each input pixel moves `unit`: its gradient's magnitude, summed over the probes
    and the colours."""
    (grad,) = torch.autograd.grad(unit, probe, retain_graph=True, allow_unused=True)
    if grad is None:
        return torch.zeros(probe.shape[-2:], dtype=torch.float64)
    return grad.abs().sum(dim=(0, 1)).double().cpu()


def measure_receptive_fields(
    model: LoadedModel, layers: Sequence[str]
) -> dict[str, ReceptiveField]:
    """Measure every layer's receptive field from input gradients of its centre unit."""
    size = model.input_size
    gen = torch.Generator().manual_seed(0)
    probe = torch.rand(RF_PROBES, 3, size, size, generator=gen).to(model.device)
    probe.requires_grad_(True)
    fields: dict[str, ReceptiveField] = {}
    with torch.enable_grad(), truncated_forward(model, layers) as (acts, run):
        run(probe)
        for name in layers:
            info = model.layer(name)
            act = acts[name]
            centre = act[:, :, info.height // 2, info.width // 2]
            weight = _input_weight(centre.sum(), probe)
            if not bool((weight > 0).any()):
                signs = torch.randint(0, 2, (centre.shape[1],), generator=gen) * 2 - 1
                weight = _input_weight((centre * signs.to(centre)).sum(), probe)
            fields[name] = _field_from_gradient(weight, info, size)
    return fields
