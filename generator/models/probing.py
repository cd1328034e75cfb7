"""What a freshly built network takes and gives, found by running it: its input channels (RGB or
grey), the sizes it accepts and its catalog of visualizable layers. Whatever a forward pass
raises becomes one line naming the model and what to change (`models.zoo.load_model` calls
these while loading).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import nn

from generator.core.errors import FeatvisError, choices_hint
from generator.core.words import counted
from generator.models import catalog as catalog_module
from generator.models.base import Size, sides
from generator.models.catalog import Catalog, LayerShapeError
from generator.models.families import Built
from generator.models.hooks import tensor_of


def _layer_paths(
    net: nn.Module, spec: str, layers: Sequence[str], built: Built
) -> tuple[str, ...]:
    """Module paths for the user's `layers` entries (module paths, or the catalog's names)."""
    modules = [name for name, _ in net.named_modules() if name]
    by_alias = {name: path for path, name in built.aliases}
    paths = []
    for entry in layers:
        path = by_alias.get(entry, entry)
        if path not in modules:
            hint = choices_hint(entry, modules, limit=4)
            raise FeatvisError(
                f"model '{spec}': layers entry '{entry}' names no module of its "
                f"{len(modules)} ({hint})"[:300]
            )
        paths.append(path)
    return tuple(paths)


def _catalog(
    net: nn.Module, spec: str, size: Size, built: Built, layers: Sequence[str] | None
) -> Catalog:
    names = dict(built.aliases)
    paths = built.paths if layers is None else _layer_paths(net, spec, layers, built)
    try:
        return catalog_module.probe_catalog(
            net,
            size,
            paths,
            optional=built.optional,
            rename=lambda p: names.get(p, p),
            prefix_tokens=built.prefix_tokens,
            strict=layers is not None,
        )
    except LayerShapeError as exc:
        raise FeatvisError(f"model '{spec}': {exc}") from None


def probe_network(
    net: nn.Module,
    spec: str,
    size: Size,
    built: Built,
    layers: Sequence[str] | None,
    dev: torch.device,
) -> tuple[nn.Module, Catalog]:
    """The catalog; a model whose forward cannot take channels-last weights (a .view() of an
    activation) goes back to the default layout."""
    if dev.type == "cpu":
        try:
            return net, _visualizable(spec, _catalog(net, spec, size, built, layers))
        except RuntimeError:
            net = net.to(memory_format=torch.contiguous_format)  # type: ignore[call-overload]
        except FeatvisError:
            raise
        except Exception:  # noqa: BLE001, S110 - the same error again below, reported there
            pass
    try:
        return net, _visualizable(spec, _catalog(net, spec, size, built, layers))
    except FeatvisError:
        raise
    except Exception as exc:  # noqa: BLE001 - whatever the network's forward raises
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        if isinstance(exc, TypeError) and "argument" in message:
            raise FeatvisError(
                f"model '{spec}': its forward needs more than a batch of images ({message}); "
                "wrap it so that forward(images) returns the logits"[:300]
            ) from None
        taken = _channels_asked(message)
        if taken:
            raise FeatvisError(
                f"model '{spec}': its first layer takes {counted(taken, 'input channel')}; "
                "featvis shows networks RGB images (3 channels) or grey ones (1 channel): wrap "
                "it so that forward(images) takes one of them"
            ) from None
        hint = ("; its head takes one input size only: set input_size to the size it was "
                "trained at (one number, or [H, W])") if "cannot be multiplied" in message else ""
        raise FeatvisError(  # the hint (a flatten + linear head) before what a long line elides
            f"model '{spec}': a forward pass at {px(size)} failed{hint} ({message[:200]})"
        ) from None


def _channels_asked(message: str) -> int:
    """The input channels a convolution's error says it takes when given 3 (0: not that error)."""
    found = re.search(r"to have (\d+) channels, but got 3 channels", message)
    return int(found[1]) if found else 0


def px(size: Size) -> str:
    """'224 px', or '32 x 64 px (height x width)' for a non-square size."""
    height, width = sides(size)
    return f"{height} px" if height == width else f"{height} x {width} px (height x width)"


def input_channels(net: nn.Module, size: Size) -> int:
    """The channels the network's first layer takes: 3 unless a forward pass of an RGB picture
    fails where one of a grey picture would not (a convolution's error names the count it takes;
    without such an error, a grey picture is tried). A network whose first convolution module
    takes 3 channels and none takes one (a zoo network's stem) is taken as RGB without a forward
    pass. Counts other than 1 and 3 are answered by the catalog's probe, which refuses them in
    one line."""
    convs = [m for m in net.modules() if isinstance(m, nn.Conv2d)]
    if convs and convs[0].in_channels == 3 and all(m.in_channels != 1 for m in convs):
        return 3
    device = next(net.parameters()).device
    try:
        with torch.no_grad():
            net.eval()(torch.zeros(1, 3, *sides(size), device=device))
    except Exception as exc:  # noqa: BLE001 - whatever the forward raises
        taken = _channels_asked(str(exc))
        if taken:
            return taken
        try:
            with torch.no_grad():
                net(torch.zeros(1, 1, *sides(size), device=device))
        except Exception:  # noqa: BLE001 - not a grey network either: the probe reports
            return 3
        return 1
    return 3


