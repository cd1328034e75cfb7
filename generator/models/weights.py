"""Reading checkpoints and loading them strictly, with one-line errors a person can act on.

A checkpoint is a state dict of tensors (`.pth`/`.pt` via `torch.load(weights_only=True)`, or
`.safetensors`), possibly wrapped under `state_dict`, `model` or `model_state_dict`, its keys
possibly prefixed by the wrapper that trained it (`module.` from DataParallel or
DistributedDataParallel, `_orig_mod.` from torch.compile). Loading is strict: a checkpoint for
another architecture is an error that counts the missing, unexpected and mis-shaped keys and names a
few of each, never a partial load.
"""

from __future__ import annotations

import re
import socket
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.nn.modules.utils import consume_prefix_in_state_dict_if_present

from generator.core.errors import FeatvisError


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    path = Path(path)
    state: Any
    if not path.is_file():
        raise FeatvisError(f"{path}: no such weights file")
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            state = load_file(str(path))
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any failure to read is the user's file
        raise FeatvisError(f"{path}: {_unreadable(exc)}"[:300]) from None
    for key in ("state_dict", "model", "model_state_dict"):
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise FeatvisError(f"{path}: not a state dict of tensors")
    return state


_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_GLOBAL = re.compile(r"Unsupported global: GLOBAL ([\w.]+)")


def _unreadable(exc: Exception) -> str:
    """Why a checkpoint cannot be read, in one line without terminal colour codes; a pickled
    object (a whole model) is named as such: featvis reads tensors only, never unpickles code."""
    text = _ANSI.sub("", str(exc))
    found = _GLOBAL.search(text)
    if found:
        return (
            f"a pickled {found.group(1)}, not a state dict of tensors (save the model's "
            "state_dict() instead; featvis does not unpickle code)"
        )
    first = next((line.strip() for line in text.splitlines() if line.strip()), "")
    return f"cannot read weights ({type(exc).__name__}{': ' + first if first else ''})"


def _few(keys: list[str], n: int = 2) -> str:
    shown = ", ".join(k if len(k) <= 40 else k[:37] + "..." for k in keys[:n])
    return shown + (", ..." if len(keys) > n else "")


def mismatch(expected: dict[str, torch.Tensor], state: dict[str, torch.Tensor]) -> str | None:
    """None when `state` fits `expected` key for key and shape for shape; else a short account."""
    # BatchNorm fills in a missing counter itself (older checkpoints have none).
    missing = sorted(
        k for k in set(expected) - set(state) if not k.endswith("num_batches_tracked")
    )
    unexpected = sorted(set(state) - set(expected))
    shaped = sorted(
        k for k in set(state) & set(expected) if tuple(state[k].shape) != tuple(expected[k].shape)
    )
    if not (missing or unexpected or shaped):
        return None
    parts = []
    if missing:
        parts.append(f"{len(missing)} of its {len(expected)} keys missing, e.g. {_few(missing, 1)}")
    if unexpected:
        parts.append(f"{len(unexpected)} unexpected, e.g. {_few(unexpected, 1)}")
    if shaped:
        k = shaped[0]
        example = f", e.g. {k} {tuple(state[k].shape)} for {tuple(expected[k].shape)}"
        parts.append(f"{len(shaped)} of another shape{'' if parts else example}")
        if all(_POSITIONS.search(key) for key in shaped):  # a transformer's patch count
            parts.append("a position embedding for another input size: set input_size to the "
                         "size the checkpoint was trained at")
    return "; ".join(parts)


# a transformer's position embeddings, sized by its input's patches (timm's, torchvision's, HF's)
_POSITIONS = re.compile(r"(^|\.)(pos_embed|pos_embedding|position_embeddings?)(\.|$)")


WRAPPER_PREFIXES = ("module.", "_orig_mod.")


def unwrapped(
    state: dict[str, torch.Tensor], expected: dict[str, torch.Tensor]
) -> dict[str, torch.Tensor]:
    """`state` without the prefixes a training wrapper put before every key, where the network's
    own keys do not carry them."""
    for prefix in WRAPPER_PREFIXES:
        if state and all(k.startswith(prefix) for k in state) and not any(
            k.startswith(prefix) for k in expected
        ):
            state = dict(state)
            consume_prefix_in_state_dict_if_present(state, prefix)
            return unwrapped(state, expected)
    return state


def load_into(net: nn.Module, state: dict[str, torch.Tensor], source: str, model_id: str) -> None:
    """Load `state` strictly; a checkpoint for another architecture is a one-line error."""
    expected = net.state_dict()
    state = unwrapped(state, expected)
    why = mismatch(expected, state)
    if why is not None:
        raise FeatvisError(f"{source}: weights do not fit model '{model_id}' ({why})")
    net.load_state_dict(state, strict=True)


def no_weights(model_id: str, why: str) -> FeatvisError:
    return FeatvisError(
        f"model '{model_id}': no weights available offline ({why}); supply them with "
        f"--weights PATH, or run once online to fill the torch/timm cache"
    )


def reachable(host: str) -> bool:
    """Whether `host` resolves: a fast offline check before a download would retry for a minute."""
    try:
        socket.getaddrinfo(host, 443)
    except OSError:
        return False
    return True
