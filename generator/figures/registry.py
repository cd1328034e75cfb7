"""The figure types by name: one line per type. `figure_for` makes a figure from a block.

`read_pages` reads the articles (`generator.pages`) and checks every figure block against its
type and every quoted variable against the page's figures, before anything is computed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from generator.config.site import SiteConfig
from generator.core.errors import FeatvisError, choices_hint
from generator.figures.base import Figure
from generator.figures.channel import ChannelCard
from generator.figures.circuit import CircuitFigure
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
        ChannelCard,
        CircuitFigure,
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
    """Every figure of a page, checked against the model."""
    return [figure_for(spec).bind(model) for spec in page.figures]


def page_jobs(page: Any, ctx: FigureContext) -> list[VisJob]:
    """Every job the page's figures need now (surveys first while channels are being chosen)."""
    return [job for fig in page_figures(page, ctx.model) for job in fig.jobs(ctx)]


@dataclass(frozen=True)
class Article:
    """A page and its figures, each figure constructed once per build (`read_articles`)."""

    page: Page
    figures: tuple[Figure, ...]

    def jobs(self, ctx: FigureContext) -> list[VisJob]:
        """Every job the figures need now (surveys first while channels are being chosen)."""
        return [job for fig in self.figures for job in fig.jobs(ctx)]


def check_figures(page: Page, figures: Sequence[Figure]) -> None:
    """Figure ids unique on the page, and every variable the text quotes known."""
    keys: dict[str, tuple[str, ...]] = {}
    for spec, figure in zip(page.figures, figures, strict=True):
        if figure.id in keys:
            raise FeatvisError(
                f"{spec.where('id')}: figure id '{figure.id}' is used twice on this page"
            )
        keys[figure.id] = figure.number_keys()
    for ref in page.variables:
        check_variable(ref.name, keys, f"{page.source}:{ref.line}")


def read_articles(config: SiteConfig, *, strict_model: bool = True) -> list[Article]:
    """Every article, read once and checked: each figure block made into its figure (options
    checked) and each variable against the page's figures (`FeatvisError` at file:line)."""
    articles = []
    for page in load_pages(config, strict_model=strict_model):
        figures = tuple(figure_for(spec) for spec in page.figures)
        check_figures(page, figures)
        articles.append(Article(page, figures))
    return articles


def bind_articles(articles: Sequence[Article], model: LoadedModel) -> list[Article]:
    """Check every figure's layers, channels and classes against `model`."""
    for article in articles:
        for figure in article.figures:
            figure.bind(model)
    return list(articles)


def read_pages(config: SiteConfig, *, strict_model: bool = True) -> list[Page]:
    """Every page, read and checked as `read_articles` does."""
    return [article.page for article in read_articles(config, strict_model=strict_model)]
