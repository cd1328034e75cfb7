"""What the parts of the site renderer share: its state, the drawing of one article in memory,
and the error that lists what the cache lacks.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from markupsafe import Markup
from PIL import Image

from generator import __version__
from generator.atlas.circuits import LayerCircuit
from generator.atlas.labels import Labels
from generator.atlas.site import Accents
from generator.config.presets import Preset
from generator.config.site import SiteConfig
from generator.core.errors import FeatvisError
from generator.core.notices import Notices
from generator.core.urls import SEARCH_INDEX, model_url
from generator.figures.channels import single_channel
from generator.figures.context import DrawContext
from generator.figures.registry import Article
from generator.jobs import VisJob
from generator.measure.stage import Measurements
from generator.models.base import LoadedModel
from generator.pages.content import Page
from generator.site.writer import ImagePlacer, SiteWriter


class MissingVisualizations(FeatvisError):
    """The cache lacks visualizations the site shows; `.jobs` lists them."""

    def __init__(
        self, jobs: Sequence[VisJob], where: dict[str, list[str]], more: str = ""
    ) -> None:
        self.jobs, self.where = list(jobs), where
        super().__init__(
            f"{len(self.jobs)} visualizations are not in the cache{more} (run `featvis compute` "
            "or `featvis build` to compute them)"
        )

    def report(self, limit: int = 30) -> list[str]:
        lines = []
        for job in self.jobs[:limit]:
            what = "; ".join(sorted({o.describe() for o in job.objectives}))
            lines.append(f"  {job.key}  {what}  ({', '.join(self.where.get(job.key, []))})")
        if len(self.jobs) > limit:
            lines.append(f"  ... and {len(self.jobs) - limit} more")
        return lines



def search_hint(
    model: LoadedModel,
    inventory: Mapping[str, Sequence[VisJob]],
    dead: Callable[[str], frozenset[int]] = lambda _layer: frozenset(),
) -> str:
    """The search box's placeholder, from the site's own model: a living channel with a page (of
    the middle layer the explorer shows), that layer's band, a class the model names, a label."""
    shown = [name for name in model.layer_names if inventory.get(name)]
    if not model.layer_names:
        return "layer:channel, a band, a label"
    if shown:
        layer = shown[len(shown) // 2]
        units = [unit[1] for job in inventory[layer] if (unit := single_channel(job))]
        living = [c for c in units if c not in dead(layer)]
        channel = (living or units or [0])[0]
    else:
        layer, channel = model.layer_names[len(model.layer_names) // 2], 0
    words = [f"{layer}:{channel}", model.layer(layer).band]
    if model.class_names:
        words.append(model.class_names[0])
    return ", ".join([*words, "a label"])

@dataclass
class ModelState:
    """What the renderer draws one model's pages with: its draw context and inventory, its
    measurements, circuits, accentuations and labels, and what its channel pages recorded.
    Every part of the renderer that draws a model's pages takes its state as an argument."""

    model: LoadedModel
    ctx: DrawContext
    layers: dict[str, list[VisJob]]
    measures: Measurements
    circuits: dict[tuple[str, str], LayerCircuit]
    accents: Accents
    labels: Labels
    channel_info: dict[tuple[str, int], dict[str, Any]] = field(default_factory=dict)
    job_index: dict[tuple[str, int], VisJob] | None = None  # (layer, channel) -> its page's job
    # the preview only: layer -> the channels whose visualization is still being computed
    waiting: dict[str, list[int]] = field(default_factory=dict)
    # the preview only: layer -> channel page -> its negative and diversity pictures not yet in
    # the cache when the page was drawn
    extras_waiting: dict[str, dict[str, list[VisJob]]] = field(default_factory=dict)
    planned: frozenset[str] = frozenset()  # the preview only: the keys of the model's site plan
    # the explorer's channels, computed or not (layer -> channel -> job); `layers` holds those
    # drawn, every one of them but in the preview
    inventory: dict[str, dict[int, VisJob]] = field(default_factory=dict)
    summaries: dict[str, dict[str, Any] | None] = field(default_factory=dict)  # by layer, drawn
    search_hint: str = ""  # the search box's placeholder, from the inventory


@dataclass
class Drawn:
    """An article drawn in memory, ready to write."""

    page: Page
    figures: list[Markup]
    numbers: dict[str, dict[str, Any]]
    provenance: list[dict[str, Any]]


class RenderState:
    """The renderer's state (set by `SiteRenderer.__init__`) and the helpers every part uses."""

    config: SiteConfig
    preset: Preset
    articles: list[Article]
    pages: list[Page]
    writer: SiteWriter
    images: ImagePlacer
    env: Any
    used: dict[str, dict[str, Any]]
    page_url: str
    notices: Notices
    pending: bool  # placeholders for missing figures (the preview) instead of failing
    missing: dict[str, list[VisJob]]  # with `pending`: what each page URL still waits for

    states: list[ModelState]  # every model of the site, the first (the articles' default) first

    def _ctx_of(self, model_id: str) -> DrawContext:
        """The draw context of a model of the site (the first model's when unknown)."""
        return next((s.ctx for s in self.states if s.model.id == model_id), self.states[0].ctx)

    def _set_prefix(self, prefix: str) -> None:
        """The way back to the site root from the page being drawn, for every model's context."""
        for state in self.states:
            state.ctx.prefix = prefix

    def _patch(self, state: ModelState, key: str, image: Image.Image, folder: str) -> str:
        return state.ctx.prefix + self.images.patch(key, image, folder)

    def _common(self, state: ModelState, prefix: str, **extra: Any) -> dict[str, Any]:
        return {
            "root": prefix,
            "site": self.config,
            "model": state.model,
            "preset": self.preset,
            "version": __version__,
            "articles": [p for p in self.pages if not p.is_home],
            "has_dataset": state.ctx.dataset is not None,
            "model_href": model_url(state.model.slug),
            "search_index": SEARCH_INDEX,
            "search_hint": state.search_hint,
            **extra,
        }

    # Provided by the parts: the manifest records what a page uses, the explorer draws strips.
    def _use(self, job: VisJob, where: str) -> None:
        raise NotImplementedError

    def _strips(
        self, state: ModelState, summaries: dict[str, dict[str, Any] | None] | None = None
    ) -> list[dict[str, Any]]:
        raise NotImplementedError