class _Logits:
    """A forward hook on the whole network that returns the logits out of its output: a tuple's
    element or a dict's key (a module-level class, so the network still pickles)."""

    def __init__(self, key: int | str) -> None:
        self.key = key

    def __call__(self, module: nn.Module, args: object, out: Any) -> Any:
        return out[self.key]


def _logits_key(out: object) -> int | str | None:
    """Where the logits are in a network's output that is not one tensor: a dict's `logits`
    (Hugging Face's outputs), else a tuple's or list's first element, when it is one row of
    numbers per image; None: nowhere featvis can tell."""
    if isinstance(out, Mapping):
        key: int | str = "logits"
        found = out.get(key)
    elif isinstance(out, (tuple, list)) and out:
        key, found = 0, out[0]
    else:
        return None
    return key if isinstance(found, torch.Tensor) and found.dim() == 2 else None


def take_logits(net: nn.Module, size: Size) -> None:
    """Make a network whose forward returns a tuple (logits, ...) or a dict holding `logits`
    return the logits alone, by a forward hook (its module paths stay as they are). Nothing
    when its output is one tensor, or something else (the catalog's probe refuses that), or a
    forward pass fails (the probe reports that)."""
    device = next(net.parameters()).device
    try:
        with torch.no_grad():
            out = net.eval()(torch.zeros(1, 3, *sides(size), device=device))
    except Exception:  # noqa: BLE001 - reported by the catalog's probe
        return
    key = _logits_key(out)
    if not isinstance(out, torch.Tensor) and key is not None:
        net.register_forward_hook(_Logits(key))


def _visualizable(spec: str, catalog: Catalog) -> Catalog:
    """A catalog with at least one layer, of a network whose output is one logits tensor."""
    if catalog.output_kind != "Tensor":
        raise FeatvisError(
            f"model '{spec}': its forward returns a {catalog.output_kind}, not one logits tensor "
            "(nor a tuple whose first element is one, nor a dict with 'logits'); wrap it so "
            "that forward(images) returns the logits (B, classes)"
        )
    if not catalog.layers:
        raise FeatvisError(
            f"model '{spec}': no layer gives a (B, C, H, W) feature map or (B, tokens, D) patch "
            "tokens, so there is nothing to visualize (name module paths in `layers`)"
        )
    return catalog


def runs_at(net: nn.Module, size: Size) -> bool:
    """Whether a forward pass at `size` px goes through (a network may assert its input size)."""
    device = next(net.parameters()).device
    try:
        with torch.no_grad():
            net(torch.zeros(1, 3, *sides(size), device=device))
    except Exception:  # noqa: BLE001 - an assertion, a shape mismatch: whatever the forward raises
        return False
    return True


def changes_outputs(net: nn.Module, size: Size) -> bool:
    """Whether `net`'s forward changes a module's output in place after the module made it (an
    `F.relu(x, inplace=True)` after a norm, `out += identity` after a convolution). What a hook
    reads is a copy taken as the module made it (`models.hooks.capture`), which such a network
    changes later: its pictures differ from what reading the changed tensor gave, so its job keys
    must too (`zoo._seen_settings`). False when the forward fails."""
    made: list[tuple[torch.Tensor, int]] = []

    def keep(_m: nn.Module, _i: tuple, output: object) -> None:  # type: ignore[type-arg]
        out = tensor_of(output)
        if out is not None:
            made.append((out, out._version))

    device = next(net.parameters()).device
    handles = [m.register_forward_hook(keep) for name, m in net.named_modules() if name]
    try:
        with torch.no_grad():
            net(torch.zeros(1, 3, *sides(size), device=device))
    except Exception:  # noqa: BLE001 - as `runs_at`: the load reports a forward that fails
        return False
    finally:
        for handle in handles:
            handle.remove()
    return any(out._version != version for out, version in made)


def smallest_input(net: nn.Module, size: int, step: int = 16) -> int:
    """The smallest multiple of `step` px that a network running at `size` accepts (0: `step`
    itself goes through): a network without global pooling at the end, or with large kernels
    late (Inception v3: 75 px), rejects smaller pictures."""
    if runs_at(net, step):
        return 0
    low, high = 1, max(1, size // step)  # step * low fails, step * high runs
    while high - low > 1:
        mid = (low + high) // 2
        low, high = (low, mid) if runs_at(net, step * mid) else (mid, high)
    return step * high


def size_multiple(net: nn.Module, size: int) -> int:
    """The multiple of which a network running at `size` px takes pictures (1: any size): one
    whose branches meet again after striding (HRNet's fusion, which upsamples each branch back by
    2, 4, 8) takes multiples of its largest stride only. Probed at an odd multiple of each
    candidate above `size` (0: none of them runs)."""
    for step in (1, 2, 4, 8, 16, 32, 64):
        if runs_at(net, step * (2 * -(-size // (2 * step)) + 1)):
            return step
    return 0


def other_size(size: int) -> int:
    """A second size to probe with: 32 px less (more for small inputs), a multiple of 16 apart
    so that a patch grid still divides it."""
    return size - 32 if size >= 96 else size + 32
