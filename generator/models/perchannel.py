"""Per channel, the activation before a floor, where a layer has none as a whole (`models.preact`).

A layer may set channels that a floor inside it makes beside channels floored before it: an
Inception v3 reduction block concatenates its convolution branches (each after its own ReLU) with
a max pooling of its floored input; a ShuffleNet v2 block passes half its input's channels on
untouched beside a branch that ends in a ReLU, then shuffles all of them. No one tensor, floored,
is such a layer's output, yet most of its channels have a pre-activation. `match_channels` finds,
per channel, the tensor made inside the layer, and its channel, whose value floored is that
channel: it runs the network once more with every floor inside those layers letting its input
through (`Unfloored`), where a channel that a floor inside the layer makes is then exactly the
channel of the tensor the floor took, through whatever concatenation or permutation follows it;
and it checks each match against the probe's own values (the tensor, clamped to the layer's
range, is the channel, and goes below the floor somewhere). A pooled or passed-through channel
equals nothing made inside the layer: it has no pre-activation (`NO_CHANNEL_PRE_ACTIVATION`, or
`passed_on` for a channel of the layer's input).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Protocol

import torch
from torch import nn
from torch.overrides import TorchFunctionMode

from generator.models.floors import FLOOR_FUNCTIONS, Floor, made_by
from generator.models.hooks import FLOOR, INPUT, module_of, tensor_of

NO_CHANNEL_PRE_ACTIVATION = (
    "this channel is made inside its layer from channels already floored before it (a pooling "
    "of the layer's floored input), not from an activation inside the layer that goes below the "
    "floor, so no image can push it under the floor"
)


def passed_on(channel: int, source: str | None = None) -> str:
    """Why a channel that is its layer's input's `channel`, passed on untouched, has no
    negative (`source`: the layer whose output that input is, where the catalog has one)."""
    made = f"{source}, its layer's input," if source else "its layer's input"
    return (
        f"this channel is channel {channel} of {made} which the layer passes on "
        "untouched: it was floored before the layer, and nothing inside the layer goes below the "
        "floor for it, so no image can push it under the floor"
    )


PROBES = 2  # unfloored images: two values per position, so no two tensors' channels agree by chance

Unit = tuple[str, int]  # a pre-activation's path and its channel there


@dataclass(frozen=True)
class Target:
    """A floored layer with no pre-activation as a whole: its module path, its output as the
    probe made it and that output's range, and the tensors made inside it that go below the
    floor (`candidates`: path -> the probe's copy), in the order a match prefers them."""

    name: str
    module_path: str
    output: torch.Tensor
    low: float
    high: float
    candidates: dict[str, torch.Tensor]


class Probed(Protocol):
    """One output the probe recorded (`models.preact`): where, its copy and its range."""

    @property
    def path(self) -> str: ...
    @property
    def output(self) -> torch.Tensor: ...
    @property
    def low(self) -> float: ...
    @property
    def high(self) -> float: ...


def target_of(name: str, made: Probed, calls: Sequence[Probed], last: dict[str, int]) -> Target:
    """Layer `name`, whose output the probe recorded as `made`, as a `Target`: its candidates the
    modules' outputs made inside it (then the floor modules' inputs) among `calls`, each at its
    last call (`last`: path -> its index, the call `capture` records), at its positions, that go
    below its floor, and are not the whole output before its floor (`_whole`)."""
    shape = made.output.shape
    inside = sorted((
        (c.path.endswith(INPUT), k) for k, c in enumerate(calls)
        if c.path.startswith(f"{made.path}.") and not c.path.endswith(FLOOR)
        and k == last[c.path] and c.low < made.low and c.output.dim() == 4
        and c.output.shape[0] == shape[0] and c.output.shape[2:] == shape[2:]
        and not _whole(made, c)
    ))
    return Target(name, made.path, made.output, made.low, made.high,
                  {calls[k].path: calls[k].output for _, k in inside})


def _whole(made: Probed, before: Probed) -> bool:
    """Whether `before`, clamped to the layer's range, is the layer's whole output: an input of
    its floor that the layer has no pre-activation as a whole for (a concatenation with a part
    that never goes below the floor), whose channels of that part would match their own."""
    return before.output.shape == made.output.shape and torch.equal(
        made.output, before.output.clamp(min=made.low, max=made.high))


def common_floor(
    units: Sequence[Unit | None], output: torch.Tensor, applied: list[tuple[Floor, torch.Tensor]]
) -> Floor | None:
    """The one `Floor` (of those the probe saw `applied`) that made every channel of `output`
    that `units` match, from each pre-activation's channels in order; None where their floors
    differ, or one is not found."""
    floors: set[Floor | None] = set()
    for path in dict.fromkeys(u[0] for u in units if u is not None):
        made = sorted((u[1], c) for c, u in enumerate(units) if u is not None and u[0] == path)
        floors.add(made_by(output[:, [c for _, c in made]], applied))
    return floors.pop() if len(floors) == 1 else None


class Unfloored(TorchFunctionMode):
    """While a layer runs: every floor function (`F.relu`, a clamp, `F.hardtanh`, the ReLU
    modules' own) hands on a copy of its input unchanged."""

    def __torch_function__(  # type: ignore[override]
        self, func: Callable[..., object], types: object, args: tuple = (),  # type: ignore[type-arg]
        kwargs: dict | None = None,  # type: ignore[type-arg]
    ) -> object:
        if func in FLOOR_FUNCTIONS and args and isinstance(args[0], torch.Tensor):
            return args[0].clone()
        return func(*args, **(kwargs or {}))


@contextmanager
def _unfloored(
    net: nn.Module, targets: Sequence[Target], layers: Mapping[str, str], sources: dict[str, str]
) -> Iterator[dict[str, torch.Tensor]]:
    """Hooks that let every floor inside `targets` through, recording (a copy at the last call)
    each target's output by its module path, its input as `PATH@input`, and each candidate by
    its path; and in `sources`, each target whose input is the very output of one of `layers`
    (module path -> layer name), that layer's name."""
    modules = dict(net.named_modules())
    made: dict[str, torch.Tensor] = {}
    modes: list[Unfloored] = []
    outputs: list[tuple[torch.Tensor, str]] = []  # each layer's output as made, the object itself

    def enter(_m: nn.Module, args: tuple, path: str) -> None:  # type: ignore[type-arg]
        given = args[0] if args else None
        keep(f"{path}{INPUT}", given)  # the layer's input, as it came
        named = next((name for out, name in reversed(outputs) if out is given), None)
        if named is not None:
            sources[path] = named
        modes.append(Unfloored())
        modes[-1].__enter__()

    def leave(_m: nn.Module, _args: object, out: object, path: str) -> None:
        if modes:
            modes.pop().__exit__(None, None, None)
        keep(path, out)

    def keep(path: str, value: object) -> None:
        if isinstance(value, torch.Tensor):
            made[path] = value.detach().to("cpu", copy=True)  # read as bytes, channel by channel

    def output(out: object, name: str) -> None:
        if isinstance(tensor := tensor_of(out), torch.Tensor):
            outputs.append((tensor, name))

    handles = [
        modules[path].register_forward_hook(lambda _m, _a, o, n=name: output(o, n))
        for path, name in layers.items() if path in modules
    ]
    for target in targets:
        module = modules[target.module_path]
        handles += [
            module.register_forward_pre_hook(lambda m, a, p=target.module_path: enter(m, a, p)),
            module.register_forward_hook(
                lambda m, a, o, p=target.module_path: leave(m, a, o, p), always_call=True),
        ]
        for path in target.candidates:
            inner, reads = module_of(path)
            if reads == INPUT:
                handles.append(modules[inner].register_forward_pre_hook(
                    lambda _m, a, p=path: keep(p, a[0] if a else None)))
            else:
                handles.append(modules[inner].register_forward_hook(
                    lambda _m, _a, o, p=path: keep(p, o)))
    try:
        yield made
    finally:
        for handle in handles:
            handle.remove()


@dataclass
class Matched:
    """What `match_channels` found: per layer, per channel, the (path, channel) of its
    pre-activation or None; per layer, its channels that are a channel of its input passed on
    untouched (layer channel -> input channel); and per such layer, the layer whose output its
    input is, where one is."""

    units: dict[str, tuple[Unit | None, ...]] = field(default_factory=dict)
    passed: dict[str, dict[int, int]] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)


