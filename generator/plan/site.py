"""The site's plan: every visualization job the explorer and the articles need, deduplicated.

`plan_site` plans one model of the site: it makes the explorer's jobs (for each explorer layer,
channels 0..N-1 of the preset, one channel objective each), gathers every job of the figures that
show that model (by their `model:`; of the compare page and `compare-models`, that model's share),
checks each against the model (unknown layer, channel out of range, another model: a
`FeatvisError`) and indexes them by page and by layer. A site of several models is planned once
per model, so a plan's batches never mix models. Planning reads the
cache (figures may pick channels from measurements) but never writes it."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace

from generator.cache.store import ArtifactStore
from generator.config.site import Preset, SiteConfig
from generator.core.errors import FeatvisError, choices_hint
from generator.core.urls import COMPARE_PAGE
from generator.dataset.index import DatasetIndex
from generator.figures.compare import compare_page
from generator.figures.context import PlanContext
from generator.figures.registry import Article
from generator.jobs import VisJob, unique_jobs
from generator.models import LoadedModel
from generator.plan.explorer import explorer_jobs, explorer_layers, explorer_page_jobs


@dataclass(frozen=True)
class SitePlan:
    jobs: list[VisJob]
    # the explorer's own jobs: layer -> channel -> job, in the order it shows them (also in `jobs`)
    explorer: dict[str, dict[int, VisJob]] = field(default_factory=dict)
    by_page: dict[str, list[VisJob]] = field(default_factory=dict)
    by_layer: dict[str, list[VisJob]] = field(default_factory=dict)
    # the jobs whose image's top class figures read (measured between rounds, not while planning)
    reads: list[VisJob] = field(default_factory=list)
    # the circuit closure's jobs (also in `jobs` and `by_layer`): channels the sample's circuits
    # name, visualized too (`generator.plan.closure`)
    closure: list[VisJob] = field(default_factory=list)

    @classmethod
    def of(
        cls,
        explorer: dict[str, dict[int, VisJob]],
        pages: list[VisJob],
        by_page: dict[str, list[VisJob]],
    ) -> SitePlan:
        """The explorer's jobs, its channel pages' (`pages`), then each page's, deduplicated and
        indexed by page and layer."""
        own = (job for jobs in explorer.values() for job in jobs.values())
        jobs = unique_jobs([*own, *pages, *(job for js in by_page.values() for job in js)])
        by_page = {slug: unique_jobs(js) for slug, js in by_page.items()}
        return cls(jobs=jobs, explorer=explorer, by_page=by_page, by_layer=_by_layer(jobs, {}))

    def closed(self, closure: Sequence[VisJob]) -> SitePlan:
        """This plan with `closure`'s jobs added (after its own, indexed by layer)."""
        keys = {job.key for job in self.jobs}
        added = unique_jobs(job for job in closure if job.key not in keys)
        by_layer = _by_layer(added, {layer: list(js) for layer, js in self.by_layer.items()})
        return replace(
            self, jobs=[*self.jobs, *added], by_layer=by_layer, closure=[*self.closure, *added]
        )

    def only(self, names: Sequence[str]) -> SitePlan:
        """The jobs of the named layers and pages (their union), indexes cut to match."""
        keep: set[str] = set()
        for name in names:
            if name in self.by_layer:
                keep.update(job.key for job in self.by_layer[name])
            elif name in self.by_page:
                keep.update(job.key for job in self.by_page[name])
            else:
                valid = list(self.by_layer) + list(self.by_page)
                raise FeatvisError(
                    f"--only '{name}': no layer or page of this plan ({choices_hint(name, valid)})"
                )

        def cut(index: dict[str, list[VisJob]]) -> dict[str, list[VisJob]]:
            kept = {k: [j for j in js if j.key in keep] for k, js in index.items()}
            return {k: js for k, js in kept.items() if js}

        return SitePlan(
            jobs=[job for job in self.jobs if job.key in keep],
            explorer=self.explorer,
            by_page=cut(self.by_page),
            by_layer=cut(self.by_layer),
            reads=[job for job in self.reads if job.key in keep],
            closure=[job for job in self.closure if job.key in keep],
        )


def _by_layer(
    jobs: Iterable[VisJob], by_layer: dict[str, list[VisJob]]
) -> dict[str, list[VisJob]]:
    """`by_layer` with each of `jobs` added under every layer its objectives name."""
    for job in jobs:
        for layer in sorted({name for o in job.objectives for name in o.layers}):
            by_layer.setdefault(layer, []).append(job)
    return by_layer


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
    by_page = {}
    for article in articles:  # a page's jobs, and the surveys its figures chose channels from
        start = len(ctx.surveyed)
        by_page[article.page.slug] = [*article.jobs(ctx), *ctx.surveyed[start:]]
    if len(config.model_ids) > 1 and model.id in config.model_ids:
        start = len(ctx.surveyed)
        by_page[COMPARE_PAGE] = [*compare_page(config.model_ids).jobs(ctx), *ctx.surveyed[start:]]
    pages = explorer_page_jobs(preset, ctx.job, explorer, model)
    plan = SitePlan.of(explorer, pages, by_page)
    check_jobs(plan.jobs, model)
    reads = [j for a in articles for fig in a.for_model(model.id) for j in fig.class_reads(ctx)]
    return replace(plan, reads=unique_jobs(reads))


def check_jobs(jobs: Iterable[VisJob], model: LoadedModel) -> None:
    """Every job must be for `model` and name only its layers and channels."""
    for job in jobs:
        if job.model != model.id or job.weights_digest != model.digest:
            raise FeatvisError(
                f"a job asks for model '{job.model}' (weights {job.weights_digest}), but the "
                f"site's model is '{model.id}' (weights {model.digest})"
            )
        for objective in job.objectives:
            for _, term in objective.terms:
                if term.layer is not None and term.channel is not None:
                    model.check_channel(term.layer, term.channel)
                elif term.layer is not None:
                    model.layer(term.layer)
                if term.cls is not None:
                    model.class_index(term.cls)


def site_layers(config: SiteConfig, model: LoadedModel, articles: Sequence[Article]) -> list[str]:
    """The layers the site shows: the explorer's and every figure's, in the model's order."""
    names = set(explorer_layers(config, model))
    for article in articles:
        for fig in article.for_model(model.id):
            names.update(fig.layers_used(model))
    if len(config.model_ids) > 1:
        names.update(compare_page(config.model_ids).layers_used(model))
    return [name for name in model.layer_names if name in names]
