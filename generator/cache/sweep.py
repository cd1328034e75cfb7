"""Removing the cache entries a site no longer reads (`featvis clean --unused`).

The cache's entries, each removed whole or not at all:

    <key[:2]>/<key>/                      a visualization (`cache.store`)
    dataset/<key>/                        a dataset scan (`dataset.store`)
    measures/<key[:2]>/<key>.json|.pt     a measurement (`measure.store`)
    circuits/<key[:2]>/<key>.npz          a circuit (`atlas.circuits`)
    accentuation/<key[:2]>/<key>.json|.png  an accentuated photo (`atlas.accentstore`)

`sweep_unused(root, read)` removes every entry whose path is not in `read` (the paths the stores
looked up while the site was read and rendered: `cache.reads.recording`), each whole
(`cache.temp.discard`), so an interrupted sweep leaves whole entries; a shard folder left empty
goes too. The format file, the lock, `.tmp/`, files being written (dot names) and anything else the
layout above does not name are kept.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from generator.cache.store import (
    ACCENT_DIR,
    CIRCUITS_DIR,
    DATASET_DIR,
    FORMAT_FILE,
    MEASURES_DIR,
    TMP_DIR,
)
from generator.cache.temp import discard
from generator.core.lock import CACHE_LOCK
from generator.core.words import counted

_OWN = frozenset({FORMAT_FILE, TMP_DIR, CACHE_LOCK})

_FOLDER_ENTRIES = (DATASET_DIR,)  # <name>/<entry folder>
_FILE_ENTRIES = (MEASURES_DIR, CIRCUITS_DIR, ACCENT_DIR)  # <name>/<key[:2]>/<entry file>
_HEX = frozenset("0123456789abcdef")


@dataclass
class Swept:
    """What a sweep did: entries removed and their bytes, entries kept, other things kept."""

    removed: int = 0
    freed: int = 0
    kept: int = 0
    unknown: int = 0

    def line(self) -> str:
        other = f" and {counted(self.unknown, 'other file')}" if self.unknown else ""
        return (
            f"removed {self.removed:,} {'entry' if self.removed == 1 else 'entries'} "
            f"({_size(self.freed)}) the site no longer reads; kept {self.kept:,}{other}"
        )


def _size(n: int) -> str:
    for unit in ("bytes", "kB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:,} {unit}" if unit == "bytes" else f"{n:,.1f} {unit}"
        n /= 1000  # type: ignore[assignment]
    raise AssertionError


def _shard(path: Path) -> bool:
    return len(path.name) == 2 and set(path.name) <= _HEX and _plain_dir(path)


def _plain_dir(path: Path) -> bool:
    return path.is_dir() and not path.is_symlink()


def _listed(folder: Path) -> list[Path]:
    try:
        return sorted(folder.iterdir(), key=lambda p: (p.suffix == ".png", p.name))
    except OSError:
        return []


def entries(root: Path) -> Iterator[tuple[Path, bool]]:
    """Every thing in the cache as (path, whether it is an entry of the layout above); the
    format file, the lock and `.tmp/` are neither."""
    for top in _listed(root):
        if top.name in _OWN:
            continue
        if _shard(top):
            for entry in _listed(top):
                yield entry, _plain_dir(entry) and not entry.name.startswith(".")
        elif top.name in _FOLDER_ENTRIES and _plain_dir(top):
            for entry in _listed(top):
                yield entry, _plain_dir(entry) and not entry.name.startswith(".")
        elif top.name in _FILE_ENTRIES and _plain_dir(top):
            for shard in _listed(top):
                if not _shard(shard):
                    yield shard, False
                    continue
                for entry in _listed(shard):
                    plain = entry.is_file() and not entry.is_symlink()
                    yield entry, plain and not entry.name.startswith(".")
        else:
            yield top, False


def _bytes(path: Path) -> int:
    if not _plain_dir(path):
        return path.lstat().st_size
    return sum(
        (Path(folder) / name).lstat().st_size
        for folder, _, names in os.walk(path) for name in names
    )


def sweep_unused(root: Path, read: set[Path]) -> Swept:
    """Remove every entry of the cache at `root` not in `read` (absolute paths); see the module
    docstring. The caller holds the cache's lock."""
    root = Path(root).absolute()
    swept = Swept()
    emptied: set[Path] = set()
    for path, entry in entries(root):
        if not entry:
            swept.unknown += 1
        elif path in read:
            swept.kept += 1
        else:
            size = _bytes(path)
            discard(root, path)
            swept.removed += 1
            swept.freed += size
            emptied.add(path.parent)
    for folder in emptied:  # a shard left empty (a scan's parent, `dataset/`, stays)
        if folder != root / DATASET_DIR:
            with contextlib.suppress(OSError):
                folder.rmdir()
    return swept
