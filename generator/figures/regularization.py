"""`regularization`: pixel optimization under several regularizers, with the high-frequency share.
"""

from __future__ import annotations

from typing import Any

from generator.config.schema import Invalid, Option, numbers
from generator.core.errors import choices_hint
from generator.figures.base import OneChannelFigure
from generator.figures.channels import scaled_transforms
from generator.figures.checks import photo_high_freq
from generator.figures.context import DrawContext, PlanContext
from generator.jobs import VisJob
from generator.optvis import objectives as obj
from generator.optvis.param import ParamSpec
from generator.optvis.transforms import TransformSpec

REGULARIZERS = ("unregularized", "l1", "tv", "blur", "jitter", "robust")
REGULARIZER_LABELS = {
    "unregularized": "Unregularized",
    "l1": "L1 penalty",
    "tv": "Total variation",
    "blur": "Blur penalty",
    "jitter": "Jitter only",
    "robust": "Transformation robustness",
}


DEFAULT_STRENGTHS: dict[str, tuple[float, ...]] = {
    "l1": (2.0, 10.0, 50.0),
    "tv": (10.0, 50.0, 250.0),
    "blur": (300.0, 3000.0, 30000.0),
    "jitter": (2.0, 4.0, 8.0),  # pixels
    "robust": (0.5, 1.0, 2.0),
}


def _strengths(v: Any) -> dict[str, tuple[float, ...]]:
    if not isinstance(v, dict):
        raise Invalid(
            f"must map regularizers to lists of strengths, e.g. {{tv: [10, 50]}}, not {v!r}"
        )
    out = {}
    for k, values in v.items():
        if k not in DEFAULT_STRENGTHS:
            raise Invalid(
                f"names unknown regularizer '{k}' ({choices_hint(str(k), DEFAULT_STRENGTHS)})"
            )
        out[k] = numbers(values)
    return out


class Regularization(OneChannelFigure):
    """The spectrum of regularization on a naive pixel parameterization, with the measured share
    of high-frequency energy under every image."""

    type = "regularization"
    OPTIONS = {**OneChannelFigure.OPTIONS, "strengths": Option(_strengths, {})}
    BASE = ParamSpec(kind="pixel", decorrelate=False)

    def strengths(self, ctx: PlanContext, kind: str) -> tuple[float, ...]:
        values = self.options["strengths"].get(kind, DEFAULT_STRENGTHS[kind])
        # a preset's figure scale keeps fewer, but never less than the weakest and the strongest:
        # the column's point, and what `hf.KIND.weakest` and `.strongest` quote
        keep = max(min(2, len(values)), ctx.scaled(len(values)))
        if keep >= len(values):
            return values
        return tuple(values[round(i * (len(values) - 1) / max(keep - 1, 1))] for i in range(keep))

    def cells(self, ctx: PlanContext, channel: int) -> dict[str, list[tuple[str, VisJob]]]:
        layer, size = self.options["layer"], ctx.preset.size
        c = ctx.led(layer, channel)  # flat at the start: led, as on its page
        plain = {"param": self.BASE, "transforms": TransformSpec.none()}
        out: dict[str, list[tuple[str, VisJob]]] = {"unregularized": [("", ctx.job([c], **plain))]}
        penalty = {"l1": obj.l1, "tv": obj.total_variation, "blur": obj.blur}
        for kind, make in penalty.items():
            out[kind] = [
                (f"{s:g}", ctx.job([c - s * make()], **plain)) for s in self.strengths(ctx, kind)
            ]
        pixels = dict.fromkeys(max(1, round(s)) for s in self.strengths(ctx, "jitter"))
        out["jitter"] = [
            (f"{px} px", ctx.job([c], param=self.BASE, transforms=TransformSpec.jitter_only(px)))
            for px in pixels
        ]
        out["robust"] = [
            (f"×{s:g}", ctx.job([c], param=self.BASE, transforms=scaled_transforms(size, s)))
            for s in self.strengths(ctx, "robust")
        ]
        return out

    def channel_jobs(self, ctx: PlanContext, channel: int) -> list[VisJob]:
        return [job for row in self.cells(ctx, channel).values() for _, job in row]

    def number_keys(self) -> tuple[str, ...]:
        keys = ["channel", "hf.unregularized"]
        for kind in REGULARIZERS[1:]:
            keys += [f"hf.{kind}.weakest", f"hf.{kind}.strongest"]
        return (*keys, "hf.photos")

    def numbers(self, ctx: DrawContext) -> dict[str, Any]:
        v = self.view(ctx)
        out: dict[str, Any] = {"channel": v["unit"], "hf.photos": photo_high_freq(ctx)}
        for row in v["rows"]:
            images = [cell["image"] for cell in row["cells"]]
            if row["kind"] == "unregularized":
                out["hf.unregularized"] = images[0].high_freq
            else:
                out[f"hf.{row['kind']}.weakest"] = images[0].high_freq
                out[f"hf.{row['kind']}.strongest"] = images[-1].high_freq
        return out

    def view(self, ctx: DrawContext) -> dict[str, Any]:
        channel = self.ready_channel(ctx)
        rows = []
        for kind, cells in self.cells(ctx, channel).items():
            rows.append(
                {
                    "kind": kind,
                    "label": REGULARIZER_LABELS[kind],
                    "cells": [{"strength": s, "image": ctx.view(job, label=s)} for s, job in cells],
                }
            )
        return {
            "rows": rows,
            "unit": self.unit(channel),
            "href": ctx.layer_link(self.options["layer"], channel),
        }
