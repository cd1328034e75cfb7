"""The accentuation cache: each accentuated photo as `<key>.png` beside a `<key>.json` sidecar
(its job, what the network gave: its activations and its and its photo's per-channel vectors, and
the PNG's sha256), and `accentuate_cached`, which reads what the cache holds and computes the rest
in batches of equal settings (shared out between processes). The pattern agreements are not
cached: they depend on the scan they are scored against (`accentuation.scored`)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from generator.atlas.accentuation import (
    ACCENT_VERSION,
    AccentJob,
    AccentResult,
    accentuate,
    scored,
)
from generator.cache.entries import read_entry
from generator.cache.reads import note
from generator.compute import World
from generator.core.atomic import write_atomic
from generator.core.images import png_bytes
from generator.core.progress import QUIET, Progress
from generator.dataset.index import DatasetIndex
from generator.jobs import canonical_json
from generator.models.base import LoadedModel


class AccentStore:
    """Accentuated images under `root` (e.g. `<cache>/accentuation/`): `<key>.png` and
    `<key>.json` (written last, with the job, what the network gave and the PNG's sha256)."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def paths(self, key: str) -> tuple[Path, Path]:
        folder = self.root / key[:2]
        paths = folder / f"{key}.png", folder / f"{key}.json"
        note(*paths)
        return paths

    def get(self, job: AccentJob) -> AccentResult | None:
        """The result of `job`, unscored (`accentuation.scored`); None when absent or damaged
        (reported, computed again)."""
        image_path, meta_path = self.paths(job.key)

        def read() -> AccentResult:
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
            data = image_path.read_bytes()
            if meta.get("job") != json.loads(canonical_json(job.to_dict())):
                raise ValueError("not this job's image")
            if meta.get("sha256") != hashlib.sha256(data).hexdigest():
                raise ValueError(f"{image_path.name} does not match its sha256")
            with Image.open(image_path) as img:
                array = np.asarray(img.convert("RGB"), dtype=np.float32) / 255.0
            image = torch.from_numpy(array.copy()).permute(2, 0, 1)
            return AccentResult.from_measured(image, meta["measured"])

        return read_entry(meta_path, read)

    def put(self, job: AccentJob, result: AccentResult) -> Path:
        image_path, meta_path = self.paths(job.key)
        data = png_bytes(result.image)
        write_atomic(image_path, data)
        meta = {
            "version": ACCENT_VERSION,
            "key": job.key,
            "job": job.to_dict(),
            "measured": result.measured(),
            "sha256": hashlib.sha256(data).hexdigest(),
        }
        write_atomic(meta_path, (json.dumps(meta, allow_nan=False) + "\n").encode())
        return image_path


def accentuate_cached(
    model: LoadedModel,
    jobs: Sequence[AccentJob],
    photos: torch.Tensor,
    store: AccentStore,
    *,
    index: DatasetIndex | None = None,
    batch_size: int = 8,
    world: World | None = None,
    progress: Progress = QUIET,
) -> list[AccentResult | None]:
    """Every job's result: cached ones read, missing ones computed in batches of equal settings,
    written as each finishes; all scored against `index` (or without one). Under a `world` of
    several processes every process calls this with the same jobs, reads the cache before any
    writes (`world.barrier()`) and computes every size-th batch; the others' results are None
    (in `store` once every process is done)."""
    rank, size = (0, 1) if world is None else (world.rank, world.size)
    results: dict[int, AccentResult] = {}
    missing: dict[str, list[int]] = {}
    for i, job in enumerate(jobs):
        cached = store.get(job)
        if cached is not None:
            results[i] = cached
        else:
            missing.setdefault(job.batch_signature(), []).append(i)
    if world is not None:
        world.barrier()
    batches = [
        rows[start : start + batch_size]
        for rows in missing.values()
        for start in range(0, len(rows), batch_size)
    ]
    mine = batches[rank::size]
    with progress.counter(sum(map(len, mine)), "accentuations", "photos") as count:
        for part in mine:
            # every batch at the full size, filled with copies of its first job (dropped): the
            # CPU's kernels follow the batch's shape, and a fixed shape keeps a result independent
            # of which other jobs the cache held
            filled = part + [part[0]] * (batch_size - len(part))
            done = accentuate(model, [jobs[i] for i in filled], photos[filled])
            for i, result in zip(part, done[: len(part)], strict=True):
                store.put(jobs[i], result)
                results[i] = result
            count.update(len(part))
    return [
        None if (r := results.get(i)) is None else scored(r, job.layer, job.channel, index)
        for i, job in enumerate(jobs)
    ]
