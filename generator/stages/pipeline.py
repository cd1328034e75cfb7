"""The site as one value through its stages.

`read_site` makes a `Site` once: the config, the preset, the artifact store, the articles (bound to
the site's models) and per model a `ModelSite` (its loaded network, dataset index and labels).
Every later stage is a function of it, one model at a time, each with its own network:

- `plan(site, one)`: the model's site plan from what the cache holds now: the explorer's jobs,
  every figure's, and the circuit closure (`plan.site`, `plan.closure`),
- `settle(site, one)`: plan -> compute -> plan rounds until nothing new is asked for
  (`stages.rounds`),
- `measure(site, one)`: everything its pages show besides the pictures (`stages.measured`).

The dataset scan over the layers the site shows happens here too (`site_dataset`), so compute,
build and render share it (render only reads it).

`featvis build`, `render`, `compute`, `status` and `serve` all read and plan through these, so
the preview draws exactly what the build draws.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field

from generator.atlas.labels import LABELS_FILE, Labels, read_site_labels
from generator.atlas.site import Accents, Circuits
from generator.cache.store import ArtifactStore
from generator.compute import World
from generator.config.presets import Preset
from generator.config.site import SiteConfig
from generator.core.notices import Notices
from generator.core.progress import Progress
from generator.core.tally import Lacking
from generator.core.urls import layer_file
from generator.core.words import counted
from generator.dataset.index import DatasetIndex
from generator.dataset.scan import load_or_scan
from generator.figures.registry import Article, bind_articles, read_articles
from generator.jobs import SitePlan, VisJob
from generator.measure.living import measure_living
from generator.measure.stage import Measurements
from generator.models import LoadedModel
from generator.models.site import explorer_layers, load_site_models
from generator.pages.links import check_explorer_links
from generator.plan.closure import closure_jobs
from generator.plan.site import plan_site, site_layers

# (config, model, articles, compute) -> the model's dataset index: `site_dataset` unless a caller
# keeps indexes loaded between readings (the preview)
DatasetReader = Callable[[SiteConfig, LoadedModel, Sequence[Article], bool], DatasetIndex | None]


COMPUTE_HINT = "run `featvis compute` (or `featvis build`) to compute them"


@dataclass(frozen=True)
class SiteData:
    """What the site renders from besides the artifacts themselves."""

    inventory: dict[str, dict[int, VisJob]]  # the explorer's: layer -> channel -> job
    measures: Measurements
    circuits: Circuits
    accents: Accents
    missing: Lacking = field(default_factory=Lacking)  # compute=False: what the caches lack


@dataclass
class ModelSite:
    """One model's share of the site: read once (`read_site`), then its plan and its measured data
    as the stages make them."""

    model: LoadedModel
    dataset: DatasetIndex | None
    labels: Labels
    plan: SitePlan | None = None  # `settle` or `plan`
    data: SiteData | None = None  # `stages.measured.measure`


@dataclass(frozen=True)
class Site:
    """Everything a build reads once, handed to every stage (see the module docstring). `models`
    in site.toml's order, the first the articles' default."""

    config: SiteConfig
    preset: Preset
    store: ArtifactStore
    articles: list[Article]
    models: tuple[ModelSite, ...]

    @property
    def model(self) -> LoadedModel:
        """The site's first model."""
        return self.models[0].model


