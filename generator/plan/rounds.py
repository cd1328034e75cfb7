"""Plan -> compute -> measure -> plan: figures may choose channels and classes from what earlier
rounds computed and measured, so the site is planned, its missing jobs computed, the top classes
the figures read measured (`SitePlan.reads`), and planned again until nothing new is asked for.
Planning itself never runs the network. The dataset scan over the layers the site shows happens
here too, so compute, build and render share it (render only reads it).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from generator.cache.store import ArtifactStore
from generator.compute import Summary, World, compute_jobs
from generator.config.site import Preset, SiteConfig
from generator.core.progress import Progress
from generator.dataset.scan import load_or_scan
from generator.figures.context import PlanContext
from generator.figures.registry import Article, bind_articles, read_articles
from generator.jobs import VisJob
from generator.measure.living import measure_living
from generator.measure.stage import measure_top_classes, missing_top_classes
from generator.models import LoadedModel
from generator.plan.explorer import explorer_jobs
from generator.plan.site import SitePlan, plan_site, site_layers

# Figures may choose channels from what earlier rounds measured: plan, compute, plan again.
# A chain is at most: survey -> channel image -> its top class -> the jobs that use the class.
MAX_ROUNDS = 4


def compute_site(
    config: SiteConfig,
    model: LoadedModel,
    preset: Preset,
    store: ArtifactStore,
    *,
    only: Sequence[str] | None = None,
    dataset: Any = None,
    batch_size: int | None = None,
    quiet: bool = False,
    force: bool = False,
    world: World | None = None,
    progress: Progress | None = None,
    articles: Sequence[Article] | None = None,
    explorer: dict[str, list[VisJob]] | None = None,
) -> tuple[SitePlan, Summary]:
    """Plan, compute what is missing, plan again while figures ask for new jobs (a few rounds).
    The articles and the explorer's jobs are read and made once (here, unless given)."""
    if articles is None:
        articles = bind_articles(read_articles(config), model)
    measure_living(model, config.cache_dir)
    if explorer is None:
        channel_job = PlanContext(config=config, model=model, preset=preset).channel_job
        explorer = explorer_jobs(config, model, preset, channel_job, dataset)
    seen: set[str] = set()
    total: Summary | None = None
    plan = SitePlan(jobs=[])
    for round_ in range(MAX_ROUNDS):
        plan = plan_site(
            config, model, preset, store=store, dataset=dataset, articles=articles,
            explorer=explorer,
        )
        if only:
            plan = plan.only(only)
        new = [job for job in plan.jobs if job.key not in seen]
        # a figure that reads a cached image's top class asks for its jobs once it is measured
        unread = [j for j in missing_top_classes(model, store, plan.reads)
                  if store.path(j.key).is_dir()]
        if not new and not unread and total is not None:
            break
        summary = compute_jobs(
            new, model, store, batch_size=batch_size or config.batch_size, quiet=quiet,
            force=force and round_ == 0, world=world, progress=progress,
        )
        measure_top_classes(model, store, plan.reads, world=world)
        total = summary if total is None else total + summary
        seen.update(job.key for job in new)
    assert total is not None
    return plan, total


def site_dataset(
    config: SiteConfig,
    model: LoadedModel,
    *,
    quiet: bool,
    world: World | None = None,
    articles: Sequence[Article] | None = None,
    compute: bool = True,
) -> Any:
    """The dataset index over the layers the site shows, or None without a dataset. Compute and
    build both call this, so they scan the same layers into the same cache; with
    `compute=False` (render) a scan the cache lacks is a `FeatvisError` naming it.

    Under torchrun rank 0 scans (or reads the dataset cache) first; the others then read its cache.
    """
    if config.dataset is None:
        return None

    world = world or World(rank=0, size=1, device=model.device)
    if articles is None:
        articles = bind_articles(read_articles(config), model)
    layers = site_layers(config, model, articles)

    def load() -> Any:
        return load_or_scan(
            config, model, layers, top_k=config.dataset_top_k,
            progress=not quiet and world.rank == 0, scan_missing=compute,
        )

    index = load() if world.rank == 0 else None
    world.barrier()
    return index if world.rank == 0 else load()
