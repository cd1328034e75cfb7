"""The measure stage: every use of the network the site shows, other than the optimizer itself,
done once, batched and cached before anything is rendered.

- the pattern check of each one-channel visualization against its channel's top photos,
- the model's class reading of the visualization beside its reading of the top photo (both
  stored as what the network gives, per visualization and per photo, and compared with the
  scan's numbers as they are: photos added to the folder run no network for them),
- the filters of the explorer's layers that are affine in the pixels,
- the class a channel's visualization drives hardest (figures that pick a class from it).

`measure_site` looks each one up in the `MeasureStore` and computes only what is missing, in
batches; under torchrun each process measures every size-th missing item and all then read the
store. With `compute=False` (`featvis render`) it only reads, and `Measurements.missing` names what
the store lacks. The result, `Measurements`, is data only: the site renders from it and runs no
network. `measure_top_classes` measures the classes figures read while planning (between the
plan -> compute rounds); `top_class` only looks one up, so planning never runs the network.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from generator.cache.sidecar import Artifact
from generator.cache.store import ArtifactStore
from generator.compute import World
from generator.core.images import load_tensor
from generator.core.progress import QUIET, Progress
from generator.core.tally import Lacking
from generator.dataset.checks import (
    READING_TOP,
    ClassReading,
    PatternCheck,
    class_reading,
    compare_pattern,
    layer_vectors,
    read_photos,
    readable,
    reads_classes,
)
from generator.dataset.index import DatasetIndex
from generator.jobs import VisJob
from generator.measure.filters import FILTERS_VERSION, MAX_DEPTH, linear_filters
from generator.measure.legibility import Verdict
from generator.measure.store import MeasureStore, measure_key
from generator.models.base import LoadedModel

BATCH = 32  # visualizations per forward pass of the checks


@dataclass(frozen=True)
class Unit:
    """One one-channel visualization to check: its job, layer and channel."""

    job: VisJob
    layer: str
    channel: int


@dataclass
class Measurements:
    """What the measure stage found, by artifact key and by layer; the site reads only this."""

    patterns: dict[str, PatternCheck | None] = field(default_factory=dict)
    readings: dict[str, ClassReading | None] = field(default_factory=dict)
    filters: dict[str, torch.Tensor | None] = field(default_factory=dict)
    # (layer, channel) -> its two-alternative scores (`generator.measure.legibility`)
    legibility: dict[tuple[str, int], Verdict] = field(default_factory=dict)
    missing: Lacking = field(default_factory=Lacking)  # compute=False: what the store lacks

    def pattern(self, key: str) -> PatternCheck | None:
        return self.patterns.get(key)

    def reading(self, key: str) -> ClassReading | None:
        return self.readings.get(key)


def _vector_key(model: LoadedModel, unit: Unit) -> str:
    """A visualization's spatial means across its layer and the classes the model reads in it:
    what its pattern check and class reading need of the network, whatever the photos."""
    return measure_key("check_vector", unit.job.key, unit.layer, model.digest, model.input_size)


def _photo_key(model: LoadedModel, index: DatasetIndex, path: Path) -> str:
    """The class the model reads in a photo: keyed by the photo's identity, not the scan's."""
    return measure_key("photo_class", index.photo_id(path), model.digest, model.input_size)


def _vector(data: dict[str, Any]) -> tuple[torch.Tensor, list[tuple[int, float]]]:
    vector = torch.tensor([float(v) for v in data["vector"]], dtype=torch.float32)
    return vector, [(int(k), float(p)) for k, p in data["picture"]]


def _photo_class(data: dict[str, Any]) -> tuple[tuple[int, float] | None]:
    c = data["class"]
    return (None if c is None else (int(c[0]), float(c[1])),)


def _measure_vectors(
    model: LoadedModel, artifacts: ArtifactStore, units: Sequence[Unit], store: MeasureStore,
    progress: Progress = QUIET,
) -> None:
    """The network's part of the pattern checks and class readings of `units`: their spatial
    means across their layers and, where classes speak for the layer, their classes; in batches
    of one image size, stored."""
    by_size: dict[tuple[int, ...], list[tuple[Unit, torch.Tensor]]] = {}
    for unit in units:
        art = artifacts.get(unit.job)
        if art is None:
            continue
        image = load_tensor(art.images[0])
        by_size.setdefault(tuple(image.shape), []).append((unit, image))
    total = sum(len(group) for group in by_size.values())
    with progress.counter(total, "pattern checks", "channels") as count:
        for group in by_size.values():
            for start in range(0, len(group), BATCH):
                chunk = group[start : start + BATCH]
                images = torch.stack([image for _, image in chunk])
                vectors = layer_vectors(model, images, [u.layer for u, _ in chunk])
                reads = [i for i, (u, _) in enumerate(chunk) if reads_classes(model, u.layer)]
                pictures = dict(zip(reads, model.read(images[reads], READING_TOP) if reads
                                    else [], strict=True))
                for i, (unit, _) in enumerate(chunk):
                    store.put(_vector_key(model, unit), {
                        "vector": vectors[unit.layer][i].tolist(),
                        "picture": [list(c) for c in pictures.get(i, [])],
                    })
                count.update(len(chunk))


def _checks(
    model: LoadedModel, index: DatasetIndex | None, artifacts: ArtifactStore,
    units: Sequence[Unit], store: MeasureStore, world: World, compute: bool,
    progress: Progress = QUIET,
) -> Measurements:
    """Pattern checks and class readings: the network's part stored per visualization and per
    top photo, compared with the scan's numbers as they are now (no network)."""
    found = Measurements()
    if index is None:
        return found
    # a channel every photo gives one value has no top photos to compare with
    scanned = [u for u in units if u.layer in index.layer_names
               and not index.is_constant(u.layer, u.channel)]
    tops = {u: index.examples(u.layer, u.channel)[0].path for u in scanned
            if readable(model, index, u.layer, u.channel)}
    lacking = [u for u in scanned if store.get(_vector_key(model, u), _vector) is None]
    photos = [p for p in dict.fromkeys(tops.values())
              if store.get(_photo_key(model, index, p), _photo_class) is None]
    if not compute:
        unread = set(photos)
        found.missing.add("{} pattern check{s}", len(
            {*lacking, *(u for u, p in tops.items() if p in unread)}))
    else:
        _measure_vectors(model, artifacts, lacking[world.rank :: world.size], store, progress)
        mine = photos[world.rank :: world.size]
        for start in range(0, len(mine), BATCH):
            chunk = mine[start : start + BATCH]
            for path, c in zip(chunk, read_photos(model, chunk), strict=True):
                store.put(_photo_key(model, index, path), {"class": None if c is None else list(c)})
        world.barrier()
    for unit in scanned:
        data = store.get(_vector_key(model, unit), _vector)
        if data is None:
            continue
        vector, picture = data
        found.patterns[unit.job.key] = compare_pattern(index, unit.layer, unit.channel, vector)
        photo = store.get(_photo_key(model, index, tops[unit]), _photo_class) if unit in tops \
            else None
        found.readings[unit.job.key] = None if photo is None else class_reading(
            model, picture, photo[0], index.shown_name(tops[unit]))
    return found


