"""The model zoo: the embedded default, torchvision and timm models, and their layer catalogs."""

from generator.models.base import BANDS, LayerInfo, LoadedModel, capture
from generator.models.zoo import DEFAULT_MODEL, MODEL_FORMS, imagenet_classes, load_model

__all__ = [
    "BANDS",
    "DEFAULT_MODEL",
    "MODEL_FORMS",
    "LayerInfo",
    "LoadedModel",
    "capture",
    "imagenet_classes",
    "load_model",
]
