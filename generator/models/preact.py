"""Where a channel's negative can move: the activation before a floor.

A layer whose output is a ReLU's (or ReLU6's) cannot go below 0, so minimizing one of its
channels stops at 0 on the first step and the picture shows nothing. `negative_layer(model,
layer)` names the layer to minimize instead: the layer itself when its output is not a floored
activation's; the module whose output that activation receives (the convolution or norm before
it: its *pre-activation*), registered in the model under its module path so objectives can reach
it; or None when the activation's input is not any module's output (a sum computed in `forward`,
say), with `NO_PRE_ACTIVATION` saying why. Found by one probing forward of a single image when
the model is loaded (`find_pre_activations`).
"""

from __future__ import annotations

import dataclasses

import torch
from torch import nn

from generator.models.base import LoadedModel

FLOORED = (nn.ReLU, nn.ReLU6)
NO_PRE_ACTIVATION = (
    "its layer's output is a ReLU's, which no image can push below 0, and the activation before "
    "the ReLU is not the output of any module the network names (it is computed in its forward)"
)
_PROBED = "_featvis_pre_activations"


def _probe(model: LoadedModel) -> dict[str, str | None]:
    """Per catalog layer whose output is a floored activation's: the module path of its
    pre-activation, or None when there is none to hook."""
    # (path, module, first input, its version, output, its version): a tensor changed in place
    # after a module made it (`out += identity`) is no longer that module's output
    calls: list[tuple[str, nn.Module, torch.Tensor | None, int, torch.Tensor, int]] = []

    def hook(path: str):  # type: ignore[no-untyped-def]
        def record(module: nn.Module, inputs: tuple, output: object) -> None:  # type: ignore[type-arg]
            if isinstance(output, torch.Tensor):
                first = inputs[0] if inputs and isinstance(inputs[0], torch.Tensor) else None
                version = first._version if first is not None else -1
                calls.append((path, module, first, version, output, output._version))

        return record

    handles = [m.register_forward_hook(hook(p)) for p, m in model.net.named_modules() if p]
    size = model.input_size
    try:
        with torch.no_grad():
            gen = torch.Generator().manual_seed(0)
            x = torch.rand(1, 3, size, size, generator=gen).to(model.device)
            model.net(model.preprocess(x))
    except Exception:  # noqa: BLE001 - a network this probe cannot run has no pre-activations
        return {}
    finally:
        for handle in handles:
            handle.remove()
    out: dict[str, str | None] = {}
    for info in model.layers:
        produced = [c for c in calls if c[0] == info.module_path]
        if not produced:
            continue
        output = produced[-1][4]
        floors = [c for c in calls if isinstance(c[1], FLOORED) and c[4] is output]
        if not floors:
            continue
        _, _, before, version, _, _ = floors[-1]
        makers = [c[0] for c in calls if c[4] is before and c[5] == version]
        out[info.name] = makers[0] if makers and before is not None else None
    return out


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
