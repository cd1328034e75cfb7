"""Scanning a grown folder: going on from an earlier scan of it instead of reading every photo.

When the folder gained photos and lost or changed none (every earlier file with the same name,
size and modification time) since an earlier scan of the same lineage (`store._lineage`: the
folder's path, the model's digest, the input size, `top_k`, `FORMAT_VERSION`), `find_parent`
restores that scan's running state, and its measured receptive fields, with every photo's id
renumbered to its position in the grown folder's sorted list; the scan then reads only the new
photos. The tables equal a full scan's: ties are ordered by id whatever order the images come in
(`tables._Extremes`), and the spectrum's sample (`spectrum_sample`) is a rule of each photo's name
and the folder's size that, as the folder grows, only ever drops photos. Anything else (a photo
removed, changed or renamed, another model or setting, a layer the earlier scan lacks) is a full
scan, and `find_parent` says why.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from generator.core.words import counted
from generator.dataset.fields import ReceptiveField
from generator.dataset.folder import FileStat
from generator.dataset.store import _lineage_scans, _read_record, _read_states
from generator.dataset.tables import renumbered


@dataclass(frozen=True)
class Grown:
    """Where a scan of the grown folder starts: the earlier scan, renumbered."""

    parent: Path
    todo: tuple[int, ...]  # the new photos' ids, ascending
    read: int  # photos the earlier scan read
    skipped: tuple[tuple[int, str], ...]  # (id, "path: reason") of those it skipped
    states: dict[str, dict[str, Any]]  # per layer, `_LayerScan.state()` in the new ids
    fields: dict[str, ReceptiveField]  # per layer, as the earlier scan measured it

    @property
    def cached(self) -> int:
        """Photos the earlier scan went through (read or skipped)."""
        return self.read + len(self.skipped)


def spectrum_sample(files: Sequence[str], limit: int) -> torch.Tensor:
    """Per photo, whether the spectrum keeps its means: every photo of a folder of at most `limit`,
    else those whose name hashes below `limit / len(files)` of the hash's range (about `limit`
    photos, spread over the folder by chance). A photo left out stays out as the folder grows."""
    n = len(files)
    if n <= limit:
        return torch.ones(n, dtype=torch.bool)
    bound = limit << 64
    return torch.tensor([
        int.from_bytes(hashlib.sha256(os.fsencode(rel)).digest()[:8], "big") * n < bound
        for rel in files
    ], dtype=torch.bool)


def find_parent(
    cache_dir: Path,
    lineage: str,
    stats: Sequence[FileStat],
    layers: Sequence[str],
    sample: torch.Tensor,
    exclude: Path,
) -> tuple[Grown | None, str]:
    """The largest earlier scan of `lineage` whose files the folder (`stats`, sorted) still holds
    unchanged, with the running states of `layers`, renumbered; else None and why not."""
    current = {rel: (size, mtime) for rel, size, mtime in stats}
    why = "no earlier scan of this folder with this model and settings"
    best: tuple[Path, dict[str, Any]] | None = None
    for folder in _lineage_scans(cache_dir, lineage):
        record = None if folder == exclude else _read_record(folder)
        if record is None:
            continue
        old = record["files"]
        lost = sum(current.get(rel) != (size, mtime) for rel, size, mtime in old)
        if lost:
            why = f"{counted(lost, 'photo')} removed or changed since an earlier scan"
        elif len(old) < len(stats) and (best is None or len(old) > len(best[1]["files"])):
            best = folder, record
    if best is None:
        return None, why
    folder, record = best
    states = _read_states(folder, layers)
    if states is None:
        return None, "the earlier scan lacks some of these layers"
    position = {rel: i for i, (rel, _, _) in enumerate(stats)}
    ids = torch.tensor([position[rel] for rel, _, _ in record["files"]], dtype=torch.long)
    kept = set(ids.tolist())
    return Grown(
        parent=folder,
        todo=tuple(i for i in range(len(stats)) if i not in kept),
        read=int(record["read"]),
        skipped=tuple((int(ids[i]), str(text)) for i, text in record["skipped"]),
        states={name: renumbered(kept["state"], ids, sample) for name, kept in states.items()},
        fields={name: ReceptiveField(**kept["field"]) for name, kept in states.items()},
    ), ""
