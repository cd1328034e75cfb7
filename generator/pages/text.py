"""Line-true helpers over an article's Markdown: fenced blocks, code masking, offsets to lines.

Everything that reads an article's text works on a copy with code blanked out (same length, same
newlines), so offsets and line numbers stay true.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

FENCE = re.compile(r"^( {0,3})(`{3,}|~{3,})\s*([^`\s]*)[^`]*$")
_CODE_SPAN = re.compile(r"(`+)(.+?)\1", re.DOTALL)


def fences(lines: list[str]) -> Iterator[tuple[int, int | None, str]]:
    """(start, end or None when unclosed, info) for every fenced block, end inclusive."""
    i = 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        marker, info = m.group(2), m.group(3)
        end = None
        for j in range(i + 1, len(lines)):
            close = re.match(r"^ {0,3}(`{3,}|~{3,})\s*$", lines[j])
            if close and close.group(1)[0] == marker[0] and len(close.group(1)) >= len(marker):
                end = j
                break
        yield i, end, info
        i = (end if end is not None else len(lines)) + 1


def mask_code(lines: list[str]) -> str:
    """The body with code blocks and code spans blanked (same length, same newlines)."""
    masked = list(lines)
    for start, end, _ in fences(lines):
        for k in range(start, (end if end is not None else len(lines) - 1) + 1):
            masked[k] = " " * len(masked[k])
    for k, line in enumerate(masked):
        if line.startswith("    ") or line.startswith("\t"):
            masked[k] = " " * len(line)  # indented code (or continuation): leave it alone
    text = "\n".join(masked) + "\n"
    return _CODE_SPAN.sub(lambda m: " " * len(m.group(0)), text)


def line_at(text: str, offset: int, first: int) -> int:
    return first + text.count("\n", 0, offset)


def slugify(stem: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", stem.lower()).strip("-") or "page"
