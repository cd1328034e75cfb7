"""Checks of a visualization against the photos: does its activation pattern across the layer agree
with the channel's top photos' (the check of Geirhos et al., "Don't trust your eyes")?
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

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
    checks = []
    for i, (layer, channel, _) in enumerate(items):
        mean, std = index.channel_means(layer), index.channel_stds(layer).clamp(min=1e-6)
        vis = (vectors[layer][i] - mean) / std
        photos = (index.pattern(layer, channel) - mean) / std
        checks.append(
            PatternCheck(
                layer=layer,
                channel=channel,
                cosine=cosine_similarity(vis, photos),
                spearman=rank_correlation(vis, photos),
                own_rank_visualization=int((vis > vis[channel]).sum()),
                own_rank_photos=int((photos > photos[channel]).sum()),
            )
        )
    return checks
