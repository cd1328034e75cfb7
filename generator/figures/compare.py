"""`compare-models`: the same bands of several models side by side.

For each band (edges, textures, patterns, parts, objects, or the `bands:` given), each model's
strongest, most distinct channels of the band's layer, chosen the way `layer-gallery` chooses
them (`PlanContext.choose_channels`: the dataset's statistics, else a survey). The band's layer
is the middle one of the band among the layers the model's explorer shows, or of the model's
catalog when the explorer shows none of the band, so that each image links to its channel's
page. Each model's jobs are planned with that model's context (batches never mix models); the
drawing reads the other models' draw contexts (`DrawContext.of`). The explorer's compare page
(`explorer/compare.html`) is this figure over every band and every model (`compare_page`).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from generator.config.schema import Invalid, Option, whole
from generator.core.urls import COMPARE_PAGE
from generator.figures.base import Figure
from generator.figures.context import DrawContext, MissingArtifact, PlanContext
from generator.jobs import VisJob
from generator.models.base import BANDS, LoadedModel
from generator.pages.content import FigureSpec

COMPARE_CHANNELS = 4  # per band and model (the gallery's default), scaled by the preset


def _bands(v: Any) -> tuple[str, ...]:
    values = [v] if isinstance(v, str) else v
    if not isinstance(values, list) or not values or not all(isinstance(x, str) for x in values):
        raise Invalid(f"must be a band or a list of bands ({', '.join(BANDS)}), not {v!r}")
    for band in values:
        if band not in BANDS:
            raise Invalid(f"unknown band '{band}' (valid: {', '.join(BANDS)})")
    return tuple(dict.fromkeys(values))


def _ids(v: Any) -> tuple[str, ...]:
    values = [v] if isinstance(v, str) else v
    if not isinstance(values, list) or not values or not all(isinstance(x, str) for x in values):
        raise Invalid(f"must be a model id or a list of the site's model ids, not {v!r}")
    return tuple(dict.fromkeys(values))


def band_layer(model: LoadedModel, band: str, shown: Sequence[str] = ()) -> str | None:
    """The band's middle layer among `shown` (the explorer's layers) when any is of the band,
    else among the model's catalog; None when the model has no layer in the band."""
    infos = [info for info in model.layers if info.band == band]
    among = [info for info in infos if info.name in shown] or infos
    return among[len(among) // 2].name if among else None


class CompareModels(Figure):
    """Each band's strongest channels of every model, side by side."""

    type = "compare-models"
    OPTIONS = {
        "bands": Option(_bands, BANDS),
        "channels": Option(whole(1, 16), 3),
        "models": Option(_ids),  # default: every model of the site
    }

    def place(self, site_models: Sequence[str], default: str | None = None) -> Figure:
        self.compared: tuple[str, ...] = self.options["models"] or tuple(site_models)
        return super().place(site_models, default)

    def models_used(self) -> tuple[str, ...]:
        return getattr(self, "compared", None) or super().models_used()

    def layer(self, ctx: PlanContext, band: str) -> str | None:
        return band_layer(ctx.model, band, tuple(ctx.explorer))

    def layers_used(self, model: LoadedModel) -> list[str]:
        found = (band_layer(model, band) for band in self.options["bands"])
        return [name for name in found if name is not None]

    def needs(self, ctx: PlanContext) -> list[VisJob]:
        out: list[VisJob] = []
        n = ctx.scaled(self.options["channels"])
        for band in self.options["bands"]:
            layer = self.layer(ctx, band)
            if layer is None:
                continue
            chans = ctx.choose_channels(layer, n)
            out += (
                ctx.survey_jobs(layer, n)
                if chans is None
                else [ctx.channel_job(layer, c) for c in chans]
            )
        return out

    def _column(self, ctx: DrawContext, band: str) -> dict[str, Any]:
        layer = self.layer(ctx, band)
        if layer is None:
            return {"model": ctx.model, "layer": None, "images": []}
        chans = ctx.choose_channels(layer, ctx.scaled(self.options["channels"]))
        if chans is None:
            raise MissingArtifact(self.jobs(ctx))
        images = [
            {
                "image": ctx.view(ctx.channel_job(layer, c), label=f"channel {c}"),
                "href": ctx.channel_link(layer, c),
            }
            for c in chans
        ]
        return {
            "model": ctx.model,
            "layer": ctx.model.layer(layer),
            "href": ctx.layer_link(layer),
            "images": images,
        }

    def contexts(self, ctx: DrawContext) -> list[DrawContext]:
        """The draw context of each compared model (MissingArtifact when the renderer has none
        for one: it loaded only some of the site's models)."""
        found = [ctx.of(model_id) for model_id in self.models_used()]
        if any(c is None for c in found):
            raise MissingArtifact([])
        return [c for c in found if c is not None]

    def view(self, ctx: DrawContext) -> dict[str, Any]:
        contexts = self.contexts(ctx)
        rows = [
            {"band": band, "columns": [self._column(c, band) for c in contexts]}
            for band in self.options["bands"]
        ]
        return {"rows": rows, "models": [c.model for c in contexts]}

    def shown_jobs(self, ctx: DrawContext) -> list[VisJob]:
        return [job for c in self.contexts(ctx) for job in self.jobs(c)]

    def provenance(self, ctx: DrawContext) -> list[dict[str, Any]]:
        rows = []
        for each in self.contexts(ctx):
            rows += super().provenance(each)
        return rows

    def number_keys(self) -> tuple[str, ...]:
        return ("models", "images")

    def numbers(self, ctx: DrawContext) -> dict[str, Any]:
        rows = self.view(ctx)["rows"]
        count = sum(len(col["images"]) for row in rows for col in row["columns"])
        return {"models": len(self.models_used()), "images": count}


def compare_page(site_models: Sequence[str]) -> CompareModels:
    """The explorer's compare page as a figure: every band, every model of the site."""
    spec = FigureSpec(
        type=CompareModels.type,
        options={"id": "compare", "channels": COMPARE_CHANNELS},
        source=Path(COMPARE_PAGE),
        line=1,
        numbered=False,
    )
    figure = CompareModels(spec)
    figure.place(site_models)
    return figure