def read_site(
    config: SiteConfig,
    preset: Preset | None = None,
    *,
    store: ArtifactStore,
    models: Sequence[LoadedModel] | None = None,
    compute: bool = True,
    datasets: DatasetReader | None = None,
    notices: Notices | None = None,
) -> Site:
    """The site `config` describes, each input read once: the articles (their errors need no
    model) bound to the models, the labels, and per model its dataset index (`datasets`, by
    default `scanner()`) and its dead channels (`measure.living`). `store` is the cache the
    caller opened (`cache.store.cache_writing` yields it to a writer). `models` (by default every
    model of the site, loaded on the config's device by `models.site.load_site_models`: their
    explorer layers checked, probed by a reading that computes; render runs no network) and
    `preset` (by default the config's for that device) are made here unless a caller keeps them
    between readings. With `compute` a missing dataset scan is made now (else it is a
    `FeatvisError` naming it). What could not be read (Markdown files in subfolders of content/,
    photos) is a warning on `notices`."""
    articles = read_articles(config, notices=notices)
    if models is None:
        models = load_site_models(config, probe=compute)
    preset = preset or config.preset_for(models[0].device.type)
    bind_articles(articles, {model.id: model for model in models})
    shown = {m.slug: {layer_file(n).removesuffix(".html"): m.layer(n).channels
                      for n in explorer_layers(config, m)} for m in models}
    for article in articles:  # a link to an explorer page no model will have stops here
        check_explorer_links(article.page.explorer_links, shown)
    labels = read_site_labels(
        config.root / LABELS_FILE,
        {m.id: {info.name: info.channels for info in m.layers} for m in models},
    )
    read = datasets or scanner()
    out = []
    for model in models:
        dataset = read(config, model, articles, compute)
        if notices is not None:
            warn_dataset(dataset, notices)
        measure_living(model, config.cache_dir, compute=compute)  # the explorer leaves out dead
        out.append(ModelSite(model, dataset, labels.get(model.id, {})))
    return Site(config, preset, store, articles, tuple(out))


def warn_dataset(dataset: DatasetIndex | None, notices: Notices) -> None:
    """A warning for photos the scan could not read."""
    summary = None if dataset is None else dataset.summary
    if summary is not None and summary.images_skipped:
        first = f" (first: {summary.skipped[0]})" if summary.skipped else ""
        photos = counted(summary.images_skipped, "photo")
        notices.warn("dataset", f"{summary.root}: {photos} could not be read{first}")


def site_dataset(
    config: SiteConfig,
    model: LoadedModel,
    *,
    quiet: bool,
    articles: Sequence[Article],
    world: World | None = None,
    compute: bool = True,
) -> DatasetIndex | None:
    """The dataset index over the layers the site shows (the explorer's and those `articles`'
    figures use), or None without a dataset. Compute and build both call this, so they scan the
    same layers into the same cache; with `compute=False` (render) a scan the cache lacks is a
    `FeatvisError` naming it.

    Under torchrun rank 0 scans (or reads the dataset cache) first; the others then read its cache.
    """
    if config.dataset is None:
        return None

    world = world or World(rank=0, size=1, device=model.device)
    layers = site_layers(config, model, articles)

    def load() -> DatasetIndex | None:
        return load_or_scan(
            config, model, layers, top_k=config.dataset_top_k,
            progress=not quiet and world.rank == 0, scan_missing=compute,
        )

    index = load() if world.rank == 0 else None
    world.barrier()
    return index if world.rank == 0 else load()


def scanner(
    *, quiet: bool = True, world: World | None = None, progress: Progress | None = None
) -> DatasetReader:
    """The dataset reader of a command: `site_dataset` (under torchrun rank 0 scans
    first), its progress shown unless `quiet`, and a stage line on `progress` per model."""

    def scan(config: SiteConfig, model: LoadedModel, articles: Sequence[Article],
             compute: bool) -> DatasetIndex | None:
        if progress is not None and config.dataset is not None:
            progress.stage("dataset scan", f"{model.id}: {config.dataset}")
        return site_dataset(
            config, model, quiet=quiet, world=world, articles=articles, compute=compute
        )

    return scan


def plan(site: Site, one: ModelSite, only: Sequence[str] | None = None) -> SitePlan:
    """`one`'s site plan from what the cache holds now: the explorer's jobs (made by the model's
    first plan, then kept), every figure's and the circuit closure (with `only`, those layers or
    pages)."""
    planned = plan_site(
        site.config, one.model, site.preset, store=site.store, dataset=one.dataset,
        articles=site.articles, explorer=None if one.plan is None else one.plan.explorer,
    )
    planned = planned.closed(closure_jobs(
        site.config, one.model, site.preset, site.store, one.dataset, planned
    ))
    one.plan = planned if not only else planned.only(only)
    return one.plan


def models_of(
    site: Site, only: Mapping[str, list[str] | None] | None
) -> Iterator[tuple[ModelSite, list[str] | None]]:
    """Each model with the names `only` gives it (model id -> names; None: everything), the
    models whose list is empty left out."""
    for one in site.models:
        names = None if only is None else only.get(one.model.id)
        if names != []:
            yield one, names
