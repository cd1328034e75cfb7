"""Channel pages: `explorer/<model>/<layer>/<channel>.html` for every channel the explorer shows.

A page shows the channel's visualization, its negative, its filter (a layer affine in the pixels)
and (when the cache has one) its diversity set, each with the numbers the build measured; with
photos, the top and bottom photos (the crop around the peak for layers whose receptive field is
small, the whole photo otherwise) with their activations, the distribution of the channel's mean
activation over the scan's sample, the pattern agreement and the two-alternative scores (how well
its pictures and its photos predict which of two photos excites it,
`generator.measure.legibility`); its circuit (read from the circuits the build measured before
rendering); its label. It links to its layer, the previous and next channel and the model.
Nothing here runs the network: every number comes from the cache, the dataset index or the
circuits.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from generator.atlas.circuits import BlockInputs, ChannelCircuit, Link
from generator.atlas.closure import CIRCUIT_LINKS, circuit_in
from generator.atlas.hierarchy import load_hierarchy
from generator.atlas.search import channel_classes
from generator.atlas.site import Accented
from generator.core.errors import FeatvisError
from generator.core.images import grey, to_pil
from generator.core.urls import channel_url, layer_file
from generator.dataset.folder import load_view
from generator.figures.channel import top_photo
from generator.figures.channels import led_by, single_channel
from generator.figures.circuit import layout
from generator.figures.context import ImageView
from generator.jobs import VisJob
from generator.models.preact import (
    branch_of,
    floor_of,
    negative_of,
    no_negative_reason,
    passed_channels,
    passed_from,
    per_channel,
)
from generator.plan.explorer import channel_page_jobs
from generator.site.state import ModelState, RenderState

HISTOGRAM_BINS = 24
GRAPH_NODES = 6  # the strongest inputs and outputs the circuit's graph draws (each side)
METHOD_TEXT = {
    "attribution": "attribution: the gradient of this channel's mean activation with respect to "
    "each input channel, times the size of that activation, averaged over the input images",
    "weights": "weights: the summed kernel of the convolution between the two layers",
}
PAGE_PREFIX = "../../../"


def histogram(values: Sequence[float], bins: int = HISTOGRAM_BINS) -> dict[str, Any] | None:
    """Bars (each a share of the tallest, 0..1) of `values` over `bins` equal bins; values that
    are not finite (a network whose activations overflow on some photos) are left out."""
    values = [v for v in values if math.isfinite(v)]
    if len(values) < 2:
        return None
    lo, hi = min(values), max(values)
    width = (hi - lo) / bins or 1.0
    if not math.isfinite(width):
        return None
    counts = [0] * bins
    for v in values:
        counts[min(int((v - lo) / width), bins - 1)] += 1
    ordered = sorted(values)
    return {
        "bars": [c / max(counts) for c in counts],
        "counts": counts,
        "min": lo,
        "max": hi,
        "median": ordered[len(ordered) // 2],
        "n": len(values),
    }


def block_text(block: BlockInputs, previous: str | None) -> str:
    """Which inputs a channel's block has, in words (the page's and the manifest's reading)."""
    parts = block.parts
    if len(parts) == 1:
        text = f"Its layer's module receives the output of {parts[0].name}"
    else:
        ranges = ", ".join(
            f"{p.name} (channels {p.start}-{p.start + p.channels - 1})" for p in parts
        )
        text = f"Its layer's module receives, joined along the channels, {ranges}"
    if block.residual:
        text += " and is a residual block: it adds that input to what it computes from it"
    if not block.measured and previous is not None and parts[0].layer == previous:
        return text + f"; so the channels of {previous} above are the block's inputs."
    return text + "."


