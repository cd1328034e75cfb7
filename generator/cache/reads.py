"""Which cache entries a run reads: `recording()` collects the path of every entry the stores
look up while it is open (found or not), for `featvis clean --unused`, which keeps those and
removes the rest. Outside a recording `note` does nothing."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from pathlib import Path

_LOCK = threading.Lock()
_OPEN: list[set[Path]] = []


@contextlib.contextmanager
def recording() -> Iterator[set[Path]]:
    """Yield the set that gathers every path `note`d until the block ends (any thread)."""
    seen: set[Path] = set()
    with _LOCK:
        _OPEN.append(seen)
    try:
        yield seen
    finally:
        with _LOCK:
            _OPEN.remove(seen)


def recording_now() -> bool:
    return bool(_OPEN)


def note(*paths: Path) -> None:
    """Mark `paths` (entry files or folders in a cache) as read by the site."""
    if not _OPEN:
        return
    with _LOCK:
        for seen in _OPEN:
            seen.update(Path(p).absolute() for p in paths)
