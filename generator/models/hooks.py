"""Forward hooks, and the one layout adapter that hands every activation on as (B, C, H, W).

`capture(net, paths)` records the outputs of the modules at `paths` (or a module's input, for a
path ending in `INPUT`) for as long as the context is open (of an output that is a tuple of one
tensor and plain values, `(tokens, [height, width])`, its tensor, and of one that holds a batch
per patch beside the batch of images, the latter: `tensor_of`); the hooks are
removed on exit, on success and on error. Outputs reach the rest of featvis in one shape,
(B, C, H, W), through the `Layout` the catalog found for the path (recorded on its `LayerInfo`
and registered for `capture` by `set_layouts`):

- a feature map (B, C, H, W): no layout, as is;
- channels last (B, H, W, C) (Swin, timm stages that keep channels last): `ChannelsLast`;
- tokens (B, prefix + H*W, D) (a vision transformer's block): `TokenGrid`, which drops the prefix
  tokens (the class token, a distillation token, registers) and lays the patch tokens out on the
  patch grid. So a "channel" of a transformer layer is one dimension averaged over the patches and
  a "neuron" is that dimension at one patch;
- tokens in blocks of the picture (B, blocks, tokens per block, D) (NesT's levels):
  `TokenBlocks`, which lays each block's tokens out where the block lies in the picture.

The layouts live in `models.layouts`.

So every objective, scan, receptive field, circuit and check reads one shape. The adapters are
views, not copies, and gradients flow back through them (`lay_out` applies one to any tensor of
the layer's raw shape, a gradient as well as an activation). What `capture` records is a copy of
the module's output as the module made it: a network may change that tensor in place afterwards
(`F.relu(x, inplace=True)` in a `forward`, `out += identity`), and the copy keeps the value and
the gradient path of the module's own output.

A captured path may also join several module paths with `JOIN` (`a.conv+b.conv`): their outputs
side by side on the channel axis, recorded once all of them have run (the activation before the
ReLUs of branches that a `forward` concatenates, an Inception block's, `models.preact`).
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager

import torch
from torch import nn
from torch.overrides import TorchFunctionMode
from torch.utils.hooks import RemovableHandle

from generator.models.floors import FLOOR_FUNCTIONS
from generator.models.layouts import ChannelsLast as ChannelsLast
from generator.models.layouts import Layout as Layout
from generator.models.layouts import TokenBlocks as TokenBlocks
from generator.models.layouts import TokenGrid as TokenGrid
from generator.models.layouts import lay_out as lay_out


def declared_prefix(net: nn.Module) -> int | None:
    """The tokens before the patch grid that a network says it has: timm's `num_prefix_tokens`
    (a class token, a distillation token, registers), else its register count
    (`num_reg_tokens`, `num_register_tokens`) and a class token (`cls_token`, `class_token`)
    and distillation token (`dist_token`) where it holds one; None where it says nothing."""
    count = getattr(net, "num_prefix_tokens", None)
    if isinstance(count, int) and not isinstance(count, bool):
        return count
    registers = [getattr(net, name, None) for name in ("num_reg_tokens", "num_register_tokens")]
    declared = [n for n in registers if isinstance(n, int) and not isinstance(n, bool)]
    if not declared:
        return None
    extra = ("cls_token", "class_token", "dist_token")
    return declared[0] + sum(isinstance(getattr(net, name, None), torch.Tensor) for name in extra)


# A path that names a module's input, not its output: `layer1.0.relu@input`, what the module took
# at its last call (a ReLU's pre-activation where that is a sum computed in `forward`)
INPUT = "@input"
# A path that names what a module's `forward` floored last: `layer1.0@floor`, the input of the last
# floor function (`F.relu`, `torch.relu`, `x.clamp(...)`, `F.hardtanh`, in place or not) whose
# result is the module's output (a block's `F.relu(out + identity)`)
FLOOR = "@floor"
# Joins the paths of modules whose outputs a captured path concatenates on the channel axis
JOIN = "+"
_READS = (INPUT, FLOOR)


def module_of(path: str) -> tuple[str, str]:
    """The module path of a captured `path` (one of its parts: `parts_of`), and what it reads
    there: "" (its output), `INPUT` or `FLOOR`."""
    for reads in _READS:
        if path.endswith(reads):
            return path[: -len(reads)], reads
    return path, ""


def parts_of(path: str) -> list[tuple[str, str]]:
    """Each module a captured `path` reads, with what it reads there (`module_of`): one, or the
    parts a `JOIN` concatenates in that order."""
    return [module_of(part) for part in path.split(JOIN)]


def shown_path(
    path: str, name: Callable[[str], str] = str,
    floor: Callable[[str], object | None] = lambda _module: None,
) -> str:
    """`path` as a reader reads it, each module path written by `name`: `the input of
    layer1.0.relu` for a module's input, `a and b side by side` for a concatenation, `the input
    of the clamp(0, 6) that block's forward calls last` for what a module's forward floored,
    naming the floor function by `floor(module path)` where it is known (`models.preact`)."""
    shown = [_part_in_words(name(m), reads, floor(m)) for m, reads in parts_of(path)]
    if len(shown) == 1:
        return shown[0]
    return f"{', '.join(shown[:-1])} and {shown[-1]} side by side"


def _part_in_words(module: str, reads: str, floor: object | None) -> str:
    """One part of a captured path in words: the module, its input, or the input of the floor
    function its forward calls last (`floor`, where it is known)."""
    if reads == INPUT:
        return f"the input of {module}"
    if reads != FLOOR:
        return module
    if floor is None:
        return f"the input of the last ReLU (or clamp) that {module}'s forward calls"
    return f"the input of the {floor} that {module}'s forward calls last"


def shown_unit(
    path: str, channel: int | None = None,
    floor: Callable[[str], object | None] = lambda _module: None,
) -> str:
    """`path` as a reader reads it (`shown_path`), or its `channel`: `layer:3`, or `3 of the
    input of layer1.0.relu` at a path a reader would not read as a layer's name."""
    words = shown_path(path, floor=floor)
    if channel is None:
        return words
    return f"{path}:{channel}" if words == path else f"{channel} of {words}"


