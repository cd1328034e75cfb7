"""Pages -> HTML: articles, the home page, the explorer, images, static files and manifest.json.

`SiteRenderer(...).draw()` draws the whole site into a folder (the build gives it a fresh
temporary one) from the artifact cache only; it writes no page until every figure and explorer
page has found its artifacts, and raises `MissingVisualizations` (listing them) otherwise. Every
file goes through a `SiteWriter`, which refuses to write one path twice (Pelican's rule), so two
sources can never silently overwrite each other. URLs are relative: pages at the root reach the
root with `""`, explorer pages with `"../"`.

Site layout: `index.html`, `<slug>.html` per article, `explorer/index.html` (the model),
`explorer/<layer>.html` (every layer), `images/<key>/...` (artifact images), `images/dataset/...`
(dataset patches), `assets/...` (files the articles link), `static/...`, `manifest.json`.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import shutil
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2
import torch
from markupsafe import Markup
from PIL import Image

from generator import __version__
from generator.config import Preset, SiteConfig
from generator.content import Page, format_value, render_body, render_inline
from generator.core.notices import Notices
from generator.errors import FeatvisError
from generator.figures import (
    LOW_AGREEMENT,
    Figure,
    FigureContext,
    ImageView,
    MissingArtifact,
    class_reading,
    dataset_examples,
    explorer_by_layer,
    layer_file,
    page_figures,
    pattern_agreement,
    single_channel,
)
from generator.filters import filter_image, linear_filters
from generator.jobs import VisJob
from generator.models.base import BANDS, LoadedModel
from generator.resources import shipped

TEMPLATES_DIR = shipped("templates", "templates")
EXPLORER_EXAMPLES = 4  # dataset examples per channel on a layer page
STRIP = 8  # thumbnails per layer on the model page


class MissingVisualizations(FeatvisError):
    """The cache lacks visualizations the site shows; `.jobs` lists them."""

    def __init__(self, jobs: Sequence[VisJob], where: dict[str, list[str]]) -> None:
        self.jobs, self.where = list(jobs), where
        super().__init__(
            f"{len(self.jobs)} visualizations are not in the cache (run `featvis build` to "
            "compute them)"
        )

    def report(self, limit: int = 30) -> list[str]:
        lines = []
        for job in self.jobs[:limit]:
            what = "; ".join(sorted({o.describe() for o in job.objectives}))
            lines.append(f"  {job.key}  {what}  ({', '.join(self.where.get(job.key, []))})")
        if len(self.jobs) > limit:
            lines.append(f"  ... and {len(self.jobs) - limit} more")
        return lines


class SiteWriter:
    """Writes files below `root`; a second write to the same path is an error naming both."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.written: dict[str, str] = {}

    def _claim(self, rel: str, source: str) -> Path:
        if rel in self.written:
            raise FeatvisError(
                f"two sources write the same output '{rel}': {self.written[rel]} and {source}"
            )
        path = (self.root / rel).resolve()
        if not path.is_relative_to(self.root.resolve()):
            raise FeatvisError(f"{source}: output path '{rel}' is outside the site")
        self.written[rel] = source
        path.parent.mkdir(parents=True, exist_ok=True)
        return path

    def text(self, rel: str, text: str, source: str) -> None:
        self._claim(rel, source).write_text(text, encoding="utf-8")

    def data(self, rel: str, data: bytes, source: str) -> None:
        self._claim(rel, source).write_bytes(data)

    def copy(self, src: Path, rel: str, source: str) -> None:
        shutil.copyfile(src, self._claim(rel, source))


def layer_summary(channels: Sequence[dict[str, Any]]) -> dict[str, Any] | None:
    """Medians over an explorer page's channels of what was measured against the photos, and the
    counts a reader should know (None when nothing was: no photos for this layer)."""
    checks = [ch["agreement"] for ch in channels if ch["agreement"] is not None]
    if not checks:
        return None
    relative = [ch["image"].relative for ch in channels if ch["image"].relative is not None]
    readings = [ch["reading"] for ch in channels if ch["reading"] is not None]
    return {
        "checked": len(checks),
        "relative": statistics.median(relative) if relative else None,
        "cosine": statistics.median(c.cosine for c in checks),
        "spearman": statistics.median(c.spearman for c in checks),
        "low": sum(c.cosine < LOW_AGREEMENT for c in checks),
        "named": sum(r.meets for r in readings),
        "read": len(readings),
    }


