"""The explorer: its index (every model of the site, and the compare page of a site of several),
per model the model page (a strip of thumbnails per layer) and one page per layer, each channel
with its image, photos, checks and, for a layer affine in the pixels, its filter; and the search
index over every model.
"""

from __future__ import annotations

import statistics
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from markupsafe import Markup

from generator.atlas.closure import neighbours
from generator.atlas.hierarchy import load_hierarchy
from generator.atlas.search import model_entries, search_index_js, unknown_classes
from generator.core.images import filter_image
from generator.core.urls import (
    COMPARE_PAGE,
    EXPLORER_INDEX,
    SEARCH_INDEX,
    channel_url,
    layer_file,
    layer_url,
    model_url,
)
from generator.core.words import counted, verb
from generator.figures.channels import single_channel
from generator.figures.checks import (
    LOW_AGREEMENT,
    class_reading,
    dataset_examples,
    floor_of,
    pattern_agreement,
)
from generator.figures.compare import CompareModels, compare_page
from generator.figures.context import ImageView, MissingArtifact
from generator.jobs import VisJob
from generator.measure.legibility import Verdict
from generator.models.base import LayerInfo
from generator.models.preact import floor_of as floored_by
from generator.models.preact import passed_channels, per_channel
from generator.site.channels import PAGE_PREFIX, ChannelPagesPart
from generator.site.state import ModelState

EXPLORER_EXAMPLES = 4  # dataset examples per channel on a layer page
STRIP = 8  # thumbnails per layer on the model page


def layer_summary(channels: Sequence[dict[str, Any]]) -> dict[str, Any] | None:
    """Medians over an explorer page's channels of what was measured against the photos, and the
    counts a reader should know (None when nothing was: no photos for this layer)."""
    checks = [ch["agreement"] for ch in channels if ch["agreement"] is not None]
    if not checks:
        return None
    relative = [ch["image"].relative for ch in channels if ch["image"].relative is not None]
    readings = [ch["reading"] for ch in channels if ch["reading"] is not None]
    return {
        "checked": len(checks),
        "relative": statistics.median(relative) if relative else None,
        "cosine": statistics.median(c.cosine for c in checks),
        "spearman": statistics.median(c.spearman for c in checks),
        "low": sum(c.cosine < LOW_AGREEMENT for c in checks),
        "named": sum(r.meets for r in readings),
        "read": len(readings),
    }


def layer_legibility(verdicts: Sequence[Verdict]) -> dict[str, Any] | None:
    """The mean two-alternative scores of a layer's channels (None when none was measured)."""
    if not verdicts:
        return None
    return {
        "n": len(verdicts),
        "pictures": statistics.fmean(v.pictures for v in verdicts),
        "photos": statistics.fmean(v.photos for v in verdicts),
        "trials": verdicts[0].trials,
        "judge": verdicts[0].judge,
        "same": verdicts[0].same,
    }


@dataclass
class ComparePage:
    """The compare page's figure, drawn (`html`) or lacking the jobs in `missing`."""

    figure: CompareModels
    html: Markup | None
    missing: list[VisJob]


