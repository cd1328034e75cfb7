"""The exact method for adjacent convolutions: when the target layer's output is one ungrouped
convolution of exactly the source layer's output, followed only by batch norm and element-wise
modules, `M[t, s]` is the signed sum of the kernel W[t, s] scaled by the batch norm's
per-channel factor; `magnitude[t, s]` is the sum of |W[t, s]| with the same scale. (Loaded models
have their norms folded into the kernels already, `generator.models.fold`: the scale is then 1.)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from generator.atlas.circuits.attribution import Stop
from generator.core.errors import FeatvisError
from generator.models.base import LayerInfo, LoadedModel
from generator.models.fold import FoldedNorm
from generator.models.hooks import tensor_of

_ELEMENTWISE = (
    nn.BatchNorm2d,
    FoldedNorm,
    nn.Identity,
    nn.Dropout,
    nn.Dropout2d,
    nn.ReLU,
    nn.ReLU6,
    nn.SiLU,
    nn.GELU,
    nn.Hardswish,
    nn.Hardtanh,
    nn.LeakyReLU,
    nn.ELU,
    nn.Mish,
    nn.Sigmoid,
)


def _modules_between(
    model: LoadedModel, src: LayerInfo, tgt: LayerInfo
) -> tuple[list[tuple[str, nn.Module, tuple[Any, ...]]], torch.Tensor | None]:
    """The modules entered after the source layer's output and up to the target's output, with
    their inputs, on one probe image; and the source's output tensor."""
    modules = dict(model.net.named_modules())
    entered: list[tuple[str, nn.Module, tuple[Any, ...]]] = []
    box: dict[str, torch.Tensor] = {}

    def pre(name: str) -> Callable[[nn.Module, tuple[Any, ...]], None]:
        def hook(module: nn.Module, args: tuple[Any, ...]) -> None:
            if "source" in box:
                entered.append((name, module, args))

        return hook

    def seen(_m: nn.Module, _i: object, out: object) -> None:
        made = tensor_of(out)
        if made is not None:
            box["source"] = made

    def stop(_m: nn.Module, _i: object, out: torch.Tensor) -> None:
        raise Stop

    handles = [m.register_forward_pre_hook(pre(name)) for name, m in modules.items() if name]
    handles.append(modules[src.module_path].register_forward_hook(seen))
    handles.append(modules[tgt.module_path].register_forward_hook(stop))
    try:
        with torch.no_grad():
            model.net(torch.zeros(1, 3, *model.input_shape, device=model.device))
    except Stop:
        pass
    finally:
        for handle in handles:
            handle.remove()
    return entered, box.get("source")


def adjacent_conv(model: LoadedModel, source: str, target: str) -> tuple[nn.Conv2d, Any] | None:
    """(conv, batch norm or None) when `target` is one ungrouped convolution of exactly
    `source`'s output followed only by batch norm and element-wise modules; else None."""
    src, tgt = model.layer(source), model.layer(target)
    if src.depth >= tgt.depth:
        return None
    entered, source_out = _modules_between(model, src, tgt)
    # pure containers only route; any other module (a whole block) ends the search
    chain = [item for item in entered if not isinstance(item[1], (nn.Sequential, nn.ModuleList))]
    if not chain:
        return None
    name, conv, args = chain[0]
    if not isinstance(conv, nn.Conv2d) or conv.groups != 1 or not args or args[0] is not source_out:
        return None
    norm = None
    for _, module, _ in chain[1:]:
        if not isinstance(module, _ELEMENTWISE):
            return None
        if isinstance(module, nn.BatchNorm2d):
            if norm is not None:
                return None
            norm = module
    return conv, norm


def weights_matrix(
    model: LoadedModel, source: str, target: str
) -> tuple[torch.Tensor, torch.Tensor]:
    """(signed, magnitude) matrices of the adjacent convolution from `source` to `target`."""
    found = adjacent_conv(model, source, target)
    if found is None:
        raise FeatvisError(
            f"circuit {source} -> {target}: the weights method needs '{target}' to be one "
            f"convolution of '{source}' (valid here: method = \"attribution\")"
        )
    conv, norm = found
    weight = conv.weight.detach().float().cpu()
    scale = torch.ones(weight.shape[0])
    if norm is not None and norm.running_var is not None:
        scale = 1.0 / torch.sqrt(norm.running_var.detach().float().cpu() + norm.eps)
        if norm.weight is not None:
            scale = scale * norm.weight.detach().float().cpu()
    signed = weight.sum(dim=(2, 3)) * scale[:, None]
    magnitude = weight.abs().sum(dim=(2, 3)) * scale.abs()[:, None]
    return signed, magnitude
