"""How far to trust a channel's pictures: its two-alternative scores (`generator.measure.twoafc`),
measured by the build for every explorer channel with photos and cached.

Per channel, two scores over the same trials: its pictures as references (the visualization and
its diversity set as positives, its negative as the negative) and its photos (the top of the
scan's top table, the lowest spatial means of its sample). The judge is one of the site's own
networks (`site_judge`): another model of the site where there is one, else the channel's own
network, whose embedding then never includes the channel's own layer. A score is a pure function
of its key: the pictures' job keys, the photos it reads (each one's path, size and modification
time, peak and patch), the judge's digest and layers, and the task's constants, so a build that
finds it never runs a network for it again, and after a folder gains photos only the channels
whose top or lowest photos changed are measured again. All images missing
scores are embedded in a few batched forward passes (photos shared by channels embedded once).
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

from generator.cache.store import ArtifactStore
from generator.compute import World
from generator.core.images import load_tensor
from generator.core.progress import QUIET, Progress
from generator.dataset.index import DatasetIndex, Example
from generator.jobs import VisJob
from generator.measure.store import MeasureStore, measure_key
from generator.measure.twoafc import (
    PATCH,
    REFS,
    TRIALS,
    Judge,
    UnitPhotos,
    join,
    photo_patches,
    pick_accuracy,
    trial_pairs,
    unit_photos,
)
from generator.models.base import BANDS, LoadedModel

HELD = 50  # held-out photos of each kind at most (the bench's: 5 % of 1000 photos)
CHUNK = 64  # channels whose images are loaded and embedded together (shared photos once)
JUDGE_SIZE = 128  # px the judge sees every image at (at most its input size)


@dataclass(frozen=True)
class SiteJudge:
    """The network that judges a model's channels, and whether it is that model itself."""

    judge: Judge
    same: bool

    @property
    def name(self) -> str:
        return self.judge.model.name or self.judge.model.id

    def layers_for(self, layer: str) -> tuple[str, ...]:
        """The judge's layers for a channel of `layer`: never the channel's own layer."""
        return tuple(n for n in self.judge.layers if not (self.same and n == layer))


@dataclass(frozen=True)
class Verdict:
    """A channel's two-alternative scores (share of trials right) and how they were measured."""

    pictures: float
    photos: float
    trials: int
    refs: int  # photo references of each kind
    held: int  # held-out top photos (as many low ones)
    positives: int  # pictures as positive references
    negatives: int  # pictures as negative references
    judge: str
    layers: tuple[str, ...]
    same: bool  # judged by the channel's own network

    def hits(self, share: float) -> float:
        return round(share * self.trials * 2) / 2


def judge_layers(model: LoadedModel) -> tuple[str, ...]:
    """The last layer of each band after the first that `model`'s catalog has (pooled features of
    a few later stages); its last layer when the catalog has no later band."""
    last = {info.band: info.name for info in model.layers}
    later = tuple(last[band] for band in BANDS[1:] if band in last)
    if later or not model.layers:
        return later
    return (model.layers[-1].name,)


def site_judge(model: LoadedModel, models: Sequence[LoadedModel]) -> SiteJudge | None:
    """The judge of `model`'s channels among the site's `models` (in site.toml's order): the next
    other model that sees colour if `model` does (a grey network cannot tell two photos apart by
    their colour, which an RGB channel may answer to), else `model` itself (None when it has no
    layer to judge with)."""
    ids = [m.id for m in models]
    at = ids.index(model.id) if model.id in ids else -1
    others = [m for m in [*models[at + 1 :], *models] if m.id != model.id
              and m.input_channels >= model.input_channels]
    chosen = others[0] if others else model
    layers = judge_layers(chosen)
    if not layers:
        return None
    size = min(JUDGE_SIZE, chosen.input_size)
    return SiteJudge(Judge(chosen, layers, size), chosen.id == model.id)


@dataclass(frozen=True)
class LegibleUnit:
    """A channel and its pictures: the jobs whose images are positive and negative references."""

    layer: str
    channel: int
    positives: tuple[VisJob, ...]
    negatives: tuple[VisJob, ...] = ()


