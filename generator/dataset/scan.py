"""Dataset examples: one pass over an image folder, top/bottom-k images per channel.

`load_or_scan(config, model, layers, top_k=...)` returns a `DatasetIndex` (None when no dataset is
configured). The folder is read recursively (`PHOTO_SUFFIXES`, any case; linked folders once; hidden
files and folders are ignored) in sorted order. Each image is resized so its short side is the
model's input size and centre-cropped, exactly as the model sees it. One batched pass, without
gradients, on the model's device reduces every layer's output per batch to each (image, channel)'s
spatial maximum, minimum, their positions and the spatial mean, and merges those into running top-k
/ bottom-k tables; no full activation map outlives its batch. Per channel the index also keeps the
dataset's mean activation, and the "pattern" of its top-k images: the mean over them of the layer's
vector of per-channel spatial means (kept alongside the running top-k, so no second pass is needed).
A long scan saves its running tables every `CHECKPOINT_SECONDS` (about 60 MB and 0.15 s for all 18
layers of the embedded model), so an interrupted one goes on from its last checkpoint.
For the activation spectrum it keeps every channel's spatial mean for a fixed sample of the images
(every image up to `SPECTRUM_SAMPLE`, about that many chosen by their names' hashes beyond:
`grow.spectrum_sample`), from which `spectrum` picks photos from the most negative to the most
positive.

Unreadable images are skipped and counted, never fatal. The result is cached under
`config.cache_dir/dataset/<key>/`, one file per layer, written atomically; the key hashes the
folder's sorted file list with sizes and mtimes, the model id and weights digest, the input size,
`top_k` and `FORMAT_VERSION`. A call whose layers are all cached opens no image. A folder that
only gained photos since an earlier scan is scanned from that scan's running state, reading only
the new photos (`grow`); the new scan then replaces the earlier one (`store._prune`).

Receptive fields are measured, not derived from architecture tables: the input gradient of the
centre unit's summed channels over a few seeded noise images. Its support is the theoretical
receptive field; the smallest square around its centre of mass holding `EFFECTIVE_RF_SHARE` of the
gradient mass is the effective one, which `patch` crops around a peak (never smaller than
`MIN_PATCH` input pixels). Where the effective field covers `WHOLE_PHOTO_SHARE` of the input or
more, `patch` returns the whole photo as the model saw it.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

from generator.config.schema import DATASET_TOP_K, Invalid
from generator.core.atomic import atomic_write
from generator.core.errors import FeatvisError
from generator.core.progress import Progress
from generator.core.words import counted
from generator.dataset.fields import measure_receptive_fields
from generator.dataset.folder import _Photos, folder_stats, list_images, printable, stats_digest
from generator.dataset.grow import Grown, find_parent, spectrum_sample
from generator.dataset.index import DatasetIndex, ScanSummary
from generator.dataset.store import (
    _cache_dir,
    _lineage,
    _prune,
    _read_cached,
    _write_cache,
    note_scans,
)
from generator.dataset.tables import _LayerScan
from generator.models.base import LayerInfo, LoadedModel
from generator.optvis.render import truncated_forward

SPECTRUM_SAMPLE = 2048  # images whose per-channel means are kept for the spectrum
CHECKPOINT_SECONDS = 60.0  # an interrupted scan goes on from its last checkpoint


def _batches(
    photos: _Photos, batch_size: int, workers: int, pin: bool
) -> Iterator[tuple[torch.Tensor, torch.Tensor, list[str]]]:
    loader = torch.utils.data.DataLoader(
        photos, batch_size=batch_size, shuffle=False, num_workers=workers, pin_memory=pin,
    )
    for images, ids, reasons in loader:
        yield images, ids, list(reasons)


@dataclass(frozen=True)
class _Scanned:
    tables: dict[str, dict[str, Any]]  # per layer, what `DatasetIndex` reads
    summary: ScanSummary
    states: dict[str, dict[str, Any]]  # per layer, the running state a later scan goes on from
    skipped: list[tuple[int, str]]  # every photo skipped: (id, "path: reason"), by id


def scan(
    model: LoadedModel,
    root: Path,
    files: Sequence[str],
    layers: Sequence[str],
    *,
    top_k: int,
    batch_size: int = 32,
    workers: int = 0,
    progress: bool = False,
    checkpoint: Path | None = None,
    grown: Grown | None = None,
) -> _Scanned:
    """One pass over `files` (with `grown`, over its new photos only, going on from its earlier
    scan): per layer the tables `DatasetIndex` reads, and the summary.

    With `checkpoint`, the running tables are saved there every `CHECKPOINT_SECONDS`, and a scan
    that finds one (an interrupted run of the same scan) goes on from the image it had reached."""
    start = time.perf_counter()
    device = model.device
    infos = [model.layer(name) for name in layers]
    sample = spectrum_sample(files, SPECTRUM_SAMPLE)
    scans = {info.name: _LayerScan(info, top_k, device, sample) for info in infos}
    fields = grown.fields if grown else measure_receptive_fields(model, list(layers))
    todo = list(grown.todo) if grown else list(range(len(files)))
    todo_key = hashlib.sha256(repr(todo).encode()).hexdigest()
    skipped: list[tuple[int, str]] = list(grown.skipped) if grown else []
    read = grown.read if grown else 0
    if grown:
        for name, layer_scan in scans.items():
            layer_scan.restore(grown.states[name])
    done = 0
    resumed = _read_checkpoint(checkpoint, list(scans), todo_key) if checkpoint else None
    if resumed is not None:
        done, read = resumed["done"], resumed["read"]
        skipped = [(int(i), str(text)) for i, text in resumed["skipped"]]
        for name, layer_scan in scans.items():
            layer_scan.restore(resumed["scans"][name])
    photos = _Photos(root, files, model.input_size, start=done, order=todo)
    saved = time.perf_counter()
    counting = Progress(quiet=not progress).counter(len(todo), "dataset scan", "photos")
    with counting as bar, torch.no_grad(), truncated_forward(model, list(layers)) as (acts, run):
        if done:
            bar.update(done)
        pin = device.type == "cuda"
        for images, ids, reasons in _batches(photos, batch_size, workers, pin):
            ok = torch.tensor([not r for r in reasons], dtype=torch.bool)
            skipped += [
                (i, f"{printable(files[i])}: {r}")
                for i, r in zip(ids.tolist(), reasons, strict=True) if r
            ]
            bar.update(len(reasons))
            done += len(reasons)
            if ok.any():
                x = images[ok].to(device, non_blocking=True).float().div_(255)
                run(x)
                batch_ids = ids[ok].to(device)
                for name, layer_scan in scans.items():
                    layer_scan.update(acts[name], batch_ids)
                read += int(ok.sum())
            if checkpoint and time.perf_counter() - saved > CHECKPOINT_SECONDS:
                state = {"done": done, "read": read, "skipped": skipped, "todo": todo_key,
                         "scans": {name: s.state() for name, s in scans.items()}}
                atomic_write(checkpoint, lambda p, s=state: torch.save(s, p))
                saved = time.perf_counter()
    skipped.sort()
    if read == 0:
        raise FeatvisError(
            f"{root}: none of the {len(files)} images could be read ({skipped[0][1]})"
        )
    summary = ScanSummary(
        root=root, images_read=read, images_skipped=len(skipped),
        skipped=tuple(text for _, text in skipped[:20]), seconds=time.perf_counter() - start,
        from_cache=False, cached=grown.cached if grown else 0,
    )
    return _Scanned(
        {name: s.result(fields[name]) for name, s in scans.items()}, summary,
        {name: s.state() for name, s in scans.items()}, skipped,
    )


def _read_checkpoint(path: Path, layers: list[str], todo: str) -> dict[str, Any] | None:
    """An interrupted scan's state, if `path` holds one for these layers and these photos to read
    (else None)."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception:  # noqa: BLE001 - missing or damaged: start from the first image
        return None
    if not isinstance(state, dict) or sorted(state.get("scans", {})) != sorted(layers):
        return None
    return state if state.get("todo") == todo else None