class ImagePlacer:
    """Puts artifact images and dataset patches into the site, each once; returns their paths."""

    def __init__(self, writer: SiteWriter) -> None:
        self.writer = writer
        self.placed: dict[Path, str] = {}
        self.patches: dict[str, str] = {}

    def artifact_image(self, path: Path) -> str:
        path = Path(path)
        if path not in self.placed:
            rel = f"images/{path.parent.name}/{path.name}"
            self.writer.copy(path, rel, f"artifact {path.parent.name}")
            self.placed[path] = rel
        return self.placed[path]

    def patch(self, key: str, image: Image.Image, folder: str, *, photo: bool = False) -> str:
        """A picture made at build time, written once per key: a photo (a dataset patch) as JPEG
        at quality 90, a quarter of the bytes of a PNG; anything else (a filter) as PNG."""
        if key not in self.patches:
            buffer = io.BytesIO()
            if photo:
                image.convert("RGB").save(buffer, "JPEG", quality=90)
            else:
                image.save(buffer, "PNG")
            name = hashlib.sha256(key.encode()).hexdigest()[:20]
            rel = f"images/{folder}/{name}.{'jpg' if photo else 'png'}"
            self.writer.data(rel, buffer.getvalue(), f"{folder} image")
            self.patches[key] = rel
        return self.patches[key]


def make_env(config: SiteConfig) -> jinja2.Environment:
    """Jinja2 with autoescape on; the site's own templates (templates_dir) shadow ours."""
    paths = [str(config.templates_dir)] if config.templates_dir else []
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader([*paths, str(TEMPLATES_DIR)]),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["num"] = lambda v, fmt=None, arg=None: format_value(v, fmt, arg)
    env.filters["inline"] = render_inline
    env.globals["LOW_AGREEMENT"] = LOW_AGREEMENT
    return env


@dataclass
class SiteResult:
    pages: list[str] = field(default_factory=list)
    images: int = 0
    visualizations: int = 0


@dataclass
class _Drawn:
    """An article drawn in memory, ready to write."""

    page: Page
    figures: list[Markup]
    numbers: dict[str, dict[str, Any]]
    provenance: list[dict[str, Any]]


