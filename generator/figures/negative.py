"""`negative`: channels minimized and maximized.
"""

from __future__ import annotations

from typing import Any

from generator.figures.base import ChannelsFigure
from generator.figures.context import DrawContext, PlanContext
from generator.jobs import VisJob
from generator.models.base import LoadedModel
from generator.models.hooks import FLOOR, module_of
from generator.models.preact import branch_of, floor_of, negative_layer, shown_in
from generator.optvis import objectives as obj


def negative_label(model: LoadedModel, layer: str, channel: int) -> str:
    """The label of `layer`'s `channel` minimized: where it was minimized when not at the layer
    (a branch's channel where the layer sets branches side by side, whose channel there is not
    the layer's), naming the floor as the network applies it (`models.preact.Floor`)."""
    at = negative_layer(model, layer) or layer
    if at == layer:
        return "negative"
    part, there = branch_of(model, at, channel)
    module, reads = module_of(part)
    floor = floor_of(model, layer) or "floor"
    if reads == FLOOR:
        return f"negative (before the {floor} that {module}'s forward calls last)"
    if part != at:
        return f"negative (before the {floor}, channel {there} of {shown_in(model, part)})"
    return f"negative (before the {floor}, {shown_in(model, part)})"


class Negative(ChannelsFigure):
    """A channel maximized and minimized: what excites it and what it pushes against (minimized
    before the ReLU that floors its layer, where one can be reached: `models.preact`)."""

    type = "negative"

    def _at(self, ctx: PlanContext) -> str:
        layer: str = self.options["layer"]
        return negative_layer(ctx.model, layer) or layer

    def job(self, ctx: PlanContext, channel: int) -> VisJob:
        layer = self.options["layer"]
        return ctx.job([ctx.led(layer, channel), -obj.channel(self._at(ctx), channel)])

    def row(self, ctx: DrawContext, channel: int) -> dict[str, Any]:
        job = self.job(ctx, channel)
        label = negative_label(ctx.model, self.options["layer"], channel)
        return {
            "positive": ctx.view(job, 0, label="positive"),
            "negative": ctx.view(job, 1, label=label),
        }
