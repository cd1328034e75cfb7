"""`channel`: one channel's card, as on its explorer page: its visualization, its top photos
and the thumbnails of the channels that drive it most (from the circuits measured before
rendering), each linking to its channel page where the explorer has one.
"""

from __future__ import annotations

from typing import Any

from generator.atlas.circuits import ChannelCircuit, Link
from generator.config.schema import Option, whole
from generator.figures.base import OneChannelFigure
from generator.figures.checks import dataset_examples
from generator.figures.context import DrawContext, ImageView


def top_photo(ctx: DrawContext, layer: str | None, channel: int) -> ImageView | None:
    """The channel's top photo crop, as a circuit shows a channel it has no visualization of
    (None without photos of `layer`)."""
    shown = dataset_examples(ctx, layer, channel, "top", 1) if layer else []
    return shown[0] if shown else None


def strongest_inputs(circuit: ChannelCircuit | None, k: int) -> list[Link]:
    """The `k` inputs that drive `circuit`'s channel most, by the size of their weight,
    strongest first: what the `inputs` of a card and of a circuit figure count."""
    if circuit is None or not circuit.inputs_layer:
        return []
    return sorted([*circuit.positive, *circuit.negative], key=lambda link: -abs(link.weight))[:k]


def no_circuit_reason(ctx: DrawContext, layer: str) -> str:
    """Why `layer` has no measured inputs, as a figure says under itself: circuits are measured
    from each explorer layer to the next, so a layer the explorer does not show has none, and
    neither has the explorer's first."""
    shown = list(ctx.explorer_channels)
    if layer not in ctx.explorer_channels:
        return (
            f"circuits are measured between the explorer's layers ({', '.join(shown)}), "
            f"and {layer} is not one of them"
            if shown
            else "circuits are measured between the explorer's layers, and it has none"
        )
    return (
        f"{layer} is the explorer's first layer: its inputs would need a visualized layer "
        "before it"
    )


def circuit_nodes(ctx: DrawContext, layer: str | None, links: Any) -> list[dict[str, Any]]:
    """Circuit edges as figures draw them: the channel, its weight, its thumbnail when its
    standard visualization is in the cache (else its top photo: `photo`), and its page when the
    explorer has one."""
    out = []
    for link in links:
        job = ctx.channel_job(layer, link.channel) if layer else None
        has = job is not None and ctx.artifact(job) is not None
        photo = None if has else top_photo(ctx, layer, link.channel)
        out.append(
            {
                "unit": f"{layer}:{link.channel}",
                "weight": link.weight,
                "thumb": ctx.view(job, label=f"{layer}:{link.channel}") if has and job else photo,
                "photo": photo is not None,
                "href": ctx.channel_link(layer, link.channel) if layer else None,
            }
        )
    return out


class ChannelCard(OneChannelFigure):
    """One channel's visualization, top photos and strongest inputs."""

    type = "channel"
    DEFAULT_LAYOUT = "text"
    OPTIONS = {
        **OneChannelFigure.OPTIONS,
        "photos": Option(whole(0, 8), 4),
        "inputs": Option(whole(0, 8), 4),
    }

    def view(self, ctx: DrawContext) -> dict[str, Any]:
        layer = self.options["layer"]
        channel = self.ready_channel(ctx)
        job = self.channel_jobs(ctx, channel)[0]
        circuit = ctx.circuit_of(layer, channel, self.options["inputs"])
        chosen = strongest_inputs(circuit, self.options["inputs"])
        excite = [link for link in chosen if link.weight >= 0]
        inhibit = [link for link in chosen if link.weight < 0]
        return {
            "unit": self.unit(channel),
            "href": ctx.channel_link(layer, channel) or ctx.layer_link(layer),
            "image": ctx.view(job, label=self.unit(channel)),
            "top": dataset_examples(ctx, layer, channel, "top", self.options["photos"]),
            "circuit": circuit,
            "inputs": circuit_nodes(ctx, circuit.inputs_layer, excite) if circuit else [],
            "inhibitors": circuit_nodes(ctx, circuit.inputs_layer, inhibit) if circuit else [],
            # what the card was asked to show and cannot: said under it, not left out silently
            "no_photos": self.options["photos"] > 0 and ctx.dataset is None,
            "no_inputs": self.options["inputs"] > 0 and not (circuit and circuit.inputs_layer),
            "no_inputs_why": no_circuit_reason(ctx, layer),
        }
