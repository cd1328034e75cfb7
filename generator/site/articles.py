"""The articles and the home page: each drawn in memory first (figures, numbers, provenance), then
written with its variables filled.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

from markupsafe import Markup

from generator.config.presets import preset_flags
from generator.core.urls import model_url
from generator.core.words import counted, listed, verb
from generator.figures.channels import single_channel
from generator.figures.checks import LOW_AGREEMENT
from generator.figures.context import MissingArtifact
from generator.figures.registry import Article
from generator.jobs import VisJob
from generator.models.base import BANDS
from generator.models.site import display_name
from generator.pages.body import RenderedBody, render_body
from generator.pages.content import Page
from generator.site.env import shown_weights, split_footnotes
from generator.site.state import Drawn, MissingVisualizations, ModelState, RenderState

# What a figure was drawn without: its templates mark each such part `class="fv-missing"` and say
# what it lacks in `data-missing` (a warning, and a failure in a strict build).
LACKING = re.compile(r'class="fv-missing" data-missing="([^"]*)"')


LISTED = 6  # the flagged channels a warning names


class ArticlesPart(RenderState):
    """Draws and writes the articles and the home page."""

    def _draw_page(self, article: Article) -> Drawn:
        page = article.page
        self._set_prefix("")
        self.page_url = page.url
        figures: list[Markup] = []
        numbers: dict[str, dict[str, Any]] = {}
        provenance: list[dict[str, Any]] = []
        missing: list[VisJob] = []
        where: dict[str, list[str]] = {}
        for fig in article.figures:
            used = fig.models_used()
            ctx = self._ctx_of(used[0]) if used else self.states[0].ctx
            try:
                if ctx.model.id not in (used or (ctx.model.id,)):
                    raise MissingArtifact([])  # a renderer given only some of the site's models
                figures.append(fig.render(ctx, page.model or self.states[0].model.id))
                numbers[fig.id] = fig.numbers(ctx)
                rows = fig.provenance(ctx)
            except MissingArtifact as exc:
                if self.pending:
                    figures.append(self._placeholder(fig, exc.jobs))
                    numbers[fig.id] = {}
                    self.missing.setdefault(page.url, []).extend(exc.jobs)
                    continue
                missing += exc.jobs
                for job in exc.jobs:
                    where.setdefault(job.key, []).append(f"{page.source}:{fig.spec.line}")
                continue
            lacking = sorted(set(LACKING.findall(str(figures[-1]))))
            if lacking:
                self.notices.warn(
                    "fallback",
                    f"{page.source}:{fig.spec.line}: figure '{fig.id}' is drawn without what it "
                    f"needs ({'; '.join(lacking)})",
                )
            provenance.append({"figure": fig, "rows": rows})
            for job in fig.shown_jobs(ctx):
                self._use(job, f"{page.url}#{fig.id}")
        if missing:
            raise MissingVisualizations(missing, where)
        return Drawn(page, figures, numbers, provenance)

    def _placeholder(self, fig: Any, jobs: Sequence[VisJob]) -> Markup:
        """A figure whose visualizations are still being computed (the preview server)."""
        template = self.env.get_template("figures/pending.html")
        return Markup(template.render(fig=fig, jobs=len(jobs)))

    def _warn_agreement(self, state: ModelState) -> None:
        """One warning per model for the channels whose pattern agreement is flagged (their
        pages and their layers' pages mark them): how many, in how many layers, the first few."""
        low = [
            f"{layer}:{unit[1]}"
            for layer, jobs in state.layers.items()
            for job in jobs
            if (unit := single_channel(job))
            and (check := state.measures.pattern(job.key)) is not None
            and check.cosine < LOW_AGREEMENT
        ]
        if not low:
            return
        layers = len({unit.rsplit(":", 1)[0] for unit in low})
        shown = ", ".join(low[:LISTED]) + (", ..." if len(low) > LISTED else "")
        where = f"{state.model.id}: " if len(self.states) > 1 else ""
        self.notices.warn(
            "agreement",
            f"{where}{counted(len(low), 'channel')} in {counted(layers, 'layer')} "
            f"{verb(len(low), 'has', 'have')} a pattern agreement with "
            f"{verb(len(low), 'its', 'their')} top photos below {LOW_AGREEMENT} ({shown}); "
            "their pages mark it",
        )

    def _values(
        self, numbers: dict[str, dict[str, Any]], page: Page | None = None
    ) -> Callable[[str], Any]:
        # the page's model (its front matter `model`), else the site's first
        ctx = self._ctx_of(page.model) if page is not None and page.model else self.states[0].ctx
        ds, model = ctx.dataset, ctx.model
        summary = None if ds is None else ds.summary
        fixed = {
            "site.title": self.config.title,
            "site.models": listed([display_name(state.model) for state in self.states]),
            "site.layers": sum(len(state.model.layers) for state in self.states),
            "site.channels": sum(info.channels for state in self.states
                                 for info in state.model.layers),
            "model.id": model.id,
            "model.name": display_name(model),
            "model.description": model.description,
            "model.input_size": "{} × {}".format(*model.input_shape)
            if model.input_shape[0] != model.input_shape[1] else model.input_size,
            "model.grid": min(info.height for info in model.layers),
            "model.grid_shape": "{} by {}".format(*min(
                ((info.height, info.width) for info in model.layers), key=lambda hw: hw[0] * hw[1]
            )),
            "model.layers": len(model.layers),
            "model.channels": sum(info.channels for info in model.layers),
            "model.classes": model.classes or None,
            "model.weights": shown_weights(model.weights_source, self.config.root),
            "preset.name": self.preset.name,
            "preset.size": self.preset.size,
            "preset.steps": self.preset.steps,
            "preset.optimizer": self.preset.optimizer,
            "dataset.images": summary.images_read if summary else None,
            "dataset.skipped": summary.images_skipped if summary else None,
        }

        def value(name: str) -> Any:
            if name in fixed:
                return fixed[name]
            _, fig, key = name.split(".", 2)
            return numbers[fig].get(key)

        return value

    def _body(self, page: Page, numbers: dict[str, dict[str, Any]],
              figures: list[Markup]) -> RenderedBody:
        """The page's body; a number it quotes that the build has no value for, and that has no
        `default:` text, is a warning at its line."""
        body = render_body(page, self._values(numbers, page), figures, self.config.unsafe_html)
        if not self.pending:
            for ref in body.unmeasured:
                self.notices.warn(
                    "fallback", f"{page.source}:{ref.line}: {{{{ {ref.name} }}}} has no measured "
                    'value: it reads n/a (`| default:"text"` says what to write instead)'
                )
        return body

    def _write_article(self, item: Drawn) -> None:
        page = item.page
        if page.is_home:
            return  # the home page draws its own body
        body = self._body(page, item.numbers, item.figures)
        html, notes = split_footnotes(str(body.html))
        # the page's model (its front matter `model`, else the site's first) in the byline; the
        # appendix names every model whose pictures the page shows
        state = next((s for s in self.states if s.model.id == page.model), self.states[0])
        used = {m for entry in item.provenance for m in entry["figure"].models_used()}
        shown = [s.model for s in self.states if s.model.id in used]
        text = self.env.get_template("article.html").render(
            **self._common(state, ""),
            page=page,
            body=Markup(html),
            notes=Markup(notes),
            toc=body.toc,
            provenance=item.provenance,
            made_by=shown or [state.model],
            # the byline: the page's model, then every other whose pictures the page shows
            byline_models=[
                {"id": m.id, "name": m.name or m.id, "href": model_url(m.slug)} for m in shown
            ],
            build_flags=" ".join(preset_flags(self.preset)),
            output_name=self._output_name(),
        )
        for asset, rel in page.assets:
            if rel not in self.writer.written:
                self.writer.copy(asset, rel, str(page.source))
        self.writer.text(page.url, text, str(page.source))

    def _output_name(self) -> str:
        """The output folder as the project folder names it (`site_output/`); one outside the
        project by its name alone, as a page shows no absolute path."""
        out, root = self.config.output_dir, self.config.root
        return f"{out.relative_to(root).as_posix() if out.is_relative_to(root) else out.name}/"

    def _write_home(self, drawn: list[Drawn]) -> None:
        home = next((d for d in drawn if d.page.is_home), None)
        intro, notes = Markup(""), Markup("")
        if home is not None:
            body = self._body(home.page, home.numbers, home.figures)
            html, note_html = split_footnotes(str(body.html))
            intro, notes = Markup(html), Markup(note_html)
            for asset, rel in home.page.assets:
                if rel not in self.writer.written:
                    self.writer.copy(asset, rel, str(home.page.source))
        self._set_prefix("")
        first = self.states[0]  # the articles' default model
        rows = self._strips(first)  # one per explorer layer
        # the deepest layer of each band
        by_band = {row["layer"].band: row for row in rows if row["thumbs"]}
        text = self.env.get_template("index.html").render(
            **self._common(first, ""),
            home=home.page if home else None,
            intro=intro,
            notes=notes,
            bands=[by_band[band] for band in BANDS if band in by_band],
            shown_layers=len(rows),
            # the first and the last layer the explorer shows, each with its band
            span=(rows[0]["layer"], rows[-1]["layer"]) if len(rows) > 1 else None,
            other_models=[display_name(state.model) for state in self.states[1:]],
            made_by=[state.model for state in self.states],
        )
        self.writer.text("index.html", text, "home page")
