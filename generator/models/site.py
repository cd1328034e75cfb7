"""The site's models: a `ModelSpec` from site.toml -> a `LoadedModel`, its errors placed.

`load_spec` passes the spec's options to `load_model` (paths resolved against the site's folder)
and turns any loading error into one line that starts with the site.toml line of the key at fault
(`site.toml:4: model 'python:net.py:build': ...`). `load_site_models` loads every model of a site
once, in order, the first one being the articles' default, refuses one whose weights are
broken (`probe_model`: one forward pass of two images) unless asked not to, and checks each
one's explorer layers (`explorer_layers`: site.toml's names and band references, resolved
against the loaded network) before the next loads.
"""

from __future__ import annotations

import torch

from generator.config.site import ModelSpec, SiteConfig
from generator.core.device import resolve_device
from generator.core.errors import FeatvisError
from generator.models.base import LoadedModel
from generator.models.catalog import resolve_layer_ref
from generator.models.zoo import load_model

# A loading error's wording -> the site.toml key it is about (default: `model`).
_KEY_HINTS = (
    ("layers entry", "layers"),
    ("class names", "classes"),
    ("weights", "weights"),
    ("checkpoint", "weights"),
    ("mean needs", "mean"),
    ("std needs", "std"),
    ("px input", "input_size"),
    ("set input_size", "input_size"),
)


def _where(config: SiteConfig, spec: ModelSpec, message: str) -> str:
    if config.models:  # a `models` table: its line
        return spec.where
    key = next((k for hint, k in _KEY_HINTS if hint in message), "model")
    if getattr(spec, key if key != "model" else "id", None) is None:
        key = "model"
    return config.where(key)


def load_spec(
    config: SiteConfig,
    spec: ModelSpec,
    device: str | torch.device,
    seed: int | None = None,
    *,
    probe: bool = False,
) -> LoadedModel:
    """One model of the site, loaded with its options (named as site.toml's `name` says, else
    by `display_name`); errors name site.toml's line. With `probe`, refused by `probe_model`
    when its weights are broken."""
    try:
        model = load_model(
            spec.id,
            weights=spec.weights,
            random_weights=spec.random_weights,
            device=device,
            seed=config.seed if seed is None else seed,
            input_size=spec.input_size,
            mean=spec.mean,
            std=spec.std,
            classes=spec.classes,
            layers=spec.layers,
            root=config.root,
        )
    except FeatvisError as exc:
        message = str(exc)
        if config.source is None:
            raise
        raise FeatvisError(f"{_where(config, spec, message)}: {message}"[:400]) from None
    if probe:
        probe_model(model, str(spec.weights or ""))
    model.name = spec.name or display_name(model)
    model.slug = spec.folder
    return model


_NAMES = {
    **{f"efficientnet_lite{i}": f"EfficientNet-Lite{i}" for i in range(5)},
    **{f"resnet{n}": f"ResNet-{n}" for n in (18, 34, 50, 101, 152)},
    **{f"vgg{n}": f"VGG-{n}" for n in (11, 13, 16, 19)},
    **{f"efficientnet_b{i}": f"EfficientNet-B{i}" for i in range(8)},
    "googlenet": "GoogLeNet",
    "mobilenet_v3_large": "MobileNetV3-Large",
    "convnext_tiny": "ConvNeXt-T",
    "vit_b_16": "ViT-B/16",
}


def display_name(model: LoadedModel) -> str:
    """How an article names a model: `EfficientNet-Lite0`, `ResNet-50` (from `torchvision:resnet50`
    or `timm:resnet50`), a user's network by its class (`TinyCNN` from
    `python:tiny_cnn.py:build`), else the name after the family; site.toml's `name` first."""
    if model.name:
        return model.name
    if model.id in _NAMES:
        return _NAMES[model.id]
    family, _, rest = model.id.partition(":")
    if family == "python":
        return type(model.net).__name__
    return _NAMES.get(rest, rest or model.id)


def load_site_models(
    config: SiteConfig, device: str | torch.device | None = None, *, probe: bool = True
) -> list[LoadedModel]:
    """Every model of the site, each loaded once in the order site.toml lists them (their
    explorer folders distinct: `config.site` checks that while reading site.toml), on `device`
    (by default the config's) and, with `probe`, each refused by `probe_model` when its weights
    are broken; a misnamed explorer layer (`explorer_layers`) stops before the next one loads."""
    device = resolve_device(config.device) if device is None else device
    models = []
    for spec in config.model_specs:
        model = load_spec(config, spec, device, probe=probe)
        explorer_layers(config, model)
        models.append(model)
    return models


def explorer_layers(config: SiteConfig, model: LoadedModel) -> list[str]:
    """The layers the explorer shows of `model` (its `models` table's `explorer_layers`, else
    the site's: layer names or band references such as `parts[-1]`; or every layer), checked,
    in the model's order."""
    refs, where = config.explorer_layers_of(model.id)
    if refs is None:
        return list(model.layer_names)
    names = set()
    for ref in refs:
        try:
            names.add(resolve_layer_ref(ref, model.layers + model.optional_layers, model.id))
        except FeatvisError as exc:
            raise FeatvisError(f"{where}: explorer_layers: {exc}") from None
    order = [info.name for info in model.optional_layers + model.layers]
    return sorted(names, key=lambda n: (model.layer(n).depth, order.index(n)))


def probe_model(model: LoadedModel, source: str = "") -> None:
    """Refuse, in one line, a model whose output on two seeded random images is not finite (NaN or
    huge weights) or does not depend on its input at all (all-zero weights): every picture
    optimized through it would be noise or black. One forward pass of two images."""
    gen = torch.Generator().manual_seed(0)
    size = model.input_size
    probe = torch.rand(2, 3, size, size, generator=gen).to(model.device)
    with torch.no_grad():
        out = model.net(model.preprocess(probe))
    tensors = [t for t in (out if isinstance(out, tuple | list) else [out])
               if isinstance(t, torch.Tensor)]
    where = f"{source}: " if source else ""
    if any(not bool(torch.isfinite(t).all()) for t in tensors):
        raise FeatvisError(
            f"{where}model '{model.id}' gives NaN or infinite outputs on a probe image; "
            "its weights are damaged (NaN, infinite or huge values)"
        )
    if tensors and all(torch.equal(t[0], t[1]) for t in tensors if t.shape[0] == 2):
        raise FeatvisError(
            f"{where}model '{model.id}' gives the same output for every image (all-zero "
            "weights?); nothing could be visualized"
        )
