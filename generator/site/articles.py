"""The articles and the home page: each drawn in memory first (figures, numbers, provenance), then
written with its variables filled.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from markupsafe import Markup

from generator.figures.context import MissingArtifact
from generator.figures.registry import Article
from generator.jobs import VisJob
from generator.models.base import BANDS
from generator.pages.body import render_body
from generator.site.env import split_footnotes
from generator.site.state import Drawn, MissingVisualizations, RenderState


class ArticlesPart(RenderState):
    """Draws and writes the articles and the home page."""

    def _draw_page(self, article: Article) -> Drawn:
        page = article.page
        self.ctx.prefix = ""
        self.page_url = page.url
        figures: list[Markup] = []
        numbers: dict[str, dict[str, Any]] = {}
        provenance: list[dict[str, Any]] = []
        missing: list[VisJob] = []
        where: dict[str, list[str]] = {}
        for fig in article.figures:
            try:
                figures.append(fig.render(self.ctx))
                numbers[fig.id] = fig.numbers(self.ctx)
                rows = fig.provenance(self.ctx)
            except MissingArtifact as exc:
                missing += exc.jobs
                for job in exc.jobs:
                    where.setdefault(job.key, []).append(f"{page.source}:{fig.spec.line}")
                continue
            provenance.append({"figure": fig, "rows": rows})
            for job in fig.jobs(self.ctx):
                self._use(job, f"{page.url}#{fig.id}")
        if missing:
            raise MissingVisualizations(missing, where)
        return Drawn(page, figures, numbers, provenance)

    def _values(self, numbers: dict[str, dict[str, Any]]) -> Callable[[str], Any]:
        ds = self.ctx.dataset
        summary = getattr(ds, "summary", None)
        fixed = {
            "site.title": self.config.title,
            "model.id": self.model.id,
            "model.layers": len(self.model.layers),
            "model.channels": sum(info.channels for info in self.model.layers),
            "model.weights": self.model.weights_source,
            "preset.name": self.preset.name,
            "preset.size": self.preset.size,
            "preset.steps": self.preset.steps,
            "dataset.images": summary.images_read if summary else None,
            "dataset.skipped": summary.images_skipped if summary else None,
        }

        def value(name: str) -> Any:
            if name in fixed:
                return fixed[name]
            _, fig, key = name.split(".", 2)
            return numbers[fig].get(key)

        return value

    def _write_article(self, item: Drawn) -> None:
        page = item.page
        if page.is_home:
            return  # the home page draws its own body
        body = render_body(page, self._values(item.numbers), item.figures)
        html, notes = split_footnotes(str(body.html))
        text = self.env.get_template("article.html").render(
            **self._common(""),
            page=page,
            body=Markup(html),
            notes=Markup(notes),
            toc=body.toc,
            provenance=item.provenance,
        )
        for asset, rel in page.assets:
            if rel not in self.writer.written:
                self.writer.copy(asset, rel, str(page.source))
        self.writer.text(page.url, text, str(page.source))

    def _write_home(self, drawn: list[Drawn]) -> None:
        home = next((d for d in drawn if d.page.is_home), None)
        intro, notes = Markup(""), Markup("")
        if home is not None:
            body = render_body(home.page, self._values(home.numbers), home.figures)
            html, note_html = split_footnotes(str(body.html))
            intro, notes = Markup(html), Markup(note_html)
            for asset, rel in home.page.assets:
                if rel not in self.writer.written:
                    self.writer.copy(asset, rel, str(home.page.source))
        self.ctx.prefix = ""
        by_band = {row["layer"].band: row for row in self._strips() if row["thumbs"]}  # deepest
        text = self.env.get_template("index.html").render(
            **self._common(""),
            home=home.page if home else None,
            intro=intro,
            notes=notes,
            bands=[by_band[band] for band in BANDS if band in by_band],
        )
        self.writer.text("index.html", text, "home page")
