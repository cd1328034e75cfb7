"""Atomic file writes for the atlas caches: a temp file beside the target, fsynced, renamed."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from generator.core.errors import named


def write_atomic(path: Path, data: bytes) -> None:
    """Write `data` to `path` so that a reader sees the old file or the whole new one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        raise named(exc, path) from None
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
