"""The two-alternative task, a machine version of Borowski et al. (ICLR 2021): can a unit's
references tell which of two held-out photos excites it more?

A unit's references are positive and negative images: its pictures (the visualization, and the
negative where there is one) or its photos (the top of the scan's top table, and the photos of
the sample on which its spatial mean is lowest). Each trial pairs a held-out top photo with a
held-out low one; the references pick the photo whose embedding in a judge network is closer to
the positive references than to the negative ones, by more than the other photo is
(`pick_accuracy`; ties count half). The held-out photos are never references (`unit_photos`).

`Judge` embeds images as the pooled features of a few of a network's layers, each unit-normalized
and joined (`join`), so a unit can be judged without its own layer. `benchmarks/bench_legibility.py`
and the build's measure stage (`generator.measure.legibility`) both run this code.
"""

from __future__ import annotations

import random
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from generator.core.images import image_tensor
from generator.dataset.index import DatasetIndex, Example
from generator.models.base import LoadedModel
from generator.optvis.render import truncated_forward

REFS = 9  # references of each kind at most (Borowski's readers saw 9)
TRIALS = 20  # pairs of held-out photos per unit
PATCH = 96  # px of a photo's patch (the receptive-field crop, or the whole photo)
# pixels per forward pass of the judge (128 images of 128 px): on a CPU a pass of many images
# costs less per image than several small ones, and an image's features are the same in any
# batch
BATCH_PIXELS = 128 * 128 * 128


@dataclass(frozen=True)
class UnitPhotos:
    """A unit's photo references and the held-out photos its trials pair (never the same)."""

    top_refs: list[Example]
    top_held: list[Example]
    bottom_refs: list[Example]
    bottom_held: list[Example]


def unit_photos(
    index: DatasetIndex, layer: str, channel: int, refs: int = REFS, held: int | None = None
) -> UnitPhotos:
    """The channel's top table (by spatial maximum) split into references (at most `refs`, at
    most half the table) and held-out photos (the next `held`, all the rest when None); as many
    references and held-out photos again from the lowest spatial means of the scan's sample,
    none of them a top photo."""
    top = index.examples(layer, channel, "top")
    r = min(refs, len(top) // 2)
    top_held = top[r:] if held is None else top[r : r + held]
    taken = {e.path for e in top[:r] + top_held}
    want = r + len(top_held)
    low = [e for e in index.lowest(layer, channel, want + len(taken)) if e.path not in taken]
    return UnitPhotos(top[:r], top_held, low[:r], low[r:want])


def trial_pairs(
    n_top: int, n_bottom: int, trials: int, rng: random.Random
) -> list[tuple[int, int]]:
    """`trials` (top, bottom) index pairs drawn with `rng`; every pair once when there are no
    more pairs than trials."""
    if n_top * n_bottom <= trials:
        return [(i, j) for i in range(n_top) for j in range(n_bottom)]
    return [(rng.randrange(n_top), rng.randrange(n_bottom)) for _ in range(trials)]


def pick_accuracy(
    pos: torch.Tensor, neg: torch.Tensor, top: torch.Tensor, bottom: torch.Tensor,
    pairs: Sequence[tuple[int, int]],
) -> float:
    """Share of (top, bottom) pairs where the top photo is closer to `pos` than to `neg` by more
    than the bottom photo is (ties count half); without negative references, closer to `pos`."""

    def score(q: torch.Tensor) -> torch.Tensor:
        near = (q @ pos.T).mean(dim=1)
        return near - (q @ neg.T).mean(dim=1) if len(neg) else near

    st, sb = score(top), score(bottom)
    hits = [1.0 if st[i] > sb[j] else 0.5 if st[i] == sb[j] else 0.0 for i, j in pairs]
    return statistics.fmean(hits)


to_tensor = image_tensor  # (3, H, W) in [0, 1] of a PIL image; the benchmarks' name for it


def photo(index: DatasetIndex, example: Example, layer: str) -> torch.Tensor:
    """The patch of `example` the unit sees, `PATCH` px, as a tensor."""
    return photo_patches(index, example.path, [(example, layer)])[0]


def photo_patches(
    index: DatasetIndex, path: Path, cuts: Sequence[tuple[Example, str]]
) -> list[torch.Tensor]:
    """`photo` of each (example, layer) of `cuts`, all examples of the photo at `path`, which is
    decoded once (`DatasetIndex.patches`)."""
    return [to_tensor(patch) for patch in index.patches(path, cuts, PATCH)]


def join(parts: Mapping[str, torch.Tensor], layers: Sequence[str]) -> torch.Tensor:
    """(n, d): the unit-normalized parts of `layers` side by side, of unit length."""
    return torch.cat([parts[name] for name in layers], dim=1) / len(layers) ** 0.5


class Judge:
    """Embeddings in a network: per layer, the pooled (spatial mean) features, unit-normalized.
    Images are resized to `size` (the network's input size by default)."""

    def __init__(self, model: LoadedModel, layers: Sequence[str], size: int | None = None) -> None:
        self.model, self.layers = model, tuple(layers)
        self.size = size or model.input_size
        for name in self.layers:
            model.layer(name)  # an unknown layer: an error naming the model's layers

    @torch.no_grad()
    def parts(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        """(n, 3, h, w) in [0, 1] -> per layer (n, C) on the CPU, each row of unit length."""
        out: dict[str, list[torch.Tensor]] = {name: [] for name in self.layers}
        with truncated_forward(self.model, self.layers) as (acts, run):
            for chunk in images.split(max(1, BATCH_PIXELS // self.size**2)):
                x = F.interpolate(chunk.float().to(self.model.device), size=(self.size,) * 2,
                                  mode="bilinear", align_corners=False)
                run(x)
                for name in self.layers:
                    a = acts[name].float()
                    pooled = a.flatten(2).mean(2) if a.dim() > 2 else a
                    out[name].append(F.normalize(pooled, dim=1).cpu())
        return {name: torch.cat(rows) for name, rows in out.items()}

    def embed(self, images: torch.Tensor) -> torch.Tensor:
        """(n, 3, h, w) in [0, 1] -> (n, d) of unit length: every layer's part."""
        return join(self.parts(images), self.layers)
