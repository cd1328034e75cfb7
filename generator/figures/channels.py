"""Channels: which visualization is one channel's, choosing strong and distinct channels, the
Distill transforms at any size.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

import torch

from generator.cache.sidecar import Sidecar
from generator.core.images import load_tensor
from generator.jobs import VisJob
from generator.optvis.objectives import GROUP_KINDS
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


def set_channel(job: VisJob) -> tuple[str, int] | None:
    """(layer, channel) when the job is a set of images of one channel pushed apart by terms
    between them (a diversity set: each objective that channel plus such terms), else None."""
    if not job.has_group_terms:
        return None
    units = set()
    for objective in job.objectives:
        own = [(w, t) for w, t in objective.terms if t.kind not in GROUP_KINDS]
        if len(own) != 1 or own[0][0] != 1.0 or own[0][1].kind != "channel":
            return None
        units.add((own[0][1].layer, own[0][1].channel))
    if len(units) != 1:
        return None
    layer, channel = units.pop()
    return None if layer is None or channel is None else (layer, channel)


def minimized(job: VisJob, index: int) -> float | None:
    """The weight of image `index`'s one channel term when the image minimizes that channel (a
    negative: the channel with a weight below 0), else None."""
    terms = job.objectives[index].terms
    if len(terms) != 1 or terms[0][1].kind != "channel" or terms[0][0] >= 0:
        return None
    return terms[0][0]


def shown_value(job: VisJob, sidecar: Sidecar, index: int) -> tuple[float | None, str]:
    """The number shown beside image `index` of a job, and its kind: a diversity set's image
    its channel's mean activation (`act`; None from a sidecar that predates it), not its
    objective, whose diversity term is no measure of the channel; a negative its channel's mean
    activation too (`low`: the objective is the channel times a weight below 0, and a reader
    wants the channel's own value, lowered); any other its final objective (`obj`)."""
    if set_channel(job) is not None:
        return (None if sidecar.unit is None else sidecar.unit[index]), "act"
    weight, final = minimized(job, index), sidecar.final[index]
    if weight is not None:
        return (None if final is None else final / weight + 0.0), "low"  # never -0
    return final, "obj"


def shows_nothing(job: VisJob, index: int, shown: float | None) -> bool:
    """Whether image `index`, whose shown value is `shown`, leaves its channel (or neuron) at 0,
    as the starting image did (a ReLU's floor): it shows nothing of it. A class objective at 0
    (a log-probability saturated at 1) is no such thing."""
    kinds = {t.kind for _, t in job.objectives[index].terms if t.kind not in GROUP_KINDS}
    return shown == 0 and bool(kinds) and kinds <= {"channel", "neuron"}


def led_by(job: VisJob) -> str | None:
    """The pre-activation that led a channel picture's optimization while the channel was flat
    (`optvis.objectives.channel`'s `via`), or None."""
    return job.objectives[0].terms[0][1].via if single_channel(job) else None


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
