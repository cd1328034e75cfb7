"""The figure types by name: one line per type. `figure_for` makes a figure from a block.

`read_pages` reads the articles (`generator.pages`) and checks every figure block against its
type and every quoted variable against the page's figures, before anything is computed.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from generator.config.site import SiteConfig
from generator.core.errors import FeatvisError, choices_hint
from generator.core.notices import Notices
from generator.figures.base import Figure
from generator.figures.channel import ChannelCard
from generator.figures.circuit import CircuitFigure
from generator.figures.compare import CompareModels
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
from generator.pages.anchors import check_anchor_links
from generator.pages.content import FigureSpec, Page, load_pages
from generator.pages.markdown import PAGE_IDS
from generator.pages.variables import check_variable

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
        CompareModels,
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


Models = LoadedModel | Mapping[str, LoadedModel]


def by_id(models: Models) -> Mapping[str, LoadedModel]:
    """A model, or the site's models by id, as the site's models by id."""
    return {models.id: models} if isinstance(models, LoadedModel) else models


@dataclass(frozen=True)
class Article:
    """A page and its figures, each figure constructed once per build (`read_articles`)."""

    page: Page
    figures: tuple[Figure, ...]

    def jobs(self, ctx: PlanContext) -> list[VisJob]:
        """Every job the figures of `ctx`'s model need now (surveys first while channels are
        being chosen): a figure of another model is planned with that model's context."""
        return [job for fig in self.for_model(ctx.model.id) for job in fig.jobs(ctx)]

    def for_model(self, model_id: str) -> list[Figure]:
        """The figures that show model `model_id` (their `model:`, or several models)."""
        return [fig for fig in self.figures if fig.uses(model_id)]


def check_figures(page: Page, figures: Sequence[Figure]) -> None:
    """Figure ids unique on the page, and every variable the text quotes known."""
    keys: dict[str, tuple[str, ...]] = {}
    first: dict[str, FigureSpec] = {}
    for spec, figure in zip(page.figures, figures, strict=True):
        if figure.id in keys:
            line = first[figure.id].key_lines.get("id", first[figure.id].line)
            raise FeatvisError(
                f"{spec.where('id')}: figure id '{figure.id}' is used twice on this page (first "
                f"at line {line}; each figure needs its own)"
            )
        first[figure.id] = spec
        if figure.id in PAGE_IDS:
            raise FeatvisError(
                f"{spec.where('id')}: figure id '{figure.id}' names a part of the page "
                f"({', '.join(PAGE_IDS)}); choose another"
            )
        keys[figure.id] = figure.number_keys()
    for ref in page.variables:
        check_variable(ref.name, keys, f"{page.source}:{ref.line}")


def check_models(config: SiteConfig, page: Page, figures: Sequence[Figure]) -> None:
    """A figure's `model:` must be one of the site's models; each figure is then placed on its
    model (else its page's front matter `model`, else the site's first)."""
    valid = config.model_ids
    for spec, figure in zip(page.figures, figures, strict=True):
        for key in ("model", "models"):
            value = figure.options.get(key)
            for model in (value,) if isinstance(value, str) else value or ():
                if model not in valid:
                    raise FeatvisError(
                        f"{spec.where(key)}: figure '{figure.type}': unknown model '{model}' "
                        f"(valid: {', '.join(valid)})"
                    )
        figure.place(valid, page.model)


def read_articles(
    config: SiteConfig, *, strict_model: bool = True, notices: Notices | None = None
) -> list[Article]:
    """Every article, read once and checked: each figure block made into its figure (options
    checked) and each variable against the page's figures (`FeatvisError` at file:line); what
    content/ holds that is not an article, a warning on `notices`."""
    articles = []
    pages = load_pages(config, strict_model=strict_model, notices=notices)
    check_anchor_links(pages, config)
    for page in pages:
        figures = tuple(figure_for(spec) for spec in page.figures)
        check_figures(page, figures)
        check_models(config, page, figures)
        articles.append(Article(page, figures))
    return articles


def bind_articles(articles: Sequence[Article], models: Models) -> list[Article]:
    """Resolve every figure's band references and check its layers, channels and classes
    against its model (`models`: one model, or the site's models by id). A figure of a model
    not given is left as it is (a caller that loads only the first model plans only its)."""
    found = by_id(models)
    for article in articles:
        for figure in article.figures:
            for model_id in figure.models_used() or tuple(found)[:1]:
                if model_id in found:
                    try:
                        figure.resolve(found[model_id]).bind(found[model_id])
                    except FeatvisError as exc:
                        raise FeatvisError(_elsewhere(str(exc), model_id, found)) from None
    return list(articles)


_UNKNOWN_LAYER = re.compile(r"unknown layer '([^']+)'")


def _elsewhere(message: str, model_id: str, found: Mapping[str, LoadedModel]) -> str:
    """`message`, and for an unknown layer that another model of the site has, which model and
    how to show it in place of the layers of `model_id` (a long list would push it off the
    printed line)."""
    m = _UNKNOWN_LAYER.search(message)
    owners = [i for i, model in found.items() if i != model_id and m and m[1] in model.layer_names]
    if not (m and owners):
        return message
    return (f"{message[:m.end()]} of {model_id}; '{m[1]}' is a layer of {owners[0]}: "
            f"add `model: {owners[0]}`")


def read_pages(config: SiteConfig, *, strict_model: bool = True) -> list[Page]:
    """Every page, read and checked as `read_articles` does."""
    return [article.page for article in read_articles(config, strict_model=strict_model)]
