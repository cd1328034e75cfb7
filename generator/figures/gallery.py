"""`layer-gallery`: a few channels from each of several layers, edges to objects.
"""

from __future__ import annotations

from typing import Any

from generator.config.schema import Option
from generator.figures.base import Figure
from generator.figures.context import DrawContext, MissingArtifact, PlanContext
from generator.figures.options import _channels, _layers
from generator.jobs import VisJob
from generator.models.base import LoadedModel


class LayerGallery(Figure):
    """The overview: a few channels from each of several layers, edges to objects."""

    type = "layer-gallery"
    OPTIONS = {"layers": Option(_layers), "channels": Option(_channels, 4)}

    def bind(self, model: LoadedModel) -> Figure:
        for layer in self.options["layers"] or ():
            self.check_layer(model, "layers", layer)
            self.check_channels(model, "channels", layer)
        return self

    def layers(self, ctx: PlanContext) -> list[str]:
        return self.layers_used(ctx.model)

    def layers_used(self, model: LoadedModel) -> list[str]:
        if self.options["layers"]:
            return list(self.options["layers"])
        by_band: dict[str, list[str]] = {}  # one layer from the middle of each band
        for info in model.layers:
            by_band.setdefault(info.band, []).append(info.name)
        return [group[len(group) // 2] for group in by_band.values()] or list(model.layer_names[:1])

    def needs(self, ctx: PlanContext) -> list[VisJob]:
        out: list[VisJob] = []
        for layer in self.layers(ctx):
            chans = self.channels(ctx, layer)
            out += (
                self.survey(ctx, layer)
                if chans is None
                else [ctx.channel_job(layer, c) for c in chans]
            )
        return out

    def number_keys(self) -> tuple[str, ...]:
        return ("layers", "images")

    def numbers(self, ctx: DrawContext) -> dict[str, Any]:
        rows = self.view(ctx)["rows"]
        return {"layers": len(rows), "images": sum(len(r["images"]) for r in rows)}

    def view(self, ctx: DrawContext) -> dict[str, Any]:
        rows = []
        for layer in self.layers(ctx):
            chans = self.channels(ctx, layer)
            if chans is None:
                raise MissingArtifact(self.jobs(ctx))
            info = ctx.model.layer(layer)
            images = [ctx.view(ctx.channel_job(layer, c), label=f"channel {c}") for c in chans]
            rows.append({"layer": info, "images": images, "href": ctx.layer_link(layer)})
        return {"rows": rows}
