"""`negative`: channels minimized and maximized.
"""

from __future__ import annotations

from typing import Any

from generator.figures.base import ChannelsFigure
from generator.figures.context import DrawContext, PlanContext
from generator.jobs import VisJob
from generator.optvis import objectives as obj


class Negative(ChannelsFigure):
    """A channel maximized and minimized: what excites it and what it pushes against."""

    type = "negative"

    def job(self, ctx: PlanContext, channel: int) -> VisJob:
        c = obj.channel(self.options["layer"], channel)
        return ctx.job([c, -c])

    def row(self, ctx: DrawContext, channel: int) -> dict[str, Any]:
        job = self.job(ctx, channel)
        return {
            "positive": ctx.view(job, 0, label="positive"),
            "negative": ctx.view(job, 1, label="negative"),
        }
