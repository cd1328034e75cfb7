"""The measured attribution, for any architecture: the gradient of a target channel's
spatial-mean activation with respect to each source channel's activation, times the size of
that activation (its absolute value), summed over positions and averaged over the input images.
Its sign is the gradient's: positive where more of the source raises the target (excites), as
the circuit's colours say, also where a source's activations are signed (a linear bottleneck's
block outputs), where gradient times activation would call a channel that raises the target
"inhibiting" wherever it is negative; on sources that are never negative (after a ReLU) the two
are the same. `benchmarks/bench_circuit_signs.py` holds both against the sources' pictures and
photos.

The network runs once per batch of images up to the target layer, from a grad-requiring leaf
planted either at a source layer's output (`attribution_matrix`, a `layers` circuit) or at the
tensors the target's own module receives (`input_attribution_matrix`, an `inputs` circuit: the
block's inputs, concatenated along the channels in the order the module takes them). Then one
backward pass per target channel over the image batch (`strategy="loop"`), or chunks of target
channels in one vectorized backward (`strategy="batched"`, `is_grads_batched`); both give the
same numbers and `benchmarks/bench_atlas.py` measures which is faster. Hooks live only inside a
context manager.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Literal

import torch
from torch import nn

from generator.core.errors import FeatvisError
from generator.models.base import LayerInfo, LoadedModel
from generator.models.hooks import (
    Layout,
    TokenBlocks,
    TokenGrid,
    lay_out,
    tensor_of,
    with_tensor,
)

Strategy = Literal["loop", "batched"]
IMAGE_BATCH = 8  # images per forward pass: bounds the memory of the retained graph
BATCHED_BYTES = 256 * 2**20  # gradient memory one vectorized backward may take

Run = Callable[[torch.Tensor], tuple[list[torch.Tensor], torch.Tensor]]


class Stop(Exception):
    """Raised by a hook to end a forward pass at the target layer."""


def tensors_in(value: Any) -> list[torch.Tensor]:
    """The tensors of a module's positional arguments, lists and tuples flattened, in order."""
    if isinstance(value, torch.Tensor):
        return [value]
    if isinstance(value, (list, tuple)):
        return [t for item in value for t in tensors_in(item)]
    return []


def laid_out(tensor: torch.Tensor, layout: Layout | None) -> torch.Tensor | None:
    """`tensor` as (B, C, H, W) when it has the raw shape of a layer with `layout` (a block's
    inputs share its output's layout): a 4-D map, channels-last map, patch tokens or tokens in
    blocks; else None."""
    if isinstance(layout, (TokenGrid, TokenBlocks)):
        return layout(tensor) if layout.fits(tensor) else None
    return lay_out(tensor, layout) if tensor.dim() == 4 else None


def _leafed(value: Any, leaves: list[torch.Tensor], layout: Layout | None) -> Any:
    """`value` with every tensor of the layout's shape replaced by a grad-requiring leaf
    (appended to `leaves`)."""
    if isinstance(value, torch.Tensor):
        if laid_out(value, layout) is None:
            return value
        leaf = value.detach().requires_grad_(True)
        leaves.append(leaf)
        return leaf
    if isinstance(value, (list, tuple)):
        return type(value)(_leafed(item, leaves, layout) for item in value)
    return value


@contextmanager
def _planted(model: LoadedModel, target: LayerInfo, source: LayerInfo | None) -> Iterator[Run]:
    """`run(images)` -> (the leaves, the target activation that depends on them): leaves at
    `source`'s output, or (None) at the target module's inputs; the pass stops at the target."""
    modules = dict(model.net.named_modules())
    box: dict[str, Any] = {}

    def plant_output(_m: nn.Module, _i: object, out: object) -> object:
        made = tensor_of(out)
        if made is None:
            return None
        leaf = made.detach().requires_grad_(True)
        box["leaves"] = [leaf]
        return with_tensor(out, leaf)

    def plant_inputs(_m: nn.Module, args: tuple[Any, ...]) -> tuple[Any, ...]:
        leaves: list[torch.Tensor] = []
        planted = _leafed(args, leaves, target.layout)
        box["leaves"] = leaves
        return planted  # type: ignore[no-any-return]

    def stop(_m: nn.Module, _i: object, out: object) -> None:
        box["target"] = tensor_of(out)
        raise Stop

    module = modules[target.module_path]
    handles = [
        modules[source.module_path].register_forward_hook(plant_output)
        if source is not None
        else module.register_forward_pre_hook(plant_inputs),
        module.register_forward_hook(stop),
    ]

    def run(images: torch.Tensor) -> tuple[list[torch.Tensor], torch.Tensor]:
        box.clear()
        x = model.preprocess(images.to(model.device, torch.float32))
        try:
            with torch.enable_grad():
                model.net(x)
        except Stop:
            pass
        if not box.get("leaves") or box.get("target") is None:
            what = f"does not follow '{source.name}'" if source else "receives no map or tokens"
            raise FeatvisError(f"model '{model.id}': layer '{target.name}' {what}")
        return box["leaves"], lay_out(box["target"], target.layout)

    try:
        yield run
    finally:
        for handle in handles:
            handle.remove()


def _channel_sums(product: torch.Tensor, layout: Layout | None, batched: bool) -> torch.Tensor:
    """grad x |activation| in a layer's raw shape -> per channel, summed over images and
    positions ((C,), or (T, C) for `batched` gradients with a leading target dimension)."""
    if not batched:
        return lay_out(product, layout).sum(dim=(0, 2, 3))
    t, n = product.shape[:2]
    maps = lay_out(product.reshape(t * n, *product.shape[2:]), layout)
    return maps.reshape(t, n, *maps.shape[1:]).sum(dim=(1, 3, 4))


