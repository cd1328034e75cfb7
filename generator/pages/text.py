"""Line-true helpers over an article's Markdown: fenced blocks, code masking, offsets to lines.

Everything that reads an article's text works on a copy with code blanked out (same length, same
newlines), so offsets and line numbers stay true.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterable, Iterator

from generator.core.errors import FeatvisError
from generator.core.urls import ascii_folded

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


MAX_NESTING = 50  # the deepest lists and block quotes an article may nest
# What opens a level of nesting at the start of a line: a block quote's `>`, a list item's marker,
# each four columns of indentation.
_NESTING = re.compile(r"^(?:[ \t]|>|[-*+](?=[ \t])|\d{1,9}[.)](?=[ \t]))*")


def nesting_depth(line: str) -> int:
    """An upper bound of how deep `line` nests lists and block quotes."""
    prefix = _NESTING.match(line).group(0)  # type: ignore[union-attr]  # it matches ""
    markers = re.findall(r">|[-*+]|\d{1,9}[.)]", prefix)
    spaces = len(re.sub(r"[^ \t]", "", prefix).expandtabs(4))
    return spaces // 4 + len(markers)


def check_nesting(lines: list[str], first: int, shown: object) -> None:
    """FeatvisError naming the first line nested deeper than `MAX_NESTING`, in lists and block
    quotes or in raw HTML elements (Markdown recurses once per level: hundreds of levels exhaust
    the stack, thousands the memory). Fenced code and code spans are exempt."""
    fenced = {k for start, end, _ in fences(lines)
              for k in range(start, (end if end is not None else len(lines) - 1) + 1)}
    for k, line in enumerate(lines):
        deep = line[:1] in " \t>-*+0123456789" and nesting_depth(line) > MAX_NESTING
        if deep and k not in fenced:
            raise FeatvisError(
                f"{shown}:{first + k}: lists or block quotes nested {nesting_depth(line)} deep "
                f"(at most {MAX_NESTING})"
            )
    text = "\n".join(" " * len(line) if k in fenced else line for k, line in enumerate(lines))
    offset = html_too_deep(_CODE_SPAN.sub(lambda m: " " * len(m.group(0)), text))
    if offset is not None:
        raise FeatvisError(
            f"{shown}:{line_at(text, offset, first)}: HTML elements nested {MAX_NESTING + 1} "
            f"deep (at most {MAX_NESTING})"
        )


# Elements that never hold others, and those whose end tag may be left out (a second `<li>` ends
# the first): neither opens a level that stays open.
_VOID = frozenset("area base br col embed hr img input link meta param source track wbr".split())
_IMPLIED_END = frozenset("p li dt dd option optgroup tr td th thead tbody tfoot rb rt rp".split())
_TAG = re.compile(r"<(/?)([A-Za-z][A-Za-z0-9-]*)(?=[\s/>])[^<>]*?(/?)>")
_COMMENT = re.compile(r"<!--.*?-->", re.DOTALL)


def html_too_deep(text: str) -> int | None:
    """The offset of the first HTML tag in `text` that opens an element more than `MAX_NESTING`
    deep, or None. An end tag closes its element and every element left open inside it; an end
    tag without its element, a comment and a self-closing tag change nothing."""
    text = _COMMENT.sub(lambda m: " " * len(m.group(0)), text)
    stack: list[str] = []
    for m in _TAG.finditer(text):
        closing, name, selfclosing = m.group(1), m.group(2).lower(), m.group(3)
        if closing:
            if name in stack:
                del stack[len(stack) - 1 - stack[::-1].index(name):]
        elif name not in _VOID and not selfclosing:
            if name in _IMPLIED_END and stack and stack[-1] == name:
                stack.pop()
            stack.append(name)
            if len(stack) > MAX_NESTING:
                return m.start()
    return None


def line_at(text: str, offset: int, first: int) -> int:
    return first + text.count("\n", 0, offset)


class Lines:
    """Offsets to line numbers in one text, each lookup a binary search (`line_at` counts the
    newlines before the offset every time: quadratic over a long article's many matches)."""

    def __init__(self, text: str, first: int) -> None:
        self.first = first
        self.newlines = [m.start() for m in re.finditer("\n", text)]

    def __call__(self, offset: int) -> int:
        return self.first + bisect.bisect_left(self.newlines, offset)


def splice(text: str, edits: Iterable[tuple[int, int, str]]) -> str:
    """`text` with each (start, end, new) span replaced; spans must not overlap. One pass: slicing
    the whole text once per edit is quadratic over a long article's many links."""
    pieces, at = [], 0
    for start, end, new in sorted(edits):
        pieces += [text[at:start], new]
        at = end
    pieces.append(text[at:])
    return "".join(pieces)


def slugify(stem: str) -> str:
    """A file name's URL-safe form: accents dropped (`Über uns` -> `uber-uns`, `café` ->
    `cafe`), every other run of characters but a-z and 0-9 one dash."""
    return re.sub(r"[^a-z0-9]+", "-", ascii_folded(stem).lower()).strip("-") or "page"
