"""Batch norms folded into the convolutions before them.

A frozen network in eval mode computes `norm(conv(x))` as one convolution whose weights and bias
hold the norm's scale and shift (`torch.nn.utils.fusion.fuse_conv_bn_eval`), so no forward or
backward pass runs the norm (`benchmarks/bench_fold.py` measures the gain). The function is the
same up to float rounding; the model's weights digest is taken before folding, so cache keys do
not move.

Which norm follows which convolution is observed, not read from the architecture: in one forward
pass a norm whose input is the very tensor a `nn.Conv2d` returned follows it. The norm is replaced
by what remains of it (`nn.Identity` for a plain `nn.BatchNorm2d`; timm's `BatchNormAct2d` keeps its
`drop` and `act` under the same names, so a layer hooked at `bn1.drop` stays where it was). Not
folded: a convolution that is itself a shown layer (its values before the norm are the layer's),
a norm without running statistics, a norm class with other work in its forward. After folding,
every shown layer and the output are compared with the values before on the same input; a
difference beyond rounding (a convolution's output also read by another module) puts every
module back.
"""

from __future__ import annotations

import sys
from collections.abc import Collection
from typing import TYPE_CHECKING

import torch
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

from generator.models.hooks import capture

if TYPE_CHECKING:
    from timm.layers import BatchNormAct2d

TOLERANCE = 1e-3  # of a value's largest magnitude (float rounding, TF32 convolutions on a GPU)


class FoldedNorm(nn.Module):
    """What a timm `BatchNormAct2d` leaves once its norm is folded: dropout, then activation."""

    def __init__(self, norm: BatchNormAct2d) -> None:
        super().__init__()
        self.drop = norm.drop
        self.act = norm.act

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.drop(x))


def _remainder(norm: nn.Module) -> nn.Module | None:
    """The module that replaces a folded `norm`; None for one that cannot be folded."""
    if not isinstance(norm, nn.BatchNorm2d) or norm.running_mean is None:
        return None
    if type(norm) is nn.BatchNorm2d:
        return nn.Identity()
    if type(norm) is _batch_norm_act():
        return FoldedNorm(norm)  # type: ignore[arg-type]
    return None


def _batch_norm_act() -> type | None:
    """timm's `BatchNormAct2d`, read from timm once it is loaded (a network that holds one has
    loaded it), so folding a torchvision or `python:` network does not import timm."""
    return getattr(sys.modules.get("timm.layers.norm_act"), "BatchNormAct2d", None)


def _pairs(net: nn.Module, example: torch.Tensor) -> list[tuple[str, str]]:
    """(convolution, norm) module paths where the norm takes the convolution's output."""
    returned: dict[int, tuple[str, object]] = {}  # the tensors kept alive: ids stay unique
    pairs: list[tuple[str, str]] = []
    handles = []
    for path, module in net.named_modules():
        if isinstance(module, nn.Conv2d):

            def remember(_m: nn.Module, _i: object, out: object, path: str = path) -> None:
                returned[id(out)] = (path, out)

            handles.append(module.register_forward_hook(remember))
        elif isinstance(module, nn.BatchNorm2d):

            def match(_m: nn.Module, args: tuple[object, ...], path: str = path) -> None:
                source = returned.get(id(args[0])) if args else None
                if source is not None:
                    pairs.append((source[0], path))

            handles.append(module.register_forward_pre_hook(match))
    try:
        with torch.no_grad():
            net(example)
    finally:
        for handle in handles:
            handle.remove()
    return pairs


def _outputs(net: nn.Module, example: torch.Tensor, paths: Collection[str]) -> list[torch.Tensor]:
    with torch.no_grad(), capture(net, list(paths)) as store:
        out = net(example)
        values = [store.get(path) for path in paths]
    return [v for v in [*values, out] if isinstance(v, torch.Tensor)]


def _close(before: list[torch.Tensor], after: list[torch.Tensor]) -> bool:
    return len(before) == len(after) and all(
        a.shape == b.shape
        and float((a - b).abs().max()) <= TOLERANCE * float(a.abs().max()) + 1e-6
        for a, b in zip(before, after, strict=True)
    )


def fold_batch_norms(net: nn.Module, example: torch.Tensor, shown: Collection[str]) -> int:
    """Fold every batch norm of the frozen `net` into the convolution before it, in place; the
    number folded (0 when nothing could be, or when the check put everything back). `example`:
    one input as the network takes it; `shown`: the module paths of the layers shown."""
    if not any(isinstance(m, nn.BatchNorm2d) for m in net.modules()):
        return 0
    modules = dict(net.named_modules())
    folds = [
        (conv, norm, rest) for conv, norm in _pairs(net, example)
        if conv not in shown and (rest := _remainder(modules[norm])) is not None
    ]
    if not folds:
        return 0
    before = _outputs(net, example, shown)
    for conv, norm, rest in folds:
        fused = fuse_conv_bn_eval(modules[conv], modules[norm])  # type: ignore[arg-type]
        if modules[conv].weight.is_contiguous(memory_format=torch.channels_last):
            fused = fused.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
        net.set_submodule(conv, fused)
        net.set_submodule(norm, rest)
    if _close(before, _outputs(net, example, shown)):
        return len(folds)
    for conv, norm, _ in folds:  # put back what was there
        net.set_submodule(conv, modules[conv])
        net.set_submodule(norm, modules[norm])
    return 0
