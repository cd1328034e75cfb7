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
