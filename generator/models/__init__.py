"""The model zoo: families (the embedded EfficientNet-Lites, torchvision, timm, your own
`python:` network), their layer catalogs, the hooks that read layers and band references."""

from generator.models.base import BANDS, LayerInfo, LoadedModel, band_for, capture
from generator.models.catalog import build_catalog, resolve_layer_ref
from generator.models.zoo import (
    DEFAULT_MODEL,
    FAMILIES,
    MODEL_FORMS,
    imagenet_classes,
    load_model,
)

__all__ = [
    "BANDS",
    "DEFAULT_MODEL",
    "FAMILIES",
    "MODEL_FORMS",
    "LayerInfo",
    "LoadedModel",
    "band_for",
    "build_catalog",
    "capture",
    "imagenet_classes",
    "load_model",
    "resolve_layer_ref",
]
