"""`negative`: channels minimized and maximized.
"""

from __future__ import annotations

from typing import Any

from generator.figures.base import ChannelsFigure
from generator.figures.context import DrawContext, PlanContext
from generator.jobs import VisJob
from generator.models.base import LoadedModel
from generator.models.hooks import FLOOR, module_of
from generator.models.preact import branch_of, floor_of, negative_of, per_channel, shown_in
from generator.optvis import objectives as obj


def negative_label(model: LoadedModel, layer: str, channel: int) -> str:
    """The label of `layer`'s `channel` minimized: where it was minimized when not at the layer
    (a branch's channel where the layer sets branches side by side, or makes its channels per
    channel inside it, whose channel there is not the layer's), naming the floor as the network
    applies it (`models.preact.Floor`)."""
    at, there = negative_of(model, layer, channel) or (layer, channel)
    if at == layer and per_channel(model, layer):  # a pooled or passed-on channel beside them
        return "negative (none below the floor: floored before the layer)"
    if at == layer:
        return "negative"
    part, there = branch_of(model, at, there)
    module, reads = module_of(part)
    floor = floor_of(model, layer) or "floor"
    if reads == FLOOR:
        return f"negative (before the {floor} that {module}'s forward calls last)"
    if part != at or per_channel(model, layer):
        return f"negative (before the {floor}, channel {there} of {shown_in(model, part)})"
    return f"negative (before the {floor}, {shown_in(model, part)})"


class Negative(ChannelsFigure):
    """A channel maximized and minimized: what excites it and what it pushes against (minimized
    before the ReLU that floors its layer, or the branch inside it that makes the channel, where
    one can be reached: `models.preact.negative_of`; else at the layer itself)."""

    type = "negative"

    def channels(self, ctx: PlanContext, layer: str, key: str = "channels") -> list[int] | None:
        """The channels option: explicit, or chosen from measurements among those that have a
        negative (a layer's pooled or passed-on channels only where no other is left)."""
        value = self.options[key]
        if isinstance(value, tuple) or per_channel(ctx.model, layer) is None:
            return super().channels(ctx, layer, key)
        units = per_channel(ctx.model, layer) or ()
        none = frozenset(c for c, unit in enumerate(units) if unit is None)
        return ctx.choose_channels(layer, ctx.scaled(value), last=none)

    def job(self, ctx: PlanContext, channel: int) -> VisJob:
        layer = self.options["layer"]
        at = negative_of(ctx.model, layer, channel) or (layer, channel)
        return ctx.job([ctx.led(layer, channel), -obj.channel(*at)])

    def row(self, ctx: DrawContext, channel: int) -> dict[str, Any]:
        job = self.job(ctx, channel)
        label = negative_label(ctx.model, self.options["layer"], channel)
        return {
            "positive": ctx.view(job, 0, label="positive"),
            "negative": ctx.view(job, 1, label=label),
        }
