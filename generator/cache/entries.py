"""Reading a cache entry, the one way every cache reads: absent, good, or damaged.

`read_entry(path, read)` returns `read()`'s value, or None when `path` is absent, or None after
one warning line naming the file when anything about it is damaged: truncated, not JSON, JSON of
another shape, an archive that is not one, an image that is a folder, a part missing. A damaged
entry is then a miss, so the caller computes it again in the same build and its writer replaces
it; a folder standing where a file belongs is removed first (no rename replaces a folder by a
file). Each file is reported once per process, through `warnings` as a `CacheWarning`;
`one_line_warnings()` prints those as `featvis: warning: ...` lines.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import shutil
import sys
import warnings
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")

# What reading a damaged file raises: OSError (unreadable, a folder, a part missing), ValueError
# (not JSON, not UTF-8, bad numbers), KeyError/TypeError/AttributeError/IndexError (JSON of
# another shape), EOFError/UnpicklingError/RuntimeError (a truncated tensor file), BadZipFile.
DAMAGE: tuple[type[BaseException], ...] = (
    OSError, ValueError, KeyError, TypeError, AttributeError, IndexError, EOFError,
    RuntimeError, pickle.UnpicklingError, zipfile.BadZipFile,
)

_reported: set[str] = set()


class CacheWarning(UserWarning):
    """A cache entry that cannot be used (corrupt, partial, foreign); it will be recomputed."""


def damaged(path: Path, why: str, report: Callable[[str], None] | None = None) -> None:
    """Report `path` as damaged (once per process) and clear the way for its replacement."""
    path = Path(path)
    if str(path) not in _reported:
        _reported.add(str(path))
        line = f"{path}: damaged cache entry ({why}); it will be recomputed"
        if report is None:
            warnings.warn(line, CacheWarning, stacklevel=3)
        else:
            report(line)
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)


def read_entry(
    path: Path, read: Callable[[], T], report: Callable[[str], None] | None = None
) -> T | None:
    """`read()` of the entry at `path`; None when it is absent or damaged (reported)."""
    if not os.path.lexists(path):
        return None
    try:
        return read()
    except DAMAGE as exc:
        # the file at fault: the entry, or the part of it that could not be read
        where = getattr(exc, "filename", None) if isinstance(exc, OSError) else None
        kind = type(exc).__name__
        text = "" if where else (str(exc).splitlines() or [""])[0][:120]
        damaged(Path(where or path), f"{kind}: {text}" if text else kind, report)
        return None


@contextlib.contextmanager
def one_line_warnings() -> Iterator[None]:
    """While the block runs, a `CacheWarning` prints as one `featvis: warning:` line on stderr
    (other warnings as Python prints them)."""
    with warnings.catch_warnings():
        shown = warnings.showwarning

        def show(message, category, filename, lineno, file=None, line=None):  # type: ignore[no-untyped-def]
            if issubclass(category, CacheWarning):
                print(f"featvis: warning: {message}", file=sys.stderr, flush=True)
            else:
                shown(message, category, filename, lineno, file, line)

        warnings.simplefilter("always", CacheWarning)  # reported once per file already
        warnings.showwarning = show
        yield
