"""The figure types by name: one line per type. `figure_for` makes a figure from a block.

`read_pages` reads the articles (`generator.pages`) and checks every figure block against its
type and every quoted variable against the page's figures, before anything is computed.
"""

from __future__ import annotations

from typing import Any

from generator.config.site import SiteConfig
from generator.core.errors import FeatvisError, choices_hint
from generator.figures.base import Figure
from generator.figures.context import FigureContext
from generator.figures.dataset_examples import DatasetExamples
from generator.figures.directions import Directions
from generator.figures.diversity import Diversity
from generator.figures.gallery import LayerGallery
from generator.figures.interpolation import InterpolationGrid
from generator.figures.negative import Negative
from generator.figures.objectives import Objectives
from generator.figures.optimization import OptimizationProgress
from generator.figures.preconditioning import Preconditioning
from generator.figures.regularization import Regularization
from generator.jobs import VisJob
from generator.models.base import LoadedModel
from generator.pages.content import FigureSpec, Page, check_variable, load_pages

FIGURE_TYPES: dict[str, type[Figure]] = {
    cls.type: cls
    for cls in (
        LayerGallery,
        OptimizationProgress,
        Objectives,
        Negative,
        Diversity,
        InterpolationGrid,
        Directions,
        Regularization,
        Preconditioning,
        DatasetExamples,
    )
}


def figure_for(spec: FigureSpec) -> Figure:
    """The figure a spec describes, its options checked (layers and channels need `bind`)."""
    if spec.type not in FIGURE_TYPES:
        raise FeatvisError(
            f"{spec.where('type')}: unknown figure type '{spec.type}' "
            f"({choices_hint(spec.type, FIGURE_TYPES)})"
        )
    return FIGURE_TYPES[spec.type](spec)


def page_figures(page: Any, model: LoadedModel) -> list[Figure]:
    """Every figure of a page, its band references resolved and checked against the model."""
    return [figure_for(spec).resolve(model).bind(model) for spec in page.figures]


def page_jobs(page: Any, ctx: FigureContext) -> list[VisJob]:
    """Every job the page's figures need now (surveys first while channels are being chosen)."""
    return [job for fig in page_figures(page, ctx.model) for job in fig.jobs(ctx)]


def check_page(page: Page) -> None:
    """Figure types, option names and types, and the variables the text quotes."""
    keys: dict[str, tuple[str, ...]] = {}
    for spec in page.figures:
        figure = figure_for(spec)
        if figure.id in keys:
            raise FeatvisError(
                f"{spec.where('id')}: figure id '{figure.id}' is used twice on this page"
            )
        keys[figure.id] = figure.number_keys()
    for ref in page.variables:
        check_variable(ref.name, keys, f"{page.source}:{ref.line}")


def read_pages(config: SiteConfig, *, strict_model: bool = True) -> list[Page]:
    """Every article, read and checked, each figure block against its type's options and each
    variable against the page's figures (`FeatvisError` at file:line on the first problem)."""
    pages = load_pages(config, strict_model=strict_model)
    for page in pages:
        check_page(page)
    return pages
