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
from generator.figures.context import PlanContext
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
    """Every figure of a page, its band references resolved and checked against the model."""
    return [figure_for(spec).resolve(model).bind(model) for spec in page.figures]


def page_jobs(page: Any, ctx: PlanContext) -> list[VisJob]:
    """Every job the page's figures need now (surveys first while channels are being chosen)."""
    return [job for fig in page_figures(page, ctx.model) for job in fig.jobs(ctx)]


@dataclass(frozen=True)
class Article:
    """A page and its figures, each figure constructed once per build (`read_articles`)."""

    page: Page
    figures: tuple[Figure, ...]

    def jobs(self, ctx: PlanContext) -> list[VisJob]:
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


def check_models(config: SiteConfig, page: Page, figures: Sequence[Figure]) -> None:
    """A figure's `model:` must be one of the site's models."""
    valid = config.model_ids
    for spec, figure in zip(page.figures, figures, strict=True):
        model = figure.options.get("model")
        if model is not None and model not in valid:
            raise FeatvisError(
                f"{spec.where('model')}: figure '{figure.type}': model '{model}' is not one of "
                f"the site's models ({choices_hint(model, valid)})"
            )
        if model is not None and model != valid[0]:
            raise FeatvisError(
                f"{spec.where('model')}: figure '{figure.type}': model '{model}': figures of a "
                f"site's other models are not built yet (this site builds '{valid[0]}')"
            )


def read_articles(config: SiteConfig, *, strict_model: bool = True) -> list[Article]:
    """Every article, read once and checked: each figure block made into its figure (options
    checked) and each variable against the page's figures (`FeatvisError` at file:line)."""
    articles = []
    for page in load_pages(config, strict_model=strict_model):
        figures = tuple(figure_for(spec) for spec in page.figures)
        check_figures(page, figures)
        check_models(config, page, figures)
        articles.append(Article(page, figures))
    return articles


def bind_articles(articles: Sequence[Article], model: LoadedModel) -> list[Article]:
    """Resolve every figure's band references and check its layers, channels and classes
    against `model`."""
    for article in articles:
        for figure in article.figures:
            figure.resolve(model).bind(model)
    return list(articles)


def read_pages(config: SiteConfig, *, strict_model: bool = True) -> list[Page]:
    """Every page, read and checked as `read_articles` does."""
    return [article.page for article in read_articles(config, strict_model=strict_model)]
