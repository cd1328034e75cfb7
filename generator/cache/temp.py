"""The cache's temp area, `.tmp/` under its root: every entry being written or removed goes
there first, named `<what>.<host>.<pid>.<random>` (`temp_prefix`), so what a killed process left
is known to be its own and is removed by the next writer on that host (`clean_temp`).
`discard` removes a cache entry whole through it.
"""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
from pathlib import Path

TMP_DIR = ".tmp"


def temp_host() -> str:
    """This host's name as it stands in temp entry names (no dots)."""
    return socket.gethostname().replace(".", "-")


def temp_prefix(what: str) -> str:
    """`<what>.<host>.<pid>.`: who made a temp entry, so a dead process's can be removed."""
    return f"{what}.{temp_host()}.{os.getpid()}."


def discard(root: Path, entry: Path) -> bool:
    """Remove `entry`, a file or a folder inside the cache at `root`, whole: a folder is renamed
    into `.tmp/` first, so a reader sees it whole or not at all, and what an interrupted removal
    leaves there goes with the next writer's temp sweep (`ArtifactStore.clean_temp`). False when
    it was already gone (another process removed it first)."""
    if not entry.is_dir() or entry.is_symlink():
        try:
            entry.unlink()
        except FileNotFoundError:
            return False
        return True
    tmp = Path(root) / TMP_DIR
    tmp.mkdir(exist_ok=True)
    aside = Path(tempfile.mkdtemp(prefix=temp_prefix("removed"), dir=tmp))
    try:
        entry.rename(aside / "entry")
    except FileNotFoundError:
        return False
    finally:
        shutil.rmtree(aside, ignore_errors=True)
    return True


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def clean_temp(root: Path) -> int:
    """Remove the temp entries under `root` left by dead processes on this host; returns how
    many."""
    tmp_root = Path(root) / TMP_DIR
    if not tmp_root.is_dir():
        return 0
    host, removed = temp_host(), 0
    for entry in tmp_root.iterdir():
        parts = entry.name.split(".")
        if len(parts) >= 4 and parts[1] == host and parts[2].isdigit():
            if not _pid_alive(int(parts[2])):
                if entry.is_dir():
                    shutil.rmtree(entry, ignore_errors=True)
                else:
                    entry.unlink(missing_ok=True)
                removed += 1
    return removed
