"""One build at a time per site: a lock file beside the output folder.

`site_lock(output)` takes `.NAME.lock` next to `output` with an exclusive `flock` and writes the
holder's process id into it. A second build on the same site waits (saying which process it waits
for) instead of computing the same jobs twice. The kernel drops a `flock` when its holder dies, so a
lock file left by a killed build is stale by construction: the next build takes it at once, says it
broke it, and writes its own id. On release the file is removed; a waiter that woke on a removed
file tries again, so two holders can never both think they hold the lock.

A folder where the lock file cannot be created is one `FeatvisError` (an unwritable `--output`),
raised before any work.

`cache_lock(cache)` is the lock every writer of a cache takes (build, render, compute, scan, the
preview's computer): `CACHE_LOCK` inside the cache folder, held shared, so writers work side by
side (they write whole entries by rename). `cache_lock(cache, exclusive=True)` is `clean --all`'s:
it does not wait but refuses with one line while a writer holds the cache, and it may remove the
folder, lock file and all. A writer that woke on a removed lock file takes the new one.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Callable, Iterator
from pathlib import Path

from generator.core.errors import FeatvisError


def lock_path(output: Path) -> Path:
    return output.parent / f".{output.name}.lock"


def _holder(fd: int) -> str:
    try:
        os.lseek(fd, 0, os.SEEK_SET)
        text = os.read(fd, 64).decode("ascii", "replace").strip()
    except OSError:
        return ""
    return text if text.isdigit() else ""


def _alive(pid: str) -> bool:
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except (PermissionError, ValueError):
        return True
    return True


def _open(path: Path) -> int:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        return os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise FeatvisError(
            f"{path.parent}: cannot write the site there ({exc.strerror or exc})"
        ) from None


def _same_file(fd: int, path: Path) -> bool:
    try:
        return os.fstat(fd).st_ino == os.stat(path).st_ino
    except FileNotFoundError:
        return False


def _acquire(path: Path, say: Callable[[str], None]) -> int:
    while True:
        fd = _open(path)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            pid = _holder(fd)
            say(f"waiting for the build by process {pid or '?'} to finish (lock {path})")
            fcntl.flock(fd, fcntl.LOCK_EX)
        if _same_file(fd, path):
            return fd
        os.close(fd)  # the holder removed the file as we woke: take the new one


@contextlib.contextmanager
def site_lock(output: Path, say: Callable[[str], None] | None = None) -> Iterator[Path]:
    """Hold the site's lock for the duration of the block; yields the lock file's path."""
    say = say or (lambda _: None)
    path = lock_path(output)
    fd = _acquire(path, say)
    try:
        stale = _holder(fd)
        if stale and int(stale) != os.getpid() and not _alive(stale):
            say(f"broke a stale lock left by process {stale}, which is gone")
        os.ftruncate(fd, 0)
        os.lseek(fd, 0, os.SEEK_SET)
        os.write(fd, f"{os.getpid()}\n".encode("ascii"))
        yield path
    finally:
        with contextlib.suppress(OSError):
            path.unlink()
        os.close(fd)  # closing drops the flock


CACHE_LOCK = ".lock"  # in the cache folder


@contextlib.contextmanager
def cache_lock(cache: Path, *, exclusive: bool = False, create: bool = True) -> Iterator[None]:
    """Hold `cache`'s lock for the block: shared (a writer; the folder is created unless not
    `create`), or with `exclusive` without waiting (a `FeatvisError` while a writer holds it). A
    cache that does not exist and is not to be created is not locked."""
    path = Path(cache) / CACHE_LOCK
    if (exclusive or not create) and not Path(cache).is_dir():
        yield
        return
    while True:
        try:
            Path(cache).mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise FeatvisError(
                f"{cache}: cannot write the cache folder ({exc.strerror or exc}); "
                "choose another with --cache"
            ) from None
        try:
            if exclusive:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            else:
                fcntl.flock(fd, fcntl.LOCK_SH)
        except BlockingIOError:
            os.close(fd)
            raise FeatvisError(
                f"{cache}: in use by a running build or compute; nothing removed "
                "(try again when it has finished)"
            ) from None
        if _same_file(fd, path):
            break
        os.close(fd)  # `clean --all` removed the cache as we woke: take the new lock
    try:
        yield
    finally:
        os.close(fd)