def _attribute_loop(
    sources: list[torch.Tensor], means: torch.Tensor, layout: Layout | None
) -> torch.Tensor:
    """Sum over images of grad x |activation|, one backward per target channel."""
    if not means.requires_grad:
        return _unreached(sources, means, layout)
    rows = []
    for t in range(means.shape[1]):
        grads = _grads(torch.autograd.grad(
            means[:, t].sum(), sources, retain_graph=True, allow_unused=True), sources)
        rows.append(
            torch.cat([_channel_sums(g * s.detach().abs(), layout, False)
                       for g, s in zip(grads, sources, strict=True)])
        )
    return torch.stack(rows)


def _grads(
    grads: Sequence[torch.Tensor | None], sources: list[torch.Tensor], batch: int = 0
) -> list[torch.Tensor]:
    """`grads`, a source the target does not depend on given zeros (with a leading `batch`
    dimension of targets where the backward was batched)."""
    return [
        g if g is not None else torch.zeros((batch, *s.shape) if batch else s.shape,
                                            dtype=s.dtype, device=s.device)
        for g, s in zip(grads, sources, strict=True)
    ]


def _unreached(
    sources: list[torch.Tensor], means: torch.Tensor, layout: Layout | None
) -> torch.Tensor:
    """The attribution to sources the target does not depend on at all (CrossViT's branches,
    side by side: the large branch's blocks take nothing from the small one's): zeros."""
    width = sum(int(lay_out(s.detach(), layout).shape[1]) for s in sources)
    return torch.zeros(means.shape[1], width, dtype=means.dtype, device=means.device)


def _attribute_batched(
    sources: list[torch.Tensor], means: torch.Tensor, layout: Layout | None
) -> torch.Tensor:
    """The same, chunks of target channels per vectorized backward (`is_grads_batched`)."""
    if not means.requires_grad:
        return _unreached(sources, means, layout)
    n, targets = means.shape
    size = sum(s.numel() * s.element_size() for s in sources)
    chunk = max(1, min(targets, BATCHED_BYTES // max(1, size)))
    rows = []
    for start in range(0, targets, chunk):
        stop = min(targets, start + chunk)
        eye = torch.zeros(stop - start, n, targets, dtype=means.dtype, device=means.device)
        eye[torch.arange(stop - start), :, torch.arange(start, stop)] = 1.0
        grads = _grads(torch.autograd.grad(
            means, sources, grad_outputs=eye, retain_graph=True, is_grads_batched=True,
            allow_unused=True,
        ), sources, stop - start)
        rows.append(
            torch.cat([_channel_sums(g * s.detach().abs(), layout, True)
                       for g, s in zip(grads, sources, strict=True)], dim=1)
        )
    return torch.cat(rows)


def _average(
    model: LoadedModel,
    target: LayerInfo,
    source: LayerInfo | None,
    images: torch.Tensor,
    rows: list[int],
    strategy: Strategy,
    image_batch: int,
) -> torch.Tensor:
    if images.shape[0] == 0:
        what = source.name if source else "its inputs"
        raise FeatvisError(f"circuit {what} -> {target.name}: no input images to average over")
    attribute = _attribute_loop if strategy == "loop" else _attribute_batched
    total: torch.Tensor | None = None
    with _planted(model, target, source) as run:
        for start in range(0, images.shape[0], image_batch):
            leaves, out = run(images[start : start + image_batch])
            means = out.float().mean(dim=(2, 3))[:, rows]
            layout = source.layout if source is not None else target.layout
            part = attribute(leaves, means, layout).detach().double().cpu()
            total = part if total is None else total + part
    assert total is not None
    return (total / images.shape[0]).float()


def _rows(model: LoadedModel, target: LayerInfo, targets: Sequence[int] | None) -> list[int]:
    rows = list(range(target.channels)) if targets is None else [int(t) for t in targets]
    for t in rows:
        model.check_channel(target.name, t)
    return rows


def attribution_matrix(
    model: LoadedModel,
    source: str,
    target: str,
    images: torch.Tensor,
    *,
    strategy: Strategy = "loop",
    image_batch: int = IMAGE_BATCH,
    targets: Sequence[int] | None = None,
) -> torch.Tensor:
    """(target channels, source channels): grad x |activation|, averaged over `images` ([0,1]
    RGB, n x 3 x H x W, at the size the model should see them). With `targets`, only those
    target channels' rows, in that order."""
    src, tgt = model.layer(source), model.layer(target)
    if src.depth >= tgt.depth:
        raise FeatvisError(f"circuit: '{source}' must come before '{target}'")
    rows = _rows(model, tgt, targets)
    return _average(model, tgt, src, images, rows, strategy, image_batch)


def input_attribution_matrix(
    model: LoadedModel,
    target: str,
    images: torch.Tensor,
    *,
    strategy: Strategy = "loop",
    image_batch: int = IMAGE_BATCH,
    targets: Sequence[int] | None = None,
) -> torch.Tensor:
    """(target channels, input channels): the same with respect to the 4-D tensors the target
    layer's module receives, their channels concatenated in the order it takes them."""
    tgt = model.layer(target)
    rows = _rows(model, tgt, targets)
    return _average(model, tgt, None, images, rows, strategy, image_batch)
