"""Pages -> HTML: articles, the home page, the explorer, images, static files and manifest.json.

`SiteRenderer(site, out).draw()` draws the whole site into a folder (the build gives it a fresh
temporary one) from the artifact cache only; it writes no page until every figure and explorer
page has found its artifacts, and raises `MissingVisualizations` (listing them) otherwise, or,
with `pending=True` (the preview server), draws a placeholder for each such figure, and for each
such channel of the explorer a placeholder on its layer page and a page that says it is being
computed. What a reader should know but does not stop the build (a
figure drawn without photos, a number without a value, a flagged pattern agreement) goes to
`notices`. Every
file goes through a `SiteWriter`, which refuses to write one path twice (Pelican's rule), so two
sources can never silently overwrite each other. URLs are relative: pages at the root reach the
root with `""`, explorer pages with `"../"`.

Site layout: `index.html`, `<slug>.html` per article, the explorer as `generator.core.urls`
lays it out (`explorer/index.html`, then per model `explorer/<model>/index.html`,
`<layer>.html` and `<layer>/<channel>.html`), `images/<key>/...` (artifact images),
`images/dataset/...` (dataset patches), `assets/...` (files the articles link), `static/...`,
`manifest.json`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from generator.core.notices import Notices
from generator.core.urls import COMPARE_PAGE, layer_url
from generator.figures.context import DrawContext
from generator.figures.registry import Article
from generator.jobs import VisJob
from generator.site.articles import ArticlesPart
from generator.site.env import TEMPLATES_DIR, make_env
from generator.site.explorer import ExplorerPart
from generator.site.manifest import ManifestPart
from generator.site.state import Drawn, MissingVisualizations, ModelState, search_hint
from generator.site.writer import ImagePlacer, SiteWriter
from generator.stages.pipeline import ModelSite, Site


@dataclass
class SiteResult:
    pages: list[str] = field(default_factory=list)
    images: int = 0
    visualizations: int = 0


class SiteRenderer(ArticlesPart, ExplorerPart, ManifestPart):
    """Draws every page of the site into `out` (see the module docstring)."""

    def __init__(
        self, site: Site, out: Path, *, notices: Notices | None = None, pending: bool = False
    ) -> None:
        """Every model of `site` drawn from its measured data (`ModelSite.data`), in the order
        site.toml lists them, the first the articles' default."""
        self.config, self.preset, self.store = site.config, site.preset, site.store
        self.articles = list(site.articles)
        self.pages = [article.page for article in self.articles]
        self.notices = notices if notices is not None else Notices()
        self.pending = pending
        self.missing = {}
        self.writer = SiteWriter(out)
        self.images = ImagePlacer(self.writer)
        self.env = make_env(self.config)
        self.states = [self._state(one) for one in site.models]
        for state in self.states:
            state.ctx.others = {s.model.id: s.ctx for s in self.states if s is not state}
        self.used: dict[str, dict[str, Any]] = {}  # job key -> manifest entry
        self.page_url = ""

    def _state(self, one: ModelSite) -> ModelState:
        """A model's draw context and the state its pages are drawn with."""
        if one.data is None or one.plan is None:
            raise ValueError(f"{one.model.id}: the site is drawn after its measure stage")
        data = one.data
        ctx = DrawContext(
            config=self.config,
            model=one.model,
            preset=self.preset,
            store=self.store,
            dataset=one.dataset,
            explorer=one.plan.explorer,
            env=self.env,
            measures=data.measures,
        )
        ctx.image_url = lambda path: ctx.prefix + self.images.artifact_image(path)
        ctx.place_photo = lambda key, image: ctx.prefix + self.images.patch(
            key, image, "dataset", photo=True
        )
        ctx.explorer_channels = {layer: set(jobs) for layer, jobs in data.inventory.items()}
        ctx.circuits = dict(data.circuits)
        layers = {layer: list(jobs.values()) for layer, jobs in data.inventory.items()}
        waiting = {  # the preview's channels still being computed, by layer
            layer: [c for c, job in jobs.items() if ctx.artifact(job) is None]
            for layer, jobs in data.inventory.items()
        } if self.pending else {}
        return ModelState(
            one.model, ctx, layers, data.measures, ctx.circuits, dict(data.accents),
            dict(one.labels), waiting=waiting,
            inventory={layer: dict(jobs) for layer, jobs in data.inventory.items()},
            planned=frozenset(job.key for job in one.plan.jobs) if self.pending else frozenset(),
            search_hint=search_hint(one.model, layers, ctx.dead),  # the same while computing
        )

    def draw(self) -> SiteResult:
        drawn: list[Drawn] = []
        missing: list[VisJob] = []
        where: dict[str, list[str]] = {}
        for article in self.articles:
            try:
                drawn.append(self._draw_page(article))
            except MissingVisualizations as exc:
                missing += exc.jobs
                for key, places in exc.where.items():
                    where.setdefault(key, []).extend(places)
        for state in self.states:
            for layer, jobs in state.layers.items():
                url = layer_url(state.model.slug, layer)
                for job in jobs:
                    if state.ctx.artifact(job) is None:
                        missing.append(job)
                        where.setdefault(job.key, []).append(url)
                        self.missing.setdefault(url, []).append(job)
                if self.pending:
                    state.layers[layer] = [j for j in jobs if state.ctx.artifact(j) is not None]
        compare = self._draw_compare()
        if compare is not None and compare.missing:
            missing += compare.missing
            for job in compare.missing:
                where.setdefault(job.key, []).append(COMPARE_PAGE)
        if missing and not self.pending:
            unique = list({j.key: j for j in missing}.values())
            raise MissingVisualizations(unique, where)
        for item in drawn:
            self._write_article(item)
        for state in self.states:
            self._write_explorer(state)
        self._extras_missing()
        self._write_models(compare)
        self._write_search()
        self._write_home(drawn)
        self._copy_static()
        self._write_manifest()
        for state in self.states:
            self._warn_agreement(state)
        return SiteResult(
            pages=sorted(self.writer.written),
            images=len(self.images.placed) + len(self.images.patches),
            visualizations=len(self.used),
        )

    def draw_articles(self, slugs: Sequence[str]) -> SiteResult:
        """Only the named articles and the home page (which lists every article): the preview's
        quick path after an edit that adds no article and changes no title."""
        drawn = [
            self._draw_page(a) for a in self.articles if a.page.slug in slugs or a.page.is_home
        ]
        for item in drawn:
            self._write_article(item)
        self._write_home(drawn)
        return SiteResult(pages=sorted(self.writer.written), visualizations=len(self.used))

    def redraw(
        self,
        articles: Sequence[Article],
        slugs: Sequence[str],
        writer: SiteWriter,
        *,
        explorer: bool = False,
    ) -> None:
        """`draw_articles(slugs)` again from new `articles` through `writer`, keeping everything
        this renderer loaded and measured; visualizations it found missing are looked up again
        (the preview, after an edit, or when visualizations land). With `explorer`, also the
        explorer pages that the visualizations landed since change (`landed_layers`) and those
        that list every layer (the model pages, the explorer's index, the search index, the
        manifest)."""
        for state in self.states:
            state.ctx.forget_missing()
        layers = {state.model.id: self.landed_layers(state) for state in self.states if explorer}
        self.articles = list(articles)
        self.pages = [article.page for article in self.articles]
        self.writer = writer
        self.images = ImagePlacer(writer)
        self.missing = {}
        self.draw_articles(slugs)
        if not explorer:
            return
        for state in self.states:
            self._write_explorer(state, layers[state.model.id])
            for layer, jobs in state.inventory.items():
                waiting = [job for job in jobs.values() if state.ctx.artifact(job) is None]
                if waiting:
                    self.missing[layer_url(state.model.slug, layer)] = waiting
        self._extras_missing()
        self._write_models(self._draw_compare())
        self._write_search()
        self._write_manifest()

    def _extras_missing(self) -> None:
        """The preview's channel pages drawn without a negative or diversity picture the cache
        still lacks, as missing, so that their landing draws the pages again."""
        for state in self.states:
            for pages in state.extras_waiting.values():
                for url, jobs in pages.items():
                    self.missing.setdefault(url, []).extend(jobs)

    def _copy_static(self) -> None:
        for root in ([self.config.templates_dir] if self.config.templates_dir else []) + [
            TEMPLATES_DIR
        ]:
            static = Path(root) / "static"
            if not static.is_dir():
                continue
            for path in sorted(static.rglob("*")):
                rel = "static/" + path.relative_to(static).as_posix()
                if path.is_file() and rel not in self.writer.written:
                    self.writer.copy(path, rel, f"static file {path}")
