"""Where a scan's tables live: `cache_dir/dataset/<key>/`, one file per layer, written atomically.

The key hashes the folder's fingerprint, the model id and network digest, the input size, `top_k`
and `FORMAT_VERSION`. A damaged file is reported (`generator.cache.entries`) and scanned again.
Beside the tables, `state/` keeps what a later scan of the grown folder goes on from: each layer's
running state and the file list the scan read (names, sizes, modification times, what it skipped).
`meta.json`, written last, names the scan's lineage: the folder's path, the model and the
settings, without the file list; a scan replaces the earlier scans of its lineage whose layers it
holds (`prune`).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import torch

from generator.cache.entries import read_entry
from generator.cache.reads import note, recording_now
from generator.cache.store import DATASET_DIR
from generator.cache.temp import discard
from generator.core.atomic import atomic_write
from generator.core.errors import FeatvisError
from generator.models.base import LoadedModel

FORMAT_VERSION = 5
STATE_DIR = "state"
FILES_RECORD = "files.json"


def _cache_dir(config: Any, model: LoadedModel, fingerprint: str, top_k: int) -> Path:
    spec = json.dumps(
        [FORMAT_VERSION, fingerprint, model.id, model.digest, model.input_size, top_k]
    )
    return Path(config.cache_dir) / DATASET_DIR / hashlib.sha256(spec.encode()).hexdigest()[:20]


def _lineage(config: Any, model: LoadedModel, top_k: int) -> str:
    """What the scans of one photo folder by one model with one set of settings share."""
    root = os.path.realpath(config.dataset)
    spec = json.dumps([FORMAT_VERSION, root, model.id, model.digest, model.input_size, top_k])
    return hashlib.sha256(spec.encode()).hexdigest()[:20]


def _layer_file(folder: Path, layer: str) -> Path:
    safe = re.sub(r"[^\w.-]", "_", layer)
    return folder / f"{safe}-{hashlib.sha256(layer.encode()).hexdigest()[:8]}.pt"


def _write_cache(
    folder: Path,
    tables: dict[str, dict[str, Any]],
    meta: dict[str, Any],
    states: dict[str, dict[str, Any]],
    record: dict[str, Any],
) -> None:
    """The layers' tables and running states, the scan's file list, then its sidecar."""
    try:
        for name, data in tables.items():
            atomic_write(_layer_file(folder, name), lambda p, d=data: torch.save(d, p))
        for name, state in states.items():
            kept = {"format": FORMAT_VERSION, "state": state, "field": tables[name]["field"]}
            atomic_write(_state_file(folder, name), lambda p, d=kept: torch.save(d, p))
        _write_json(folder / STATE_DIR / FILES_RECORD, record)
        _write_json(folder / "meta.json", meta)
    except OSError as exc:
        raise FeatvisError(
            f"{folder}: cannot write the dataset cache ({exc.strerror or exc}); "
            "choose another cache folder with --cache"
        ) from None


def _write_json(path: Path, value: Any) -> None:
    text = json.dumps(value, indent=None if path.name == FILES_RECORD else 1)
    atomic_write(path, lambda p: Path(p).write_text(text, encoding="utf-8"))


def _state_file(folder: Path, layer: str) -> Path:
    return folder / STATE_DIR / _layer_file(folder, layer).name


def _meta_ok(meta: Any) -> bool:
    return (
        isinstance(meta, dict)
        and all(isinstance(meta.get(k), int) and not isinstance(meta.get(k), bool)
                for k in ("images_read", "images_skipped"))
        and isinstance(meta.get("skipped"), list)
    )


def _read_cached(
    folder: Path, layers: Sequence[str]
) -> tuple[dict[str, dict[str, Any]], dict[str, Any] | None]:
    """The cached tables of `layers` and the scan's sidecar; a damaged file is reported and read
    as missing (that layer, or with the sidecar the whole scan, is scanned again)."""

    def read_meta() -> dict[str, Any]:
        meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
        if not _meta_ok(meta):
            raise ValueError("not a scan's sidecar")
        return meta  # type: ignore[no-any-return]

    def read_layer(path: Path) -> dict[str, Any]:
        data = torch.load(path, map_location="cpu", weights_only=True)
        if not isinstance(data, dict):
            raise TypeError(f"a {type(data).__name__}, not a layer's tables")
        return data

    found: dict[str, dict[str, Any]] = {}
    meta = read_entry(folder / "meta.json", read_meta)
    if meta is None:
        return found, None
    for layer in layers:
        path = _layer_file(folder, layer)
        data = read_entry(path, lambda path=path: read_layer(path))  # type: ignore[misc]
        if data is not None and data.get("format") == FORMAT_VERSION:
            found[layer] = data
    return found, meta


def _quiet_json(path: Path) -> Any:
    """A JSON file's value, None when it is absent or unreadable (another scan's files are
    only candidates: one that cannot be read is passed over, not reported)."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def note_scans(cache_dir: Path, lineage: str, current: Path) -> None:
    """While reads are recorded (`generator.cache.reads`): the scan the site reads and every
    scan of its lineage (a later scan of the grown folder goes on from one of them)."""
    if recording_now():
        note(current, *_lineage_scans(cache_dir, lineage))


def _lineage_scans(cache_dir: Path, lineage: str) -> Iterator[Path]:
    """The scan folders of `lineage` in the cache."""
    try:
        folders = sorted(
            p for p in (Path(cache_dir) / DATASET_DIR).iterdir()
            if p.is_dir() and not p.name.startswith(".")
        )
    except OSError:
        return
    for folder in folders:
        meta = _quiet_json(folder / "meta.json")
        if isinstance(meta, dict) and meta.get("lineage") == lineage:
            yield folder


def _read_record(folder: Path) -> dict[str, Any] | None:
    """The file list a scan read and what it skipped, None when unusable."""
    record = _quiet_json(folder / STATE_DIR / FILES_RECORD)
    if not (isinstance(record, dict) and isinstance(record.get("files"), list)
            and isinstance(record.get("skipped"), list)):
        return None
    return record


def _read_states(folder: Path, layers: Sequence[str]) -> dict[str, dict[str, Any]] | None:
    """Each layer's running state as the scan in `folder` left it and its receptive field
    (`{"state": ..., "field": ...}`); None unless all are there."""
    states = {}
    for layer in layers:
        try:
            kept = torch.load(_state_file(folder, layer), map_location="cpu", weights_only=True)
        except Exception:  # noqa: BLE001 - absent or damaged: not a scan to go on from
            return None
        if not isinstance(kept, dict) or kept.get("format") != FORMAT_VERSION:
            return None
        states[layer] = kept
    return states


def _layer_files(folder: Path) -> set[str]:
    return {p.name for p in folder.glob("*.pt") if not p.name.startswith("partial-")}


def _prune(cache_dir: Path, lineage: str, current: Path) -> list[Path]:
    """Remove the other scans of `lineage` whose every layer `current` holds (an earlier state of
    the same folder: superseded), each whole (`cache.temp.discard`). Returns the folders
    removed."""
    held = _layer_files(current)
    removed = []
    for folder in _lineage_scans(cache_dir, lineage):
        if folder == current or not _layer_files(folder) <= held:
            continue
        if discard(cache_dir, folder):
            removed.append(folder)
    return removed
