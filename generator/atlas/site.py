"""The atlas's measuring step for a site: circuits between the explorer's visualized layers,
computed (or read from the cache) before anything is rendered, so pages render from data only.

`site_circuits` takes the layers the explorer shows (in forward order, those with at least one
visualized channel): a circuit per consecutive pair, one into the first from the catalog's layer
before it (`layer_before`), and per layer one of its block's inputs
(`generator.atlas.circuits.inputs`); it averages the attribution over `CIRCUIT_IMAGES` photos
of the site's folder drawn by a seeded generator (or, without photos, over the cached
visualizations of the first such layer's channels). It measures only the rows of the channels
that have pages or figures (`rows`: the explorer's channels plus any the caller adds), since each
row is a backward pass and a sampled layer shows a few of its channels. It returns
`{circuit_key(job): LayerCircuit}` from a `CircuitStore` under `<cache>/circuits/`: a second
build reads them back, an interrupted one resumes.

`site_accentuations` does the same for feature accentuation: each explorer channel's top
`ACCENT_PHOTOS` photos, optimized to raise the channel while an early layer stays near the photo's
(`generator.atlas.accentuation`), cached under `<cache>/accentuation/` by the photo's pixels and
the model, and scored against the scan as it is at each build (its agreements with the top photos
follow the folder); several processes share its batches out and the first one reads them all back
once every one is done.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from generator.atlas.accentstore import AccentStore, accentuate_cached
from generator.atlas.accentuation import (
    AccentJob,
    AccentResult,
    accent_job,
    scored,
)
from generator.atlas.circuits import (
    CircuitStore,
    LayerCircuit,
    circuit_jobs,
    circuit_key,
    compute_circuits,
    images_digest,
    pick_photos,
)
from generator.cache.store import ACCENT_DIR, CIRCUITS_DIR, ArtifactStore
from generator.compute import World
from generator.config.presets import Preset
from generator.config.site import SiteConfig
from generator.core.images import load_tensor
from generator.core.progress import QUIET, Progress
from generator.core.tally import Lacking
from generator.dataset.folder import load_view
from generator.dataset.index import DatasetIndex
from generator.jobs import VisJob, default_batch_size
from generator.models.base import LoadedModel
from generator.optvis.recipe import Recipe

CIRCUIT_IMAGES = 16  # images the attribution averages over

Circuits = dict[tuple[str, str], LayerCircuit]
Accents = dict[tuple[str, int], list["Accented"]]


def _photos(dataset: DatasetIndex | None, size: int, seed: int) -> torch.Tensor | None:
    if dataset is None or not dataset.files:
        return None
    views = []
    for name in pick_photos(list(dataset.files), CIRCUIT_IMAGES, seed):
        try:
            views.append(load_view(dataset.root / name, size))
        except (OSError, ValueError):
            continue  # unreadable or too many pixels: the scan skipped it too
    return torch.stack(views).float() / 255 if views else None


def _visualizations(
    store: ArtifactStore, jobs: Sequence[VisJob], size: int, seed: int
) -> torch.Tensor | None:
    """The cached channel visualizations of `jobs` (a seeded pick), at the model's input size."""
    arts = [a for a in (store.get(job) for job in jobs) if a is not None and a.images]
    if not arts:
        return None
    gen = torch.Generator().manual_seed(int(seed))
    order = torch.randperm(len(arts), generator=gen)[:CIRCUIT_IMAGES].sort().values.tolist()
    images = [load_tensor(arts[i].images[0]) for i in order]
    batch = torch.stack([img if img.dim() == 3 else img[0] for img in images]).float()
    return F.interpolate(batch, size=(size, size), mode="bilinear", align_corners=False)


def circuit_layers(model: LoadedModel, explorer: Mapping[str, Mapping[int, VisJob]]) -> list[str]:
    """The explorer's layers with a visualized channel, in forward order."""
    return [name for name in model.layer_names if explorer.get(name)]


def layer_before(model: LoadedModel, layer: str) -> str:
    """The catalog's layer before `layer` ("" for the first): the inputs of the first layer the
    explorer shows are measured from it, so its channel pages have a circuit even when their
    block has a single input (a plain stack, an Inception block)."""
    names = model.layer_names
    at = names.index(layer)
    return names[at - 1] if at > 0 else ""


