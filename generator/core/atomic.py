"""Atomic file writes: a reader (or a process killed half way) sees the old file or the new one.

The new content is written to a temporary file in the same folder and renamed over the target.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

from generator.core.errors import named


def atomic_write(path: Path, write: Any) -> None:
    """Call `write(tmp)` on a temporary path beside `path`, then rename it over `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, path)
    except OSError as exc:
        raise named(exc, path) from None
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def write_atomic(path: Path, data: bytes) -> None:
    """Write `data` to `path`, fsynced before the rename: after a crash the file holds the old
    bytes or the whole new ones (the atlas caches)."""

    def write(tmp: str) -> None:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())

    atomic_write(path, write)
