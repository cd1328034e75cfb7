"""`dataset-examples`: each channel beside its strongest and weakest photos and the checks.
"""

from __future__ import annotations

from typing import Any

from generator.config.schema import Option, boolean, whole
from generator.figures.base import ChannelsFigure, _mean
from generator.figures.checks import class_reading, dataset_examples, pattern_agreement
from generator.figures.context import DrawContext
from generator.figures.options import _channels


class DatasetExamples(ChannelsFigure):
    """Each channel's visualization beside the dataset photos that excite it most (and least),
    optionally its activation spectrum, and how the visualization's activation pattern across the
    layer agrees with the top photos' (the "Don't trust your eyes" check)."""

    type = "dataset-examples"
    OPTIONS = {
        **ChannelsFigure.OPTIONS,
        "channels": Option(_channels, 3),
        "examples": Option(whole(1, 16), 4),
        "bottom": Option(boolean, True),
        "spectrum": Option(whole(0, 16), 0),
    }

    def row(self, ctx: DrawContext, channel: int) -> dict[str, Any]:
        layer, k = self.options["layer"], self.options["examples"]
        job = self.job(ctx, channel)
        return {
            "image": ctx.view(job),
            "top": dataset_examples(ctx, layer, channel, "top", k),
            "bottom": dataset_examples(ctx, layer, channel, "bottom", k)
            if self.options["bottom"]
            else [],
            "spectrum": dataset_examples(ctx, layer, channel, "spectrum", self.options["spectrum"]),
            "agreement": pattern_agreement(ctx, job, layer, channel),
            "reading": class_reading(ctx, job, layer, channel),
        }

    def view(self, ctx: DrawContext) -> dict[str, Any]:
        return {
            **super().view(ctx),
            "has_dataset": ctx.dataset is not None,
            "spectrum": self.options["spectrum"],
        }

    def number_keys(self) -> tuple[str, ...]:
        return ("relative", "cosine", "spearman", "channels", "named")

    def numbers(self, ctx: DrawContext) -> dict[str, Any]:
        rows = self.view(ctx)["rows"]
        checks = [r["agreement"] for r in rows]
        readings = [r["reading"] for r in rows if r["reading"] is not None]
        return {
            "relative": _mean([r["image"].relative for r in rows]),
            "cosine": _mean([c.cosine if c else None for c in checks]),
            "spearman": _mean([c.spearman if c else None for c in checks]),
            "channels": ", ".join(r["unit"] for r in rows),
            # "k of n": the channels whose top photo's class the model names among the picture's
            # most likely, of those it read (None: no photos, no class names, or an early band)
            "named": f"{sum(r.meets for r in readings)} of {len(readings)}" if readings else None,
        }
