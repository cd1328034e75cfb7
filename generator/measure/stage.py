"""The measure stage: every use of the network the site shows, other than the optimizer itself,
done once, batched and cached before anything is rendered.

- the pattern check of each one-channel visualization against its channel's top photos,
- the model's class reading of the visualization beside its reading of the top photo,
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
from typing import Any

import torch

from generator.cache.sidecar import Artifact
from generator.cache.store import ArtifactStore
from generator.compute import World
from generator.core.images import load_tensor
from generator.core.progress import QUIET, Progress
from generator.core.tally import Lacking
from generator.dataset.checks import ClassReading, PatternCheck, check_patterns, read_classes
from generator.dataset.index import DatasetIndex
from generator.jobs import VisJob
from generator.measure.filters import MAX_DEPTH, linear_filters
from generator.measure.legibility import Verdict
from generator.measure.store import MeasureStore, measure_key, values_digest
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


def _check_key(model: LoadedModel, index: DatasetIndex, unit: Unit) -> str:
    """The key of a pattern check and class reading: what they read (the visualization; the
    layer's photo means and spreads and the channel's pattern over its top photos; its top
    photo), not the whole scan, so a photo that moves none of these keeps the measurement."""
    layer, channel = unit.layer, unit.channel
    values = values_digest(index.channel_means(layer), index.channel_stds(layer),
                           index.pattern(layer, channel))
    top = index.examples(layer, channel)[:1]
    return measure_key("checks", unit.job.key, model.digest, model.input_size, values,
                       [index.photo_id(e.path) for e in top])


def _encode(check: PatternCheck | None, reading: ClassReading | None) -> dict[str, Any]:
    return {
        "pattern": None if check is None else vars(check),
        "reading": None
        if reading is None
        else {
            "picture": [list(c) for c in reading.picture],
            "photo": list(reading.photo),
            "photo_file": reading.photo_file,
            "meets": reading.meets,
        },
    }


def _decode(data: dict[str, Any]) -> tuple[PatternCheck | None, ClassReading | None]:
    check = None if data["pattern"] is None else PatternCheck(**data["pattern"])
    r = data["reading"]
    reading = None
    if r is not None:
        reading = ClassReading(
            picture=tuple((str(n), float(p)) for n, p in r["picture"]),
            photo=(str(r["photo"][0]), float(r["photo"][1])),
            photo_file=str(r["photo_file"]),
            meets=bool(r["meets"]),
        )
    return check, reading


def _measure_checks(
    model: LoadedModel, index: DatasetIndex, artifacts: ArtifactStore, units: Sequence[Unit],
    store: MeasureStore, progress: Progress = QUIET,
) -> None:
    """Pattern checks and class readings of `units`, in batches of one image size, stored."""
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
                items = [(u.layer, u.channel, image) for u, image in chunk]
                checks = check_patterns(model, index, items)
                readings = read_classes(model, index, items)
                for (unit, _), check, reading in zip(chunk, checks, readings, strict=True):
                    store.put(_check_key(model, index, unit), _encode(check, reading))
                count.update(len(chunk))


def _checks(
    model: LoadedModel, index: DatasetIndex | None, artifacts: ArtifactStore,
    units: Sequence[Unit], store: MeasureStore, world: World, compute: bool,
    progress: Progress = QUIET,
) -> Measurements:
    found = Measurements()
    if index is None:
        return found
    scanned = [u for u in units if u.layer in index.layer_names]
    missing = [u for u in scanned if store.get(_check_key(model, index, u), _decode) is None]
    if not compute:
        found.missing.add("{} pattern check{s}", len(missing))
    else:
        mine = missing[world.rank :: world.size]
        _measure_checks(model, index, artifacts, mine, store, progress)
        world.barrier()
    for unit in scanned:
        data = store.get(_check_key(model, index, unit), _decode)
        if data is not None:
            found.patterns[unit.job.key], found.readings[unit.job.key] = data
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
        key = measure_key("filters", model.id, model.digest, layer, model.input_size)
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
