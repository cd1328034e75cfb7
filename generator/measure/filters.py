"""The filters of layers that are affine in the pixels (a first convolution and its batch norm).

Such a layer computes `w * x + b` at every position, so maximizing a channel's mean activation
drives the whole image toward one flat colour: the optimized image says little, and the filter `w`
itself says everything. Whether a layer is affine is measured, not read from the architecture: the
input gradient of its centre unit is the same for different images exactly when it is, and its
output at the midpoint of two images is the midpoint of its outputs (which a ReLU layer whose
probed channels sit at 0, with no gradient on either image, fails). The filter of channel c is
that gradient for channel c, cut to where it is non-zero (the receptive field).
Only the first `MAX_DEPTH + 1` layers of the catalog are measured: past the first nonlinearity no
layer is affine, and measuring a deep layer costs forward and backward passes of the network.
"""

from __future__ import annotations

import torch

from generator.models.base import LoadedModel
from generator.optvis.render import truncated_forward

MAX_DEPTH = 1
FILTERS_VERSION = 2  # part of the cached filters' key: bumped when what is affine changes


def _centre_gradients(model: LoadedModel, layer: str, probe: torch.Tensor) -> torch.Tensor:
    """(n, 3, H, W): for probe image i, the input gradient of channel i's centre unit."""
    probe = probe.clone().requires_grad_(True)
    with torch.enable_grad(), truncated_forward(model, [layer]) as (acts, run):
        run(probe)
        act = acts[layer]
        h, w = act.shape[-2:]
        index = torch.arange(probe.shape[0], device=probe.device) % act.shape[1]
        centre = act[torch.arange(probe.shape[0]), index, h // 2, w // 2].sum()
        (grad,) = torch.autograd.grad(centre, probe)
    return grad


def _keeps_midpoints(model: LoadedModel, layer: str, a: torch.Tensor, b: torch.Tensor,
                     tol: float) -> bool:
    """Whether the layer's output at the midpoint of images `a` and `b` is the midpoint of its
    outputs, at every channel and position (as an affine map's is)."""
    with torch.no_grad(), truncated_forward(model, [layer]) as (acts, run):
        run(torch.cat([a, b, (a + b) / 2]))
        out = acts[layer]
    n = a.shape[0]
    ends = (out[:n] + out[n : 2 * n]) / 2
    scale = float(out.abs().max().clamp(min=1e-12))
    return torch.allclose(out[2 * n :], ends, atol=tol * scale, rtol=0)


def linear_filters(model: LoadedModel, layer: str, *, tol: float = 1e-4) -> torch.Tensor | None:
    """(C, 3, k, k) filters of `layer` if it is affine in the pixels, else None; a grey
    network's are grey (R = G = B: the weight on the luminance)."""
    info = model.layer(layer)
    if info.depth > MAX_DEPTH:
        return None
    gen = torch.Generator().manual_seed(0)
    size = model.input_size
    a, b = (torch.rand(2, 3, size, size, generator=gen).to(model.device) for _ in range(2))
    ga, gb = _centre_gradients(model, layer, a), _centre_gradients(model, layer, b)
    scale = ga.abs().max().clamp(min=1e-12)
    if not torch.allclose(ga, gb, atol=tol * float(scale), rtol=0):
        return None
    if not _keeps_midpoints(model, layer, a, b, tol):
        return None
    probe = torch.rand(info.channels, 3, size, size, generator=gen).to(model.device)
    grads = _centre_gradients(model, layer, probe).detach().cpu()  # probe i -> channel i
    if model.grey:  # each colour's gradient is the luminance's times its weight: add them up
        grads = grads.sum(dim=1, keepdim=True).expand(-1, 3, -1, -1).contiguous()
    support = grads.abs().sum(dim=(0, 1)) > 0
    if not bool(support.any()):
        return None  # every filter is zero: no picture to show
    rows, cols = support.any(dim=1).nonzero(), support.any(dim=0).nonzero()
    return grads[:, :, rows.min() : rows.max() + 1, cols.min() : cols.max() + 1]
