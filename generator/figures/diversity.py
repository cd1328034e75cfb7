"""`diversity`: several images of a channel pushed apart by a diversity term.
"""

from __future__ import annotations

from typing import Any

from generator.config.schema import Option, number, whole
from generator.figures.base import ChannelsFigure, _mean
from generator.figures.context import DrawContext, PlanContext
from generator.figures.options import _channels
from generator.jobs import VisJob
from generator.optvis import objectives as obj


class Diversity(ChannelsFigure):
    """Several images of one channel pushed apart by a diversity term."""

    type = "diversity"
    OPTIONS = {
        **ChannelsFigure.OPTIONS,
        "channels": Option(_channels, 1),
        "images": Option(whole(2, 12), 4),
        "weight": Option(number, 5.0),
    }

    def job(self, ctx: PlanContext, channel: int) -> VisJob:
        layer = self.options["layer"]
        o = ctx.led(layer, channel) + self.options["weight"] * obj.diversity(layer)
        return ctx.job([o] * self.options["images"])

    def row(self, ctx: DrawContext, channel: int) -> dict[str, Any]:
        job = self.job(ctx, channel)
        art = ctx.require([job])[0]
        unit = art.sidecar.unit  # each image's channel activation (None: an older entry)
        return {
            "images": [ctx.view(job, i) for i in range(job.n_images)],
            "similarity": art.sidecar.metrics.mean_pairwise_similarity,
            "activation": _mean(list(unit)) if unit else None,
        }

    def number_keys(self) -> tuple[str, ...]:
        return ("similarity", "channels")

    def numbers(self, ctx: DrawContext) -> dict[str, Any]:
        rows = self.view(ctx)["rows"]
        return {
            "similarity": _mean([r["similarity"] for r in rows]),
            "channels": ", ".join(r["unit"] for r in rows),
        }
