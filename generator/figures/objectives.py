"""`objectives`: neuron, channel, layer (DeepDream), class logit and class probability side by side.
"""

from __future__ import annotations

from typing import Any

from generator.config.schema import Option
from generator.core.errors import FeatvisError
from generator.figures.base import Figure, OneChannelFigure
from generator.figures.context import DrawContext, MissingArtifact, PlanContext
from generator.figures.options import _class
from generator.jobs import VisJob
from generator.models.base import LoadedModel
from generator.optvis import objectives as obj


class Objectives(OneChannelFigure):
    """What to optimize: neuron, channel, whole layer (DeepDream), class logit and probability.
    The class, unless given, is the one the channel's own visualization drives hardest."""

    type = "objectives"
    OPTIONS = {**OneChannelFigure.OPTIONS, "class": Option(_class, "auto")}
    KINDS = ("neuron", "channel", "layer", "class_logit", "class_prob")
    LABELS = {
        "neuron": "Neuron",
        "channel": "Channel",
        "layer": "Layer (DeepDream)",
        "class_logit": "Class logit",
        "class_prob": "Class probability",
    }

    def bind(self, model: LoadedModel) -> Figure:
        super().bind(model)
        if self.options["class"] != "auto":
            try:
                model.class_index(self.options["class"])
            except FeatvisError as exc:
                raise self.fail("class", str(exc).split(": ", 1)[-1]) from None
        return self

    def class_index(self, ctx: PlanContext, channel: int) -> int | None:
        if self.options["class"] == "auto":
            return ctx.top_class(ctx.channel_job(self.options["layer"], channel))
        return ctx.model.class_index(self.options["class"])

    def class_reads(self, ctx: PlanContext) -> list[VisJob]:
        channel = self.channel(ctx) if self.options["class"] == "auto" else None
        return [] if channel is None else [ctx.channel_job(self.options["layer"], channel)]

    def objective_jobs(self, ctx: PlanContext, channel: int, cls: int) -> dict[str, VisJob]:
        layer = self.options["layer"]
        made = {
            "neuron": obj.neuron(layer, channel, via=ctx.lead(layer, channel)),  # led there
            "channel": ctx.led(layer, channel),  # flat at the start: led, as on its page
            "layer": obj.deepdream(layer),
            "class_logit": obj.class_logit(cls),
            "class_prob": obj.class_prob(cls),
        }
        return {k: ctx.job([o]) for k, o in made.items()}

    def channel_jobs(self, ctx: PlanContext, channel: int) -> list[VisJob]:
        cls = self.class_index(ctx, channel)
        if cls is None:  # the class is read from the channel's visualization, computed first
            return [ctx.channel_job(self.options["layer"], channel)]
        return list(self.objective_jobs(ctx, channel, cls).values())

    def number_keys(self) -> tuple[str, ...]:
        return ("channel", "band", "class", *(f"objective.{k}" for k in self.KINDS))

    def numbers(self, ctx: DrawContext) -> dict[str, Any]:
        v = self.view(ctx)
        out = {"channel": v["unit"], "band": ctx.model.layer(self.options["layer"]).band,
               "class": v["class_name"]}
        out.update({f"objective.{c['kind']}": c["image"].objective for c in v["cells"]})
        return out

    def view(self, ctx: DrawContext) -> dict[str, Any]:
        channel = self.ready_channel(ctx)
        cls = self.class_index(ctx, channel)
        if cls is None:
            raise MissingArtifact(self.jobs(ctx))
        jobs = self.objective_jobs(ctx, channel, cls)
        name = ctx.model.class_name(cls)
        numbered = not ctx.model.class_names and ctx.model.untrained  # "Output logit"
        labels = {k: v.replace("Class", "Output") if numbered else v
                  for k, v in self.LABELS.items()}
        # what a class cell optimized: "logit of class 11 (goldfinch)", "class 12", "output 207"
        of = f"class {cls} ({name})" if ctx.model.class_names else name
        whats = {"class_logit": f"logit of {of}", "class_prob": f"log-probability of {of}"}
        cells = [
            {
                "kind": k,
                "label": labels[k],
                "what": whats.get(k) or jobs[k].objectives[0].describe(ctx.shown),
                "image": ctx.view(jobs[k], label=labels[k]),
            }
            for k in self.KINDS
        ]
        return {
            "cells": cells,
            "unit": self.unit(channel),
            "class_name": name,
            # "class tench", "class 12" (a head without names), "output 207" (untrained)
            "class_label": f"class {name}" if ctx.model.class_names else name,
            "href": ctx.layer_link(self.options["layer"], channel),
        }
