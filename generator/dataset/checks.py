"""Checks of a visualization against the photos: does its activation pattern across the layer agree
with the channel's top photos' (the check of Geirhos et al., "Don't trust your eyes")?
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from generator.dataset.folder import load_view
from generator.dataset.index import DatasetIndex
from generator.metrics import cosine_similarity, rank_correlation
from generator.models.base import LoadedModel
from generator.optvis.render import truncated_forward


@dataclass(frozen=True)
class PatternCheck:
    """How the visualization's activation pattern across a layer agrees with the top photos'.

    Both patterns are the layer's per-channel spatial means, standardized with the photos' mean and
    spread per channel. `own_rank_*`: where the visualized channel ranks in each (0 = highest)."""

    layer: str
    channel: int
    cosine: float
    spearman: float
    own_rank_visualization: int
    own_rank_photos: int


def layer_vectors(
    model: LoadedModel,
    images: torch.Tensor,
    layers: Sequence[str],
    *,
    input_size: int | None = None,
) -> dict[str, torch.Tensor]:
    """Per layer, (n, C) spatial means of the activations of `images` (n,3,H,W in [0,1])."""
    x = images.to(model.device).float()
    if input_size and x.shape[-1] != input_size:
        x = torch.nn.functional.interpolate(x, size=(input_size, input_size), mode="bilinear")
    names = list(dict.fromkeys(layers))
    with torch.no_grad(), truncated_forward(model, names) as (acts, run):
        run(x)
        return {name: acts[name].float().mean(dim=(2, 3)).cpu() for name in names}


def check_patterns(
    model: LoadedModel,
    index: DatasetIndex,
    items: Sequence[tuple[str, int, torch.Tensor]],
    *,
    input_size: int | None = None,
) -> list[PatternCheck]:
    """For each (layer, channel, visualization (3,H,W)), compare its pattern with the photos'."""
    if not items:
        return []
    images = torch.stack([image for _, _, image in items])
    vectors = layer_vectors(model, images, [layer for layer, _, _ in items], input_size=input_size)
    return [
        compare_pattern(index, layer, channel, vectors[layer][i])
        for i, (layer, channel, _) in enumerate(items)
    ]


def compare_pattern(
    index: DatasetIndex, layer: str, channel: int, vector: torch.Tensor
) -> PatternCheck:
    """The check of a visualization whose spatial means across `layer` are `vector` (C,)."""
    mean, std = index.channel_means(layer), index.channel_stds(layer).clamp(min=1e-6)
    vis = (vector - mean) / std
    photos = (index.pattern(layer, channel) - mean) / std
    return PatternCheck(
        layer=layer,
        channel=channel,
        cosine=cosine_similarity(vis, photos),
        spearman=rank_correlation(vis, photos),
        own_rank_visualization=int((vis > vis[channel]).sum()),
        own_rank_photos=int((photos > photos[channel]).sum()),
    )


READING_TOP = 5  # the picture's classes read, and at most those that count as meeting
# Bands whose channels the model's class names can speak for; an edge detector's picture read as
# "plastic bag 3%" says nothing.
READING_BANDS = ("parts", "objects")


@dataclass(frozen=True)
class ClassReading:
    """What the model names: the optimized picture's most likely classes and the channel's top
    photo's most likely class. `meets`: the photo's class is among the picture's `among`
    likeliest (`reading_top`)."""

    picture: tuple[tuple[str, float], ...]
    photo: tuple[str, float]
    photo_file: str
    meets: bool
    among: int = READING_TOP


def reading_top(outputs: int) -> int:
    """How many of a picture's likeliest classes may hold its top photo's class for a reading to
    meet it: five among many classes, a fifth of them among fewer than 25 (at least one), so
    that a chance match stays at most about one in five (among 5 classes every class is in
    the five likeliest, and the count would say nothing)."""
    return max(1, min(READING_TOP, outputs // READING_TOP))


def likeliest(among: int) -> str:
    """`among` likeliest classes in words: "five likeliest", "single likeliest" for one."""
    words = {1: "single", 2: "two", 3: "three", 4: "four", 5: "five"}
    return f"{words.get(among, among)} likeliest"


def reads_classes(model: LoadedModel, layer: str) -> bool:
    """Whether the model's readings (`LoadedModel.read_outputs`) can speak for a channel of
    `layer` (see `readable`)."""
    return bool(model.read_outputs) and model.layer(layer).band in READING_BANDS


def readable(model: LoadedModel, index: DatasetIndex, layer: str, channel: int) -> bool:
    """Whether a class reading means something here: a scanned layer of the parts or objects
    bands, a model that reads its outputs (named classes, or an untrained network's numbered
    outputs), and a top photo to compare with."""
    return (
        bool(model.read_outputs)
        and layer in index.layer_names
        and model.layer(layer).band in READING_BANDS
        and bool(index.examples(layer, channel))
    )


def class_reading(
    model: LoadedModel, picture: Sequence[tuple[int, float]],
    photo: tuple[int, float] | None, shown: str,
) -> ClassReading | None:
    """The reading of a picture (its `READING_TOP` classes, `LoadedModel.read`, likeliest first)
    beside the class of the top photo `shown` (its path in the folder, `DatasetIndex.shown_name`;
    None where either is not one logit per named class)."""
    if not picture or photo is None:
        return None
    among = reading_top(model.read_outputs)
    return ClassReading(
        picture=tuple((model.class_name(k), p) for k, p in picture),
        photo=(model.class_name(photo[0]), photo[1]),
        photo_file=shown,
        meets=photo[0] in {k for k, _ in picture[:among]},
        among=among,
    )


def read_photos(model: LoadedModel, paths: Sequence[Path]) -> list[tuple[int, float] | None]:
    """The class the model reads in each photo (as it sees it), one batched pass."""
    if not paths:
        return []
    views = torch.stack([load_view(p, model.input_size).float() / 255 for p in paths])
    return [r[0] if r else None for r in model.read(views, 1)]


def read_classes(
    model: LoadedModel, index: DatasetIndex, items: Sequence[tuple[str, int, torch.Tensor]]
) -> list[ClassReading | None]:
    """For each (layer, channel, visualization), the model's reading of the picture beside its
    reading of the channel's top photo, in two batched forward passes (None where a reading says
    nothing: see `readable`, or a head that is not one logit per named class)."""
    wanted = [i for i, (layer, ch, _) in enumerate(items) if readable(model, index, layer, ch)]
    out: list[ClassReading | None] = [None] * len(items)
    if not wanted:
        return out
    pictures = model.read(torch.stack([items[i][2] for i in wanted]), READING_TOP)
    paths = [index.examples(items[i][0], items[i][1])[0].path for i in wanted]
    unique = list(dict.fromkeys(paths))
    photos = dict(zip(unique, read_photos(model, unique), strict=True))
    for i, picture, path in zip(wanted, pictures, paths, strict=True):
        out[i] = class_reading(model, picture, photos[path], index.shown_name(path))
    return out
