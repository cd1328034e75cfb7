"""Counts and lists in messages: `counted(1, "channel")` is "1 channel", `counted(3, "channel")`
"3 channels"; `listed(["a", "b", "c"])` is "a, b and c".
"""

from __future__ import annotations


def counted(count: int, noun: str, nouns: str | None = None) -> str:
    """`count` and `noun`, plural unless `count` is 1 (`nouns`: an irregular plural)."""
    return f"{count} {noun if count == 1 else nouns or noun + 's'}"


def ending(count: int, plural: str = "s") -> str:
    """A noun's plural ending for `count` things: `ending(3)` is "s", `ending(1, "es")` ""."""
    return "" if count == 1 else plural


def verb(count: int, one: str, many: str) -> str:
    """The verb form agreeing with `count` things: `verb(1, "has", "have")` is "has"."""
    return one if count == 1 else many


def listed(items: list[str]) -> str:
    """`items` as a sentence lists them: "a", "a and b", "a, b and c"."""
    return " and ".join(filter(None, [", ".join(items[:-1]), *items[-1:]]))