def _checkpoint_file(folder: Path, layers: Sequence[str]) -> Path:
    digest = hashlib.sha256("\n".join(sorted(layers)).encode()).hexdigest()[:12]
    return folder / f"partial-{digest}.pt"


def load_or_scan(
    config: Any,
    model: LoadedModel,
    layers: Sequence[str | LayerInfo],
    *,
    top_k: int,
    progress: bool = True,
    batch_size: int | None = None,
    workers: int | None = None,
    force: bool = False,
    scan_missing: bool = True,
) -> DatasetIndex | None:
    """The dataset index for `layers`, from the cache where it holds them, else by scanning
    (with `scan_missing=False`, a layer the cache lacks is a `FeatvisError` naming it)."""
    if getattr(config, "dataset", None) is None:
        return None
    try:
        DATASET_TOP_K.parse(top_k)
    except Invalid as exc:
        raise FeatvisError(f"dataset_top_k {exc}") from None
    root = Path(config.dataset)
    names = list(dict.fromkeys(
        x.name if isinstance(x, LayerInfo) else model.layer(x).name for x in layers
    ))
    if not names:
        raise FeatvisError(f"{root}: dataset scan asked for no layers")
    files = list_images(root)
    stats = folder_stats(root, files)
    folder = _cache_dir(config, model, stats_digest(stats), top_k)
    note_scans(config.cache_dir, _lineage(config, model, top_k), folder)
    cached, meta = ({}, None) if force else _read_cached(folder, names)
    missing = [n for n in names if n not in cached]
    if (missing or meta is None) and not scan_missing:
        raise FeatvisError(
            f"{root}: the dataset scan of {len(missing or names)} layers is not in the cache "
            "(run `featvis compute` or `featvis build` to scan it)"
        )
    if missing or meta is None:
        layers_to_scan = missing or names
        lineage = _lineage(config, model, top_k)
        grown, why = (None, "asked to scan again") if force else find_parent(
            config.cache_dir, lineage, stats, layers_to_scan,
            spectrum_sample(files, SPECTRUM_SAMPLE), exclude=folder,
        )
        Progress(quiet=not progress).say(
            f"dataset scan: {counted(len(grown.todo), 'new photo')} ({grown.cached} cached)"
            if grown else f"dataset scan: {counted(len(files), 'photo')}, a full scan ({why})"
        )
        batch = batch_size or (64 if model.device.type == "cuda" else 32)
        if workers is None:
            to_read = len(grown.todo) if grown else len(files)
            workers = min(2, os.cpu_count() or 1) if to_read > batch else 0
        partial = _checkpoint_file(folder, layers_to_scan)
        done = scan(
            model, root, files, layers_to_scan, top_k=top_k, batch_size=batch,
            workers=workers, progress=progress, checkpoint=partial, grown=grown,
        )
        summary = done.summary
        meta = {k: v for k, v in asdict(summary).items() if k not in ("root", "from_cache")}
        record = {"files": stats, "read": summary.images_read,
                  "skipped": [list(item) for item in done.skipped]}
        _write_cache(folder, done.tables, {**meta, "lineage": lineage}, done.states, record)
        partial.unlink(missing_ok=True)
        _prune(config.cache_dir, lineage, folder)
        cached.update(done.tables)
    else:
        summary = ScanSummary(
            root=root, images_read=meta["images_read"], images_skipped=meta["images_skipped"],
            skipped=tuple(meta["skipped"]), seconds=0.0, from_cache=True,
        )
    tables = {n: cached[n] for n in names}
    index = DatasetIndex(root, files, model.input_size, top_k, tables, summary, key=folder.name,
                         stats=stats)
    index.grey = model.grey
    return index
