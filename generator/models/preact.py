"""Where a channel's negative can move: the activation before a floor.

A layer whose output is floored (a ReLU's, ReLU6's, a Hardtanh's or any clamp's, as a module or
called in `forward` as `F.relu`, `torch.relu`, `x.clamp(min=0)`, in place or not) cannot go below
its floor, so minimizing one of its channels stops there on the first step and the picture shows
nothing. `negative_layer(model, layer)` names the layer to minimize instead: the layer itself when
its output has no floor; the first module whose output, clamped to the layer's range, is the
layer's output (the convolution or norm before the activation: its *pre-activation*), registered
in the model under its module path so objectives can reach it; else the input of the floor module
that makes the layer's output at its last call (a residual block's ReLU taking a sum computed in
`forward`), registered as `PATH@input` (`models.hooks.INPUT`); else the input of the floor
function (`F.relu`, a clamp) whose result the layer's `forward` returns (`F.relu(out + identity)`),
registered as `PATH@floor` (`models.hooks.FLOOR`); either input unless it concatenates a part
that never goes below the floor (a pooling of floored maps); else the outputs of the branches
inside the layer that its `forward` concatenates after each branch's own ReLU (an Inception block, a
SqueezeNet Fire module), side by side in one `JOIN`ed path (`branch_of` names the branch of a
channel); or None when the output is floored but none of these reaches it (a pooling after the
ReLU, a concatenation with a pooled branch), with `NO_PRE_ACTIVATION` saying why; such a layer
may still have one per channel (`models.perchannel`: a branch floored inside it beside a pooled
or passed-through channel, in any order), and `negative_of(model, layer, channel)` names where
each channel is minimized, or None with `no_negative_reason` saying why for it. Smooth
activations (GELU, SiLU, Hardswish, Mish) go below 0, so their layers are minimized where they
are. `floor_of` names the floor that makes a layer's output as the network applies it
(`models.floors.Floor`), and `shown_in` words a pre-activation's path with it, as pages, alt
texts and tables show it. Found by one probing forward of a single image when the model is
loaded (`find_pre_activations`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import torch
from torch import nn

from generator.models.base import LoadedModel
from generator.models.branches import Call, clamps_to, side_by_side
from generator.models.floors import Floor, Floors, floor_module, made_by
from generator.models.hooks import (
    FLOOR,
    INPUT,
    JOIN,
    floor_hooks,
    module_of,
    shown_path,
    shown_unit,
    tensor_of,
)
from generator.models.perchannel import (
    NO_CHANNEL_PRE_ACTIVATION,
    Target,
    Unit,
    common_floor,
    match_channels,
    passed_on,
    target_of,
)

FLOORED = (nn.ReLU, nn.ReLU6, nn.Hardtanh)
NO_PRE_ACTIVATION = (
    "its layer's output never goes below a floor (a ReLU's 0, or a clamp's), which no image can "
    "push it under, and the activation before the floor is not the output of any module the "
    "network names, nor the input of a ReLU or clamp that makes the layer's output (a pooling "
    "after the floor, a concatenation of branches of which one is a pooling)"
)
FLOOR_SHARE = 0.25  # at least this share of a nonnegative output at exactly 0: a ReLU's output
_PROBED = "_featvis_pre_activations"
_WIDTHS = "_featvis_branch_widths"  # a JOINed pre-activation's parts' channel counts
_FLOORS = "_featvis_floors"  # per floored layer, the `Floor` that makes its output
_UNITS = "_featvis_units"  # per layer with pre-activations per channel only: each channel's
# (path, channel) or None (`models.perchannel`)
_SOURCES = "_featvis_passed_from"  # per such layer, the layer whose output its input is
_PASSED = "_featvis_passed"  # per such layer, each channel passed on from its input -> its there


Hook = Callable[[str, nn.Module, tuple, object], None]  # type: ignore[type-arg]


@contextmanager
def _hooked(
    net: nn.Module, paths: set[str] | None, record: Hook, *, before: bool = False
) -> Iterator[None]:
    """`record(path, module, inputs, output)` after every named module (or those of `paths`);
    with `before`, `record(path, module, inputs, None)` before it runs (an in-place module has
    not yet overwritten its input)."""
    handles = [
        module.register_forward_pre_hook(
            lambda m, i, p=path: record(p, m, i, None)  # type: ignore[misc]
        ) if before else module.register_forward_hook(
            lambda m, i, o, p=path: record(p, m, i, o)  # type: ignore[misc]
        )
        for path, module in net.named_modules()
        if path and (paths is None or path in paths)
    ]
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()


def _forward(model: LoadedModel, images: int = 1) -> None:
    gen = torch.Generator().manual_seed(0)
    size = model.input_size
    x = torch.rand(images, 3, size, size, generator=gen).to(model.device)
    with torch.no_grad():
        model.net(model.preprocess(x))


@dataclasses.dataclass
class _Probed:
    """What `_probe` found: per floored catalog layer, the path of its pre-activation (None: none
    for the layer as a whole); the channel counts of the parts of each `JOIN`ed path; per floored
    layer, the `Floor` that made its output; per layer with a pre-activation per channel only
    (`models.perchannel`), each channel's (path, channel) or None; those paths' widths; and per
    such layer, its channels that are its input's passed on (-> the input's channel) and the
    layer whose output that input is."""

    found: dict[str, str | None] = dataclasses.field(default_factory=dict)
    widths: dict[str, tuple[int, ...]] = dataclasses.field(default_factory=dict)
    floors: dict[str, Floor | None] = dataclasses.field(default_factory=dict)
    units: dict[str, tuple[Unit | None, ...]] = dataclasses.field(default_factory=dict)
    unit_widths: dict[str, int] = dataclasses.field(default_factory=dict)
    passed: dict[str, dict[int, int]] = dataclasses.field(default_factory=dict)
    sources: dict[str, str] = dataclasses.field(default_factory=dict)


def _probe(model: LoadedModel) -> _Probed:
    """Per catalog layer whose output is floored: the module path of its pre-activation, or None
    when there is none to hook; the channel counts of the parts of each `JOIN`ed path; and per
    floored layer, the `Floor` that made its output (None where none is found: a pooling after
    it, branches floored differently)."""
    paths = {info.module_path for info in model.layers}
    shapes: set[torch.Size] = set()
    calls: list[Call] = []
    applied: list[tuple[Floor, torch.Tensor]] = []  # every floor made, in order

    def shape(_p: str, _m: nn.Module, _i: tuple, made: object) -> None:  # type: ignore[type-arg]
        output = tensor_of(made)
        if output is not None:
            shapes.add(output.shape)
            if output.dim() == 4:  # a branch of a concatenation: fewer channels, same positions
                shapes.add(torch.Size((output.shape[0], 0, *output.shape[2:])))

    def record(path: str, module: nn.Module, _i: tuple, made: object) -> None:  # type: ignore[type-arg]
        output, floor = tensor_of(made), floor_module(module)
        if floor is not None and isinstance(output, torch.Tensor):  # after its own function's
            applied.append((floor, output.detach().clone()))
        if isinstance(output, torch.Tensor) and _kept(output.shape, shapes) and output.numel():
            if output.is_floating_point():
                low, high = (float(v) for v in torch.aminmax(output))
                calls.append(Call(path, module, output.detach().clone(), low, high, len(applied)))

    def record_input(path: str, module: nn.Module, args: tuple, _o: object) -> None:  # type: ignore[type-arg]
        if isinstance(module, FLOORED) and args:
            record(f"{path}{INPUT}", module, (), args[0])

    modules = dict(model.net.named_modules())
    cat_lows: dict[str, tuple[float, ...]] = {}  # a floor's input concatenated: its parts' lows
    floors = [  # before `record`'s hooks: a layer's floor input is recorded before its output
        handle for path in sorted(paths) for handle in floor_hooks(
            modules[path], lambda v, p=path: record(f"{p}{FLOOR}", modules[p], (), v),  # type: ignore[misc]
            lambda lows, p=path: cat_lows.__setitem__(p, lows),  # type: ignore[misc]
        )
    ]
    try:
        with _hooked(model.net, paths, shape):
            _forward(model)
        with _hooked(model.net, None, record), _hooked(model.net, None, record_input, before=True):
            with Floors(applied):
                _forward(model)
    except Exception:  # noqa: BLE001 - a network this probe cannot run has no pre-activations
        return _Probed()
    finally:
        for handle in floors:
            handle.remove()
    out: dict[str, str | None] = {}
    widths: dict[str, tuple[int, ...]] = {}
    named: dict[str, Floor | None] = {}
    last = {c.path: k for k, c in enumerate(calls)}  # the call `capture` records of each path
    targets: list[Target] = []
    for info in model.layers:
        at = [k for k, c in enumerate(calls) if c.path == info.module_path]
        if not at:
            continue
        made = calls[at[-1]]
        found = [(k, c.path) for k, c in enumerate(calls[: at[-1]]) if clamps_to(made, c)]
        # else the input of a floor module (a ReLU taking a sum made in `forward`) at its last
        # call, the one `capture` records; else the input of the floor function that made the
        # layer's output (`F.relu(out + identity)` in its `forward`)
        makers = [p for _, p in found if not p.endswith((INPUT, FLOOR))] or [
            p for k, p in found if p.endswith(INPUT) and k == last[p]
        ] or [p for _, p in found if p == f"{info.module_path}{FLOOR}"]
        # not where a part of the concatenation a floor function takes never goes below the
        # floor (a pooling of floored maps): those channels could not go below it there either
        pooled = any(low >= made.low for low in cat_lows.get(info.module_path, ()))
        if pooled and makers and makers[0].endswith((INPUT, FLOOR)):  # a ReLU module's too
            out[info.name] = None
        elif makers:
            out[info.name] = makers[0]
            named[info.name] = made_by(made.output, applied[: made.floors])
        elif parts := side_by_side(made, calls[: at[-1]], f"{info.module_path}."):
            joined = out[info.name] = JOIN.join(c.path for c in parts)
            widths[joined] = tuple(c.output.shape[1] for c in parts)
            starts = [sum(widths[joined][:k]) for k in range(len(parts))]
            found_floors = {made_by(made.output[:, a : a + w], applied[: made.floors])
                            for a, w in zip(starts, widths[joined], strict=True)}
            named[info.name] = found_floors.pop() if len(found_floors) == 1 else None
        elif _floored(made) or any(
            isinstance(c.module, FLOORED) and torch.equal(c.output, made.output)
            for c in calls[: at[-1] + 1]
        ):
            out[info.name] = None
        # none as a whole: per channel, where one is made (in maps whose axis 1 is the channels)
        if out.get(info.name, "") is None and info.layout is None:
            targets.append(target_of(info.name, made, calls[: at[-1]], last))
    probed = _Probed(out, widths, named)
    shown = {info.module_path: info.name for info in model.layers if not info.optional}
    matched = match_channels(model.net, targets, lambda n: _forward(model, n), shown)
    probed.units, probed.passed, probed.sources = matched.units, matched.passed, matched.sources
    for target in targets:
        if target.name in probed.units:
            made = calls[last[target.module_path]]
            units = probed.units[target.name]
            probed.unit_widths |= {u[0]: target.candidates[u[0]].shape[1] for u in units if u}
            probed.floors[target.name] = common_floor(units, made.output, applied[: made.floors])
    return probed


def _kept(shape: torch.Size, shapes: set[torch.Size]) -> bool:
    return shape in shapes or (
        len(shape) == 4 and torch.Size((shape[0], 0, *shape[2:])) in shapes
    )


def _floored(made: Call) -> bool:
    """A nonnegative output with a good share exactly at 0: a ReLU's (or after one)."""
    return made.low == 0 and float((made.output == 0).float().mean()) >= FLOOR_SHARE


