"""`directions`: pairs of channels beside the image of their sum, and random directions.
"""

from __future__ import annotations

import hashlib
from typing import Any

import torch

from generator.config.schema import Invalid, Option, whole
from generator.figures.base import ChannelsFigure
from generator.figures.context import DrawContext, MissingArtifact, PlanContext
from generator.figures.options import _channels
from generator.jobs import VisJob
from generator.optvis import objectives as obj


def _channel_pairs(v: Any) -> int | tuple[int, ...]:
    """`channels` taken in pairs: an even count (2, 4, ...) or a list of an even length."""
    value = _channels(v)
    count = value if isinstance(value, int) else len(value)
    if count % 2:
        raise Invalid(f"takes channels in pairs: give an even count or list (2, 4, ...), not {v!r}")
    return value


class Directions(ChannelsFigure):
    """Neurons working together: two channels, their sum, and random directions of the layer.

    Channels are taken in pairs (a, b): the row shows a, b and the objective a + b, so a reader sees
    whether the combination is a blend of the two or something new. `random` adds directions in
    the layer's channel space, drawn from a generator seeded by the layer and the site's seed.
    """

    type = "directions"
    OPTIONS = {
        **ChannelsFigure.OPTIONS,
        "channels": Option(_channel_pairs, 4),
        "random": Option(whole(0, 8), 3),
    }

    def channels(self, ctx: PlanContext, layer: str, key: str = "channels") -> list[int] | None:
        """Explicit channels, or a count scaled by the preset in whole pairs (at least one)."""
        value = self.options[key]
        if isinstance(value, tuple):
            return list(value)
        return ctx.choose_channels(layer, 2 * ctx.scaled(value // 2))

    def survey(self, ctx: PlanContext, layer: str, key: str = "channels") -> list[VisJob]:
        value = self.options[key]
        if isinstance(value, tuple):
            return []
        return ctx.survey_jobs(layer, 2 * ctx.scaled(value // 2))

    def pairs(self, ctx: PlanContext) -> list[tuple[int, int]] | None:
        chans = self.channels(ctx, self.options["layer"])
        if chans is None:
            return None
        return [(a, b) for a, b in zip(chans[0::2], chans[1::2], strict=False)]

    def sum_job(self, ctx: PlanContext, a: int, b: int) -> VisJob:
        """The picture of a + b. A channel flat at the start is led in the sum as in its own
        picture (`PlanContext.led`), the other term left as it is: unled, a flat channel adds
        nothing to the sum, whose picture would then be the other channel's alone and not their
        combination; its lead adds no value, so the sum shown is the two channels' own."""
        layer = self.options["layer"]
        return ctx.job([ctx.led(layer, a) + ctx.led(layer, b)])

    def random_jobs(self, ctx: PlanContext) -> list[VisJob]:
        layer = self.options["layer"]
        width = ctx.model.layer(layer).channels
        seed = int(hashlib.sha256(f"{layer}:{ctx.config.seed}".encode()).hexdigest()[:8], 16)
        gen = torch.Generator().manual_seed(seed)
        draws = torch.randn(self.options["random"], width, generator=gen)
        vectors = torch.nn.functional.normalize(draws, dim=1)
        return [ctx.job([obj.direction(layer, v.tolist())]) for v in vectors]

    def needs(self, ctx: PlanContext) -> list[VisJob]:
        pairs = self.pairs(ctx)
        if pairs is None:
            return self.survey(ctx, self.options["layer"]) + self.random_jobs(ctx)
        layer = self.options["layer"]
        jobs = [ctx.channel_job(layer, c) for pair in pairs for c in pair]
        return jobs + [self.sum_job(ctx, a, b) for a, b in pairs] + self.random_jobs(ctx)

    def view(self, ctx: DrawContext) -> dict[str, Any]:
        layer = self.options["layer"]
        pairs = self.pairs(ctx)
        if pairs is None:
            raise MissingArtifact(self.jobs(ctx))
        rows = [
            {
                "units": [f"{layer}:{a}", f"{layer}:{b}"],
                "hrefs": [ctx.layer_link(layer, a), ctx.layer_link(layer, b)],
                "a": ctx.view(ctx.channel_job(layer, a), 0, label=f"{layer}:{a}"),
                "b": ctx.view(ctx.channel_job(layer, b), 0, label=f"{layer}:{b}"),
                "sum": ctx.view(self.sum_job(ctx, a, b), 0, label=f"{a} + {b}"),
            }
            for a, b in pairs
        ]
        randoms = [
            ctx.view(job, 0, label=f"direction {k + 1}")
            for k, job in enumerate(self.random_jobs(ctx))
        ]
        return {"rows": rows, "randoms": randoms, "layer": layer}

    def number_keys(self) -> tuple[str, ...]:
        return ("channels", "random")

    def numbers(self, ctx: DrawContext) -> dict[str, Any]:
        view = self.view(ctx)
        units = [u for r in view["rows"] for u in r["units"]]
        return {"channels": ", ".join(units), "random": len(view["randoms"])}