_CATS = frozenset({torch.cat, torch.concat, torch.concatenate})


class _LastFloor(TorchFunctionMode):
    """While a module runs: the last floor function called and a copy of its input as it was;
    with `parts`, also the lowest value of each part where that input is a concatenation made in
    the module's `forward` (`F.relu(torch.cat([a, b], 1))`), else ()."""

    def __init__(self, parts: bool = False) -> None:
        super().__init__()
        self.result: object = None
        self.before: torch.Tensor | None = None
        self.parts = parts
        self.lows: tuple[float, ...] = ()
        self._cats: dict[int, tuple[float, ...]] = {}

    def __torch_function__(  # type: ignore[override]
        self, func: Callable[..., object], types: object, args: tuple = (),  # type: ignore[type-arg]
        kwargs: dict | None = None,  # type: ignore[type-arg]
    ) -> object:
        floor = func in FLOOR_FUNCTIONS and bool(args) and isinstance(args[0], torch.Tensor)
        before = args[0].clone() if floor else None  # before an in-place floor overwrites it
        result = func(*args, **(kwargs or {}))
        if self.parts and func in _CATS and args and isinstance(result, torch.Tensor):
            self._cats[id(result)] = tuple(
                float(t.min()) for t in args[0] if isinstance(t, torch.Tensor) and t.numel()
            )
        if floor:
            self.result, self.before = result, before
            self.lows = self._cats.get(id(args[0]), ()) if self.parts else ()
        return result


def floor_hooks(
    module: nn.Module, keep: Callable[[torch.Tensor], None],
    parts: Callable[[tuple[float, ...]], None] | None = None,
) -> list[RemovableHandle]:
    """Hooks on `module` that hand `keep` the input of the last floor function its `forward`
    calls, when that function's result is what the module returns (`tensor_of`; else
    nothing); and `parts`, where given, the lowest value of each part of that input where
    `forward` concatenated it (else ())."""
    modes: list[_LastFloor] = []

    def enter(_m: nn.Module, _args: object) -> None:
        modes.append(_LastFloor(parts is not None))
        modes[-1].__enter__()

    def leave(_m: nn.Module, _args: object, out: object) -> None:
        if not modes:
            return
        mode = modes.pop()
        mode.__exit__(None, None, None)
        if mode.before is not None and mode.result is tensor_of(out):
            keep(mode.before)
            if parts is not None:
                parts(mode.lows)

    return [module.register_forward_pre_hook(enter),
            module.register_forward_hook(leave, always_call=True)]


