"""`negative`: channels minimized and maximized.
"""

from __future__ import annotations

from typing import Any

from generator.figures.base import ChannelsFigure
from generator.figures.context import DrawContext, PlanContext
from generator.jobs import VisJob
from generator.models.hooks import shown_path
from generator.models.preact import branch_of, negative_layer
from generator.optvis import objectives as obj


class Negative(ChannelsFigure):
    """A channel maximized and minimized: what excites it and what it pushes against (minimized
    before the ReLU that floors its layer, where one can be reached: `models.preact`)."""

    type = "negative"

    def _at(self, ctx: PlanContext) -> str:
        layer: str = self.options["layer"]
        return negative_layer(ctx.model, layer) or layer

    def job(self, ctx: PlanContext, channel: int) -> VisJob:
        layer = self.options["layer"]
        return ctx.job([obj.channel(layer, channel), -obj.channel(self._at(ctx), channel)])

    def row(self, ctx: DrawContext, channel: int) -> dict[str, Any]:
        job = self.job(ctx, channel)
        at = self._at(ctx)
        layer = self.options["layer"]
        before = shown_path(branch_of(ctx.model, at, channel)[0])
        label = "negative" if at == layer else f"negative (before the ReLU, {before})"
        return {
            "positive": ctx.view(job, 0, label="positive"),
            "negative": ctx.view(job, 1, label=label),
        }
