"""Channels: which visualization is one channel's, choosing strong and distinct channels, the
Distill transforms at any size.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

import torch

from generator.core.images import load_tensor
from generator.jobs import VisJob
from generator.optvis.transforms import DISTILL_SCALES, TransformSpec


def scaled_transforms(size: int, strength: float = 1.0) -> TransformSpec:
    """The Distill transforms (pad 16, jitter 16, jitter 8 at 128 px), scaled to `size`."""
    k = size / 128 * strength
    angle = max(0, round(5 * strength))
    return TransformSpec(
        pad=round(16 * k),
        jitter=round(16 * k),
        scales=DISTILL_SCALES,
        angles=tuple(float(a) for a in range(-angle, angle + 1)),
        jitter2=round(8 * k),
    )


def single_channel(job: VisJob) -> tuple[str, int] | None:
    """(layer, channel) when the job is one image of one channel objective, else None."""
    if job.n_images != 1 or len(job.objectives[0].terms) != 1:
        return None
    weight, term = job.objectives[0].terms[0]
    if term.kind != "channel" or weight != 1.0 or term.layer is None or term.channel is None:
        return None
    return term.layer, term.channel


def pick_distinct(
    scores: Mapping[int, float],
    similarity: Callable[[int, int], float],
    n: int,
    penalty: float = 0.5,
) -> list[int]:
    """Greedy: the strongest first, then whoever is strong and least like those already chosen."""
    if not scores:
        return []
    top = max(abs(v) for v in scores.values()) or 1.0
    chosen: list[int] = []
    candidates = sorted(scores)
    while candidates and len(chosen) < n:

        def merit(c: int) -> float:
            like = max((similarity(c, d) for d in chosen), default=0.0)
            return scores[c] / top - penalty * max(like, 0.0)

        best = max(candidates, key=lambda c: (merit(c), -c))
        chosen.append(best)
        candidates.remove(best)
    return chosen


def _image_vector(path: Path) -> torch.Tensor:
    x = torch.nn.functional.adaptive_avg_pool2d(load_tensor(path)[None], 24).flatten().double()
    return torch.nn.functional.normalize(x - x.mean(), dim=0)
