"""Checks of one-channel visualizations against the photos, as figures and the explorer show them:
the pattern agreement and the model's class reading beside its top photo's (looked up in what the
measure stage found: no network runs here), and the photos themselves.
"""

from __future__ import annotations

import hashlib
from typing import Any, Literal

from generator.dataset.checks import ClassReading, PatternCheck
from generator.figures.context import DrawContext, ImageView, PlanContext
from generator.jobs import VisJob


def photo_high_freq(ctx: PlanContext) -> float | None:
    """The dataset photos' high-frequency share at the preset's image size (None without one)."""
    ds = ctx.dataset
    return ds.photo_high_freq(ctx.preset.size) if ds is not None else None


# A pattern cosine below this is flagged: the picture excites the layer unlike the photos do.
LOW_AGREEMENT = 0.1


def pattern_agreement(
    ctx: DrawContext, job: VisJob, layer: str, channel: int
) -> PatternCheck | None:
    """The visualization's layer pattern against its top photos', as the measure stage found it
    (None without a scan of the layer)."""
    return None if ctx.measures is None else ctx.measures.pattern(job.key)


def class_reading(
    ctx: DrawContext, job: VisJob, layer: str, channel: int
) -> ClassReading | None:
    """The model's reading of a channel's visualization beside its reading of the channel's top
    photo, as the measure stage found it (None where a reading says nothing)."""
    return None if ctx.measures is None else ctx.measures.reading(job.key)


def floor_of(ds: Any, layer: str, channel: int) -> dict[str, Any] | None:
    """`{"photos": n, "value": v}` when at least two photos, and every bottom example, reach the
    channel's lowest value `v` (a floor such as a ReLU's 0), with `"every": True` where every
    photo gives the channel that one value everywhere (it has no top photos either); None
    otherwise or without a scan."""
    if ds is None or layer not in ds.layer_names:
        return None
    if ds.is_constant(layer, channel):
        return {"photos": ds.at_floor(layer, channel), "value": ds.min_activation(layer, channel),
                "every": True}
    n = ds.at_floor(layer, channel)
    if n < max(2, len(ds.examples(layer, channel, "bottom"))):
        return None
    return {"photos": n, "value": ds.min_activation(layer, channel)}


def dataset_examples(
    ctx: DrawContext, layer: str, channel: int, kind: Literal["top", "bottom", "spectrum"],
    k: int,
) -> list[ImageView]:
    """Dataset photos for a channel as images in the site ([] without a dataset or scan): the
    patches around the `top` and `bottom` peaks, or the whole photos of its `spectrum`."""
    ds = ctx.dataset
    if k < 1 or ds is None or not ctx.place_photo or layer not in ds.layer_names:
        return []
    if kind == "spectrum":
        examples = ds.spectrum(layer, channel, k)
    elif kind == "bottom" and floor_of(ds, layer, channel) is not None:
        return []  # tied at the floor: which of them shows would be the folder's order
    elif kind == "bottom":
        examples = ds.least(layer, channel, k)
    else:
        examples = ds.examples(layer, channel, "top")[:k]
    out = []
    for ex in examples:
        where = "whole" if ex.whole else f"{ex.y}|{ex.x}"
        shown = f"{ex.path}|{where}|{layer}" + ("|grey" if ds.grey else "")
        digest = hashlib.sha256(shown.encode()).hexdigest()[:20]
        url = ctx.place_photo(digest, ds.patch(ex, layer, 96))
        name = ds.shown_name(ex.path)
        out.append(
            ImageView(url, f"{kind} example for {layer}:{channel}: {name}", name, ex.activation)
        )
    return out