def _photos(index: DatasetIndex, layer: str, channel: int) -> UnitPhotos | None:
    """The channel's photos (`unit_photos`; None: too few to pair)."""
    photos = unit_photos(index, layer, channel, REFS, HELD)
    if not (photos.top_refs and photos.top_held and photos.bottom_refs and photos.bottom_held):
        return None
    return photos


def _key(judge: SiteJudge, index: DatasetIndex, unit: LegibleUnit, photos: UnitPhotos) -> str:
    """The score's key: what it reads (the pictures' job keys; each photo's identity, peak and
    the patch the layer's field cuts there), the judge, and the task's constants."""

    def seen(examples: Sequence[Example]) -> list[Any]:
        return [[*index.photo_id(e.path), e.y, e.x, e.whole] for e in examples]

    return measure_key(
        "legibility", unit.layer, unit.channel, [j.key for j in unit.positives],
        [j.key for j in unit.negatives], index.input_size,
        asdict(index.receptive_field(unit.layer)),
        *map(seen, (photos.top_refs, photos.top_held, photos.bottom_refs, photos.bottom_held)),
        judge.judge.model.id, judge.judge.model.digest, judge.layers_for(unit.layer),
        judge.judge.size, REFS, HELD, TRIALS, PATCH,
    )


NUMBERS = ("pictures", "photos", "trials", "refs", "held", "positives", "negatives")


def _read(judge: SiteJudge, store: MeasureStore, key: str, layer: str) -> Verdict | None:
    """The stored scores of `key`, named with the judge that measured them."""

    def decode(data: dict[str, Any]) -> Verdict:
        numbers = {name: data[name] for name in NUMBERS}
        return Verdict(**numbers, judge=judge.name, layers=judge.layers_for(layer),
                       same=judge.same)

    found: Verdict | None = store.get(key, decode)
    return found


class _Images:
    """Images to embed, each once, grouped by size; their embeddings by key after `embed`.
    Photo patches are named first (`add_photo`) and cut together (`cut`): each photo file is
    opened and decoded once for every patch of it that the channels of a chunk use."""

    def __init__(self) -> None:
        self.tensors: dict[Any, torch.Tensor | None] = {}  # None: a patch not cut yet
        self.cuts: dict[Path, list[tuple[Any, Example, str]]] = {}
        self.parts: dict[Any, dict[str, torch.Tensor]] = {}

    def add(self, key: Any, make: Any) -> Any:
        if key not in self.tensors:
            self.tensors[key] = make()
        return key

    def add_photo(self, key: Any, example: Example, layer: str) -> Any:
        if key not in self.tensors:
            self.tensors[key] = None
            self.cuts.setdefault(example.path, []).append((key, example, layer))
        return key

    def cut(self, index: DatasetIndex) -> None:
        for path, cuts in self.cuts.items():
            patches = photo_patches(index, path, [(e, layer) for _, e, layer in cuts])
            for (key, _, _), patch in zip(cuts, patches, strict=True):
                self.tensors[key] = patch
        self.cuts = {}

    def embed(self, judge: Judge) -> None:
        ready = {key: tensor for key, tensor in self.tensors.items() if tensor is not None}
        assert len(ready) == len(self.tensors), "a photo patch named but not cut"
        by_shape: dict[tuple[int, ...], list[Any]] = {}
        for key, tensor in ready.items():
            by_shape.setdefault(tuple(tensor.shape), []).append(key)
        for keys in by_shape.values():
            parts = judge.parts(torch.stack([ready[k] for k in keys]))
            for i, key in enumerate(keys):
                self.parts[key] = {name: rows[i : i + 1] for name, rows in parts.items()}

    def of(self, keys: Sequence[Any], layers: Sequence[str]) -> torch.Tensor:
        if not keys:
            return torch.zeros(0, 1)
        return torch.cat([join(self.parts[k], layers) for k in keys])