def _strongest(nodes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The `GRAPH_NODES` strongest of a side's circuit edges, strongest first."""
    return sorted(nodes, key=lambda node: -abs(node["weight"]))[:GRAPH_NODES]


def deeper(view: ImageView) -> ImageView:
    """A layer page's image as a channel page (one folder deeper) links it."""
    return replace(view, url="../" + view.url)


class ChannelPagesPart(RenderState):
    """Writes the channel pages and keeps, per channel, what the manifest and search need."""

    def _accent_photo(self, state: ModelState, item: Accented) -> str:
        """The photo of an accentuation in the site, decoded and written once per photo (many
        channels share their top photos)."""
        key = f"accent-photo|{item.job.photo}|{state.model.input_size}" + (
            "|grey" if state.model.grey else ""
        )
        if key not in self.images.patches:
            view = load_view(item.photo, state.model.input_size).float() / 255
            if state.model.grey:  # as the network saw it
                view = grey(view)
            self.images.patch(key, to_pil(view), "dataset", photo=True)
        return state.ctx.prefix + self.images.patches[key]

    def _accent_image(self, state: ModelState, item: Accented) -> str:
        """The accentuated image in the site: the cache's PNG copied as it is when there is
        one (no decoding, no encoding), else encoded from the result."""
        key = f"accent|{item.job.key}"
        if key not in self.images.patches:
            if item.image_path is not None and item.image_path.is_file():
                rel = f"images/accent/{item.job.key}.png"
                self.writer.link(item.image_path, rel, "accent image")
                self.images.patches[key] = rel
            else:
                self.images.patch(key, to_pil(item.result.image), "accent")
        return state.ctx.prefix + self.images.patches[key]

    def _accented(self, state: ModelState, layer: str, channel: int) -> list[dict[str, Any]]:
        """The channel's accentuated top photos: the photo and the image, with the activation
        and pattern agreement the build measured of each."""
        return [
            {
                "photo": self._accent_photo(state, item),
                "image": self._accent_image(state, item),
                "name": state.ctx.dataset.shown_name(item.photo)
                if state.ctx.dataset else item.photo.name,
                "numbers": item.result.numbers(),
            }
            for item in state.accents.get((layer, channel), [])
        ]

    def circuit_of(self, state: ModelState, layer: str, channel: int) -> ChannelCircuit | None:
        """The channel's circuit: the measured pairs, and its block's inputs when they were
        probed."""
        return circuit_in(state.circuits, layer, channel, CIRCUIT_LINKS)

    def _job_of(self, state: ModelState, layer: str, channel: int) -> VisJob | None:
        """The explorer's job of a channel (None: it has no page), from an index built once."""
        index = state.job_index
        if index is None:
            index = {}
            for jobs in state.layers.values():
                for job in jobs:
                    unit = single_channel(job)
                    if unit is not None:
                        index.setdefault(unit, job)
            state.job_index = index
        return index.get((layer, channel))

    def _links(
        self, state: ModelState, layer: str | None, links: Sequence[Link]
    ) -> list[dict[str, Any]]:
        """Circuit edges as a page shows them: the channel's thumbnail and a link where it has a
        page, else its top photo where the layer was scanned; its weight always."""
        out = []
        for link in links:
            layer = link.layer or layer
            job = self._job_of(state, layer, link.channel) if layer else None
            unit = f"{layer}:{link.channel}"
            photo = None if job is not None else top_photo(state.ctx, layer, link.channel)
            out.append(
                {
                    "layer": layer,
                    "channel": link.channel,
                    "unit": unit,
                    "weight": link.weight,
                    "label": state.labels.get((layer, link.channel)) if layer else None,
                    "href": state.ctx.prefix + channel_url(state.model.slug, layer, link.channel)
                    if job is not None and layer
                    else None,
                    "thumb": state.ctx.view(job, label=unit) if job is not None else photo,
                    "photo": photo is not None,
                }
            )
        return out

    def _circuit_view(
        self, state: ModelState, circuit: ChannelCircuit | None, image: ImageView
    ) -> dict[str, Any] | None:
        if circuit is None:
            return None
        incoming = state.circuits.get((circuit.inputs_layer or "", circuit.layer))
        view: dict[str, Any] = {
            "method": circuit.method,
            "method_text": METHOD_TEXT.get(circuit.method or "", ""),
            "inputs_layer": circuit.inputs_layer,
            "positive": self._links(state, circuit.inputs_layer, circuit.positive),
            "negative": self._links(state, circuit.inputs_layer, circuit.negative),
            "outputs_layer": circuit.outputs_layer,
            "outputs_method": circuit.outputs_method,
            "outputs_among": circuit.outputs_among,
            "outputs": self._links(state, circuit.outputs_layer, circuit.outputs),
            "outputs_negative": self._links(state, circuit.outputs_layer, circuit.outputs_negative),
            "block": self._block_view(state, circuit),
            "inputs_measured": incoming is None or incoming.has_row(circuit.channel),
            "graph": None,
        }
        block = view["block"] or {}
        inputs = (view["positive"] + view["negative"]) or (
            block.get("positive", []) + block.get("negative", [])
        )
        outputs = view["outputs"] + view["outputs_negative"]
        if inputs or outputs:
            view["graph"] = layout(
                _strongest(inputs),
                {"unit": f"{circuit.layer}:{circuit.channel}", "thumb": image, "href": None},
                _strongest(outputs),
            )
        return view

    def _block_view(self, state: ModelState, circuit: ChannelCircuit) -> dict[str, Any] | None:
        block = circuit.block
        if block is None:
            return None
        return {
            "text": block_text(block, circuit.inputs_layer),
            "measured": block.measured,
            "positive": self._links(state, None, block.positive),
            "negative": self._links(state, None, block.negative),
        }

    def _extras(
        self, state: ModelState, layer: str, channel: int, where: str
    ) -> tuple[dict[str, list[ImageView]], list[str]]:
        """The negative and diversity images the cache holds for the channel, and the names of
        those the site does not make (a channel a figure chose or surveyed, outside the
        explorer's sample and the pages articles link to: `plan.explorer`)."""
        out: dict[str, list[ImageView]] = {}
        unmade: list[str] = []
        jobs = channel_page_jobs(state.ctx, layer, channel)
        for name, job in jobs.items():
            art = state.ctx.artifact(job)
            if art is None:
                if job.key in state.planned:  # the preview draws the page again when it lands
                    state.extras_waiting.setdefault(layer, {}).setdefault(where, []).append(job)
                else:  # not planned (a build computes everything it plans)
                    unmade.append(name)
                continue
            self._use(job, where)
            out[name] = [
                state.ctx.view(job, i, label=name if job.n_images == 1 else f"{name} {i + 1}")
                for i in range(job.n_images)
            ]
        return out, unmade

    def _distribution(self, state: ModelState, layer: str, channel: int) -> dict[str, Any] | None:
        ds = state.ctx.dataset
        if ds is None or layer not in ds.layer_names:
            return None
        try:
            values = ds.sample_means(layer, channel).tolist()
        except (FeatvisError, KeyError):
            return None
        return histogram(values)

    def _write_channel_pages(
        self, state: ModelState, pages: Mapping[str, Sequence[dict[str, Any]]]
    ) -> None:
        self._set_prefix(PAGE_PREFIX)
        state.job_index = None  # the inventory may have changed since the last draw
        template = self.env.get_template("explorer_channel.html")
        common = self._common(state, PAGE_PREFIX)
        for layer, channels in pages.items():
            info = state.model.layer(layer)
            state.extras_waiting.pop(layer, None)  # recorded again as the pages are drawn
            for i, ch in enumerate(channels):
                self._write_channel_page(state, template, common, info, ch, channels, i)

    def _write_channel_page(
        self,
        state: ModelState,
        template: Any,
        common: Mapping[str, Any],
        info: Any,
        ch: dict[str, Any],
        channels: Sequence[dict[str, Any]],
        i: int,
    ) -> None:
        layer, channel = info.name, ch["channel"]
        url = channel_url(state.model.slug, layer, channel)
        circuit = self.circuit_of(state, layer, channel)
        extras, unmade = self._extras(state, layer, channel, url)
        label = state.labels.get((layer, channel))
        accented = self._accented(state, layer, channel)
        state.channel_info[(layer, channel)] = {
            "page": url,
            "thumbnail": ch["image"].url.removeprefix("../../"),
            "circuit": circuit.to_dict() if circuit else None,
            "labels": [label] if label else [],
            "classes": self._classes(state, layer, channel, ch.get("reading")),
            "accentuation": [
                {
                    "photo": a["photo"].removeprefix(PAGE_PREFIX),
                    "image": a["image"].removeprefix(PAGE_PREFIX),
                    **a["numbers"],
                }
                for a in accented
            ],
            "legibility": self._legibility(state, layer, channel),
        }
        before = negative_of(state.model, layer, channel)  # where its negative is minimized
        source = passed_from(state.model, layer)  # the layer whose channel it may be, untouched
        there = passed_channels(state.model, layer).get(channel) if source else None
        text = template.render(
            **common,
            layer=info,
            channel=channel,
            label=label,
            image=deeper(ch["image"]),
            extras=extras,
            unmade=unmade,
            top=[deeper(v) for v in ch["top"]],
            bottom=[deeper(v) for v in ch["bottom"]],
            floor=ch.get("floor"),
            negative_at=None if before is None else before[0],
            floored_by=floor_of(state.model, layer),  # what the network floors the layer with
            led_by=led_by(ch["job"]),
            branch=None if before is None else branch_of(state.model, *before),
            per_channel=per_channel(state.model, layer) is not None,
            filter=self._filter_view(state, layer, ch.get("filter")),
            no_negative=no_negative_reason(state.model, layer, channel),
            passed=None if there is None else self._links(state, source, [Link(there, 0.0)])[0],
            dead=self._dead_view(state, layer, channel) if ch.get("dead") else None,
            agreement=ch["agreement"],
            reading=ch["reading"],
            legibility=state.measures.legibility.get((layer, channel)),
            distribution=self._distribution(state, layer, channel),
            circuit=self._circuit_view(state, circuit, deeper(ch["image"])),
            accented=accented,
            whole=self._whole(state, layer),
            layer_href="../" + layer_file(layer),
            prev=channels[i - 1]["channel"] if i > 0 else None,
            next=channels[i + 1]["channel"] if i + 1 < len(channels) else None,
        )
        self.writer.text(url, text, f"channel page {layer}:{channel}")

    def _filter_view(
        self, state: ModelState, layer: str, url: str | None
    ) -> dict[str, Any] | None:
        """The channel's filter (a layer affine in the pixels), as its layer page drew it."""
        filters = state.measures.filters.get(layer)
        if url is None or filters is None:
            return None
        return {"url": "../" + url, "size": filters.shape[-1]}

    def _legibility(self, state: ModelState, layer: str, channel: int) -> dict[str, Any] | None:
        """The channel's two-alternative scores as the manifest records them."""
        v = state.measures.legibility.get((layer, channel))
        if v is None:
            return None
        return {"pictures": v.pictures, "photos": v.photos, "trials": v.trials,
                "judge": v.judge, "judge_layers": list(v.layers), "same_network": v.same}

    def _dead_view(self, state: ModelState, layer: str, channel: int) -> dict[str, Any]:
        """What a dead channel's page says: its one value, and whether photos confirm it."""
        ds = state.ctx.dataset
        photos = ds is not None and layer in ds.layer_names
        value = ds.max_activation(layer, channel) if ds is not None and photos else None
        return {"value": value, "photos": photos}

    def _classes(
        self, state: ModelState, layer: str, channel: int, reading: Any
    ) -> list[tuple[str, float]]:
        """The classes that drive the channel, for the search: its top photos' (by folder or
        wnid) and the model's readings where it names classes (an untrained network's numbered
        outputs are classes of nothing), each with its strength."""
        ds, top = state.ctx.dataset, []
        if ds is not None and layer in ds.layer_names:
            top = [(Path(e.path).relative_to(ds.root).as_posix(), e.activation)
                   for e in ds.examples(layer, channel, "top")]
        named = reading and state.model.class_names
        readings = [reading.photo, *reading.picture] if named else []
        return channel_classes(top, readings, load_hierarchy())

    def _whole(self, state: ModelState, layer: str) -> bool:
        ds = state.ctx.dataset
        if ds is None or layer not in ds.layer_names:
            return True
        return bool(ds.receptive_field(layer).whole)
