"""Pages -> HTML: articles, the home page, the explorer, images, static files and manifest.json.

`SiteRenderer(...).draw()` draws the whole site into a folder (the build gives it a fresh
temporary one) from the artifact cache only; it writes no page until every figure and explorer
page has found its artifacts, and raises `MissingVisualizations` (listing them) otherwise, or,
with `pending=True` (the preview server), draws a placeholder for each such figure and leaves
such channels out of the explorer. What a reader should know but does not stop the build (a
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

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PIL import Image

from generator.atlas.circuits import LayerCircuit
from generator.atlas.labels import Labels
from generator.atlas.site import Accents
from generator.config.site import Preset, SiteConfig
from generator.core.notices import Notices
from generator.core.urls import layer_url
from generator.figures.channels import single_channel
from generator.figures.context import DrawContext
from generator.figures.registry import Article
from generator.jobs import VisJob
from generator.measure.stage import Measurements
from generator.models.base import LoadedModel
from generator.site.articles import ArticlesPart
from generator.site.env import TEMPLATES_DIR, make_env
from generator.site.explorer import ExplorerPart
from generator.site.manifest import ManifestPart
from generator.site.state import Drawn, MissingVisualizations
from generator.site.writer import ImagePlacer, SiteWriter


@dataclass
class SiteResult:
    pages: list[str] = field(default_factory=list)
    images: int = 0
    visualizations: int = 0


class SiteRenderer(ArticlesPart, ExplorerPart, ManifestPart):
    """Draws every page of the site into `out` (see the module docstring)."""

    def __init__(
        self,
        config: SiteConfig,
        model: LoadedModel,
        preset: Preset,
        store: Any,
        out: Path,
        *,
        articles: Sequence[Article],
        explorer: dict[str, list[VisJob]],
        inventory: dict[str, list[VisJob]],
        measures: Measurements,
        dataset: Any = None,
        notices: Notices | None = None,
        pending: bool = False,
        circuits: Mapping[tuple[str, str], LayerCircuit] | None = None,
        labels: Labels | None = None,
        accents: Accents | None = None,
    ) -> None:
        self.config, self.model, self.preset = config, model, preset
        self.articles = list(articles)
        self.pages = [article.page for article in self.articles]
        self.notices = notices if notices is not None else Notices()
        self.pending = pending
        self.missing = {}
        self.writer = SiteWriter(out)
        self.images = ImagePlacer(self.writer)
        self.env = make_env(config)
        self.ctx = DrawContext(
            config=config,
            model=model,
            preset=preset,
            store=store,
            dataset=dataset,
            explorer=explorer,
            env=self.env,
            image_url=self._image_url,
            place_photo=self._photo,
            measures=measures,
        )
        self.measures = measures
        self.layers = inventory
        self.ctx.explorer_channels = {
            layer: {single_channel(job)[1] for job in jobs}  # type: ignore[index]
            for layer, jobs in self.layers.items()
        }
        self.used: dict[str, dict[str, Any]] = {}  # job key -> manifest entry
        self.circuits = dict(circuits or {})
        self.ctx.circuits = self.circuits
        self.accents = dict(accents or {})
        self.labels = dict(labels or {})
        self.channel_info: dict[tuple[str, int], dict[str, Any]] = {}
        self.page_url = ""

    def _image_url(self, path: Path) -> str:
        return self.ctx.prefix + self.images.artifact_image(path)

    def _photo(self, key: str, image: Image.Image) -> str:
        return self.ctx.prefix + self.images.patch(key, image, "dataset", photo=True)

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
        for layer, jobs in self.layers.items():
            for job in jobs:
                if self.ctx.artifact(job) is None:
                    missing.append(job)
                    where.setdefault(job.key, []).append(layer_url(self.model.id, layer))
                    self.missing.setdefault(layer_url(self.model.id, layer), []).append(job)
            if self.pending:
                self.layers[layer] = [j for j in jobs if self.ctx.artifact(j) is not None]
        if missing and not self.pending:
            unique = list({j.key: j for j in missing}.values())
            raise MissingVisualizations(unique, where)
        for item in drawn:
            self._write_article(item)
        self._write_explorer()
        self._write_home(drawn)
        self._copy_static()
        self._write_manifest()
        self._warn_agreement()
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
        self, articles: Sequence[Article], slugs: Sequence[str], writer: SiteWriter
    ) -> SiteResult:
        """`draw_articles(slugs)` again from new `articles` through `writer`, keeping everything
        this renderer loaded and measured; visualizations it found missing are looked up again
        (the preview, after an edit, or when visualizations land)."""
        self.articles = list(articles)
        self.pages = [article.page for article in self.articles]
        self.writer = writer
        self.images = ImagePlacer(writer)
        self.missing = {}
        self.ctx.forget_missing()
        return self.draw_articles(slugs)

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