def _filters(
    model: LoadedModel, layers: Sequence[str], store: MeasureStore, world: World,
    found: Measurements, compute: bool,
) -> None:
    """Each layer's filters when it is affine in the pixels (None otherwise), cached."""
    absent = 0
    for layer in layers:
        if model.layer(layer).depth > MAX_DEPTH:
            found.filters[layer] = None  # past the first nonlinearity: not affine, nothing to run
            continue
        key = measure_key(
            "filters", FILTERS_VERSION, model.id, model.digest, layer, model.input_size
        )
        if compute:
            # rank 0 measures what is missing; every rank waits at the same barriers whatever
            # it finds in the cache (one that is ahead may have written the filters already)
            if world.rank == 0 and not store.get_tensor(key)[0]:
                store.put_tensor(key, linear_filters(model, layer))
            world.barrier()
        have, tensor = store.get_tensor(key)
        absent += not have
        found.filters[layer] = tensor
    found.missing.add("the filters of {} layer{s}", absent)


def measure_site(
    model: LoadedModel,
    artifacts: ArtifactStore,
    dataset: DatasetIndex | None,
    units: Sequence[Unit],
    layers: Sequence[str],
    *,
    world: World | None = None,
    compute: bool = True,
    progress: Progress = QUIET,
) -> Measurements:
    """Everything the site shows that needs the network, from the store or measured now (with
    `compute=False` from the store only: what it lacks is named in `missing`); what is measured
    now is counted on `progress`."""
    world = world or World(rank=0, size=1, device=model.device)
    store = MeasureStore(artifacts.root)
    units = list(dict.fromkeys(units))
    found = _checks(model, dataset, artifacts, units, store, world, compute, progress)
    _filters(model, layers, store, world, found, compute)
    return found


def _top_class_key(model: LoadedModel, key: str) -> str:
    return measure_key("top_class", key, model.digest)


def top_class(model: LoadedModel, art: Artifact, store: MeasureStore) -> int | None:
    """The class an artifact's first image drives hardest, as `measure_top_classes` measured it
    (None while it is not measured: planning reads it, never runs the network for it)."""
    found: int | None = store.get(_top_class_key(model, art.key), _class)
    return found


def missing_top_classes(
    model: LoadedModel, artifacts: ArtifactStore, jobs: Sequence[VisJob]
) -> list[VisJob]:
    """The jobs of `jobs` whose top class is not measured yet."""
    store = MeasureStore(artifacts.root)
    return [
        j for j in dict.fromkeys(jobs) if store.get(_top_class_key(model, j.key), _class) is None
    ]


def _class(data: dict[str, Any]) -> int:
    return int(data["class"])


def measure_top_classes(
    model: LoadedModel, artifacts: ArtifactStore, jobs: Sequence[VisJob], *,
    world: World | None = None,
) -> int:
    """The class each job's first image drives hardest (its image resized to the model's input
    size), for the jobs whose image is cached and whose class is not measured yet; in batches,
    shared out under torchrun. Returns how many this process measured."""
    world = world or World(rank=0, size=1, device=model.device)
    store = MeasureStore(artifacts.root)
    arts = [a for j in missing_top_classes(model, artifacts, jobs) if (a := artifacts.get(j))]
    mine = arts[world.rank :: world.size]
    size = model.input_size
    for start in range(0, len(mine), BATCH):
        chunk = mine[start : start + BATCH]
        images = [load_tensor(a.images[0]).to(model.device)[None] for a in chunk]
        x = torch.cat([
            torch.nn.functional.interpolate(i, size=(size, size), mode="bilinear",
                                            align_corners=False)
            for i in images
        ])
        with torch.no_grad():
            logits = model.net(model.preprocess(x))
        for art, row in zip(chunk, logits, strict=True):
            store.put(_top_class_key(model, art.key), {"class": int(row.argmax())})
    world.barrier()
    return len(mine)