class ExplorerPart(ChannelPagesPart):
    """Chooses the explorer's channels and writes its pages."""

    compare_drawn = False  # the compare page is drawn (a site of several models, all computed)

    def explorer_infos(self, state: ModelState) -> list[LayerInfo]:
        """The layers with an explorer page (`explorer_layers`), in the model's order."""
        return [info for info in state.model.layers if info.name in state.layers]

    def _strips(
        self, state: ModelState, summaries: dict[str, dict[str, Any] | None] | None = None
    ) -> list[dict[str, Any]]:
        """One row per layer: its numbers and a strip of thumbnails (the model page, the index),
        with the summary of its checks against the photos where `summaries` has one."""
        rows = []
        for info in self.explorer_infos(state):
            jobs = state.layers.get(info.name, [])
            thumbs = self._strip(state, jobs)
            rows.append(
                {
                    "layer": info,
                    "thumbs": thumbs,
                    "computed": len(jobs),
                    "href": layer_url(state.model.slug, info.name),
                    "file": layer_file(info.name),
                    "summary": (summaries or {}).get(info.name),
                }
            )
        return rows

    @staticmethod
    def _strip(state: ModelState, jobs: list[VisJob]) -> list[ImageView]:
        """A layer's thumbnails, at most STRIP: pictures that moved their channel first (one
        whose optimization left it at 0 shows nothing of it), each group in the layer's order."""
        moved: list[ImageView] = []
        unmoved: list[ImageView] = []
        for job in jobs:
            view = state.ctx.view(job, label=f"{single_channel(job)[1]}")  # type: ignore[index]
            (unmoved if view.unmoved else moved).append(view)
            if len(moved) == STRIP:
                break
        return (moved + unmoved)[:STRIP]

    def _write_explorer(self, state: ModelState, only: Collection[str] | None = None) -> None:
        """The model's section: its model page, a page per layer and per channel (with `only`:
        those layers' pages and their channels' alone, the other layers' summaries as drawn)."""
        self._set_prefix("../../")
        infos = self.explorer_infos(state)
        names = [info.name for info in infos]
        filters = {name: state.measures.filters.get(name) for name in names}
        pages = {
            name: [self._channel(state, job, filters[name]) for job in state.layers.get(name, [])]
            for name in names
            if only is None or name in only
        }
        state.summaries.update((name, layer_summary(chs)) for name, chs in pages.items())
        summaries = {name: state.summaries.get(name) for name in names}
        text = self.env.get_template("explorer_model.html").render(
            **self._common(state, "../../"),
            strips=self._strips(state, summaries),
            has_summaries=any(summaries.values()),
            others=[
                {"name": other.model.name or other.model.id,
                 "href": "../" + model_url(other.model.slug).removeprefix("explorer/")}
                for other in self.states if other is not state
            ],
            compare_href=(
                "../" + COMPARE_PAGE.removeprefix("explorer/") if self.compare_drawn else None
            ),
        )
        self.writer.text(model_url(state.model.slug), text, f"explorer model {state.model.id}")
        for i, info in enumerate(infos):
            if info.name not in pages:
                continue
            prev_layer = infos[i - 1] if i > 0 else None
            next_layer = infos[i + 1] if i + 1 < len(infos) else None
            channels, layer_filters = pages[info.name], filters[info.name]
            text = self.env.get_template("explorer_layer.html").render(
                **self._common(state, "../../"),
                layer=info,
                channels=channels,
                dead=len(state.ctx.dead(info.name)),
                filter_size=None if layer_filters is None else layer_filters.shape[-1],
                reads_classes=any(ch["reading"] for ch in channels),
                summary=summaries[info.name],
                legibility=layer_legibility([
                    v for ch in channels
                    if (v := state.measures.legibility.get((info.name, ch["channel"])))
                ]),
                prev=prev_layer,
                next=next_layer,
                layer_file=layer_file,
                waiting=state.waiting.get(info.name, []),
                negatives=_negatives(state, info.name),
            )
            self.writer.text(
                layer_url(state.model.slug, info.name), text, f"explorer layer {info.name}"
            )
        self._write_channel_pages(state, pages)
        self._write_waiting_pages(state, [info for info in infos if info.name in pages])
        self._set_prefix("")

    def landed_layers(self, state: ModelState) -> set[str]:
        """The preview's explorer layers to draw again now that visualizations have landed:
        those with a channel newly in the cache or a channel page's negative or diversity
        pictures, and those whose channel pages' circuits name a new channel (`state.layers` and
        `state.waiting` follow the cache)."""
        layers = {
            layer: [job for job in jobs.values() if state.ctx.artifact(job) is not None]
            for layer, jobs in state.inventory.items()
        }
        drawn = {job.key for jobs in state.layers.values() for job in jobs}
        landed = {
            unit
            for jobs in layers.values()
            for job in jobs
            if job.key not in drawn and (unit := single_channel(job)) is not None
        }
        state.layers = layers
        state.waiting = {
            layer: [c for c, job in jobs.items() if state.ctx.artifact(job) is None]
            for layer, jobs in state.inventory.items()
        }
        state.job_index = None
        redraw = {layer for layer, _ in landed} | {
            layer
            for layer, pages in state.extras_waiting.items()
            if any(state.ctx.artifact(job) is not None for jobs in pages.values() for job in jobs)
        }
        for layer, jobs in layers.items():
            units = (unit for job in jobs if (unit := single_channel(job)) is not None)
            circuits = (self.circuit_of(state, *unit) for unit in units)
            if layer not in redraw and any(
                (n.layer, n.channel) in landed for c in circuits if c for n in neighbours(c)
            ):
                redraw.add(layer)
        return redraw

    def _write_waiting_pages(self, state: ModelState, infos: Sequence[LayerInfo]) -> None:
        """The preview's page for each channel still being computed: it says so, how many of
        its layer's channels are done, and is replaced by the channel's page when it lands."""
        template = self.env.get_template("explorer_waiting.html")
        common = self._common(state, PAGE_PREFIX)
        for info in infos:
            waiting = state.waiting.get(info.name, [])
            done = len(state.layers.get(info.name, []))
            for channel in waiting:
                text = template.render(
                    **common, layer=info, channel=channel, done=done,
                    total=done + len(waiting), layer_href="../" + layer_file(info.name),
                )
                url = channel_url(state.model.slug, info.name, channel)
                self.writer.text(url, text, f"channel page {info.name}:{channel} (computing)")

    def _write_search(self) -> None:
        """The search index: every model's channels with a page, and every labelled one."""
        entries = []
        for state in self.states:
            info = state.channel_info
            entries += model_entries(
                state.model.id,
                state.model.layers,
                {key: (v["thumbnail"], v["page"]) for key, v in info.items()},
                classes={key: v["classes"] for key, v in info.items()},
                labels=state.labels,
                name=state.model.name,
            )
        hierarchy = load_hierarchy()
        unknown = unknown_classes(entries, hierarchy)
        if unknown:
            shown = ", ".join(unknown[:5]) + (", ..." if len(unknown) > 5 else "")
            self.notices.warn(
                "classes",
                f"{counted(len(unknown), 'class name')} {verb(len(unknown), 'is', 'are')} not in "
                f"the ImageNet hierarchy ({shown}): "
                "the search matches them by their own words only",
            )
        self.writer.text(SEARCH_INDEX, search_index_js(entries, hierarchy), "search index")

    def _draw_compare(self) -> ComparePage | None:
        """The compare page's figure drawn in memory (None on a site of one model); the jobs
        it lacks in `missing`."""
        if len(self.states) < 2:
            return None
        figure = compare_page([state.model.id for state in self.states])
        ctx = self.states[0].ctx
        self._set_prefix("../")
        try:
            html = figure.render(ctx)
            for job in figure.shown_jobs(ctx):
                self._use(job, COMPARE_PAGE)
        except MissingArtifact as exc:
            return ComparePage(figure, None, exc.jobs)
        finally:
            self._set_prefix("")
        self.compare_drawn = True
        return ComparePage(figure, html, [])

    def _write_models(self, compare: ComparePage | None = None) -> None:
        """`explorer/index.html`: the models of the site, each with its layers and a strip,
        and the compare page (`explorer/compare.html`) where the site has several models."""
        self._set_prefix("../")
        models = [
            {
                "model": state.model,
                "href": model_url(state.model.slug).removeprefix("explorer/"),
                "strips": self._strips(state),
            }
            for state in self.states
        ]
        drawn = compare is not None and compare.html is not None
        text = self.env.get_template("explorer_index.html").render(
            **self._common(self.states[0], "../"),
            models=models,
            compare_href=COMPARE_PAGE.removeprefix("explorer/") if drawn else None,
            made_by=[state.model for state in self.states],
        )
        self.writer.text(EXPLORER_INDEX, text, "explorer")
        if compare is not None and compare.html is not None:
            text = self.env.get_template("explorer_compare.html").render(
                **self._common(self.states[0], "../"),
                figure=compare.html,
                models=[state.model for state in self.states],
                made_by=[state.model for state in self.states],
            )
            self.writer.text(COMPARE_PAGE, text, "explorer compare page")
        self._set_prefix("")

    def _channel(
        self, state: ModelState, job: VisJob, filters: torch.Tensor | None = None
    ) -> dict[str, Any]:
        """One channel of an explorer page; `filters`: the layer's, when it is affine in the
        pixels (`generator.filters`)."""
        layer, channel = single_channel(job)  # type: ignore[misc]
        self._use(job, layer_url(state.model.slug, layer, channel))
        image: ImageView = state.ctx.view(job, label=f"channel {channel}")
        k = min(EXPLORER_EXAMPLES, self.config.dataset_top_k)
        return {
            "channel": channel,
            "job": job,
            "label": state.labels.get((layer, channel)),
            "page": f"{layer_file(layer)[:-5]}/{channel}.html",
            "image": image,
            "top": dataset_examples(state.ctx, layer, channel, "top", k),
            "bottom": dataset_examples(state.ctx, layer, channel, "bottom", k),
            "floor": floor_of(state.ctx.dataset, layer, channel),
            "dead": channel in state.ctx.dead(layer),
            "agreement": pattern_agreement(state.ctx, job, layer, channel),
            "reading": class_reading(state.ctx, job, layer, channel),
            "filter": None
            if filters is None
            else self._patch(state,
                f"{state.model.digest}|{layer}|{channel}",
                filter_image(filters[channel], float(filters[channel].abs().max())),
                "filters",
            ),
        }


def _negatives(state: ModelState, layer: str) -> dict[str, Any] | None:
    """Where `layer` has pre-activations per channel only (`models.preact.per_channel`): how
    many of its channels a floor inside it makes (each has a negative), the floor, the channels
    without one (made from channels floored before the layer), and how many of those are its
    input's channels passed on untouched; else None."""
    units = per_channel(state.model, layer)
    if units is None:
        return None
    none = frozenset(c for c, unit in enumerate(units) if unit is None)
    passed = len(passed_channels(state.model, layer))
    return {"made": len(units) - len(none), "none": none, "passed": passed,
            "pooled": len(none) - passed, "floor": floored_by(state.model, layer)}
