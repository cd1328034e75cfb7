"""`circuit`: a channel and its strongest inputs as a small graph (the Distill Circuits thread's
way): thumbnails as nodes, the measured weights as edge widths (blue excites, red inhibits), drawn
in SVG from the circuits measured before rendering.
"""

from __future__ import annotations

from typing import Any

from generator.config.schema import Option, whole
from generator.figures.base import OneChannelFigure
from generator.figures.channel import circuit_nodes
from generator.figures.context import DrawContext, PlanContext
from generator.jobs import VisJob

NODE = 64  # px, a thumbnail node
GAP = 14  # px between input nodes
WIDTH = 420  # px, the drawing
MAX_EDGE = 10.0  # px, the strongest edge


def layout(inputs: list[dict[str, Any]], target: dict[str, Any]) -> dict[str, Any]:
    """Positions: inputs in a column on the left, the channel on the right, an edge from each
    input to it as wide as its weight relative to the strongest."""
    n = max(len(inputs), 1)
    height = n * NODE + (n - 1) * GAP
    strongest = max((abs(i["weight"]) for i in inputs), default=1.0) or 1.0
    tx, ty = WIDTH - NODE, (height - NODE) / 2
    nodes = []
    for k, node in enumerate(inputs):
        y = k * (NODE + GAP)
        nodes.append(
            {
                **node,
                "x": 0,
                "y": y,
                "edge": {
                    "x1": NODE,
                    "y1": y + NODE / 2,
                    "x2": tx,
                    "y2": ty + NODE / 2,
                    "width": max(0.5, MAX_EDGE * abs(node["weight"]) / strongest),
                    "sign": "pos" if node["weight"] > 0 else "neg",
                },
            }
        )
    return {"nodes": nodes, "target": {**target, "x": tx, "y": ty}, "width": WIDTH,
            "height": height, "size": NODE}


class CircuitFigure(OneChannelFigure):
    """A channel and the channels of the previous visualized layer that drive it most."""

    type = "circuit"
    DEFAULT_LAYOUT = "text"
    OPTIONS = {**OneChannelFigure.OPTIONS, "inputs": Option(whole(1, 8), 3)}

    def channel_jobs(self, ctx: PlanContext, channel: int) -> list[VisJob]:
        return [ctx.channel_job(self.options["layer"], channel)]

    def view(self, ctx: DrawContext) -> dict[str, Any]:
        layer = self.options["layer"]
        channel = self.ready_channel(ctx)
        job = self.channel_jobs(ctx, channel)[0]
        k = self.options["inputs"]
        circuit = ctx.circuit_of(layer, channel, k)
        inputs: list[dict[str, Any]] = []
        if circuit is not None and circuit.inputs_layer:
            links = sorted(
                [*circuit.positive, *circuit.negative], key=lambda link: -abs(link.weight)
            )[:k]
            inputs = circuit_nodes(ctx, circuit.inputs_layer, links)
        target = {
            "unit": self.unit(channel),
            "thumb": ctx.view(job, label=self.unit(channel)),
            "href": ctx.channel_link(layer, channel),
        }
        return {
            "unit": self.unit(channel),
            "method": circuit.method if circuit else None,
            "inputs_layer": circuit.inputs_layer if circuit else None,
            "graph": layout(inputs, target),
        }
