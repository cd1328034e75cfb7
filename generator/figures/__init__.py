"""Figure types: one module per type, a registry, and the context they plan and draw in.

options: parsing a block's options; base: `Figure` and the one-channel and channels bases;
context: `PlanContext` (planning) and `DrawContext` (drawing);
channels: choosing channels; checks: checks against the photos;
registry: `FIGURE_TYPES`, `figure_for`, `read_pages`.
"""

from generator.figures.base import Figure
from generator.figures.context import (
    DrawContext,
    ImageView,
    MissingArtifact,
    PlanContext,
)
from generator.figures.registry import FIGURE_TYPES, figure_for, page_figures, read_pages

__all__ = [
    "FIGURE_TYPES",
    "Figure",
    "DrawContext",
    "ImageView",
    "MissingArtifact",
    "PlanContext",
    "figure_for",
    "page_figures",
    "read_pages",
]
