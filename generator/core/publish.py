"""Publishing a built site without ever taking the last good one down.

Contract:

- A build renders into a staging folder beside the output (`.NAME.featvis-stage-*`, same
  filesystem). `publish()` records the files featvis wrote in the marker file `.featvis-site`,
  carries over the files a person put into the output folder (featvis did not write them: kept and
  reported, never deleted), gives the tree ordinary permissions (0755 folders, 0644 files) and then
  swaps the staging folder with the output in ONE `renameat2(RENAME_EXCHANGE)` (Linux) or
  `renamex_np(RENAME_SWAP)` (macOS) call: at every instant the output path holds the whole old site
  or the whole new one. The old site, now in the staging path, is removed afterwards.
- Where the filesystem cannot exchange (EINVAL/ENOSYS/ENOTSUP), the old site is renamed aside to
  `.NAME.featvis-old-*` and the new one renamed in; if the process dies between the two renames the
  next build's `sweep()` renames the old site back before doing anything else.
- `sweep()`, called by every build and `clean` while holding the site lock, removes every leftover
  of an interrupted build (staging and old folders, including those of earlier featvis versions
  that carry the marker) and restores an output left aside.
- `removable()` checks everything `clean` would remove before `remove_site()` removes anything.

`FEATVIS_FAULT=publish:STEP` (STEP one of `FAULT_STEPS`) makes the process kill itself with
SIGKILL at that step: the fault-injection point the crash tests use.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import errno
import os
import re
import shutil
import signal
import sys
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from generator.core.errors import FeatvisError

MARKER = ".featvis-site"  # marks a folder featvis built and lists the files it wrote
OUTPUT_MARKER = MARKER
_MARKER_HEAD = "built by featvis; `featvis clean` removes the files listed below"
_LIST_HEAD = "# files featvis wrote (any other file here is a person's and is kept):"
STAGE_TAG = "featvis-stage-"
OLD_TAG = "featvis-old-"
FAULT_STEPS = (
    "staged",  # the new site is rendered and checked in the staging folder
    "marked",  # the marker with the file list is written
    "carried",  # foreign files are copied into the staging folder
    "permissions",  # modes are normalized
    "aside",  # fallback only: the old site is renamed aside, the new one not yet in
    "swapped",  # the new site is in place, the old one in the staging path
    "removing",  # half of the old site is removed
    "done",  # everything is removed
)
_LEGACY = re.compile(r"\.(old\.)?[A-Za-z0-9_]{8}$")  # tempfile names of featvis <= 0.x builds


def fault(step: str) -> None:
    """Kill this process with SIGKILL when FEATVIS_FAULT names `step` (crash tests only)."""
    if os.environ.get("FEATVIS_FAULT") == step:
        sys.stderr.flush()
        os.kill(os.getpid(), signal.SIGKILL)


# The atomic exchange ---------------------------------------------------------------------------


def _libc() -> ctypes.CDLL | None:
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
    except OSError:
        return None


def exchange(a: Path, b: Path) -> bool:
    """Swap the two paths atomically; False (nothing changed) where the system cannot."""
    if os.environ.get("FEATVIS_NO_EXCHANGE"):  # forces the fallback, for its tests
        return False
    libc = _libc()
    if libc is None:
        return False
    if hasattr(libc, "renameat2"):  # Linux, glibc >= 2.28
        at_fdcwd, rename_exchange = -100, 2
        result = libc.renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange)
    elif hasattr(libc, "renamex_np"):  # macOS >= 10.12
        rename_swap = 2
        result = libc.renamex_np(os.fsencode(a), os.fsencode(b), rename_swap)
    else:
        return False
    if result == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV):
        return False
    raise OSError(code, os.strerror(code), str(b))


def _sync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


# The marker: which files featvis wrote ----------------------------------------------------------


def written_files(folder: Path) -> set[str] | None:
    """The files the marker in `folder` lists; None for a marker of an earlier featvis that kept no
    list (every file then counts as featvis's) or for no marker at all."""
    try:
        lines = (folder / MARKER).read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return None
    if _LIST_HEAD not in lines:
        return None
    return {line for line in lines[lines.index(_LIST_HEAD) + 1 :] if line}


def _files(folder: Path) -> list[str]:
    found = []
    for dirpath, dirnames, filenames in os.walk(folder):
        base = Path(dirpath)
        for name in filenames + [d for d in dirnames if (base / d).is_symlink()]:
            found.append((base / name).relative_to(folder).as_posix())
    return sorted(found)


def foreign_files(output: Path) -> list[str]:
    """Files in the published `output` that featvis did not write (a CNAME, notes)."""
    listed = written_files(output)
    if listed is None or not output.is_dir():
        return []
    return [rel for rel in _files(output) if rel != MARKER and rel not in listed]


def _few(names: list[str], limit: int = 4) -> str:
    shown = ", ".join(n if len(n) <= 60 else n[:57] + "..." for n in names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


def _write_marker(stage: Path) -> None:
    files = [rel for rel in _files(stage) if rel != MARKER]
    text = "\n".join([_MARKER_HEAD, _LIST_HEAD, *files]) + "\n"
    (stage / MARKER).write_text(text, encoding="utf-8")


def _carry(output: Path, stage: Path, foreign: list[str]) -> None:
    clash = [rel for rel in foreign if (stage / rel).exists() or (stage / rel).is_symlink()]
    if clash:
        raise FeatvisError(
            f"{output}: {len(clash)} file(s) featvis did not write stand where the new site "
            f"writes: {_few(clash)}; move them away (site unchanged)"
        )
    for rel in foreign:
        target = stage / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(output / rel, target, follow_symlinks=False)


def _normalize(stage: Path, keep: set[str]) -> None:
    """0755 for folders, 0644 for the files featvis wrote (a person's files keep their mode)."""
    os.chmod(stage, 0o755)
    for dirpath, dirnames, filenames in os.walk(stage):
        base = Path(dirpath)
        for name in dirnames:
            if not (base / name).is_symlink():
                os.chmod(base / name, 0o755)
        for name in filenames:
            path = base / name
            if path.relative_to(stage).as_posix() not in keep and not path.is_symlink():
                os.chmod(path, 0o644)


# Staging, publishing, sweeping -------------------------------------------------------------------


def _unwritable(where: Path, exc: OSError) -> FeatvisError:
    return FeatvisError(f"{where}: cannot write the site there ({exc.strerror or exc})")


@contextlib.contextmanager
def staging(output: Path) -> Iterator[Path]:
    """A fresh folder beside `output` (same filesystem, so publishing is a rename); removed on exit
    (after a publish it holds the old site, or nothing)."""
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{output.name}.{STAGE_TAG}", dir=output.parent))
    except OSError as exc:
        raise _unwritable(output.parent, exc) from None
    try:
        yield tmp
    finally:
        _remove(tmp)


def _remove(path: Path) -> None:
    if path.is_symlink() or path.is_file():
        path.unlink(missing_ok=True)
    elif path.exists():
        shutil.rmtree(path, ignore_errors=True)


@dataclass(frozen=True)
class Published:
    output: Path
    kept: tuple[str, ...]  # files a person put into the output folder, carried over

    def line(self) -> str | None:
        if not self.kept:
            return None
        return (
            f"kept {len(self.kept)} file(s) in {self.output} that featvis did not write: "
            f"{_few(list(self.kept))}"
        )


def publish(stage: Path, output: Path) -> Published:
    """Swap the checked site in `stage` into `output` (see the module docstring)."""
    fault("publish:staged")
    _write_marker(stage)
    fault("publish:marked")
    foreign = foreign_files(output)
    _carry(output, stage, foreign)
    fault("publish:carried")
    _normalize(stage, set(foreign))
    fault("publish:permissions")
    if not output.exists():
        os.rename(stage, output)
        fault("publish:swapped")
    elif exchange(stage, output):
        fault("publish:swapped")
        _remove_old(stage)
    else:
        old = Path(tempfile.mkdtemp(prefix=f".{output.name}.{OLD_TAG}", dir=output.parent))
        os.rename(output, old / "site")
        fault("publish:aside")
        os.rename(stage, output)
        fault("publish:swapped")
        _remove_old(old)
    _sync_dir(output.parent)
    fault("publish:done")
    return Published(output=output, kept=tuple(foreign))


def _remove_old(old: Path) -> None:
    files = [p for p in old.rglob("*") if p.is_file()]
    for path in files[: len(files) // 2]:
        path.unlink()
    fault("publish:removing")
    _remove(old)


def _leftovers(output: Path) -> list[Path]:
    """Staging and old folders of interrupted builds beside `output`."""
    if not output.parent.is_dir():
        return []
    found = []
    prefix = f".{output.name}."
    for entry in output.parent.iterdir():
        name = entry.name
        if not name.startswith(prefix):
            continue
        rest = name[len(prefix) :]
        if rest.startswith((STAGE_TAG, OLD_TAG)):
            found.append(entry)
        elif _LEGACY.fullmatch("." + rest) and entry.is_dir():
            if (entry / MARKER).is_file() or (entry / "site" / MARKER).is_file():
                found.append(entry)
    return sorted(found)


def sweep(output: Path, say: Callable[[str], None] | None = None) -> list[Path]:
    """Remove every leftover of an interrupted build; first put back a site left aside."""
    leftovers = _leftovers(output)
    if not output.exists():
        for entry in leftovers:
            aside = entry / "site"
            if entry.name.startswith(f".{output.name}.{OLD_TAG}") and (aside / MARKER).is_file():
                os.rename(aside, output)
                if say:
                    say(f"put back {output}, left aside by an interrupted build")
                break
    for entry in leftovers:
        _remove(entry)
    if leftovers and say:
        say(f"removed {len(leftovers)} leftover folder(s) of an interrupted build")
    return leftovers


# clean -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Removal:
    """What `clean` will remove from one folder, decided before anything is removed."""

    folder: Path
    files: tuple[str, ...]  # relative paths to remove
    kept: tuple[str, ...]  # files featvis did not write, kept (the folder then stays)


def removable(output: Path) -> Removal | None:
    """The files `clean` may remove from `output` (None: nothing there); a `FeatvisError` when the
    folder is not featvis's. Nothing is touched."""
    if not output.exists() and not output.is_symlink():
        return None
    if not output.is_dir() or output.is_symlink():
        raise FeatvisError(f"{output}: not a folder featvis built; not removing it")
    try:
        entries = _files(output)
    except OSError as exc:
        raise FeatvisError(f"{output}: cannot read it ({exc.strerror or exc})") from None
    if not entries and not any(output.iterdir()):
        return Removal(output, (), ())
    if not (output / MARKER).is_file():
        raise FeatvisError(f"{output}: not a folder featvis built (no {MARKER}); not removing it")
    listed = written_files(output)
    if listed is None:  # an earlier featvis: every file is its own
        return Removal(output, tuple(entries), ())
    mine = tuple(rel for rel in entries if rel in listed or rel == MARKER)
    return Removal(output, mine, tuple(rel for rel in entries if rel not in mine))


def remove_site(removal: Removal) -> str:
    """Remove what `removable()` listed; returns a line saying what was kept, if anything."""
    if not removal.kept:
        shutil.rmtree(removal.folder)
        return ""
    for rel in removal.files:
        (removal.folder / rel).unlink(missing_ok=True)
    for dirpath, _, _ in sorted(os.walk(removal.folder), key=lambda w: -len(w[0])):
        with contextlib.suppress(OSError):
            os.rmdir(dirpath)  # only empty folders go
    return (
        f"kept {len(removal.kept)} file(s) in {removal.folder} that featvis did not write: "
        f"{_few(list(removal.kept))}"
    )
