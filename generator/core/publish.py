"""Publishing a built site: a staging folder beside the output, then an atomic swap.

A reader sees the old site or the new one, never a mixture. `OUTPUT_MARKER` marks a folder featvis
built, so clean and publish never eat another folder.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

OUTPUT_MARKER = ".featvis-site"  # marks a folder featvis built, so clean/publish never eat others


@contextlib.contextmanager
def staging(output: Path) -> Iterator[Path]:
    """A fresh folder beside `output` (same filesystem, so publishing is a rename)."""
    output.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{output.name}.", dir=output.parent))
    try:
        yield tmp
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def publish(tmp: Path, output: Path) -> None:
    """Swap `tmp` into `output`: the old site is renamed aside, the new one renamed in, the old
    one removed. A reader sees the old site or the new one, never a mixture."""
    old = None
    if output.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{output.name}.old.", dir=output.parent))
        os.rename(output, old / "site")
    try:
        os.rename(tmp, output)
    except OSError:
        if old is not None:
            os.rename(old / "site", output)
        raise
    finally:
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
