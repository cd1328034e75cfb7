"""`circuit`: a channel and its strongest inputs as a small graph (the Distill Circuits thread's
way): thumbnails as nodes, the measured weights as edge widths (blue excites, red inhibits), drawn
in SVG from the circuits measured before rendering. `layout` (with outputs on the right) and the
`circuit_graph` macro of templates/macros.html draw a channel page's circuit too.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from generator.config.schema import Option, whole
from generator.figures.base import OneChannelFigure
from generator.figures.channel import circuit_nodes, no_circuit_reason, strongest_inputs
from generator.figures.context import DrawContext

NODE = 64  # px, a thumbnail node
GAP = 14  # px between input nodes
HEADER = 22  # px above the columns for their layers' names, one line of them
LINE = 14  # px, each further line of names where they would overlap on one
CHAR = 6.7  # px, the width of a character of the names (11 px monospace)
WIDTH = 420  # px, the drawing
MAX_EDGE = 10.0  # px, the strongest edge


def _column(
    nodes: list[dict[str, Any]], x: float, box: tuple[float, float], strongest: float,
    edge: Callable[[float], tuple[float, float, float, float]],
) -> list[dict[str, Any]]:
    """`nodes` in a column at `x`, centred in `box` (the header's height, the drawing's), each
    with its edge to the channel (`edge`: a node's top y -> the line's ends) as wide as its
    weight relative to `strongest`."""
    header, height = box
    top = header + (height - header - (len(nodes) * NODE + (len(nodes) - 1) * GAP)) / 2
    out = []
    for k, node in enumerate(nodes):
        y = top + k * (NODE + GAP)
        x1, y1, x2, y2 = edge(y)
        out.append({
            **node, "x": x, "y": y, "output": x > 0,
            "edge": {
                "x1": x1, "y1": y1, "x2": x2, "y2": y2,
                "width": max(0.5, MAX_EDGE * abs(node["weight"]) / strongest),
                "sign": "pos" if node["weight"] > 0 else "neg",
            },
        })
    return out


def layout(
    inputs: list[dict[str, Any]], target: dict[str, Any],
    outputs: Sequence[dict[str, Any]] = (),
) -> dict[str, Any]:
    """Positions: inputs in a column on the left, the channel on the right (in the centre when
    there are `outputs`, a column on the right), an edge between each node and the channel as
    wide as its weight relative to the strongest of its side."""
    n = max(len(inputs), len(outputs), 1)
    tx = (WIDTH - NODE) / 2 if outputs else WIDTH - NODE
    headers = _lines([  # above each column its layer when all its nodes share one, the channel
        {"x": x, "anchor": anchor, "text": text}
        for x, anchor, column in ((0.0, "start", inputs), (WIDTH, "end", outputs))
        if (text := _layer_of(column))
    ] + [{"x": tx + NODE / 2, "anchor": "middle", "text": target["unit"]} if outputs
         else {"x": WIDTH, "anchor": "end", "text": target["unit"]}])
    header = HEADER + LINE * max((h["line"] for h in headers), default=0)
    height = header + n * NODE + (n - 1) * GAP
    ty = header + (height - header - NODE) / 2
    mid = ty + NODE / 2

    def strongest(nodes: Sequence[dict[str, Any]]) -> float:
        return max((abs(i["weight"]) for i in nodes), default=1.0) or 1.0

    left = _column(_labelled(inputs), 0, (header, height), strongest(inputs),
                   lambda y: (NODE, y + NODE / 2, tx, mid))
    right = _column(_labelled(outputs), WIDTH - NODE, (header, height), strongest(outputs),
                    lambda y: (tx + NODE, mid, WIDTH - NODE, y + NODE / 2))
    for h in headers:
        h["y"] = HEADER - 6 + LINE * h["line"]
    return {"nodes": left + right, "target": {**target, "x": tx, "y": ty}, "width": WIDTH,
            "height": height, "size": NODE, "headers": headers}


def _lines(headers: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each header with the first line (from 0) on which it overlaps no other header there, its
    width estimated from its characters."""
    placed: list[tuple[int, float, float]] = []  # (line, left, right)
    for h in headers:
        width = len(h["text"]) * CHAR
        left = h["x"] - {"start": 0.0, "middle": width / 2, "end": width}[h["anchor"]]
        h["line"] = next(line for line in range(len(headers)) if not any(
            at == line and left < b + CHAR and a < left + width + CHAR for at, a, b in placed))
        placed.append((h["line"], left, left + width))
    return headers


def _layer_of(nodes: Sequence[dict[str, Any]]) -> str | None:
    """The one layer of `nodes` (units `LAYER:CHANNEL`), or None when they are of several."""
    layers = {node["unit"].rsplit(":", 1)[0] for node in nodes}
    return layers.pop() if len(layers) == 1 else None


def _labelled(nodes: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each node with the label drawn on it: its channel number under a column header that names
    their one layer, else its whole unit."""
    shared = _layer_of(nodes) is not None
    return [{**node, "label": node["unit"].rsplit(":", 1)[1] if shared else node["unit"]}
            for node in nodes]


class CircuitFigure(OneChannelFigure):
    """A channel and the channels of the previous visualized layer that drive it most."""

    type = "circuit"
    DEFAULT_LAYOUT = "text"
    OPTIONS = {**OneChannelFigure.OPTIONS, "inputs": Option(whole(1, 8), 3)}

    def view(self, ctx: DrawContext) -> dict[str, Any]:
        layer = self.options["layer"]
        channel = self.ready_channel(ctx)
        job = self.channel_jobs(ctx, channel)[0]
        k = self.options["inputs"]
        circuit = ctx.circuit_of(layer, channel, k)
        inputs: list[dict[str, Any]] = []
        if circuit is not None and circuit.inputs_layer:
            inputs = circuit_nodes(ctx, circuit.inputs_layer, strongest_inputs(circuit, k))
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
            "why": no_circuit_reason(ctx, layer),
        }
