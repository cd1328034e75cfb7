"""Living and dead channels: a channel that is constant on every input the site knows is dead.

`measure_living(model, cache_dir)` runs one cheap batch of starting images through the network
(the optimizer's own starting images, `START_IMAGES` of them, and as many uniform noise images,
at the model's input size) and records, per catalog layer, the channels whose activation is the
same value at every position of every image. It is cached under `cache_dir/measures/` (keyed by
the model, its weights, input size, normalization and layers), so it runs once per model and
never while planning or rendering. `dead_channels(model, cache_dir, layer, dataset)` only reads:
a channel is dead when it is constant on the starting images and, where the dataset scanned the
layer, on every photo too (its highest peak equals its lowest value). Without the measurement in
the cache no channel is called dead. `asleep_channels` reads the channels flat on the optimizer's
starting images alone (alive elsewhere or not), whose pictures need their pre-activation to move.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch

from generator.dataset.index import DatasetIndex
from generator.measure.store import MeasureStore, measure_key
from generator.models.base import LoadedModel
from generator.optvis.param import ImageParam, ParamSpec
from generator.optvis.render import truncated_forward

START_IMAGES = 4  # the optimizer's starting images (default parameterization, seeds 0..3)
NOISE_IMAGES = 4  # uniform noise images beside them
BATCH = 4
TOLERANCE = 1e-6  # relative: max - min within this share of the largest magnitude is constant


def _key(model: LoadedModel) -> str:
    return measure_key(
        "living", model.id, model.weights_digest, model.input_size, list(model.mean),
        list(model.std), [info.name for info in model.layers],
    )


def starting_images(size: int, seed: int = 0, channels: int = 3) -> torch.Tensor:
    """(START_IMAGES + NOISE_IMAGES, 3, size, size) in [0, 1]: the optimizer's starting images
    (grey ones for a network of `channels=1`) and uniform noise, each from its own seeded
    generator."""
    seeds = list(range(seed, seed + START_IMAGES))
    with torch.no_grad():
        start = ImageParam(ParamSpec(), size, seeds, channels=channels)()
    gen = torch.Generator().manual_seed(seed)
    noise = torch.rand(NOISE_IMAGES, 3, size, size, generator=gen)
    return torch.cat([start.float().cpu(), noise])


def constant_channels(acts: Sequence[torch.Tensor]) -> list[int]:
    """Channels (dim 1) whose value is the same at every position of every tensor in `acts`."""
    flat = [a.detach().float().flatten(2) for a in acts]  # (B, C, positions)
    high = torch.stack([f.amax(dim=(0, 2)) for f in flat]).amax(0)
    low = torch.stack([f.amin(dim=(0, 2)) for f in flat]).amin(0)
    scale = torch.maximum(high.abs(), low.abs()).clamp(min=1.0)
    return [int(c) for c in torch.nonzero(high - low <= TOLERANCE * scale).flatten()]


def measure_living(
    model: LoadedModel, cache_dir: Path, *, compute: bool = True
) -> dict[str, list[int]] | None:
    """Per catalog layer, the channels constant on the starting images (from the cache, else
    measured now in small batches; None when missing and `compute` is False)."""
    store = MeasureStore(cache_dir)
    key = _key(model)
    found = store.get(key) or {}
    constant = found.get("constant")
    if isinstance(constant, dict) and (isinstance(found.get("asleep"), dict) or not compute):
        return {str(k): [int(c) for c in v] for k, v in constant.items()}
    if not compute:
        return None
    names = [info.name for info in model.layers]
    acts: dict[str, list[torch.Tensor]] = {name: [] for name in names}
    images = starting_images(model.input_size, channels=model.input_channels)
    with torch.no_grad(), truncated_forward(model, names) as (captured, run):
        for batch in images.split(BATCH):
            run(batch.to(model.device))
            for name in names:
                out = captured[name]
                if out.dim() != 4:  # not (N, C, H, W): no channel is called dead
                    continue
                high, low = out.flatten(2).amax(2), out.flatten(2).amin(2)  # (B, C)
                acts[name].append(torch.stack([high, low], dim=2).cpu())
    constant = {name: constant_channels(acts[name]) if acts[name] else [] for name in names}
    # flat on the optimizer's starting images alone (the first START_IMAGES): no gradient there
    asleep = {
        name: constant_channels([torch.cat(acts[name])[:START_IMAGES]]) if acts[name] else []
        for name in names
    }
    store.put(key, {"constant": constant, "asleep": asleep})
    return constant


def asleep_channels(model: LoadedModel, cache_dir: Path, layer: str) -> frozenset[int]:
    """The channels of `layer` flat at every position of the optimizer's starting images (cached
    by `measure_living`; none without the measurement): a ReLU's floor, where no gradient reaches
    the image, so their pictures are led by the pre-activation (`optvis.objectives.channel`)."""
    found = MeasureStore(cache_dir).get(_key(model))
    asleep = found.get("asleep") if found is not None else None
    if not isinstance(asleep, dict) or layer not in asleep:
        return frozenset()
    return frozenset(int(c) for c in asleep[layer])


def dead_channels(
    model: LoadedModel, cache_dir: Path, layer: str, dataset: DatasetIndex | None = None
) -> frozenset[int]:
    """The dead channels of `layer`: constant on the starting images (cached by
    `measure_living`) and, where the dataset scanned the layer, on every photo."""
    constant = measure_living(model, cache_dir, compute=False)
    if not constant or layer not in constant:
        return frozenset()
    dead = set(constant[layer])
    if dataset is not None and layer in dataset.layer_names:
        dead &= dataset.constant_channels(layer)
    return frozenset(dead)


def living_first(channels: int, dead: frozenset[int]) -> list[int]:
    """Every channel of a layer, the living ones first, each part in channel order."""
    return [c for c in range(channels) if c not in dead] + sorted(dead)
