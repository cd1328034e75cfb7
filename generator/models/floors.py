"""What floors a layer's output, named as the network's code names it (`Floor`): the modules
(`nn.ReLU`, `nn.ReLU6`, `nn.Hardtanh`) and the functions a `forward` calls (`F.relu`, `F.relu6`,
`F.hardtanh`, `x.clamp`, `F.threshold`) that `models.preact` finds a layer's pre-activation
behind, recorded with what each made while the probe runs (`Floors`), so the pages say "the
layer's ReLU6" or "its clamp(0, 6)" where the network applies that, and "ReLU" only where it
applies a ReLU.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn
from torch.overrides import TorchFunctionMode


@dataclasses.dataclass(frozen=True)
class Floor:
    """What the network applies to floor a layer's output, named as its code names it: a module
    (`nn.ReLU` "ReLU", `nn.ReLU6` "ReLU6", `nn.Hardtanh(0, 6)` "Hardtanh(0, 6)") or a function
    its `forward` calls (`F.relu`, `torch.relu` "ReLU", `F.relu6` "ReLU6", `F.hardtanh(x, 0, 6)`
    "hardtanh(0, 6)", `x.clamp(0, 6)` "clamp(0, 6)", `x.clamp(min=0)` "clamp(min=0)",
    `F.threshold` "threshold"), with its bounds where it has them."""

    op: Literal["ReLU", "ReLU6", "Hardtanh", "hardtanh", "clamp", "threshold"]
    low: float | None = None
    high: float | None = None

    def __str__(self) -> str:
        if self.op in ("ReLU", "ReLU6", "threshold"):
            return self.op
        if self.low is not None and self.high is not None:
            return f"{self.op}({self.low:g}, {self.high:g})"
        if self.low is not None:  # a clamp with one bound
            return f"{self.op}(min={self.low:g})"
        return self.op if self.high is None else f"{self.op}(max={self.high:g})"


_RELUS = frozenset({F.relu, F.relu_, torch.relu, torch.relu_, torch.Tensor.relu,
                    torch.Tensor.relu_})
_CLAMPS = frozenset({torch.clamp, torch.clamp_, torch.Tensor.clamp, torch.Tensor.clamp_,
                     torch.clip, torch.clip_, torch.Tensor.clip, torch.Tensor.clip_})
_CLAMP_MINS = frozenset({torch.clamp_min, torch.clamp_min_, torch.Tensor.clamp_min,
                         torch.Tensor.clamp_min_})
# every function that floors its input (`models.hooks` records the input of the last a module's
# forward calls)
FLOOR_FUNCTIONS = _RELUS | _CLAMPS | _CLAMP_MINS | {F.relu6, F.hardtanh, F.hardtanh_, F.threshold}


def _bound(args: tuple, kwargs: dict, at: int, key: str) -> float | None:  # type: ignore[type-arg]
    value = args[at] if len(args) > at else kwargs.get(key)
    if isinstance(value, torch.Tensor):
        return float(value) if value.numel() == 1 else None
    return None if value is None else float(value)


def _floor_called(func: Callable[..., object], args: tuple, kwargs: dict) -> Floor | None:  # type: ignore[type-arg]
    """The `Floor` a call of `func` applies, or None where `func` is no floor function."""
    if func in _RELUS:
        return Floor("ReLU", 0.0)
    if func is F.relu6:
        return Floor("ReLU6", 0.0, 6.0)
    if func in (F.hardtanh, F.hardtanh_):
        low, high = _bound(args, kwargs, 1, "min_val"), _bound(args, kwargs, 2, "max_val")
        return Floor("hardtanh", -1.0 if low is None else low, 1.0 if high is None else high)
    if func in _CLAMPS:
        return Floor("clamp", _bound(args, kwargs, 1, "min"), _bound(args, kwargs, 2, "max"))
    if func in _CLAMP_MINS:
        return Floor("clamp", _bound(args, kwargs, 1, "min"))
    if func is F.threshold:
        return Floor("threshold", _bound(args, kwargs, 1, "threshold"))
    return None


def floor_module(module: nn.Module) -> Floor | None:
    """The `Floor` a floor module applies (`FLOORED`), or None."""
    if isinstance(module, nn.ReLU):
        return Floor("ReLU", 0.0)
    if isinstance(module, nn.ReLU6):  # a Hardtanh(0, 6) by its own name
        return Floor("ReLU6", 0.0, 6.0)
    if isinstance(module, nn.Hardtanh):
        return Floor("Hardtanh", float(module.min_val), float(module.max_val))
    return None


class Floors(TorchFunctionMode):
    """While the probe runs: each floor function called, with a copy of what it made."""

    def __init__(self, made: list[tuple[Floor, torch.Tensor]]) -> None:
        super().__init__()
        self.made = made

    def __torch_function__(  # type: ignore[override]
        self, func: Callable[..., object], types: object, args: tuple = (),  # type: ignore[type-arg]
        kwargs: dict | None = None,  # type: ignore[type-arg]
    ) -> object:
        result = func(*args, **(kwargs or {}))
        floor = _floor_called(func, args, kwargs or {})
        if floor is not None and isinstance(result, torch.Tensor):
            self.made.append((floor, result.detach().clone()))
        return result


def made_by(output: torch.Tensor, floors: list[tuple[Floor, torch.Tensor]]) -> Floor | None:
    """The last of `floors` that made `output` (a module's after the function it calls)."""
    return next((
        floor for floor, made in reversed(floors)
        if made.shape == output.shape and torch.equal(made, output)
    ), None)