def find_pre_activations(model: LoadedModel) -> LoadedModel:
    """Probe `model` once for its layers' pre-activations and register them (`load_model` calls
    this, so planning and rendering never run the network); returns the model."""
    if getattr(model, _PROBED, None) is not None:
        return model
    probed = _probe(model)
    setattr(model, _PROBED, probed.found)
    setattr(model, _WIDTHS, probed.widths)
    setattr(model, _FLOORS, probed.floors)
    setattr(model, _UNITS, probed.units)
    setattr(model, _PASSED, probed.passed)
    setattr(model, _SOURCES, probed.sources)
    homes = {path: name for name, path in probed.found.items() if path is not None} | {
        unit[0]: name for name, units in probed.units.items() for unit in units if unit
    }
    for path, name in homes.items():
        if path not in model._by_name:
            info = model.layer(name)  # depth: before its layer (a forward stops after it)
            model._by_name[path] = dataclasses.replace(
                info, name=path, module_path=path, optional=True, depth=info.depth - 1,
                channels=probed.unit_widths.get(path, info.channels),
            )
    return model


def negative_layer(model: LoadedModel, layer: str) -> str | None:
    """The layer a channel's negative minimizes (see the module docstring); None: there is none
    that can move."""
    found: dict[str, str | None] = getattr(find_pre_activations(model), _PROBED)
    if layer not in found:
        return layer
    return found[layer]


