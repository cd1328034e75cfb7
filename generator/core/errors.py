"""Errors a person can act on.

Every mistake in user input (a config file, an article, a command-line flag, a model name) raises
`FeatvisError` with a one-line message that names the file (and line where there is one) and the
valid choices. The CLI prints it and exits with code 2; nothing else in the package prints errors.
"""

from __future__ import annotations

import difflib
import errno
import re
from collections.abc import Iterable


class FeatvisError(Exception):
    """A user-facing error: one line, actionable, exit code 2."""

    exit_code = 2


def choices_hint(value: str, valid: Iterable[str], *, limit: int = 40) -> str:
    """'did you mean: a, b; valid: x, y, ...' for an unknown `value` among `valid`."""
    valid = list(valid)
    close = difflib.get_close_matches(value, valid, n=3, cutoff=0.5)
    shown = ", ".join(valid[:limit]) + (", ..." if len(valid) > limit else "")
    if close:
        return f"did you mean: {', '.join(close)}? valid: {shown}"
    return f"valid: {shown}"


# a disk that is full or read-only: nothing can be written there, whatever featvis would write
OUT_OF_ROOM = (errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EFBIG)


def named(exc: OSError, path: object) -> OSError:
    """`exc` naming `path` where it names no file (a write through an open file descriptor)."""
    if exc.filename is None and exc.errno is not None:
        return OSError(exc.errno, exc.strerror, str(path))
    return exc


MAX_LINE = 300  # the longest error line printed, less the list of valid choices it ends with

# the list of valid choices a message ends with (`choices_hint`'s, at most 40 names, or a
# range's): featvis writes it, so its length is bounded, and a person needs all of it
_CHOICES = re.compile(r"\((?:did you mean: [^?()]*\? )?valid: [^()]*\)$")


def one_line(message: str, limit: int = MAX_LINE) -> str:
    """`message` on one line of at most `limit` characters (the rest elided, its length named),
    not counting the list of valid choices it ends with, which is kept whole."""
    text = " ".join(message.split())
    if len(text) <= limit:
        return text
    listed = _CHOICES.search(text)
    head, tail = (text[: listed.start()].rstrip(), listed.group()) if listed else (text, "")
    if len(head) > limit:
        head = head[: limit - 24].rstrip() + f" ... ({len(text)} chars)"
    return f"{head} {tail}" if tail else head