def tensor_of(value: object) -> torch.Tensor | None:
    """The activation a module's output carries: the output itself when it is a tensor, or the
    one tensor of a tuple or list that holds it beside plain values (MViTv2's blocks and patch
    embedding return `(tokens, [height, width])`), or, of several tensors, the one of the
    batch of images where the others are batches per part of each image (their first
    dimension a multiple of its: TNT's blocks return their pixel tokens, a batch per patch,
    beside their patch tokens), or the one map (B, C, H, W) beside tensors of fewer dimensions
    of the same batch (EfficientViM's blocks return their map and their state space's hidden
    state); None for anything else (a list of maps, one per branch: HRNet's multi-resolution
    modules). Every hook that reads a layer's output reads it through this."""
    if isinstance(value, torch.Tensor):
        return value
    if isinstance(value, (tuple, list)):
        tensors = [item for item in value if isinstance(item, torch.Tensor)]
        if len(tensors) == 1:
            return tensors[0]
        batches = [int(t.shape[0]) if t.dim() else 0 for t in tensors]
        least = min(batches, default=0)
        others = [n for n in batches if n != least]
        if least and len(others) == len(batches) - 1 and all(n % least == 0 for n in others):
            return tensors[batches.index(least)]
        maps = [t for t in tensors if t.dim() == 4]
        if len(maps) == 1 and all(t.shape[:1] == maps[0].shape[:1] for t in tensors):
            return maps[0]
    return None


def with_tensor(value: object, tensor: torch.Tensor) -> object:
    """`value`, a module's output, with the tensor `tensor_of` reads in it replaced by `tensor`
    (what a forward hook returns to put a leaf of its own in the network's path)."""
    if isinstance(value, torch.Tensor) or not isinstance(value, (tuple, list)):
        return tensor
    read = tensor_of(value)
    items = [tensor if item is read else item for item in value]
    if isinstance(value, list):
        return items
    return type(value)(*items) if hasattr(value, "_fields") else type(value)(items)


# The layouts of each network, by module path; kept beside (not inside) the network.
_LAYOUTS: weakref.WeakKeyDictionary[nn.Module, dict[str, Layout]] = (
    weakref.WeakKeyDictionary()
)


def set_layouts(net: nn.Module, layouts: Mapping[str, Layout]) -> None:
    _LAYOUTS[net] = dict(layouts)


def layouts_of(net: nn.Module) -> Mapping[str, Layout]:
    return _LAYOUTS.get(net, {})


@contextmanager
def capture(
    net: nn.Module, paths: list[str], layouts: Mapping[str, Layout] | None = None,
    *, copies: bool = True,
) -> Iterator[dict[str, torch.Tensor]]:
    """Forward hooks that record the outputs of `paths` (or, for a path ending in `INPUT`, the
    input of its module's last call; in `FLOOR`, the input of the floor function that made its
    module's output; for a `JOIN` of paths, their outputs concatenated), each a
    copy laid out as (B, C, H, W) by `layouts` (by default the ones registered for `net`); always
    removed on exit. Without `copies`, the plain outputs themselves (which tensor a module
    returned: the catalog tells a block ending in its activation by that)."""
    modules = dict(net.named_modules())
    grids = layouts_of(net) if layouts is None else layouts
    store: dict[str, torch.Tensor] = {}
    handles = []
    try:
        for path in paths:
            parts = parts_of(path)
            keep = _keeper(store, path, len(parts), grids.get(path), copies)
            for k, (module, reads) in enumerate(parts):
                if reads == FLOOR:
                    handles += floor_hooks(
                        modules[module], lambda v, k=k, keep=keep: keep(k, v)  # type: ignore[misc]
                    )
                elif reads == INPUT:
                    handles.append(modules[module].register_forward_pre_hook(
                        lambda _m, args, k=k, keep=keep: keep(k, args[0] if args else None)
                    ))
                else:
                    handles.append(modules[module].register_forward_hook(
                        lambda _m, _i, out, k=k, keep=keep: keep(k, out)
                    ))
        yield store
    finally:
        for h in handles:
            h.remove()


def _keeper(
    store: dict[str, torch.Tensor], path: str, count: int, layout: Layout | None, copies: bool
) -> Callable[[int, object], None]:
    """What records part `k` of `path`'s `count` parts as it is made; once every part of the
    pass has run, `store[path]` holds them side by side (the one part, laid out, for a plain
    path)."""
    made: dict[int, torch.Tensor] = {}

    def keep(k: int, output: object) -> None:
        value = tensor_of(output)
        if value is None:
            return
        # as made: the network may change it in place later
        made[k] = value.clone() if copies or count > 1 else value
        if count == 1:
            store[path] = lay_out(made.pop(k), layout)
        elif len(made) == count:
            store[path] = torch.cat([made.pop(j) for j in range(count)], dim=1)

    return keep
