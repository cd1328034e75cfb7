"""`preconditioning`: pixel vs Fourier vs Fourier with decorrelated colour, at several step counts.
"""

from __future__ import annotations

from typing import Any

from generator.config.schema import Option, choice, whole
from generator.core.words import counted
from generator.figures.base import OneChannelFigure, describe_transforms
from generator.figures.channels import scaled_transforms
from generator.figures.context import DrawContext, PlanContext
from generator.jobs import VisJob
from generator.optvis.param import ParamSpec
from generator.optvis.transforms import TransformSpec

PRECONDITIONINGS = {
    "pixel": ("Pixel", ParamSpec(kind="pixel", decorrelate=False)),
    "fourier": ("Fourier", ParamSpec(kind="fourier", decorrelate=False)),
    "decorrelated": ("Fourier + decorrelated colour", ParamSpec(kind="fourier", decorrelate=True)),
}


class Preconditioning(OneChannelFigure):
    """The same objective under three parameterizations, at several step counts."""

    type = "preconditioning"
    OPTIONS = {
        **OneChannelFigure.OPTIONS,
        "snapshots": Option(whole(2, 8), 4),
        "transforms": Option(choice("none", "jitter", "robust"), "jitter"),
    }

    def steps(self, ctx: PlanContext) -> tuple[int, ...]:
        total, n = ctx.preset.steps, self.options["snapshots"]
        return tuple(sorted({max(1, round(total / 2 ** (n - 1 - i))) for i in range(n)}))

    def transforms(self, ctx: PlanContext) -> TransformSpec:
        kind, size = self.options["transforms"], ctx.preset.size
        if kind == "none":
            return TransformSpec.none()
        if kind == "jitter":
            return TransformSpec.jitter_only(max(1, round(size / 32)))
        return scaled_transforms(size)

    def param_jobs(self, ctx: PlanContext, channel: int) -> dict[str, VisJob]:
        """One job a row; a grey network has no colour to decorrelate, so its last two rows are
        one optimization."""
        c = ctx.led(self.options["layer"], channel)  # flat at the start: led, as on its page
        grey = ctx.model.grey
        return {
            k: ctx.job(
                [c], param=PRECONDITIONINGS["fourier"][1] if grey and p.decorrelate else p,
                transforms=self.transforms(ctx), snapshot_steps=self.steps(ctx),
            )
            for k, (_, p) in PRECONDITIONINGS.items()
        }

    def channel_jobs(self, ctx: PlanContext, channel: int) -> list[VisJob]:
        return list(self.param_jobs(ctx, channel).values())

    def number_keys(self) -> tuple[str, ...]:
        return ("channel", *(f"{m}.{k}" for k in PRECONDITIONINGS for m in ("hf", "objective")))

    def numbers(self, ctx: DrawContext) -> dict[str, Any]:
        v = self.view(ctx)
        out: dict[str, Any] = {"channel": v["unit"]}
        for row in v["rows"]:
            out[f"hf.{row['kind']}"] = row["cells"][-1].high_freq
            out[f"objective.{row['kind']}"] = row["cells"][-1].objective
        return out

    def view(self, ctx: DrawContext) -> dict[str, Any]:
        channel = self.ready_channel(ctx)
        steps = self.steps(ctx)
        rows = []
        for kind, job in self.param_jobs(ctx, channel).items():
            cells = [ctx.view(job, snapshot=s, label=counted(s, "step")) for s in steps]
            rows.append({"kind": kind, "label": PRECONDITIONINGS[kind][0], "cells": cells})
        return {
            "rows": rows,
            "steps": steps,
            "unit": self.unit(channel),
            "grey": ctx.model.grey,
            "transforms": describe_transforms(self.transforms(ctx)),
            "href": ctx.layer_link(self.options["layer"], channel),
        }
