"""`optimization-progress`: one channel after a growing number of steps, and its objective curve.
"""

from __future__ import annotations

from typing import Any

from generator.config.schema import Option, whole
from generator.figures.base import OneChannelFigure, sparkline
from generator.figures.context import DrawContext, PlanContext
from generator.jobs import VisJob


class OptimizationProgress(OneChannelFigure):
    """One channel's image after a growing number of optimizer steps, and its objective curve."""

    type = "optimization-progress"
    OPTIONS = {**OneChannelFigure.OPTIONS, "snapshots": Option(whole(2, 12), 6)}

    def steps(self, ctx: PlanContext) -> tuple[int, ...]:
        """Snapshots spaced geometrically: early steps change the image most."""
        total, n = ctx.preset.steps, self.options["snapshots"]
        steps = {0, total}
        for i in range(1, n - 1):
            steps.add(max(1, round(total ** (i / (n - 1)))))
        return tuple(sorted(steps))

    def channel_jobs(self, ctx: PlanContext, channel: int) -> list[VisJob]:
        led = ctx.led(self.options["layer"], channel)  # flat at the start: led, as on its page
        return [ctx.job([led], snapshot_steps=self.steps(ctx))]

    def number_keys(self) -> tuple[str, ...]:
        return (
            "channel",
            "steps",
            "first_step",
            "objective.first",
            "objective.final",
            "hf.first",
            "hf.final",
        )

    def numbers(self, ctx: DrawContext) -> dict[str, Any]:
        v = self.view(ctx)
        frames = v["frames"]
        return {
            "channel": v["unit"],
            "steps": ctx.preset.steps,
            "first_step": self.steps(ctx)[1],
            "objective.first": frames[1].objective,
            "objective.final": frames[-1].objective,
            "hf.first": frames[1].high_freq,
            "hf.final": frames[-1].high_freq,
        }

    def view(self, ctx: DrawContext) -> dict[str, Any]:
        channel = self.ready_channel(ctx)
        job = self.channel_jobs(ctx, channel)[0]
        frames = [ctx.view(job, snapshot=s, label=f"step {s}") for s in self.steps(ctx)]
        history = ctx.require([job])[0].sidecar.history[0]
        return {
            "frames": frames,
            "curve": sparkline(history),
            "unit": self.unit(channel),
            "href": ctx.layer_link(self.options["layer"], channel),
        }