class SiteRenderer:
    """Draws every page of the site into `out` (see the module docstring)."""

    def __init__(
        self,
        config: SiteConfig,
        model: LoadedModel,
        preset: Preset,
        store: Any,
        out: Path,
        *,
        pages: Sequence[Page],
        explorer: dict[str, list[VisJob]],
        plan_jobs: Sequence[VisJob] = (),
        dataset: Any = None,
        notices: Notices | None = None,
        pending: bool = False,
        writer: SiteWriter | None = None,
    ) -> None:
        """`pending`: draw a placeholder for each figure whose visualizations the cache lacks
        and leave such channels out of the explorer (the preview server) instead of raising
        `MissingVisualizations`; `self.missing` then lists them by page URL."""
        self.config, self.model, self.preset, self.pages = config, model, preset, list(pages)
        self.notices = notices if notices is not None else Notices()
        self.pending = pending
        self.missing: dict[str, list[VisJob]] = {}
        self.writer = writer or SiteWriter(out)
        self.images = ImagePlacer(self.writer)
        self.env = make_env(config)
        self.ctx = FigureContext(
            config=config,
            model=model,
            preset=preset,
            store=store,
            dataset=dataset,
            explorer=explorer,
            env=self.env,
            image_url=self._image_url,
            place_photo=self._photo,
        )
        self.layers = self._explorer_layers(explorer, plan_jobs)
        self.ctx.explorer_channels = {
            layer: {single_channel(job)[1] for job in jobs}  # type: ignore[index]
            for layer, jobs in self.layers.items()
        }
        self.used: dict[str, dict[str, Any]] = {}  # job key -> manifest entry
        self.page_url = ""

    # Images --------------------------------------------------------------------------------
    def _image_url(self, path: Path) -> str:
        return self.ctx.prefix + self.images.artifact_image(path)

    def _patch(self, key: str, image: Image.Image, folder: str) -> str:
        return self.ctx.prefix + self.images.patch(key, image, folder)

    def _photo(self, key: str, image: Image.Image) -> str:
        return self.ctx.prefix + self.images.patch(key, image, "dataset", photo=True)

    def _explorer_layers(
        self, explorer: dict[str, list[VisJob]], plan_jobs: Sequence[VisJob]
    ) -> dict[str, list[VisJob]]:
        """Per layer, in channel order: the explorer's channels, every standard channel
        visualization the plan needs, and every other one already in the cache (the surveys
        figures chose their channels from): every computed channel has its place."""
        wanted = [j for js in explorer.values() for j in js] + [
            job
            for job in plan_jobs
            if (unit := single_channel(job)) and job.key == self.ctx.channel_job(*unit).key
        ]
        by_layer = explorer_by_layer(wanted)
        out: dict[str, list[VisJob]] = {}
        for info in self.model.layers:
            seen = {single_channel(j)[1]: j for j in reversed(by_layer.get(info.name, []))}  # type: ignore[index]
            for channel in range(info.channels):
                job = self.ctx.channel_job(info.name, channel)
                if channel not in seen and self._cached(job):
                    seen[channel] = job
            out[info.name] = [seen[c] for c in sorted(seen)]
        return out

    def _cached(self, job: VisJob) -> bool:
        store = self.ctx.store
        return bool(store is not None and store.path(job.key).is_dir() and self.ctx.artifact(job))

    # Drawing -------------------------------------------------------------------------------
    def draw(self) -> SiteResult:
        drawn: list[_Drawn] = []
        missing: list[VisJob] = []
        where: dict[str, list[str]] = {}
        for page in self.pages:
            try:
                drawn.append(self._draw_page(page))
            except MissingVisualizations as exc:
                missing += exc.jobs
                for key, places in exc.where.items():
                    where.setdefault(key, []).extend(places)
        for layer, jobs in self.layers.items():
            for job in jobs:
                if self.ctx.artifact(job) is None:
                    missing.append(job)
                    where.setdefault(job.key, []).append(f"explorer/{layer_file(layer)}")
                    self.missing.setdefault(f"explorer/{layer_file(layer)}", []).append(job)
            if self.pending:
                self.layers[layer] = [j for j in jobs if self.ctx.artifact(j) is not None]
        if self.pending:
            missing = []
        if missing:
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
        quick path after an edit that changes no figure."""
        drawn = [self._draw_page(p) for p in self.pages if p.slug in slugs or p.is_home]
        for item in drawn:
            self._write_article(item)
        self._write_home(drawn)
        return SiteResult(pages=sorted(self.writer.written), visualizations=len(self.used))

    def redraw(
        self, pages: Sequence[Page], slugs: Sequence[str], writer: SiteWriter
    ) -> SiteResult:
        """`draw_articles(slugs)` again from new `pages` through `writer`, keeping everything
        this renderer loaded and measured; visualizations it found missing are looked up again
        (the preview, after a text or figure edit, or when visualizations land)."""
        self.pages = list(pages)
        self.writer = writer
        self.images = ImagePlacer(writer)
        self.missing = {}
        self.ctx.forget_missing()
        return self.draw_articles(slugs)

    def _draw_page(self, page: Page) -> _Drawn:
        self.ctx.prefix = ""
        self.page_url = page.url
        figures: list[Markup] = []
        numbers: dict[str, dict[str, Any]] = {}
        provenance: list[dict[str, Any]] = []
        missing: list[VisJob] = []
        where: dict[str, list[str]] = {}
        for fig in page_figures(page, self.model):
            try:
                figures.append(fig.render(self.ctx))
                numbers[fig.id] = fig.numbers(self.ctx)
                rows = fig.provenance(self.ctx)
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
            if 'class="fv-missing"' in str(figures[-1]):
                self.notices.warn(
                    "fallback",
                    f"{page.source}:{fig.spec.line}: figure '{fig.id}' is drawn without what it "
                    "needs (no dataset)",
                )
            provenance.append({"figure": fig, "rows": rows})
            for job in fig.jobs(self.ctx):
                self._use(job, f"{page.url}#{fig.id}")
        if missing:
            raise MissingVisualizations(missing, where)
        return _Drawn(page, figures, numbers, provenance)

    def _placeholder(self, fig: Figure, jobs: Sequence[VisJob]) -> Markup:
        """A figure whose visualizations are still being computed (the preview server)."""
        return Markup(
            self.env.get_template("figures/pending.html").render(fig=fig, jobs=len(jobs))
        )

    def _warn_agreement(self) -> None:
        """One warning per layer with channels whose pattern agreement is flagged."""
        low: dict[str, list[int]] = {}
        for (kind, _, layer, channel), check in sorted(self.ctx.checks.items()):
            if kind == "pattern" and check is not None and check.cosine < LOW_AGREEMENT:
                low.setdefault(layer, []).append(channel)
        for layer, channels in low.items():
            shown = ", ".join(str(c) for c in sorted(set(channels))[:8])
            more = ", ..." if len(set(channels)) > 8 else ""
            self.notices.warn(
                "agreement",
                f"{layer}: {len(set(channels))} channels ({shown}{more}) have a pattern "
                f"agreement with their top photos below {LOW_AGREEMENT}",
            )

    def _use(self, job: VisJob, where: str) -> None:
        """Record a visualization for the manifest and place all of its images."""
        entry = self.used.get(job.key)
        if entry is None:
            art = self.ctx.artifact(job)
            if art is None:
                return
            metrics = art.meta.get("metrics", {})
            entry = {
                "key": job.key,
                "job": job.to_dict(),
                "objectives": [o.describe() for o in job.objectives],
                "images": [self.images.artifact_image(p) for p in art.images],
                "snapshots": {
                    str(step): [self.images.artifact_image(p) for p in paths]
                    for step, paths in sorted(art.snapshots.items())
                },
                "numbers": {
                    "final_objective": art.meta.get("final"),
                    "high_freq_share": metrics.get("high_freq_share"),
                    "clipped_fraction": metrics.get("clipped_fraction"),
                    "mean_pairwise_similarity": metrics.get("mean_pairwise_similarity"),
                    "relative_to_strongest_photo": self._relative(job, art),
                    **self._checks(job),
                },
                "device": art.meta.get("device"),
                "seconds": art.meta.get("seconds"),
                "versions": art.meta.get("versions"),
                "used_on": [],
            }
            self.used[job.key] = entry
        if where not in entry["used_on"]:
            entry["used_on"].append(where)

    def _checks(self, job: VisJob) -> dict[str, Any]:
        """The pattern check and the class reading of a one-channel visualization, as JSON."""
        unit = single_channel(job)
        check = pattern_agreement(self.ctx, job, *unit) if unit else None
        reading = class_reading(self.ctx, job, *unit) if unit else None
        return {
            "pattern_agreement": None
            if check is None
            else {"cosine": check.cosine, "spearman": check.spearman},
            "class_reading": None
            if reading is None
            else {
                "picture": [list(c) for c in reading.picture],
                "top_photo": [*reading.photo, reading.photo_file],
                "meets": reading.meets,
            },
        }

    def _relative(self, job: VisJob, art: Any) -> list[float | None] | None:
        unit = single_channel(job)
        if unit is None or self.ctx.dataset is None:
            return None
        from generator.metrics import relative_activation

        try:
            strongest = self.ctx.dataset.strongest_mean(*unit)
        except (FeatvisError, AttributeError):
            return None
        return [
            relative_activation(v, strongest) if v is not None else None for v in art.meta["final"]
        ]

    # Values for the text ------------------------------------------------------------------
    def _values(
        self, numbers: dict[str, dict[str, Any]], page: Page | None = None
    ) -> Callable[[str], Any]:
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
                found = fixed[name]
            else:
                _, fig, key = name.split(".", 2)
                found = numbers[fig].get(key)
            if found is None and page is not None and not self.pending:
                self.notices.warn(
                    "fallback", f"{page.source}: {{{{ {name} }}}} has no measured value"
                )
            return found

        return value

    # Writing -------------------------------------------------------------------------------
    def _common(self, prefix: str, **extra: Any) -> dict[str, Any]:
        return {
            "root": prefix,
            "site": self.config,
            "model": self.model,
            "preset": self.preset,
            "version": __version__,
            "articles": [p for p in self.pages if not p.is_home],
            "has_dataset": self.ctx.dataset is not None,
            **extra,
        }

    def _write_article(self, item: _Drawn) -> None:
        page = item.page
        if page.is_home:
            return  # the home page draws its own body
        body = render_body(page, self._values(item.numbers, page), item.figures)
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

    def _write_home(self, drawn: list[_Drawn]) -> None:
        home = next((d for d in drawn if d.page.is_home), None)
        intro, notes = Markup(""), Markup("")
        if home is not None:
            body = render_body(home.page, self._values(home.numbers, home.page), home.figures)
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

    def _strips(
        self, summaries: dict[str, dict[str, Any] | None] | None = None
    ) -> list[dict[str, Any]]:
        """One row per layer: its numbers and a strip of thumbnails (the model page, the index),
        with the summary of its checks against the photos where `summaries` has one."""
        rows = []
        for info in self.model.layers:
            jobs = self.layers.get(info.name, [])
            thumbs = [self.ctx.view(job, label=f"{single_channel(job)[1]}") for job in jobs[:STRIP]]  # type: ignore[index]
            rows.append(
                {
                    "layer": info,
                    "thumbs": thumbs,
                    "computed": len(jobs),
                    "href": f"explorer/{layer_file(info.name)}",
                    "summary": (summaries or {}).get(info.name),
                }
            )
        return rows

    def _write_explorer(self) -> None:
        self.ctx.prefix = "../"
        names = [info.name for info in self.model.layers]
        filters = {name: linear_filters(self.model, name) for name in names}
        pages = {
            name: [self._channel(job, filters[name]) for job in self.layers.get(name, [])]
            for name in names
        }
        summaries = {name: layer_summary(channels) for name, channels in pages.items()}
        text = self.env.get_template("explorer_model.html").render(
            **self._common("../"),
            strips=self._strips(summaries),
            has_summaries=any(summaries.values()),
        )
        self.writer.text("explorer/index.html", text, "explorer")
        for i, info in enumerate(self.model.layers):
            prev_layer = self.model.layer(names[i - 1]) if i > 0 else None
            next_layer = self.model.layer(names[i + 1]) if i + 1 < len(names) else None
            channels, layer_filters = pages[info.name], filters[info.name]
            text = self.env.get_template("explorer_layer.html").render(
                **self._common("../"),
                layer=info,
                channels=channels,
                filter_size=None if layer_filters is None else layer_filters.shape[-1],
                reads_classes=any(ch["reading"] for ch in channels),
                summary=summaries[info.name],
                prev=prev_layer,
                next=next_layer,
                layer_file=layer_file,
            )
            self.writer.text(
                f"explorer/{layer_file(info.name)}", text, f"explorer layer {info.name}"
            )
        self.ctx.prefix = ""

    def _channel(self, job: VisJob, filters: torch.Tensor | None = None) -> dict[str, Any]:
        """One channel of an explorer page; `filters`: the layer's, when it is affine in the
        pixels (`generator.filters`)."""
        layer, channel = single_channel(job)  # type: ignore[misc]
        self._use(job, f"explorer/{layer_file(layer)}#ch-{channel}")
        image: ImageView = self.ctx.view(job, label=f"channel {channel}")
        k = min(EXPLORER_EXAMPLES, self.config.dataset_top_k)
        return {
            "channel": channel,
            "image": image,
            "top": dataset_examples(self.ctx, layer, channel, "top", k),
            "bottom": dataset_examples(self.ctx, layer, channel, "bottom", k),
            "agreement": pattern_agreement(self.ctx, job, layer, channel),
            "reading": class_reading(self.ctx, job, layer, channel),
            "filter": None
            if filters is None
            else self._patch(
                f"{self.model.weights_digest}|{layer}|{channel}",
                filter_image(filters[channel], float(filters[channel].abs().max())),
                "filters",
            ),
        }

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

    def _write_manifest(self) -> None:
        manifest = {
            "featvis": __version__,
            "site": self.config.title,
            "model": {
                "id": self.model.id,
                "weights": self.model.weights_source,
                "weights_digest": self.model.weights_digest,
            },
            "preset": {
                "name": self.preset.name,
                "size": self.preset.size,
                "steps": self.preset.steps,
            },
            "torch": torch.__version__,
            "pages": [p.url for p in self.pages if not p.is_home],
            "visualizations": sorted(self.used.values(), key=lambda e: e["key"]),
        }
        self.writer.text(
            "manifest.json", json.dumps(manifest, indent=1, allow_nan=False) + "\n", "manifest"
        )


_FOOTNOTES = re.compile(r'<div class="footnote">.*</div>\s*$', re.DOTALL)


def split_footnotes(html: str) -> tuple[str, str]:
    """The body without its footnote list, and the list (Python-Markdown appends it last)."""
    m = _FOOTNOTES.search(html)
    if not m:
        return html, ""
    return html[: m.start()], m.group(0)


__all__ = [
    "Figure",
    "ImagePlacer",
    "MissingVisualizations",
    "SiteRenderer",
    "SiteResult",
    "SiteWriter",
    "make_env",
    "split_footnotes",
]