def _references(
    images: _Images, index: DatasetIndex, artifacts: ArtifactStore, unit: LegibleUnit,
    p: UnitPhotos,
) -> dict[str, list[Any]]:
    """The keys in `images` of a channel's pictures and photos, each image added once."""

    def pictures(jobs: Sequence[VisJob]) -> list[Any]:
        keys = []
        for job in jobs:
            art = artifacts.get(job)
            for i, path in enumerate(art.images if art is not None else ()):
                keys.append(images.add((job.key, i), lambda f=path: load_tensor(f).float()))
        return keys

    whole = index.receptive_field(unit.layer).whole

    def photos(examples: Sequence[Example]) -> list[Any]:
        return [
            images.add_photo((str(e.path),) if whole else (str(e.path), unit.layer, e.y, e.x),
                             e, unit.layer)
            for e in examples
        ]

    return {"pos": pictures(unit.positives), "neg": pictures(unit.negatives),
            "top_refs": photos(p.top_refs), "top_held": photos(p.top_held),
            "low_refs": photos(p.bottom_refs), "low_held": photos(p.bottom_held)}


def _score(
    images: _Images, judge: SiteJudge, unit: LegibleUnit, keys: dict[str, list[Any]]
) -> dict[str, Any]:
    """A channel's scores from its images' embeddings, as stored (`NUMBERS`)."""
    layers = judge.layers_for(unit.layer)
    emb = {name: images.of(k, layers) for name, k in keys.items()}
    pairs = trial_pairs(len(keys["top_held"]), len(keys["low_held"]), TRIALS,
                        random.Random(f"{unit.layer}:{unit.channel}"))
    held = (emb["top_held"], emb["low_held"], pairs)
    return {
        "pictures": pick_accuracy(emb["pos"], emb["neg"], *held),
        "photos": pick_accuracy(emb["top_refs"], emb["low_refs"], *held),
        "trials": len(pairs), "refs": len(keys["top_refs"]), "held": len(keys["top_held"]),
        "positives": len(keys["pos"]), "negatives": len(keys["neg"]),
    }


def _measure(
    judge: SiteJudge, index: DatasetIndex, artifacts: ArtifactStore,
    todo: Sequence[tuple[LegibleUnit, UnitPhotos]], store: MeasureStore, progress: Progress,
) -> None:
    """Scores of `todo`, stored; the images of `CHUNK` channels at a time loaded and embedded
    together, each once."""
    with progress.counter(len(todo), "two-alternative scores", "channels") as count:
        for start in range(0, len(todo), CHUNK):
            images = _Images()
            planned = [(unit, p, _references(images, index, artifacts, unit, p))
                       for unit, p in todo[start : start + CHUNK]]
            images.cut(index)
            images.embed(judge.judge)
            for unit, p, keys in planned:
                store.put(_key(judge, index, unit, p), _score(images, judge, unit, keys))
            count.update(len(planned))


def measure_legibility(
    judge: SiteJudge | None, index: DatasetIndex | None, artifacts: ArtifactStore,
    units: Sequence[LegibleUnit], *, world: World | None = None, compute: bool = True,
    progress: Progress = QUIET,
) -> tuple[dict[tuple[str, int], Verdict], int]:
    """Per channel of `units` whose layer the dataset scanned, with pictures in the cache and
    photos enough to pair, its `Verdict`, from the store or (with `compute`) measured now,
    shared out over `world`. Returns the verdicts and how many are missing (without `compute`)."""
    if judge is None or index is None:
        return {}, 0
    world = world or World(rank=0, size=1, device=judge.judge.model.device)
    store = MeasureStore(artifacts.root)
    ready = []
    for unit in units:
        if unit.layer not in index.layer_names or not judge.layers_for(unit.layer):
            continue
        if not unit.positives or any(not artifacts.has(j) for j in unit.positives):
            continue
        unit = LegibleUnit(unit.layer, unit.channel, unit.positives,
                           tuple(j for j in unit.negatives if artifacts.has(j)))
        photos = _photos(index, unit.layer, unit.channel)
        if photos is not None:
            ready.append((unit, photos))
    found: dict[tuple[str, int], Verdict] = {}
    missing = [
        (u, p) for u, p in ready if _read(judge, store, _key(judge, index, u, p), u.layer) is None
    ]
    if compute:
        _measure(judge, index, artifacts, missing[world.rank :: world.size], store, progress)
        world.barrier()
    for unit, p in ready:
        verdict = _read(judge, store, _key(judge, index, unit, p), unit.layer)
        if verdict is not None:
            found[(unit.layer, unit.channel)] = verdict
    return found, 0 if compute else len(missing)