def match_channels(
    net: nn.Module,
    targets: Sequence[Target],
    run: Callable[[int], None],
    layers: Mapping[str, str] | None = None,
) -> Matched:
    """Per target layer, per channel: the candidate path and its channel whose value is the
    layer's channel with every floor inside the layer let through, and whose probe value clamped
    to the layer's range is the channel's; None for a channel no candidate makes (and where it
    is a channel of the layer's input, which one). `run(n)` runs the network on `n` random
    images (the probe's first). A layer none of whose channels is matched is left out. `layers`
    (module path -> name): the layers whose output a target's input may be."""
    matched = Matched()
    if not targets:
        return matched
    sources: dict[str, str] = {}
    try:
        with _unfloored(net, targets, layers or {}, sources) as made:
            run(PROBES)
    except Exception:  # noqa: BLE001 - a network this cannot run keeps no negatives per channel
        return matched
    for target in targets:
        out = made.get(target.module_path)
        if out is None or out.dim() != 4:
            continue
        units = _units(target, out, made)
        if any(units):
            matched.units[target.name] = units
            inputs = _keys(made.get(f"{target.module_path}{INPUT}"))
            keys = {c: _key(out[:, c]) for c, unit in enumerate(units) if unit is None}
            matched.passed[target.name] = {
                c: inputs[key] for c, key in keys.items() if key in inputs
            }
            if matched.passed[target.name] and target.module_path in sources:
                matched.sources[target.name] = sources[target.module_path]
    return matched


def _units(
    target: Target, out: torch.Tensor, made: dict[str, torch.Tensor]
) -> tuple[Unit | None, ...]:
    """`match_channels` for one layer, `out` its unfloored output."""
    units: list[Unit | None] = [None] * out.shape[1]
    keys = [_key(out[:, c]) for c in range(out.shape[1])]
    for path, probed in target.candidates.items():
        index = _keys(made.get(path))
        for c, key in enumerate(keys):
            j = index.get(key, -1)
            if units[c] is None and j >= 0 and torch.equal(
                target.output[:, c], probed[:, j].clamp(min=target.low, max=target.high)
            ):
                units[c] = (path, j)
    return tuple(units)


def _keys(maps: torch.Tensor | None) -> dict[bytes, int]:
    """Each channel of `maps` (B, C, H, W) by its values, the first of equal ones."""
    index: dict[bytes, int] = {}
    if isinstance(maps, torch.Tensor) and maps.dim() == 4:
        for j in range(maps.shape[1]):
            index.setdefault(_key(maps[:, j]), j)
    return index


def _key(channel: torch.Tensor) -> bytes:
    return channel.contiguous().cpu().numpy().tobytes()