def branch_of(model: LoadedModel, path: str, channel: int) -> tuple[str, int]:
    """The part of a pre-activation `path` that makes the layer's `channel`, and its channel
    there: for a `JOIN` of branches, the branch (an Inception block's channel 70 is channel 6 of
    the branch after its first 64); else `path` and `channel` themselves."""
    widths: tuple[int, ...] = getattr(find_pre_activations(model), _WIDTHS, {}).get(path, ())
    start = 0
    for part, width in zip(path.split(JOIN), widths, strict=False):
        if channel < start + width:
            return part, channel - start
        start += width
    return path, channel


def negative_of(model: LoadedModel, layer: str, channel: int) -> Unit | None:
    """Where `channel` of `layer` is minimized, and its channel there: the layer's pre-activation
    (`negative_layer`) and the same channel; in a layer that has them per channel only
    (`models.perchannel`: a pooled or passed-through channel beside branches floored inside
    it), the channel's own; None where it has none (`no_negative_reason` says why)."""
    units: dict[str, tuple[Unit | None, ...]] = getattr(find_pre_activations(model), _UNITS, {})
    if layer in units:
        return units[layer][channel] if 0 <= channel < len(units[layer]) else None
    at = negative_layer(model, layer)
    return None if at is None else (at, channel)


def per_channel(model: LoadedModel, layer: str) -> tuple[Unit | None, ...] | None:
    """Each channel's pre-activation (`negative_of`) where `layer` has them per channel only,
    else None."""
    units: dict[str, tuple[Unit | None, ...]] = getattr(find_pre_activations(model), _UNITS, {})
    return units.get(layer)


