"""Where a channel's negative can move: the activation before a floor.

A layer whose output is floored (a ReLU's, ReLU6's, a Hardtanh's or any clamp's, as a module or
called in `forward` as `F.relu`, `torch.relu`, `x.clamp(min=0)`, in place or not) cannot go below
its floor, so minimizing one of its channels stops there on the first step and the picture shows
nothing. `negative_layer(model, layer)` names the layer to minimize instead: the layer itself when
its output has no floor; the first module whose output, clamped to the layer's range, is the
layer's output (the convolution or norm before the activation: its *pre-activation*), registered
in the model under its module path so objectives can reach it; else the input of the floor module
that makes the layer's output at its last call (a residual block's ReLU taking a sum computed in
`forward`), registered as `PATH@input` (`models.hooks.INPUT`); or None when the output is floored
but no module makes or takes its input (a concatenation of activations, a pooling after the ReLU,
a ReLU called in `forward` on a sum), with `NO_PRE_ACTIVATION` saying why. Smooth activations
(GELU, SiLU, Hardswish, Mish) go below 0, so their layers are minimized where they are. Found by
one probing forward of a single image when the model is loaded (`find_pre_activations`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import torch
from torch import nn

from generator.models.base import LoadedModel
from generator.models.hooks import INPUT

FLOORED = (nn.ReLU, nn.ReLU6, nn.Hardtanh)
NO_PRE_ACTIVATION = (
    "its layer's output never goes below a floor (a ReLU's 0, or a clamp's), which no image can "
    "push it under, and the activation before the floor is not the output of any module the "
    "network names (it is computed in its forward: a sum, a concatenation, a pooling)"
)
FLOOR_SHARE = 0.25  # at least this share of a nonnegative output at exactly 0: a ReLU's output
_PROBED = "_featvis_pre_activations"

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


def _forward(model: LoadedModel) -> None:
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(1, 3, model.input_size, model.input_size, generator=gen).to(model.device)
    with torch.no_grad():
        model.net(model.preprocess(x))


@dataclasses.dataclass(frozen=True)
class _Call:
    """One module's output as it was made (a copy: a tensor changed in place after a module
    made it, `out += identity` or an in-place ReLU, is no longer that module's output)."""

    path: str
    module: nn.Module
    output: torch.Tensor
    low: float
    high: float


def _clamps_to(made: _Call, before: _Call) -> bool:
    """Whether `made` is `before` clamped to `made`'s range, with something cut off below."""
    if before.output.shape != made.output.shape or not before.low < made.low:
        return False
    return torch.equal(made.output, before.output.clamp(min=made.low, max=made.high))


def _probe(model: LoadedModel) -> dict[str, str | None]:
    """Per catalog layer whose output is floored: the module path of its pre-activation, or None
    when there is none to hook."""
    paths = {info.module_path for info in model.layers}
    shapes: set[torch.Size] = set()
    calls: list[_Call] = []

    def shape(_p: str, _m: nn.Module, _i: tuple, output: object) -> None:  # type: ignore[type-arg]
        if isinstance(output, torch.Tensor):
            shapes.add(output.shape)

    def record(path: str, module: nn.Module, _i: tuple, output: object) -> None:  # type: ignore[type-arg]
        if isinstance(output, torch.Tensor) and output.shape in shapes and output.numel():
            if output.is_floating_point():
                low, high = (float(v) for v in torch.aminmax(output))
                calls.append(_Call(path, module, output.detach().clone(), low, high))

    def record_input(path: str, module: nn.Module, args: tuple, _o: object) -> None:  # type: ignore[type-arg]
        if isinstance(module, FLOORED) and args:
            record(f"{path}{INPUT}", module, (), args[0])

    try:
        with _hooked(model.net, paths, shape):
            _forward(model)
        with _hooked(model.net, None, record), _hooked(model.net, None, record_input, before=True):
            _forward(model)
    except Exception:  # noqa: BLE001 - a network this probe cannot run has no pre-activations
        return {}
    out: dict[str, str | None] = {}
    for info in model.layers:
        at = [k for k, c in enumerate(calls) if c.path == info.module_path]
        if not at:
            continue
        made = calls[at[-1]]
        found = [(k, c.path) for k, c in enumerate(calls[: at[-1]]) if _clamps_to(made, c)]
        # else the input of a floor module (a ReLU taking a sum made in `forward`) at its last
        # call, the one `capture` records
        makers = [p for _, p in found if not p.endswith(INPUT)] or [
            p for k, p in found if k == _last_call(calls, p)
        ]
        if makers:
            out[info.name] = makers[0]
        elif _floored(made) or any(
            isinstance(c.module, FLOORED) and torch.equal(c.output, made.output)
            for c in calls[: at[-1] + 1]
        ):
            out[info.name] = None
    return out


def _last_call(calls: list[_Call], path: str) -> int:
    return max(k for k, c in enumerate(calls) if c.path == path)


def _floored(made: _Call) -> bool:
    """A nonnegative output with a good share exactly at 0: a ReLU's (or after one)."""
    return made.low == 0 and float((made.output == 0).float().mean()) >= FLOOR_SHARE


def find_pre_activations(model: LoadedModel) -> LoadedModel:
    """Probe `model` once for its layers' pre-activations and register them (`load_model` calls
    this, so planning and rendering never run the network); returns the model."""
    if getattr(model, _PROBED, None) is not None:
        return model
    found = _probe(model)
    setattr(model, _PROBED, found)
    for name, path in found.items():
        if path is not None and path not in model._by_name:
            info = model.layer(name)  # depth: before its layer (a forward stops after it)
            model._by_name[path] = dataclasses.replace(
                info, name=path, module_path=path, optional=True, depth=info.depth - 1
            )
    return model


def negative_layer(model: LoadedModel, layer: str) -> str | None:
    """The layer a channel's negative minimizes (see the module docstring); None: there is none
    that can move."""
    found: dict[str, str | None] = getattr(find_pre_activations(model), _PROBED)
    if layer not in found:
        return layer
    return found[layer]