def site_circuits(
    config: SiteConfig,
    model: LoadedModel,
    store: ArtifactStore,
    explorer: Mapping[str, Mapping[int, VisJob]],
    dataset: DatasetIndex | None = None,
    *,
    missing: Lacking | None = None,
    rows: Mapping[str, Iterable[int]] | None = None,
    progress: Progress = QUIET,
) -> Circuits:
    """Every pair's circuit, from the cache or computed now (see the module docstring), with
    the rows of the explorer's channels and of those `rows` adds, each computed one counted and
    named on `progress`. Given `missing`, nothing is computed: the cached circuits are returned
    and the others named there."""
    layers = circuit_layers(model, explorer)
    shown = {layer: {int(c) for c in (rows or {}).get(layer, ())} | set(explorer[layer])
             for layer in layers}
    if not layers:
        return {}
    images = _photos(dataset, model.input_size, config.seed)
    if images is None:
        first = list(explorer[layers[0]].values())
        images = _visualizations(store, first, model.input_size, config.seed)
    if images is None:
        return {}
    images = images.to(model.device)
    jobs = circuit_jobs(
        model, layers, method="attribution", inputs=images_digest(images), rows=shown,
        before=layer_before(model, layers[0]),
    )
    cstore = CircuitStore(config.cache_dir / CIRCUITS_DIR)
    if missing is not None:
        found = {circuit_key(j): lc for j in jobs if (lc := cstore.get(j)) is not None}
        absent = len(jobs) - len(found)
        missing.add("{} circuit{s} between explorer layers", absent)
        return found

    absent = sum(cstore.get(job) is None for job in jobs)
    with progress.counter(absent, "circuits", "circuits") as count, torch.enable_grad():

        def done(_job: Any, _circuit: LayerCircuit) -> None:
            count.update()

        return compute_circuits(model, jobs, cstore, images, progress=done)


ACCENT_PHOTOS = 3  # accentuated top photos per channel page
# An accentuation starts from the photo, so it needs fewer steps than a visualization from noise:
# the default recipe's NAdam (warm-up, cosine decay) at a peak of 0.05 for the preset's
# `accent_steps` (48, the quick preset's 16; `benchmarks/bench_atlas.py accent` compares step
# counts and optimizers), or its `steps` where those are fewer.
ACCENT_LR = 0.05
ACCENT_RECIPE = Recipe()


@dataclass(frozen=True)
class Accented:
    """One accentuated top photo of a channel: the photo's file, its job, its result and the
    cache's PNG of the image (None when it was not written)."""

    photo: Path
    job: AccentJob
    result: AccentResult
    image_path: Path | None = None


def site_accentuations(
    config: SiteConfig,
    model: LoadedModel,
    preset: Preset,
    explorer: Mapping[str, Mapping[int, VisJob]],
    dataset: DatasetIndex | None = None,
    *,
    missing: Lacking | None = None,
    world: World | None = None,
    progress: Progress = QUIET,
) -> Accents:
    """For every explorer channel, its top `ACCENT_PHOTOS` photos accentuated at the preset's
    size in the preset's `accent_steps` at most (from `<cache>/accentuation/`, or computed now in
    batches), each scored against `dataset`; {} without photos. Given `missing`, nothing is
    computed: the cached ones are returned and the count of the others named there. Under a
    `world` of several processes every process calls this: each computes its share of the
    batches, all meet at its barrier, and rank 0 reads them all (the others return {})."""
    if dataset is None:
        return {}
    units: list[tuple[str, int, Path]] = []
    for layer, channels in explorer.items():
        if layer not in dataset.layer_names:
            continue
        for channel in channels:
            for example in dataset.examples(layer, channel, "top")[:ACCENT_PHOTOS]:
                units.append((layer, channel, Path(example.path)))
    if not units:
        return {}
    photos = torch.stack(
        [load_view(path, model.input_size).float() / 255 for _, _, path in units]
    )
    settings = {"steps": min(preset.steps, preset.accent_steps), "size": preset.size,
                "seed": config.seed, "lr": ACCENT_LR, "recipe": ACCENT_RECIPE}
    accent_jobs = [
        accent_job(model, layer, channel, photos[i], **settings)
        for i, (layer, channel, _) in enumerate(units)
    ]
    store = AccentStore(config.cache_dir / ACCENT_DIR)
    if missing is not None:
        found = [store.get(job) for job in accent_jobs]
        absent = sum(result is None for result in found)
        missing.add("{} accentuated photo{s}", absent)
    else:
        with torch.enable_grad():
            found = accentuate_cached(
                model, accent_jobs, photos, store, world=world,
                batch_size=default_batch_size(model.device.type), progress=progress,
            )
        if world is not None:
            world.barrier()
            if world.rank != 0:
                return {}
        found = [store.get(job) if result is None else result
                 for job, result in zip(accent_jobs, found, strict=True)]
    out: Accents = {}
    for (layer, channel, path), accent, result in zip(units, accent_jobs, found, strict=True):
        if result is not None:
            image = store.paths(accent.key)[0]
            out.setdefault((layer, channel), []).append(
                Accented(path, accent, scored(result, layer, channel, dataset),
                         image if image.is_file() else None)
            )
    return out
