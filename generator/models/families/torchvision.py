"""`torchvision:NAME`: any classifier of torchvision.models, with torchvision's weights API.

Weights: an explicit file; else torchvision's default pretrained weights, from the torch hub cache
or downloaded when online; offline with an empty cache, an error says how to supply them. The
catalog is the generic one (stem, blocks, mixed blocks, VGG's ReLUs), or for `vit_*` the residual
stream after each encoder block with the MLP hidden units as optional layers.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from generator.config.model_ids import TORCHVISION, check_listed
from generator.core.errors import FeatvisError
from generator.models.families import Built, Family, LoadOptions, vit
from generator.models.families.descriptions import describe
from generator.models.weights import load_into, no_weights, reachable, read_state_dict

PREFIX = TORCHVISION.prefix


def _create(name: str, **kwargs: object) -> nn.Module:
    import torchvision

    check_listed(name, TORCHVISION)
    inception = name in ("googlenet", "inception_v3")
    extra = {"aux_logits": False, "init_weights": True} if inception else {}
    return torchvision.models.get_model(name, weights=None, **extra, **kwargs)


def _pretrained(net: nn.Module, name: str) -> str:
    import torchvision

    enum = torchvision.models.get_model_weights(name).DEFAULT
    cached = Path(torch.hub.get_dir()) / "checkpoints" / Path(enum.url).name
    if not cached.exists() and not reachable("download.pytorch.org"):
        raise no_weights(
            f"{PREFIX}{name}", f"{cached} is missing and the download site is unreachable"
        )
    try:
        state = enum.get_state_dict(progress=False, check_hash=True)
    except Exception as exc:  # noqa: BLE001 - offline, cache miss, bad download
        raise no_weights(f"{PREFIX}{name}", type(exc).__name__) from None
    state = {k: v for k, v in state.items() if not k.startswith("aux")}
    load_into(net, state, str(enum), f"{PREFIX}{name}")
    return str(enum)


def build(spec: str, options: LoadOptions) -> Built:
    name = spec[len(PREFIX) :]
    pretrained = not (options.random_weights or options.weights)
    own_grid = options.input_size and not options.input_shape and not pretrained
    if name.startswith("vit_") and own_grid:  # a ViT at its own size: made once, at that size
        net = _create(name, image_size=options.input_size)
    else:
        net = _create(name)
    if vit.is_torchvision_vit(net) and options.input_shape:
        height, width = options.input_shape
        raise FeatvisError(
            f"model '{spec}' takes square pictures only (its image_size is one number), not "
            f"{height} x {width} px (height x width): set input_size to one number, such as "
            f"{max(height, width)}"
        )
    own_size = options.input_size and getattr(net, "image_size", None) != options.input_size
    if vit.is_torchvision_vit(net) and own_size and not pretrained:
        net = _create(name, image_size=options.input_size)  # the patch grid follows the input
    if options.random_weights:
        source = "random"
    elif options.weights:
        load_into(net, read_state_dict(options.weights), options.weights, spec)
        source = options.weights
    else:
        source = _pretrained(net, name)
    if vit.is_torchvision_vit(net):
        blocks, mlp = vit.torchvision_paths(net)
        size = int(getattr(net, "image_size"))  # noqa: B009 - a plain int attribute
        return Built(
            net=net, source=source, input_size=size, paths=blocks, optional=mlp,
            prefix_tokens=1, description=describe(name, "torchvision"),
        )
    size = 299 if name == "inception_v3" else 224
    return Built(net=net, source=source, input_size=size, description=describe(name, "torchvision"))


FAMILY = Family(ids=TORCHVISION, build=build)
