"""Checks of one-channel visualizations against the photos, as figures and the explorer show them:
the pattern agreement, the model's class reading beside its top photo's, and the photos themselves.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from generator.core.images import load_tensor
from generator.dataset.checks import PatternCheck, check_patterns
from generator.dataset.folder import load_view
from generator.figures.context import FigureContext, ImageView
from generator.jobs import VisJob


def photo_high_freq(ctx: FigureContext) -> float | None:
    """The dataset photos' high-frequency share at the preset's image size (None without one)."""
    ds = ctx.dataset
    return ds.photo_high_freq(ctx.preset.size) if ds is not None else None


_Check = TypeVar("_Check")


def _memo(
    kind: str, compute: Callable[[FigureContext, VisJob, str, int], _Check]
) -> Callable[[FigureContext, VisJob, str, int], _Check]:
    """`compute` once per (job, layer, channel) and FigureContext: the explorer, the figures and
    the manifest all ask."""

    def memoized(ctx: FigureContext, job: VisJob, layer: str, channel: int) -> _Check:
        key = (kind, job.key, layer, channel)
        if key not in ctx.checks:
            ctx.checks[key] = compute(ctx, job, layer, channel)
        return ctx.checks[key]

    memoized.__doc__ = compute.__doc__
    return memoized


# A pattern cosine below this is flagged: the picture excites the layer unlike the photos do.
LOW_AGREEMENT = 0.1


def _pattern_agreement(
    ctx: FigureContext, job: VisJob, layer: str, channel: int
) -> PatternCheck | None:
    """The visualization's layer pattern against its top photos' (None without a scan)."""
    ds = ctx.dataset
    if ds is None or layer not in getattr(ds, "layer_names", ()):
        return None
    image = load_tensor(ctx.require([job])[0].images[0])
    return check_patterns(ctx.model, ds, [(layer, channel, image)])[0]


pattern_agreement = _memo("pattern", _pattern_agreement)
READING_TOP = 5  # the picture's classes that count as meeting the photo's class


# Bands whose channels the model's class names can speak for; an edge detector's picture read as
# "plastic bag 3%" says nothing.
READING_BANDS = ("parts", "objects")


@dataclass(frozen=True)
class ClassReading:
    """What the model names: the optimized picture's most likely classes and the channel's top
    photo's most likely class. `meets`: the photo's class is among the picture's top 5."""

    picture: tuple[tuple[str, float], ...]
    photo: tuple[str, float]
    photo_file: str
    meets: bool


def _class_reading(
    ctx: FigureContext, job: VisJob, layer: str, channel: int
) -> ClassReading | None:
    """The model's reading of a channel's visualization beside its reading of the channel's top
    photo (None without a scan of the layer, for a model that names no classes, or for a layer
    outside `READING_BANDS`)."""
    ds, model = ctx.dataset, ctx.model
    if ds is None or layer not in getattr(ds, "layer_names", ()) or not model.class_names:
        return None
    if model.layer(layer).band not in READING_BANDS:
        return None
    examples = ds.examples(layer, channel)
    if not examples:
        return None
    picture = model.read(load_tensor(ctx.require([job])[0].images[0])[None], READING_TOP)[0]
    if not picture:
        return None  # its output is not one logit per named class
    path = str(examples[0].path)
    photo = ctx.photo_readings.get(path)
    if photo is None:
        view = load_view(Path(path), model.input_size).float()[None] / 255
        photo = ctx.photo_readings[path] = model.read(view, 1)[0][0]
    names = model.class_names
    return ClassReading(
        picture=tuple((names[k], p) for k, p in picture),
        photo=(names[photo[0]], photo[1]),
        photo_file=Path(path).name,
        meets=photo[0] in {k for k, _ in picture},
    )


class_reading = _memo("reading", _class_reading)


def dataset_examples(
    ctx: FigureContext, layer: str, channel: int, kind: str, k: int
) -> list[ImageView]:
    """Dataset photos for a channel as images in the site ([] without a dataset or scan): the
    patches around the `top` and `bottom` peaks, or the whole photos of its `spectrum`."""
    ds = ctx.dataset
    if k < 1 or ds is None or not ctx.place_photo or layer not in getattr(ds, "layer_names", ()):
        return []
    if kind == "spectrum":
        examples = ds.spectrum(layer, channel, k)
    else:
        examples = ds.examples(layer, channel, kind)[:k]
    out = []
    for ex in examples:
        where = "whole" if ex.whole else f"{ex.y}|{ex.x}"
        digest = hashlib.sha256(f"{ex.path}|{where}|{layer}".encode()).hexdigest()[:20]
        url = ctx.place_photo(digest, ds.patch(ex, layer, 96))
        name = Path(ex.path).name
        out.append(
            ImageView(url, f"{kind} example for {layer}:{channel}: {name}", name, ex.activation)
        )
    return out
