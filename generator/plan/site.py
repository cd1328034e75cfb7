"""The site's plan: every visualization job the explorer and the articles need, deduplicated.

`plan_site` plans one model of the site: it makes the explorer's jobs (for each explorer layer,
channels 0..N-1 of the preset, one channel objective each), gathers every job of the figures that
show that model (by their `model:`; of the compare page and `compare-models`, that model's share)
and those of the explorer's channel pages the articles link to (`plan.explorer.linked_jobs`),
checks each against the model (unknown layer, channel out of range, another model: a
`FeatvisError`) and indexes them by page and by layer. A site of several models is planned once
per model, so a plan's batches never mix models. Planning reads the
cache (figures may pick channels from measurements) but never writes it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from generator.cache.store import ArtifactStore
from generator.config.presets import Preset
from generator.config.site import SiteConfig
from generator.core.urls import COMPARE_PAGE
from generator.dataset.index import DatasetIndex
from generator.figures.compare import compare_page
from generator.figures.context import PlanContext
from generator.figures.registry import Article
from generator.jobs import SitePlan, VisJob, check_jobs, unique_jobs
from generator.models import LoadedModel
from generator.models.preact import pre_activation_homes
from generator.models.site import explorer_layers
from generator.plan.explorer import explorer_jobs, explorer_page_jobs, linked_jobs


def plan_site(
    config: SiteConfig,
    model: LoadedModel,
    preset: Preset,
    *,
    store: ArtifactStore,
    articles: Sequence[Article],
    dataset: DatasetIndex | None = None,
    explorer: dict[str, dict[int, VisJob]] | None = None,
) -> SitePlan:
    """The explorer's and every figure's jobs, checked, deduplicated, in a stable order.

    Explorer jobs are the figures' standard channel visualization (`PlanContext.channel_job`),
    so a figure that shows or surveys a channel shares the explorer's artifact; they are made
    here unless an earlier plan of the model made them (`explorer`). `articles` are the site's,
    read once and bound to the model (`read_site`).
    """
    ctx = PlanContext(config=config, model=model, preset=preset, store=store, dataset=dataset)
    if explorer is None:
        explorer = explorer_jobs(config, model, preset, ctx.channel_job, dataset)
    ctx.explorer = explorer
    pages = explorer_page_jobs(ctx, explorer)
    by_page, reads = {}, []
    for article in articles:  # a page's jobs, and the surveys its figures chose channels from
        start = len(ctx.surveyed)
        linked = linked_jobs(ctx, article.page.explorer_links)  # the channel pages it opens
        by_page[article.page.slug] = [*article.jobs(ctx), *ctx.surveyed[start:], *linked]
        reads += [j for fig in article.for_model(model.id) for j in fig.class_reads(ctx)]
    if len(config.model_ids) > 1 and model.id in config.model_ids:
        start = len(ctx.surveyed)
        by_page[COMPARE_PAGE] = [*compare_page(config.model_ids).jobs(ctx), *ctx.surveyed[start:]]
    plan = SitePlan.of(explorer, pages, by_page, pre_activation_homes(model))
    check_jobs(plan.jobs, model)
    return replace(plan, reads=unique_jobs(reads))


def site_layers(config: SiteConfig, model: LoadedModel, articles: Sequence[Article]) -> list[str]:
    """The layers the site shows: the explorer's and every figure's, in the model's order."""
    names = set(explorer_layers(config, model))
    for article in articles:
        for fig in article.for_model(model.id):
            names.update(fig.layers_used(model))
    if len(config.model_ids) > 1:
        names.update(compare_page(config.model_ids).layers_used(model))
    return [name for name in model.layer_names if name in names]
