"""The atlas's measuring step for a site: circuits between the explorer's visualized layers,
computed (or read from the cache) before anything is rendered, so pages render from data only.

`site_circuits` takes the layers the explorer shows (in forward order, those with at least one
visualized channel), averages the attribution over `CIRCUIT_IMAGES` photos of the site's folder
drawn by a seeded generator (or, without photos, over the cached visualizations of the first
such layer's channels) and returns `{(source, target): LayerCircuit}` from a `CircuitStore` under
`<cache>/circuits/`: a second build reads them back, an interrupted one resumes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
import torch.nn.functional as F

from generator.atlas.circuits import (
    CircuitStore,
    LayerCircuit,
    circuit_jobs,
    compute_circuits,
    images_digest,
    pick_photos,
)
from generator.cache.store import ArtifactStore
from generator.config.site import SiteConfig
from generator.core.images import load_tensor
from generator.dataset.folder import load_view
from generator.jobs import VisJob
from generator.models.base import LoadedModel

CIRCUIT_IMAGES = 16  # images the attribution averages over

Circuits = dict[tuple[str, str], LayerCircuit]


def _photos(dataset: Any, size: int, seed: int) -> torch.Tensor | None:
    files = list(getattr(dataset, "files", ()))
    if not files:
        return None
    picked = pick_photos(files, CIRCUIT_IMAGES, seed)
    return torch.stack([load_view(dataset.root / f, size) for f in picked]).float() / 255


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


def circuit_layers(model: LoadedModel, explorer: Mapping[str, Sequence[VisJob]]) -> list[str]:
    """The explorer's layers with a visualized channel, in forward order."""
    return [name for name in model.layer_names if explorer.get(name)]


def site_circuits(
    config: SiteConfig,
    model: LoadedModel,
    store: ArtifactStore,
    explorer: Mapping[str, Sequence[VisJob]],
    dataset: Any = None,
    *,
    say: Callable[[str], None] | None = None,
) -> Circuits:
    """Every pair's circuit, from the cache or computed now (see the module docstring)."""
    layers = circuit_layers(model, explorer)
    if len(layers) < 2:
        return {}
    images = _photos(dataset, model.input_size, config.seed)
    if images is None:
        images = _visualizations(store, explorer[layers[0]], model.input_size, config.seed)
    if images is None:
        return {}
    images = images.to(model.device)
    jobs = circuit_jobs(model, layers, method="attribution", inputs=images_digest(images))
    cstore = CircuitStore(config.cache_dir / "circuits")

    def done(job: Any, circuit: LayerCircuit) -> None:
        if say is not None:
            say(f"circuit {job.source} -> {job.target}: {circuit.seconds:.1f} s")

    with torch.enable_grad():
        return compute_circuits(model, jobs, cstore, images, progress=done)
