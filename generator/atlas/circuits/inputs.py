"""A block's inputs: which modules produced the tensors a layer's module receives, and whether
the block is residual.

One probe forward pass of a seeded noise image records every named module's output in forward
order and, at the target layer's module, the 4-D tensors it receives and what its own modules
receive and return (cloned: an in-place activation inside the block must not change them). Each
received tensor is matched to its producer: the module whose output it is (the same tensor
object, else equal values; a visualizable layer's module preferred), or, failing that, a run of
producers whose outputs, concatenated along the channels, are the tensor (a concatenating
block). A range
no module produced is the network's input or a function's result, `module` "". The block is
residual when its output, or what one of its own modules receives, is the sum of two tensors it
computed or received (`x + f(x)`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from generator.atlas.circuits.attribution import Stop, laid_out, tensors_in
from generator.atlas.circuits.spec import InputPart
from generator.models.base import LoadedModel
from generator.models.hooks import Layout, lay_out, tensor_of

PROBE_SEED = 0


@dataclass(frozen=True)
class BlockProbe:
    """A layer's module's inputs as `InputPart`s (column order), and whether it is residual."""

    parts: tuple[InputPart, ...]
    residual: bool


@dataclass
class _Seen:
    outputs: list[tuple[str, torch.Tensor]]  # (path, output) in forward order
    inputs: list[torch.Tensor]  # the target module's 4-D inputs, as it received them
    inner_in: list[torch.Tensor]  # what the target's own modules receive (clones)
    inner_out: list[torch.Tensor]  # what they return (clones)
    out: torch.Tensor | None = None
    before: int = 0  # outputs recorded before the target module started: the candidates


def _record(model: LoadedModel, path: str, layout: Layout | None) -> _Seen:
    """Run the probe up to the module at `path` (see the module docstring); every tensor of the
    layer's raw shape is kept laid out as (B, C, H, W)."""
    seen = _Seen([], [], [], [])
    inside = path + "."

    def maps(tensors: list[torch.Tensor]) -> list[torch.Tensor]:
        laid = (laid_out(t, layout) for t in tensors)
        return [t for t in laid if t is not None]

    def output(name: str) -> Any:
        def hook(_m: nn.Module, args: tuple[Any, ...], out: Any) -> None:
            made = tensor_of(out)
            mine = maps([made]) if made is not None else []
            if mine:
                seen.outputs.append((name, mine[0]))
                if name.startswith(inside):  # the block's own: kept as they are now
                    seen.inner_out.append(mine[0].detach().clone())
                    seen.inner_in += [t.detach().clone() for t in maps(tensors_in(args))]
        return hook

    def received(_m: nn.Module, args: tuple[Any, ...]) -> None:
        seen.inputs = maps(tensors_in(args))
        seen.before = len(seen.outputs)

    def stop(_m: nn.Module, _i: object, out: object) -> None:
        made = tensor_of(out)
        if made is not None:
            seen.out = lay_out(made, layout).detach().clone()
        raise Stop

    modules = dict(model.net.named_modules())
    handles = [m.register_forward_hook(output(name)) for name, m in modules.items()
               if name and name != path]
    handles.append(modules[path].register_forward_pre_hook(received))
    handles.append(modules[path].register_forward_hook(stop))
    gen = torch.Generator().manual_seed(PROBE_SEED)
    size = model.input_size
    image = torch.rand(1, 3, size, size, generator=gen).to(model.device)
    try:
        with torch.no_grad():
            model.net(model.preprocess(image))
    except Stop:
        pass
    finally:
        for handle in handles:
            handle.remove()
    return seen


def _producer(
    tensor: torch.Tensor, outputs: list[tuple[str, torch.Tensor]], preferred: dict[str, str]
) -> str | None:
    """The module whose output `tensor` is (the same object, else equal values; a layer's
    module first, then the latest)."""
    same = [name for name, out in outputs if out is tensor] or [
        name for name, out in outputs if out.shape == tensor.shape and torch.equal(out, tensor)
    ]
    named = [name for name in same if name in preferred]
    found = named or same
    return found[-1] if found else None


def _split(
    tensor: torch.Tensor, outputs: list[tuple[str, torch.Tensor]], preferred: dict[str, str],
    start: int,
) -> list[InputPart]:
    """`tensor`'s channels as parts: one producer, else a run of concatenated ones."""
    whole = _producer(tensor, outputs, preferred)
    if whole is not None:
        return [InputPart(whole, preferred.get(whole), start, tensor.shape[1])]
    parts, offset = [], 0
    while offset < tensor.shape[1]:
        found = None
        for name, clone in reversed(outputs):
            width = clone.shape[1]
            if (clone.shape[0] == tensor.shape[0] and clone.shape[2:] == tensor.shape[2:]
                    and offset + width <= tensor.shape[1]
                    and torch.equal(tensor[:, offset : offset + width], clone)):
                found = InputPart(name, preferred.get(name), start + offset, width)
                break
        if found is None:
            return [InputPart("", None, start, tensor.shape[1])]
        parts.append(found)
        offset += found.channels
    return parts


def _fingerprints(tensors: list[torch.Tensor]) -> list[float]:
    """A seeded random projection of each tensor: linear, so fp(a + b) = fp(a) + fp(b)."""
    vectors: dict[int, torch.Tensor] = {}
    out = []
    for t in tensors:
        n = t.numel()
        if n not in vectors:
            gen = torch.Generator().manual_seed(PROBE_SEED + n)
            vectors[n] = torch.randn(n, generator=gen, dtype=torch.float64)
        out.append(float(t.detach().cpu().flatten().double() @ vectors[n]))
    return out


def _residual(seen: _Seen) -> bool:
    """Whether the block's output, or an input of one of its modules, is a sum x + f(x) of two
    tensors it received or computed (candidates found by fingerprint, then checked)."""
    made, terms = seen.inner_out, seen.inputs + seen.inner_out
    sums = ([seen.out] if seen.out is not None else []) + seen.inner_in
    fp_made, fp_terms, fp_sums = map(_fingerprints, (made, terms, sums))
    for total, fp_total in zip(sums, fp_sums, strict=True):
        for a, fp_a in zip(made, fp_made, strict=True):
            if a.shape != total.shape:
                continue
            for b, fp_b in zip(terms, fp_terms, strict=True):
                scale = abs(fp_total) + abs(fp_a) + abs(fp_b) + 1e-9
                if (b is not a and b.shape == total.shape
                        and abs(fp_a + fp_b - fp_total) <= 1e-4 * scale
                        and torch.allclose(a + b, total, rtol=1e-4, atol=1e-5)):
                    return True
    return False


def block_probe(model: LoadedModel, layer: str) -> BlockProbe:
    """`layer`'s module's inputs and whether it is residual (see the module docstring)."""
    info = model.layer(layer)
    preferred = {i.module_path: i.name for i in model.layers + model.optional_layers}
    seen = _record(model, info.module_path, info.layout)
    parts: list[InputPart] = []
    for tensor in seen.inputs:
        start = parts[-1].start + parts[-1].channels if parts else 0
        parts += _split(tensor, seen.outputs[: seen.before], preferred, start)
    return BlockProbe(tuple(parts), _residual(seen))
