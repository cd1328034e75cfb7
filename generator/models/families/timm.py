"""`timm:NAME`: any image model of timm, with timm's own pretrained loading.

Weights: an explicit file; else timm's default pretrained tag, from the Hugging Face cache or
downloaded when online; offline with an empty cache, an error says how to supply them. The input
size and normalization come from the model's pretrained config. CNNs get the generic catalog, with
each stage that timm's `feature_info` names opened into its blocks; vision transformers (`vit_*`,
`deit_*`, anything with patch tokens and `blocks`) the residual stream after each block, with the
MLP hidden units as optional layers.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from generator.config.model_ids import TIMM, check_listed
from generator.models.base import Size, sides
from generator.models.candidates import candidate_paths
from generator.models.families import IMAGENET_MEAN, IMAGENET_STD, Built, Family, LoadOptions, vit
from generator.models.families.descriptions import describe
from generator.models.hooks import capture
from generator.models.weights import load_into, no_weights, reachable, read_state_dict

PREFIX = TIMM.prefix


def cached_file(name: str) -> str | None:
    """The weights file of timm's default pretrained tag, if the Hugging Face cache has it."""
    import timm
    from huggingface_hub import try_to_load_from_cache

    cfg = timm.models.get_pretrained_cfg(name)
    repo = getattr(cfg, "hf_hub_id", None) if cfg is not None else None
    if not repo:
        return None
    for filename in ("model.safetensors", "pytorch_model.bin"):
        path = try_to_load_from_cache(repo, filename)
        if isinstance(path, str):
            return path
    return None


def _pretrained(name: str, **kwargs: Any) -> nn.Module:
    import timm

    cached = cached_file(name)
    if cached is None and not reachable("huggingface.co"):
        why = "not in the Hugging Face cache and the hub is unreachable"
        raise no_weights(f"{PREFIX}{name}", why)
    try:
        overlay = {"file": cached} if cached else None
        return timm.create_model(name, pretrained=True, pretrained_cfg_overlay=overlay, **kwargs)
    except TypeError:
        raise  # an argument the model does not take
    except Exception as exc:  # noqa: BLE001 - offline, cache miss
        raise no_weights(f"{PREFIX}{name}", type(exc).__name__) from None


def _norm(net: nn.Module) -> tuple[tuple[float, float, float], tuple[float, float, float], int]:
    cfg = getattr(net, "pretrained_cfg", {}) or {}
    size = int(cfg.get("input_size", (3, 224, 224))[-1])
    mean, std = tuple(cfg.get("mean", IMAGENET_MEAN)), tuple(cfg.get("std", IMAGENET_STD))
    return mean, std, size  # type: ignore[return-value]


def stage_paths(net: nn.Module, input_size: Size) -> tuple[str, ...]:
    """The generic candidates, with every stage timm names that runs two or more blocks of one
    kind one after the other (a RegNet's `s1`: `b1`, `b2`, ...) replaced by its blocks. A stage
    counts as a sequence when its last block's output is the stage's output (an Inception block's
    branches, concatenated, are not)."""
    modules = dict(net.named_modules())
    stages = {info.get("module", "") for info in getattr(net, "feature_info", [])}
    paths = candidate_paths(net)
    blocks: dict[str, list[str]] = {}
    for path in paths:
        composite = [n for n, m in modules[path].named_children() if list(m.children())]
        kinds = {type(getattr(modules[path], n)) for n in composite}
        if path in stages and len(composite) >= 2 and len(kinds) == 1:
            blocks[path] = [f"{path}.{n}" for n in composite]
    if not blocks:
        return tuple(paths)
    probed = [p for path, kids in blocks.items() for p in (path, kids[-1])]
    net.eval()  # a probe in training mode would move the norms' statistics (and fail at 1x1)
    with torch.no_grad(), capture(net, probed, layouts={}, copies=False) as out:
        net(torch.zeros(1, 3, *sides(input_size)))
    expanded: list[str] = []
    for path in paths:
        kids = blocks.get(path)
        sequential = kids is not None and out.get(path) is out.get(kids[-1]) is not None
        expanded.extend(kids if sequential and kids else [path])
    return tuple(expanded)


def _create(name: str, options: LoadOptions, **kwargs: Any) -> tuple[nn.Module, str]:
    import timm

    if not (options.random_weights or options.weights):
        return _pretrained(name, **kwargs), f"{PREFIX}{name}"
    net = timm.create_model(name, pretrained=False, **kwargs)
    if not options.weights:
        return net, "random"
    load_into(net, read_state_dict(options.weights), options.weights, f"{PREFIX}{name}")
    return net, options.weights


def build(spec: str, options: LoadOptions) -> Built:
    name = spec[len(PREFIX) :]
    check_listed(name, TIMM)
    try:  # a transformer is built for the asked input size (timm resamples its position embedding)
        asked = options.input_shape or options.input_size
        sized: dict[str, Any] = {"img_size": asked} if asked else {}
        net, source = _create(name, options, **sized)
    except TypeError:  # a model without the argument
        net, source = _create(name, options)
    mean, std, size = _norm(net)
    imagenet = getattr(net, "num_classes", 1000) == 1000
    description = describe(name, "timm")
    if not vit.is_timm_vit(net):
        return Built(
            net=net, source=source, input_size=size, mean=mean, std=std,
            paths=stage_paths(net, options.input_shape or options.input_size or size),
            imagenet=imagenet,
            description=description,
        )
    size = int(net.patch_embed.img_size[0])  # type: ignore[index, union-attr, arg-type]
    blocks, mlp = vit.timm_paths(net)
    return Built(
        net=net, source=source, input_size=size, mean=mean, std=std, paths=blocks,
        optional=mlp, prefix_tokens=int(getattr(net, "num_prefix_tokens")),  # noqa: B009
        imagenet=imagenet, description=description,
    )


FAMILY = Family(ids=TIMM, build=build)