def no_negative_reason(model: LoadedModel, layer: str, channel: int) -> str:
    """Why `channel` of `layer`, which `negative_of` finds none for, has none, in words true for
    that channel: a channel of the layer's input passed on untouched, one made inside it from
    channels floored before it (a pooling), or a layer none of whose channels has one."""
    if per_channel(model, layer) is None:
        return NO_PRE_ACTIVATION
    there = passed_channels(model, layer).get(channel)
    if there is None:
        return NO_CHANNEL_PRE_ACTIVATION
    return passed_on(there, passed_from(model, layer))


def passed_channels(model: LoadedModel, layer: str) -> dict[int, int]:
    """The channels of a layer with pre-activations per channel only that are channels of its
    input passed on untouched (layer channel -> input channel): they have no negative."""
    passed: dict[str, dict[int, int]] = getattr(find_pre_activations(model), _PASSED, {})
    return passed.get(layer, {})


def passed_from(model: LoadedModel, layer: str) -> str | None:
    """The catalog layer whose output is the input of `layer`, a layer some of whose channels
    that input passes on untouched (`passed_channels`); None where no shown layer's is."""
    sources: dict[str, str] = getattr(find_pre_activations(model), _SOURCES, {})
    return sources.get(layer)


def pre_activation_homes(model: LoadedModel) -> dict[str, str]:
    """Each pre-activation path no catalog layer has (registered by `find_pre_activations`) ->
    the layer whose pre-activation it is: what a count by layer counts its jobs under."""
    found: dict[str, str | None] = getattr(find_pre_activations(model), _PROBED)
    units: dict[str, tuple[Unit | None, ...]] = getattr(model, _UNITS, {})
    homes = {path: layer for layer, path in found.items() if path is not None} | {
        unit[0]: layer for layer, channels in units.items() for unit in channels if unit
    }
    return {path: layer for path, layer in homes.items()
            if path != layer and model.layer(path).optional}


def floor_of(model: LoadedModel, layer: str) -> Floor | None:
    """The `Floor` that makes `layer`'s output where it has a pre-activation (what its pages
    name: "before the layer's ReLU6"); None where it has none, or none was found."""
    floors: dict[str, Floor | None] = getattr(find_pre_activations(model), _FLOORS, {})
    return floors.get(layer)


def _called(model: LoadedModel) -> Callable[[str], Floor | None]:
    """The floor function that a module's forward calls last, by module path, where a layer's
    pre-activation is its input (`FLOOR`)."""
    found: dict[str, str | None] = getattr(find_pre_activations(model), _PROBED)
    floors = {
        module_of(part)[0]: floor_of(model, layer)
        for layer, at in found.items() if at is not None for part in at.split(JOIN)
        if module_of(part)[1] == FLOOR
    }
    return floors.get


def shown_in(model: LoadedModel, path: str, name: Callable[[str], str] = str) -> str:
    """`path` as a reader reads it (`models.hooks.shown_path`), naming the floor function that
    a `FLOOR` part reads the input of as `model` calls it ("the input of the clamp(0, 6) that
    block's forward calls last")."""
    return shown_path(path, name, floor=_called(model))


def unit_in(model: LoadedModel, path: str, channel: int | None = None) -> str:
    """`path`, or its `channel`, as a reader reads it (`models.hooks.shown_unit`, its floors
    named by `shown_in`); a channel of branches side by side as its branch's own
    (`branch_of`: `inception3a.branch2.1.conv:6`), as its channel page names it."""
    if channel is not None:
        path, channel = branch_of(model, path, channel)
    return shown_unit(path, channel, floor=_called(model))
